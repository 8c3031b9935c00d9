"""Bluetooth SIG time characteristics: Date Time 0x2A08, Day Date Time 0x2A0A, Exact Time 256 0x2A0C
and Current Time 0x2A2B (GATT Specification Supplement; reference §3).

Date Time is 7 bytes: year uint16, month, day, hours, minutes, seconds; 0 in year, month or day means
"unknown". There is no time zone: a device holds whatever wall clock its last collector wrote, so
every datetime here is *naive* device-local time.

The parsers are the simulated device's own: a device reads the clock a collector writes (CTS or the
A&D-style Date Time write) and the time bounds of a RACP filter operand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from firmware_sim.errors import SimulationError

DATE_TIME_SIZE = 7
CURRENT_TIME_SIZE = 10
MICROSECONDS_PER_SECOND = 1_000_000


class InvalidTimeValue(SimulationError):
    """Bytes written to a time characteristic or filter that do not hold a valid time."""

    def __init__(self, reason: str, data: bytes) -> None:
        super().__init__(f"{reason} (bytes {data.hex(' ')})")
        self.data = data


class AdjustReason(IntFlag):
    """Current Time "Adjust Reason" bits (reference §3.3)."""

    MANUAL_TIME_UPDATE = 0x01
    EXTERNAL_REFERENCE_TIME_UPDATE = 0x02
    CHANGE_OF_TIME_ZONE = 0x04
    CHANGE_OF_DST = 0x08


@dataclass(frozen=True, slots=True)
class DateTimeFields:
    """The seven Date Time fields as sent, including the "unknown" zeros a datetime cannot hold."""

    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int

    @classmethod
    def of(cls, value: datetime) -> DateTimeFields:
        return cls(value.year, value.month, value.day, value.hour, value.minute, value.second)

    def encode(self) -> bytes:
        return self.year.to_bytes(2, "little") + bytes((self.month, self.day, self.hours, self.minutes, self.seconds))


def encode_date_time(value: datetime | DateTimeFields) -> bytes:
    """Date Time 0x2A08: 7 bytes. Sub-second parts of a datetime are dropped, as devices do."""
    fields = value if isinstance(value, DateTimeFields) else DateTimeFields.of(value)
    return fields.encode()


def encode_exact_time_256(value: datetime) -> bytes:
    """Exact Time 256 0x2A0C: Date Time, Day of Week (1 = Monday … 7 = Sunday) and Fractions256."""
    fractions = value.microsecond * 256 // MICROSECONDS_PER_SECOND
    return encode_date_time(value) + bytes((value.isoweekday(), fractions))


def encode_current_time(value: datetime, reason: AdjustReason | int = 0) -> bytes:
    """Current Time 0x2A2B: Exact Time 256 and the Adjust Reason byte (10 bytes)."""
    return encode_exact_time_256(value) + bytes((int(reason),))


def decode_date_time(data: bytes) -> datetime:
    """A device's parse of a written Date Time. Unknown (zero) dates cannot set a clock."""
    if len(data) != DATE_TIME_SIZE:
        raise InvalidTimeValue(f"a Date Time is {DATE_TIME_SIZE} bytes, not {len(data)}", data)
    year = int.from_bytes(data[0:2], "little")
    month, day, hours, minutes, seconds = data[2:7]
    try:
        return datetime(year, month, day, hours, minutes, seconds)  # noqa: DTZ001 - device wall clock
    except ValueError as exc:
        raise InvalidTimeValue(f"not a valid date and time: {exc}", data) from exc


def decode_current_time(data: bytes) -> tuple[datetime, AdjustReason]:
    """A device's parse of a written Current Time (10 bytes, reference §3.3).

    The day of week is not checked against the date: collectors get it wrong (obniz sends Sunday as 0)
    and the date is what sets the clock."""
    if len(data) != CURRENT_TIME_SIZE:
        raise InvalidTimeValue(f"a Current Time is {CURRENT_TIME_SIZE} bytes, not {len(data)}", data)
    value = decode_date_time(data[:DATE_TIME_SIZE])
    microseconds = data[8] * MICROSECONDS_PER_SECOND // 256
    return value.replace(microsecond=microseconds), AdjustReason(data[9] & 0x0F)
