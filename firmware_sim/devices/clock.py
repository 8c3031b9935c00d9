"""A device's real-time clock: settable, drifting, reset by a battery change.

BLE health devices keep naive local wall-clock time with no zone (reference §3.1, §12): whatever the
last collector wrote. Crystal clocks in cheap devices run tens of ppm fast or slow (±50 ppm is about
±4.3 s a day), so a clock set once drifts by minutes over months; after a battery change many devices
restart from a factory date (Omron, reference §11). True time is always passed in, timezone-aware;
the clock never reads the system time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from firmware_sim.errors import SimulationError

PPM = 1e-6
FACTORY_TIME = datetime(2020, 1, 1)  # noqa: DTZ001 - device wall clock after a reset


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise SimulationError("true time passed to a device must be timezone-aware")
    return at


@dataclass
class DeviceClock:
    """Device time = the wall clock at the last set, advanced by true elapsed time × (1 + drift)."""

    drift_ppm: float
    anchor_true: datetime
    anchor_device: datetime
    is_set: bool = True
    """False after a reset until a collector writes the time (GLS time fault, PLX "clock not set")."""

    @classmethod
    def starting_at(cls, at: datetime, device_time: datetime, *, drift_ppm: float = 0.0) -> DeviceClock:
        """A clock that reads ``device_time`` at true time ``at``."""
        return cls(drift_ppm=drift_ppm, anchor_true=_aware(at), anchor_device=device_time.replace(tzinfo=None))

    @classmethod
    def local(cls, at: datetime, zone: str, *, drift_ppm: float = 0.0, error: timedelta = timedelta()) -> DeviceClock:
        """A clock set to ``zone``'s wall clock at ``at``, off by ``error`` (e.g. set by hand)."""
        from zoneinfo import ZoneInfo

        local = _aware(at).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        return cls.starting_at(at, local + error, drift_ppm=drift_ppm)

    def now(self, at: datetime) -> datetime:
        elapsed = _aware(at) - self.anchor_true
        return self.anchor_device + elapsed * (1 + self.drift_ppm * PPM)

    def stamp(self, at: datetime) -> datetime:
        """The time a record is stamped with: Date Time resolves whole seconds."""
        return self.now(at).replace(microsecond=0)

    def set(self, at: datetime, device_time: datetime) -> None:
        """A collector wrote the time (CTS or Date Time)."""
        self.anchor_true = _aware(at)
        self.anchor_device = device_time.replace(tzinfo=None)
        self.is_set = True

    def reset(self, at: datetime, factory_time: datetime = FACTORY_TIME) -> None:
        """Power was lost: the clock restarts from its factory time and counts as not set."""
        self.set(at, factory_time)
        self.is_set = False
