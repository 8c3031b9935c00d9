"""Which RACP requests fetch a glucometer's records after the last one already forwarded (pure).

Bluetooth SIG Glucose Profile, Record Access Control Point 0x2A52 (``reference/ble-health-profiles.md``
§5.4, §5.5): the collector remembers the last sequence number it forwarded (the cursor), asks for the
newest record number ("report stored records, last record") and then for "records ≥ cursor + 1".

Sequence numbers are uint16. A meter that has made 65,536 records numbers the next one 0 again, so
"≥ cursor + 1" after a wrap would miss the new low-numbered records (or, from cursor 65535, ask for
"≥ 0" — the whole memory). The newest number is therefore read as a position on the uint16 circle:

- newest == cursor: nothing new;
- newest ahead of the cursor without wrapping: "cursor + 1 … newest" (not "≥ cursor + 1": right after
  a wrap the meter still holds its older records numbered up to 65535, which "≥" would fetch again);
- newest below the cursor by more than half the circle: the numbers wrapped; the records after the
  cursor are "cursor + 1 … 65535" (none when the cursor is 65535) and then "≤ newest";
- newest below the cursor by less than half the circle: the meter was reset and renumbered its memory
  (§5.5 step 8), which is read again in full (the outbox drops what it already holds).

A wrap and a reset far from the cursor cannot be told apart by the numbers; reading "after the
cursor" across the wrap is right for both, since a renumbered memory starts at 0."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from drivers.racp import FilterType, OpCode, Operator, RacpRequest

SEQUENCE_MAX: Final = 0xFFFF
HALF_CIRCLE: Final = 0x8000


class Progress(StrEnum):
    FIRST = "first"  # no cursor yet: the whole memory
    UP_TO_DATE = "up_to_date"
    AHEAD = "ahead"
    WRAPPED = "wrapped"
    RESET = "reset"
    UNKNOWN = "unknown"  # the newest record could not be read: after the cursor as usual


@dataclass(frozen=True, slots=True)
class DownloadPlan:
    progress: Progress
    requests: tuple[RacpRequest, ...]
    fallback: tuple[RacpRequest, ...] = ()
    """For a meter that refuses the range operators (GLS makes only some of them mandatory)."""


ALL_RECORDS: Final = RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)
NEWEST_RECORD: Final = RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.LAST_RECORD)


def records_within(low: int, high: int) -> RacpRequest:
    return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE, FilterType.SEQUENCE_NUMBER, (low, high))


def records_up_to(high: int) -> RacpRequest:
    return RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.LESS_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER, (high,))


def plan_download(cursor: int | None, newest: int | None) -> DownloadPlan:
    """The requests that fetch every record after ``cursor`` given the meter's ``newest`` number
    (None when no cursor exists yet, or when the meter's newest record could not be read)."""
    if cursor is None:
        return DownloadPlan(Progress.FIRST, (ALL_RECORDS,))
    if newest is None:
        after = (RacpRequest.records_from(cursor + 1),) if cursor < SEQUENCE_MAX else (ALL_RECORDS,)
        return DownloadPlan(Progress.UNKNOWN, after)
    if newest == cursor:
        return DownloadPlan(Progress.UP_TO_DATE, ())
    if newest > cursor:
        return DownloadPlan(
            Progress.AHEAD, (records_within(cursor + 1, newest),), (RacpRequest.records_from(cursor + 1),)
        )
    if cursor - newest > HALF_CIRCLE:
        tail = (records_within(cursor + 1, SEQUENCE_MAX),) if cursor < SEQUENCE_MAX else ()
        return DownloadPlan(Progress.WRAPPED, (*tail, records_up_to(newest)), (ALL_RECORDS,))
    return DownloadPlan(Progress.RESET, (ALL_RECORDS,))
