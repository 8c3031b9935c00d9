"""Pure decisions behind the device quirks: which RACP requests fetch the records after a cursor
(across a uint16 wrap of the sequence numbers), how a glucose measurement waits for its context, and
when a Device Information serial is the whitelisted one. Byte vectors are the GLS RACP operands
(Bluetooth SIG Glucose Profile, reference §5.4): op code, operator, filter type 0x01, uint16 LE bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.domain import ReadingFlag
from drivers.date_time import DateTime
from drivers.glucose import (
    ContextFlags,
    GlucoseContext,
    GlucoseFlags,
    GlucoseMeasurement,
    Meal,
    with_context,
)
from gateway.device_session import same_serial
from gateway.glucose_context import ContextJoin, Joined
from gateway.racp_plan import Progress, plan_download

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _wire(cursor: int | None, newest: int | None) -> tuple[Progress, list[str]]:
    plan = plan_download(cursor, newest)
    return plan.progress, [r.encode().hex() for r in plan.requests]


def test_records_after_the_cursor_without_a_wrap() -> None:
    assert _wire(None, None) == (Progress.FIRST, ["0101"])  # all records
    assert _wire(41, 41) == (Progress.UP_TO_DATE, [])
    assert _wire(41, 57) == (Progress.AHEAD, ["0104012a003900"])  # 42..57
    assert [r.encode().hex() for r in plan_download(41, 57).fallback] == ["0103012a00"]  # >= 42
    assert _wire(41, None) == (Progress.UNKNOWN, ["0103012a00"])


def test_a_wrapped_sequence_number_asks_for_the_tail_then_the_new_low_numbers() -> None:
    # cursor 65530, the meter went on to 65535 and wrapped to 0..3
    assert _wire(65530, 3) == (Progress.WRAPPED, ["010401fbffffff", "0102010300"])  # 65531..65535, <= 3
    # the cursor sat on 65535: "≥ 65536" does not exist and "≥ 0" would be the whole memory
    assert _wire(65535, 2) == (Progress.WRAPPED, ["0102010200"])
    assert _wire(65535, None) == (Progress.UNKNOWN, ["0101"])


def test_numbers_that_went_back_a_little_are_a_reset_and_read_in_full() -> None:
    assert _wire(120, 5) == (Progress.RESET, ["0101"])
    assert _wire(40_000, 39_000) == (Progress.RESET, ["0101"])


@given(st.integers(0, 0xFFFF), st.integers(1, 0x7FFF))
def test_the_requests_cover_exactly_the_records_after_the_cursor(cursor: int, new: int) -> None:
    """A meter whose numbers ran ``new`` records past the cursor (maybe across the wrap) holds them
    plus older ones; the plan selects exactly the new ones (the meter applies the filters)."""
    newest = (cursor + new) & 0xFFFF
    held = [(cursor - back) & 0xFFFF for back in range(0, 50)] + [(cursor + k) & 0xFFFF for k in range(1, new + 1)]
    plan = plan_download(cursor, newest)
    selected: list[int] = []
    for request in plan.requests:
        if request.operator.name == "GREATER_THAN_OR_EQUAL":
            selected += [n for n in held if n >= request.bounds[0]]  # type: ignore[operator]
        elif request.operator.name == "WITHIN_RANGE":
            low, high = request.bounds
            selected += [n for n in held if low <= n <= high]  # type: ignore[operator]
        elif request.operator.name == "LESS_THAN_OR_EQUAL":
            selected += [n for n in held if n <= request.bounds[0]]  # type: ignore[operator]
        else:
            raise AssertionError(f"unexpected request {request}")
    assert sorted(selected) == sorted((cursor + k) & 0xFFFF for k in range(1, new + 1))


def _measurement(sequence: int, *, context_follows: bool) -> GlucoseMeasurement:
    flags = GlucoseFlags.CONTEXT_FOLLOWS if context_follows else GlucoseFlags(0)
    return GlucoseMeasurement(flags, sequence, DateTime(2026, 3, 1, 8, 0, 0), "kg/L")


def _context(sequence: int, meal: int) -> GlucoseContext:
    return GlucoseContext(ContextFlags.MEAL, sequence, meal=meal)


def test_a_measurement_waits_for_its_context_and_is_joined_by_sequence_number() -> None:
    join: ContextJoin[str] = ContextJoin(timedelta(seconds=2))
    assert join.measurement(_measurement(7, context_follows=False), "m7", T0) == [Joined("m7", None)]
    assert join.measurement(_measurement(8, context_follows=True), "m8", T0) == []
    meal = _context(8, Meal.FASTING)
    assert join.context(meal) == [Joined("m8", meal)]
    assert len(join) == 0


def test_a_context_that_never_comes_releases_the_measurement_in_order() -> None:
    join: ContextJoin[str] = ContextJoin(timedelta(seconds=2))
    assert join.measurement(_measurement(8, context_follows=True), "m8", T0) == []
    # The next measurement: the context of 8 would have come first.
    assert join.measurement(_measurement(9, context_follows=True), "m9", T0) == [Joined("m8", None)]
    assert join.next_due_s(T0 + timedelta(seconds=0.5)) == 1.5
    assert join.due(T0 + timedelta(seconds=1.9)) == []
    assert join.due(T0 + timedelta(seconds=2)) == [Joined("m9", None)]
    assert (join.timed_out, join.next_due_s(T0)) == (1, None)
    # A late context finds nothing held: the measurement is not stored a second time.
    assert join.context(_context(9, Meal.FASTING)) == []
    assert join.unmatched_contexts == 1


def test_the_end_of_a_report_drains_what_waits() -> None:
    join: ContextJoin[str] = ContextJoin(timedelta(seconds=2))
    join.measurement(_measurement(3, context_follows=True), "m3", T0)
    assert join.drain() == [Joined("m3", None)]
    assert join.drain() == []


def test_the_meal_of_the_context_becomes_a_flag() -> None:
    normalised = _measurement(8, context_follows=True).normalise()
    assert with_context(normalised, _context(8, Meal.POSTPRANDIAL)).flags == normalised.flags | {
        ReadingFlag.MEAL_POSTPRANDIAL
    }
    assert with_context(normalised, _context(8, 6)) == normalised  # CareSens ketone marker: no meal
    assert with_context(normalised, GlucoseContext(ContextFlags(0), 8)) == normalised


def test_device_information_serials_compare_without_padding_or_case() -> None:
    assert same_serial("5110123456 ", "5110123456")
    assert same_serial("ab-0001\x00\x00", "AB-0001")
    assert not same_serial("5110123457", "5110123456")
    assert not same_serial("", "5110123456")
