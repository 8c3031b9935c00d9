"""Battery drain: a level that falls with each measurement, each connection and with time.

Battery Level 0x2A19 reports whole percent 0-100 (reference §9). Figures are per device model: two AA
cells in a cuff last a few hundred inflations, a glucometer's coin cell about a thousand tests. A
device with a flat battery neither measures nor connects; replacing the battery resets the clock
on most devices (reference §11, Omron).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain import DeviceKind
from firmware_sim.errors import DeviceUnavailable

LOW_BATTERY_PCT = 10.0
"""Below this the device reports "battery low" (GLS status bit 0) and shows the symbol."""


class BatteryDepleted(DeviceUnavailable):
    """The battery is flat: the device cannot measure, advertise or connect until it is replaced."""


@dataclass
class Battery:
    per_measurement_pct: float
    per_connection_pct: float
    per_day_pct: float
    level_pct: float = 100.0
    updated_at: datetime | None = None

    def _age(self, at: datetime) -> None:
        if self.updated_at is not None and at > self.updated_at:
            days = (at - self.updated_at) / timedelta(days=1)
            self.level_pct = max(0.0, self.level_pct - days * self.per_day_pct)
        if self.updated_at is None or at > self.updated_at:
            self.updated_at = at

    def level(self, at: datetime) -> int:
        """Battery Level as the device reports it: whole percent, rounded up until truly empty."""
        self._age(at)
        return min(100, math.ceil(self.level_pct))

    def is_low(self, at: datetime) -> bool:
        return self.level(at) <= LOW_BATTERY_PCT

    def use(self, at: datetime, pct: float) -> None:
        """Spend ``pct`` for one action; refuses once the battery is flat."""
        self._age(at)
        if self.level_pct <= 0:
            raise BatteryDepleted("the battery is flat")
        self.level_pct = max(0.0, self.level_pct - pct)

    def measure(self, at: datetime) -> None:
        self.use(at, self.per_measurement_pct)

    def connect(self, at: datetime) -> None:
        self.use(at, self.per_connection_pct)

    def replace(self, at: datetime) -> None:
        self.level_pct = 100.0
        self.updated_at = at


DRAIN_PCT: dict[DeviceKind, tuple[float, float, float]] = {
    # (per measurement, per connection, per day standby)
    DeviceKind.BP_CUFF: (0.33, 0.02, 0.01),  # four AA cells: about 300 inflations
    DeviceKind.GLUCOMETER: (0.1, 0.05, 0.01),  # a CR2032 coin cell: about a thousand tests
    DeviceKind.SCALE: (0.2, 0.02, 0.02),  # three AAA cells: a year or so of daily weighings
    DeviceKind.PULSE_OXIMETER: (0.03, 0.02, 0.02),  # two AAA cells: about 30 h of measuring
    DeviceKind.THERMOMETER: (0.05, 0.02, 0.01),  # a coin cell: a few thousand readings
}


def battery_for(kind: DeviceKind, level_pct: float = 100.0) -> Battery:
    """A fresh (or ``level_pct``-charged) battery with the drain typical of ``kind``."""
    per_measurement, per_connection, per_day = DRAIN_PCT[kind]
    return Battery(per_measurement, per_connection, per_day, level_pct=level_pct)
