"""Account lockout after repeated failed logins (OWASP ASVS 2.2.1): pure decisions over values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int
    lockout_s: int

    def is_locked(self, locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and now < locked_until

    def after_failure(self, failed_logins: int, now: datetime) -> tuple[int, datetime | None]:
        """The counter and lock after one more failure: the Nth failure locks and restarts the count."""
        failures = failed_logins + 1
        if failures >= self.max_failures:
            return 0, now + timedelta(seconds=self.lockout_s)
        return failures, None
