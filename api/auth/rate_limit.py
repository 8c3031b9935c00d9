"""Login rate limiting: a sliding one-minute window of attempts per key (the client address).

Per API process; the account lockout (in the database) is what holds across replicas. Pure: the
caller passes the time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 60.0
_MAX_KEYS = 100_000


@dataclass(slots=True)
class SlidingWindowLimiter:
    per_window: int
    window_s: float = WINDOW_S
    _attempts: dict[str, deque[float]] = field(default_factory=dict)

    def attempt(self, key: str, now_s: float) -> float | None:
        """Record an attempt; None when allowed, else the seconds until the next one would be."""
        recent = self._attempts.get(key)
        if recent is None:
            if len(self._attempts) >= _MAX_KEYS:
                self._forget_idle(now_s)
            recent = self._attempts[key] = deque()
        while recent and recent[0] <= now_s - self.window_s:
            recent.popleft()
        if len(recent) >= self.per_window:
            return recent[0] + self.window_s - now_s
        recent.append(now_s)
        return None

    def _forget_idle(self, now_s: float) -> None:
        for key in [k for k, q in self._attempts.items() if not q or q[-1] <= now_s - self.window_s]:
            del self._attempts[key]
