"""Glucose Measurement 0x2A18 joined with its Glucose Measurement Context 0x2A34 (pure).

Bluetooth SIG Glucose Profile (``reference/ble-health-profiles.md`` §5.1, §5.2): a measurement whose
flags say "context information follows" is followed, as the next glucose frame, by a context with
the same sequence number. The reading is built only once both are in, so the meal the patient
recorded travels with the value. A context that never comes (a meter that sets the flag and sends
none, a link lost between the two frames, context notifications not enabled) must not hold the
measurement back: it is released without context when

- the next measurement arrives (the context would have come first),
- the RACP report ends or the session ends (nothing more will come), or
- ``wait`` has passed since it arrived (a live notification with nothing after it).

A context whose measurement is not held (already released, or never sent) adds nothing: the
measurement is stored once, never twice. Released items come out in arrival order, so a meter's
RACP cursor only moves forward."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from drivers.glucose import GlucoseContext, GlucoseMeasurement

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Joined(Generic[T]):
    item: T
    context: GlucoseContext | None


@dataclass(frozen=True, slots=True)
class _Held(Generic[T]):
    item: T
    at: datetime


class ContextJoin(Generic[T]):
    """Holds measurements waiting for their context; ``item`` is whatever the caller needs to build
    the reading later. Times are passed in."""

    def __init__(self, wait: timedelta) -> None:
        self.wait = wait
        self._held: OrderedDict[int, _Held[T]] = OrderedDict()
        self.unmatched_contexts = 0
        self.timed_out = 0

    def __len__(self) -> int:
        return len(self._held)

    def measurement(self, measurement: GlucoseMeasurement, item: T, at: datetime) -> list[Joined[T]]:
        """What is ready once ``measurement`` arrived: every measurement held before it (their
        contexts would have come first), then this one unless it waits for its context."""
        ready = self.drain()
        if measurement.context_follows:
            self._held[measurement.sequence_number] = _Held(item, at)
        else:
            ready.append(Joined(item, None))
        return ready

    def context(self, context: GlucoseContext) -> list[Joined[T]]:
        held = self._held.pop(context.sequence_number, None)
        if held is None:
            self.unmatched_contexts += 1
            return []
        # Anything held before it lost its context; keep arrival order.
        ready = self.drain()
        ready.append(Joined(held.item, context))
        return ready

    def due(self, now: datetime) -> list[Joined[T]]:
        """Measurements whose context did not come within ``wait``."""
        ready: list[Joined[T]] = []
        while self._held:
            sequence, held = next(iter(self._held.items()))
            if now - held.at < self.wait:
                break
            del self._held[sequence]
            self.timed_out += 1
            ready.append(Joined(held.item, None))
        return ready

    def next_due_s(self, now: datetime) -> float | None:
        """Seconds until the oldest held measurement is due (None when nothing is held)."""
        if not self._held:
            return None
        oldest = next(iter(self._held.values()))
        return max(0.0, (oldest.at + self.wait - now).total_seconds())

    def drain(self) -> list[Joined[T]]:
        """Everything held, without context (the report or the session ended)."""
        ready = [Joined(held.item, None) for held in self._held.values()]
        self._held.clear()
        return ready
