"""Fault modes every simulated device can show, so the gateway and decoders meet them in CI:

- GARBAGE: a measurement frame's bytes replaced by 1-20 random bytes (radio noise, a firmware bug).
  Random bytes can happen to form a valid frame, so a decoder may return a value or a typed error.
- TRUNCATED: a measurement frame cut short of the length its own flags announce (0 bytes included);
  every decoder must reject it with a typed error (reference §0).
- REPLAY: after a reconnect the device repeats stored records the collector already has. Push devices
  re-send their whole memory (Beurer BM85, SBM69; reference §11); a RACP glucometer renumbers its
  records from 0, as after a firmware or battery reset (reference §5.5 step 8), so records the
  gateway already holds come back under new sequence numbers.

Faults happen at seeded random rates or when forced (``force``) for a test; the injector has its own
random generator so switching faults on does not change the physiology a seed produces.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_sim.devices.outgoing import Fault, Outgoing

GARBAGE_MAX_BYTES = 20


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Per-frame probabilities of corruption and the per-reconnect probability of a replay."""

    garbage_rate: float = 0.0
    truncated_rate: float = 0.0
    replay_rate: float = 0.0


class FaultInjector:
    def __init__(self, plan: FaultPlan, rng: np.random.Generator) -> None:
        self.plan = plan
        self._rng = rng
        self._forced: deque[Fault] = deque()

    def force(self, fault: Fault) -> None:
        """Make the next frame (GARBAGE, TRUNCATED) or the next reconnect (REPLAY) faulty."""
        self._forced.append(fault)

    def _take_forced(self, kinds: tuple[Fault, ...]) -> Fault | None:
        for fault in self._forced:
            if fault in kinds:
                self._forced.remove(fault)
                return fault
        return None

    def corrupt(self, frame: Outgoing) -> Outgoing:
        """The frame as it goes on air: intact, garbled or truncated."""
        fault = self._take_forced((Fault.GARBAGE, Fault.TRUNCATED))
        if fault is None:
            draw = self._rng.random()
            if draw < self.plan.garbage_rate:
                fault = Fault.GARBAGE
            elif draw < self.plan.garbage_rate + self.plan.truncated_rate:
                fault = Fault.TRUNCATED
        if fault is Fault.GARBAGE:
            size = int(self._rng.integers(1, GARBAGE_MAX_BYTES + 1))
            return dataclasses.replace(frame, data=self._rng.bytes(size), fault=fault)
        if fault is Fault.TRUNCATED:
            size = int(self._rng.integers(0, len(frame.data)))
            return dataclasses.replace(frame, data=frame.data[:size], fault=fault)
        return frame

    def replay_due(self) -> bool:
        """Whether this reconnect repeats already-delivered records."""
        if self._take_forced((Fault.REPLAY,)) is not None:
            return True
        return bool(self.plan.replay_rate) and bool(self._rng.random() < self.plan.replay_rate)
