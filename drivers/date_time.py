"""Bluetooth SIG time values: Date Time 0x2A08 (7 bytes), Day Date Time, Exact Time 256 and Current
Time 0x2A2B (10 bytes), reference/ble-health-profiles.md §3.

There is no time zone and no DST flag: a device holds whatever wall clock the last app set. A
decoded time is therefore a **naive** :class:`datetime` in device-local time; the gateway maps it
to UTC with the clock offset it measured (reference §12). Year, month or day 0 means "unknown";
such a value is kept field by field and has no ``datetime`` rather than becoming year 0 or 1970."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntFlag

from drivers.errors import DateOutOfRange
from drivers.fields import UINT8, Codec, Field, Layout
from drivers.normalised import Normalised

YEAR_MIN = 1582
YEAR_MAX = 9999
_DATE_TIME = struct.Struct("<HBBBBB")


@dataclass(frozen=True, slots=True)
class DateTime:
    """Date Time 0x2A08. ``value`` is the naive wall-clock time, or None when any date part is 0
    (unknown). Construction validates the ranges and raises :class:`DateOutOfRange`."""

    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int
    value: datetime | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.year != 0 and not YEAR_MIN <= self.year <= YEAR_MAX:
            raise DateOutOfRange(f"year {self.year} is outside {YEAR_MIN}–{YEAR_MAX} (0 = unknown)")
        if self.month > 12 or self.day > 31:
            raise DateOutOfRange(f"month {self.month} / day {self.day} out of range")
        if self.hours > 23 or self.minutes > 59 or self.seconds > 59:
            raise DateOutOfRange(f"time {self.hours}:{self.minutes}:{self.seconds} out of range")
        value = None
        if self.year and self.month and self.day:
            try:
                value = datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)  # noqa: DTZ001 - device wall clock has no zone
            except ValueError as exc:
                raise DateOutOfRange(f"{self.year:04d}-{self.month:02d}-{self.day:02d} is not a date") from exc
        object.__setattr__(self, "value", value)

    @classmethod
    def from_datetime(cls, moment: datetime) -> DateTime:
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)

    def encode(self) -> bytes:
        return _DATE_TIME.pack(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    def isoformat(self) -> str:
        """ISO-8601 when the date is known, else the fields with ``0000-00-00`` for unknown parts."""
        if self.value is not None:
            return self.value.isoformat()
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}T{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}"


DATE_TIME = Codec("date_time", "HBBBBB", DateTime)
"""The shared Date Time field codec every profile's Time Stamp uses."""


class AdjustReason(IntFlag):
    """Current Time "Adjust Reason" bits (§3.3); bits 4–7 RFU are kept, never rejected."""

    MANUAL_TIME_UPDATE = 0x01
    EXTERNAL_REFERENCE_TIME_UPDATE = 0x02
    CHANGE_OF_TIME_ZONE = 0x04
    CHANGE_OF_DST = 0x08


@dataclass(frozen=True, slots=True)
class DateTimeValue:
    """A standalone Date Time 0x2A08 characteristic (A&D puts one inside 0x1810/0x181D/0x1809,
    Roche inside 0x1808, §11)."""

    date_time: DateTime
    trailing: bytes = b""

    def normalise(self) -> Normalised:
        return Normalised.not_a_reading(measured_at=self.date_time.value)


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time 0x2A2B: Exact Time 256 (Date Time, Day of Week, Fractions256) + Adjust Reason.

    ``day_of_week`` 1 = Monday … 7 = Sunday, 0 unknown (``isoweekday()``); ``fractions256`` in
    1/256 s. Values 8–255 of the day of week are RFU and kept as sent."""

    date_time: DateTime
    day_of_week: int
    fractions256: int
    adjust_reason: AdjustReason
    trailing: bytes = b""

    @classmethod
    def at(cls, moment: datetime, reason: AdjustReason = AdjustReason.MANUAL_TIME_UPDATE) -> CurrentTime:
        """The value a gateway writes to set a device clock to the naive local ``moment``
        (fractions = µs × 256 / 10⁶, as blessed-android writes them)."""
        return cls(DateTime.from_datetime(moment), moment.isoweekday(), moment.microsecond * 256 // 1_000_000, reason)

    def encode(self) -> bytes:
        """The 10-byte SIG value; always send all 10 (obniz's 7- and 9-byte writes are wrong, §3.3)."""
        return self.date_time.encode() + bytes((self.day_of_week, self.fractions256, self.adjust_reason))

    def normalise(self) -> Normalised:
        return Normalised.not_a_reading(measured_at=self.date_time.value)


DATE_TIME_LAYOUT = Layout("Date Time", None, (Field("date_time", DATE_TIME),))
CURRENT_TIME_LAYOUT = Layout(
    "Current Time",
    None,
    (
        Field("date_time", DATE_TIME),
        Field("day_of_week", UINT8),
        Field("fractions256", UINT8),
        Field("adjust_reason", Codec("adjust reason", "B", AdjustReason)),
    ),
)


def decode_date_time(data: bytes) -> DateTimeValue:
    """Date Time 0x2A08."""
    _, values, trailing = DATE_TIME_LAYOUT.decode(data)
    return DateTimeValue(**values, trailing=trailing)


def decode_current_time(data: bytes) -> CurrentTime:
    """Current Time 0x2A2B."""
    _, values, trailing = CURRENT_TIME_LAYOUT.decode(data)
    return CurrentTime(**values, trailing=trailing)
