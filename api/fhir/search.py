"""FHIR search parameters the export understands, parsed without I/O: the ``date`` parameter with its
comparison prefixes (FHIR R4 §3.1.1.5.3 search on date), ``_count``, and the opaque keyset cursor of
the ``next`` links (an :class:`ObservationKey`: readings that arrive late never shift or repeat
entries of later pages). Each bad value raises :class:`InvalidSearch`, answered as an OperationOutcome."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from api.fhir.resources import ObservationKey
from api.fhir.vocabulary import OBSERVATION_CODES
from core.errors import CarehubError

DEFAULT_COUNT: Final = 100
MAX_COUNT: Final = 1000

_DATE = re.compile(
    r"^(?P<prefix>eq|ge|gt|le|lt)?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<offset>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class InvalidSearch(CarehubError):
    """A search parameter the server cannot honour; ``code`` is the OperationOutcome issue type."""

    def __init__(self, detail: str, code: str = "invalid") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range ``[start, end)`` of ``measured_at``; None means unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def intersect(self, other: TimeRange) -> TimeRange:
        starts = [t for t in (self.start, other.start) if t is not None]
        ends = [t for t in (self.end, other.end) if t is not None]
        return TimeRange(max(starts) if starts else None, min(ends) if ends else None)

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.start >= self.end


def _period(match: re.Match[str]) -> tuple[datetime, datetime]:
    """The implicit range a date value stands for, at its precision (a day is its 24 UTC hours)."""
    year, month, day = int(match["year"]), match["month"], match["day"]
    try:
        if match["time"] is not None:
            if match["offset"] is None:
                raise InvalidSearch("a date-time search value needs a UTC offset (e.g. Z or -05:00)")
            offset = "+00:00" if match["offset"] == "Z" else match["offset"]
            text = f"{match['year']}-{month}-{day}T{match['time']}{offset}"
            start = datetime.fromisoformat(text)
            seconds = match["time"].count(":")
            precision = timedelta(minutes=1) if seconds == 1 else timedelta(seconds=1)
            if "." in match["time"]:
                precision = timedelta(microseconds=10 ** (6 - len(match["time"].split(".")[1])))
            return start, start + precision
        if day is not None:
            start = datetime(year, int(month or 1), int(day), tzinfo=UTC)
            return start, start + timedelta(days=1)
        if month is not None:
            start = datetime(year, int(month), 1, tzinfo=UTC)
            following = datetime(year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)
            return start, following
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidSearch(f"not a valid date: {match.string!r}") from exc


def date_range(values: Iterable[str]) -> TimeRange:
    """The range every ``date`` value allows (repeated parameters AND together). A value without a
    UTC offset is a UTC day, month or year."""
    result = TimeRange()
    for value in values:
        # An unencoded "+" of a UTC offset arrives as a space.
        match = _DATE.match(value.replace(" ", "+"))
        if match is None:
            raise InvalidSearch(f"not a FHIR date search value: {value!r} (prefixes eq, ge, gt, le, lt)")
        lo, hi = _period(match)
        prefix = match["prefix"] or "eq"
        bound = {
            "eq": TimeRange(lo, hi),
            "ge": TimeRange(lo, None),
            "gt": TimeRange(hi, None),
            "lt": TimeRange(None, lo),
            "le": TimeRange(None, hi),
        }[prefix]
        result = result.intersect(bound)
    return result


def code_groups(values: Iterable[str]) -> frozenset[int] | None:
    """The observation groups the ``code`` token values allow (``[system|]code``, comma = or, repeated
    parameters AND together), or None when no value restricts them."""
    result: frozenset[int] | None = None
    for value in values:
        allowed: set[int] = set()
        for token in value.split(","):
            system, bar, code = token.rpartition("|")
            if not code:
                if not bar:
                    raise InvalidSearch("an empty code search value")
                allowed |= {g for (s, _), groups in OBSERVATION_CODES.items() if s == system for g in groups}
                continue
            allowed |= {
                g
                for (s, c), groups in OBSERVATION_CODES.items()
                if c == code and (not bar or s == system)
                for g in groups
            }
        result = frozenset(allowed) if result is None else result & allowed
    return result


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    """What an Observation search restricts: the time of measurement and the codes."""

    window: TimeRange = TimeRange()
    groups: frozenset[int] | None = None

    @property
    def empty(self) -> bool:
        """True when nothing can match, so no query is needed."""
        return self.window.empty or self.groups == frozenset()


def count(value: str | None) -> int:
    if value is None:
        return DEFAULT_COUNT
    if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
        raise InvalidSearch(f"_count must be an integer from 1 to {MAX_COUNT}")
    return int(value)


def parse_cursor(value: str | None) -> ObservationKey | None:
    """The Observation after which a page starts (the ``_cursor`` of a ``next`` link)."""
    if value is None:
        return None
    key = ObservationKey.parse(value)
    if key is None:
        raise InvalidSearch("_cursor is not a cursor this server issued")
    return key


def patient_reference(value: str) -> str:
    """The id in ``patient=<id>`` or ``patient=Patient/<id>`` (or an absolute URL ending so)."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != "Patient":
        raise InvalidSearch(f"patient must reference a Patient: {value!r}")
    return tail[-1]
