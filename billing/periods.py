"""Days with device data and 30-day device-supply periods (reference/rpm-ccm-rules.md RPM-DAYS-1/2,
RPM-DEV-2/3).

A *data day* is a calendar date in the patient's time zone on which at least one qualifying reading
was taken (measured, not uploaded). A reading qualifies when a device captured and sent it
(RPM-DEV-2: never a manual entry) and it is a final, present value (RPM-DEV-3: no test or
demonstration traffic, no invalid or unsuccessful measurement, no special value standing in for an
absent one). Duplicates never reach this module: the database stores one row per device, metric and
instant (``readings_once``), and days are a set, so several devices on one day are one day
(RPM-DAYS-5). :data:`NON_QUALIFYING_FLAGS` is also what the report's SQL filters on, so the two
paths cannot drift."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.domain import ReadingFlag
from core.errors import InvalidDomainValue

NON_QUALIFYING_FLAGS: frozenset[str] = frozenset(
    {
        ReadingFlag.MANUAL_ENTRY,  # RPM-DEV-2
        ReadingFlag.TEST_DATA,  # test traffic (RPM-DEV-3)
        ReadingFlag.DEMONSTRATION_DATA,
        ReadingFlag.CALIBRATION_ONGOING,
        ReadingFlag.CONTROL_SOLUTION,  # a glucometer check with control solution, not the patient
        ReadingFlag.INVALID,  # not final (RPM-DEV-3)
        ReadingFlag.MEASUREMENT_UNSUCCESSFUL,
        ReadingFlag.MEASUREMENT_UNAVAILABLE,
        ReadingFlag.MEASUREMENT_ONGOING,
        ReadingFlag.EARLY_ESTIMATE,
    }
)


class ReadingSource(StrEnum):
    DEVICE = "device"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class ReadingFact:
    measured_at: datetime
    source: ReadingSource
    flags: frozenset[str] = frozenset()
    value_absent: bool = False
    device: str | None = None

    def __post_init__(self) -> None:
        if self.measured_at.tzinfo is None:
            raise InvalidDomainValue("measured_at must be timezone-aware")

    @property
    def qualifies(self) -> bool:
        return self.source is ReadingSource.DEVICE and not self.value_absent and not (self.flags & NON_QUALIFYING_FLAGS)


def local_data_days(readings: Iterable[ReadingFact], time_zone: str) -> frozenset[date]:
    """The patient's local dates with at least one qualifying reading (RPM-DAYS-1)."""
    zone = ZoneInfo(time_zone)
    return frozenset(r.measured_at.astimezone(zone).date() for r in readings if r.qualifies)


@dataclass(frozen=True, slots=True)
class Period:
    """A device-supply period: ``start`` .. ``end`` inclusive, 30 consecutive calendar days."""

    index: int
    start: date
    end: date

    def days_in(self, days: Iterable[date]) -> tuple[date, ...]:
        return tuple(sorted(d for d in days if self.start <= d <= self.end))


def month_bounds(month: date) -> tuple[date, date]:
    """First and last day of the calendar month containing ``month``."""
    last = calendar.monthrange(month.year, month.month)[1]
    return month.replace(day=1), month.replace(day=last)


def periods_ending_in(anchor: date, month: date, period_days: int = 30) -> tuple[Period, ...]:
    """The periods of an episode anchored at ``anchor`` that end in ``month`` (RPM-DAYS-2: consecutive,
    never overlapping; reported in the month they end, §A.9 step 2). At most two for a 31-day month."""
    first, last = month_bounds(month)
    # index of the first period whose end (anchor + 30k + 29) is on or after the month's first day
    k = max(0, -(-((first - anchor).days - (period_days - 1)) // period_days))
    found: list[Period] = []
    while True:
        start = anchor + timedelta(days=period_days * k)
        end = start + timedelta(days=period_days - 1)
        if end > last:
            break
        if end >= first:
            found.append(Period(k, start, end))
        k += 1
    return tuple(found)


def period_containing(anchor: date, day: date, period_days: int = 30) -> Period | None:
    """The episode period that contains ``day`` (None before the anchor)."""
    if day < anchor:
        return None
    k = (day - anchor).days // period_days
    start = anchor + timedelta(days=period_days * k)
    return Period(k, start, start + timedelta(days=period_days - 1))


def minutes_by_local_day(started_at: datetime, ended_at: datetime, time_zone: str) -> tuple[tuple[date, int], ...]:
    """An interval of care time split at the patient's local midnights (TIME-2), as whole minutes per
    local date. Each part is floored to whole minutes: only whole minutes are ever billed."""
    if started_at.tzinfo is None or ended_at.tzinfo is None:
        raise InvalidDomainValue("care time instants must be timezone-aware")
    if ended_at < started_at:
        raise InvalidDomainValue("care time ends before it starts")
    zone = ZoneInfo(time_zone)
    parts: list[tuple[date, int]] = []
    cursor = started_at
    while cursor < ended_at:
        local_day = cursor.astimezone(zone).date()
        next_midnight = datetime.combine(local_day + timedelta(days=1), datetime.min.time(), zone)
        part_end = min(ended_at, next_midnight)
        minutes = int((part_end - cursor).total_seconds() // 60)
        if minutes > 0:
            parts.append((local_day, minutes))
        cursor = part_end
    return tuple(parts)
