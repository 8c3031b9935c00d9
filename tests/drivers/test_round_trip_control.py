"""Round trips for the values around the measurements, in both directions where both sides speak:
Date Time 0x2A08 and Current Time 0x2A2B (device → collector and collector → device), Battery Level
0x2A19 from a draining simulated battery, and the Record Access Control Point 0x2A52 (requests the
gateway writes with ``drivers`` and the simulated meter obeys; responses the meter indicates and
``drivers`` decodes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import DeviceKind
from drivers import DecodeError, ReservedValue, decode, to_observations
from drivers.date_time import AdjustReason, CurrentTime, DateTime, DateTimeValue
from drivers.device_info import BatteryLevel
from drivers.racp import FilterType, OpCode, Operator, RacpCount, RacpRequest, RacpResponse, ResponseValue
from firmware_sim.devices.battery import battery_for
from firmware_sim.gatt import racp as sim_racp
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import (
    DateTimeFields,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)

PROPERTY = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)

times = st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31))


# --- Date Time and Current Time --------------------------------------------------------------------


@PROPERTY
@given(moment=times)
def test_date_time_round_trips_both_ways(moment: datetime) -> None:
    decoded = decode(uuids.DATE_TIME, encode_date_time(moment), strict=True)
    assert isinstance(decoded, DateTimeValue)
    assert decoded.date_time.value == moment.replace(microsecond=0)  # Date Time has whole seconds
    assert to_observations(decoded).measured_at == moment.replace(microsecond=0)
    # The A&D way of setting a clock: the gateway writes 0x2A08, the device parses it.
    assert decode_date_time(DateTime.from_datetime(moment).encode()) == moment.replace(microsecond=0)


@PROPERTY
@given(
    year=st.sampled_from([0, 1582, 2024, 9999]),
    month=st.integers(0, 12),
    day=st.integers(0, 28),
    clock=st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)),
)
def test_unknown_date_parts_stay_unknown(year: int, month: int, day: int, clock: tuple[int, int, int]) -> None:
    decoded = decode(uuids.DATE_TIME, encode_date_time(DateTimeFields(year, month, day, *clock)), strict=True)
    assert isinstance(decoded, DateTimeValue)
    fields = decoded.date_time
    assert (fields.year, fields.month, fields.day, fields.hours, fields.minutes, fields.seconds) == (
        year,
        month,
        day,
        *clock,
    )
    assert (fields.value is None) == (0 in (year, month, day))


@PROPERTY
@given(moment=times, reason=st.integers(0, 0xFF))
def test_current_time_the_device_sends_decodes(moment: datetime, reason: int) -> None:
    decoded = decode(uuids.CURRENT_TIME, encode_current_time(moment, reason), strict=True)
    assert isinstance(decoded, CurrentTime)
    assert decoded.date_time.value == moment.replace(microsecond=0)
    assert decoded.day_of_week == moment.isoweekday()
    assert decoded.fractions256 == moment.microsecond * 256 // 1_000_000
    assert decoded.adjust_reason == reason  # RFU bits 4-7 are kept, never rejected


@PROPERTY
@given(moment=times, reason=st.sampled_from(list(AdjustReason)))
def test_current_time_the_gateway_writes_sets_the_device_clock(moment: datetime, reason: AdjustReason) -> None:
    value, parsed_reason = decode_current_time(CurrentTime.at(moment, reason).encode())
    fractions = moment.microsecond * 256 // 1_000_000
    assert value == moment.replace(microsecond=fractions * 1_000_000 // 256)
    assert int(parsed_reason) == int(reason)


# --- Battery Level ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_battery_level_of_a_draining_device_decodes_to_its_percentage(kind: DeviceKind) -> None:
    battery = battery_for(kind)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    seen = set()
    while battery.level_pct > 0:
        level = battery.level(at)
        decoded = decode(uuids.BATTERY_LEVEL, bytes((level,)), strict=True)  # what the peripheral's read returns
        assert isinstance(decoded, BatteryLevel)
        assert to_observations(decoded).battery_pct == level
        seen.add(level)
        battery.measure(at)
        at += timedelta(hours=6)
    assert {100, 1} <= seen


# --- Record Access Control Point -------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    sequence_number: int
    user_facing_time: datetime


RECORDS = tuple(Record(n, datetime(2026, 1, 1) + timedelta(hours=5 * n)) for n in range(10, 30))
SERVER: sim_racp.RacpServer[Record] = sim_racp.RacpServer()


def _selected(request: RacpRequest) -> tuple[Record, ...]:
    """What a request means, read from the drivers value alone (reference §5.4)."""
    if request.operator is Operator.ALL_RECORDS:
        return RECORDS
    if request.operator is Operator.FIRST_RECORD:
        return RECORDS[:1]
    if request.operator is Operator.LAST_RECORD:
        return RECORDS[-1:]

    def key(record: Record) -> int | datetime:
        if request.filter_type is FilterType.SEQUENCE_NUMBER:
            return record.sequence_number
        return record.user_facing_time

    bounds = [b.value if isinstance(b, DateTime) else b for b in request.bounds]
    low = bounds[0] if request.operator is not Operator.LESS_THAN_OR_EQUAL else None
    high = bounds[-1] if request.operator is not Operator.GREATER_THAN_OR_EQUAL else None
    return tuple(r for r in RECORDS if (low is None or key(r) >= low) and (high is None or key(r) <= high))  # type: ignore[operator]


sequence_numbers = st.integers(0, 40)
filter_times = st.datetimes(min_value=datetime(2025, 12, 30), max_value=datetime(2026, 1, 8)).map(
    lambda t: DateTime.from_datetime(t.replace(microsecond=0))
)


def _when(bound: DateTime) -> datetime:
    return bound.value or datetime.min


@st.composite
def racp_requests(draw: st.DrawFn) -> RacpRequest:
    op_code = draw(
        st.sampled_from(
            [OpCode.REPORT_STORED_RECORDS, OpCode.DELETE_STORED_RECORDS, OpCode.REPORT_NUMBER_OF_STORED_RECORDS]
        )
    )
    operator = draw(st.sampled_from([op for op in Operator if op is not Operator.NULL]))
    if operator in (Operator.ALL_RECORDS, Operator.FIRST_RECORD, Operator.LAST_RECORD):
        return RacpRequest(op_code, operator)
    filter_type = draw(st.sampled_from(list(FilterType)))
    count = 2 if operator is Operator.WITHIN_RANGE else 1
    bounds: tuple[int | DateTime, ...]
    if filter_type is FilterType.SEQUENCE_NUMBER:
        bounds = tuple(sorted(draw(st.lists(sequence_numbers, min_size=count, max_size=count))))
    else:
        times_drawn: list[DateTime] = draw(st.lists(filter_times, min_size=count, max_size=count))
        ordered = sorted(times_drawn, key=_when)
        bounds = tuple(ordered)
    return RacpRequest(op_code, operator, filter_type, bounds)


def _indication(data: bytes) -> RacpCount | RacpResponse:
    decoded = decode(uuids.RECORD_ACCESS_CONTROL_POINT, data, strict=True)
    assert isinstance(decoded, (RacpCount, RacpResponse))
    return decoded


@PROPERTY
@given(request=racp_requests())
def test_racp_request_from_drivers_is_obeyed_by_the_simulated_meter(request: RacpRequest) -> None:
    written = request.encode()
    assert decode(uuids.RECORD_ACCESS_CONTROL_POINT, written, strict=True) == request
    outcome = SERVER.handle(written, RECORDS, in_progress=False)
    selected = _selected(request)
    answer = None if outcome.response is None else _indication(outcome.response)
    if request.op_code is OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
        assert answer == RacpCount(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, len(selected), 2)
    elif not selected:
        assert answer == RacpResponse(request.op_code, ResponseValue.NO_RECORDS_FOUND)
        assert answer.finished
    elif request.op_code is OpCode.DELETE_STORED_RECORDS:
        assert outcome.delete == selected
        assert answer == RacpResponse(request.op_code, ResponseValue.SUCCESS)
    else:
        assert outcome.report == selected
        done = _indication(sim_racp.REPORT_COMPLETE)
        assert done == RacpResponse(OpCode.REPORT_STORED_RECORDS, ResponseValue.SUCCESS)
        assert done.finished


def test_racp_abort_round_trips() -> None:
    written = RacpRequest(OpCode.ABORT_OPERATION, Operator.NULL).encode()
    assert written == bytes.fromhex("03 00")
    outcome = SERVER.handle(written, RECORDS, in_progress=True)
    assert outcome.abort
    assert outcome.response is not None
    assert _indication(outcome.response) == RacpResponse(OpCode.ABORT_OPERATION, ResponseValue.SUCCESS)


@pytest.mark.parametrize("code", list(sim_racp.ResponseCode))
@pytest.mark.parametrize("request_op", [sim_racp.OpCode.REPORT_STORED_RECORDS, sim_racp.OpCode.ABORT_OPERATION])
def test_every_racp_response_code_the_meter_sends_decodes(
    request_op: sim_racp.OpCode, code: sim_racp.ResponseCode
) -> None:
    decoded = _indication(sim_racp.response(request_op, code))
    assert decoded == RacpResponse(OpCode(request_op), ResponseValue(code))
    assert decoded.finished == (code in (sim_racp.ResponseCode.SUCCESS, sim_racp.ResponseCode.NO_RECORDS_FOUND))


@PROPERTY
@given(count=st.integers(0, 0xFFFF))
def test_racp_record_count_round_trips(count: int) -> None:
    assert _indication(sim_racp.number_of_records(count)) == RacpCount(
        OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, count, 2
    )


def _accepted(outcome: sim_racp.RacpOutcome[Record]) -> bool:
    """The meter carried the request out: it streams, deletes, counts, aborts or finds nothing."""
    if outcome.response is None:
        return True
    answer = _indication(outcome.response)
    return isinstance(answer, RacpCount) or answer.finished


@PROPERTY
@given(data=st.one_of(st.binary(min_size=2, max_size=20), racp_requests().map(RacpRequest.encode)))
def test_racp_writes_the_meter_obeys_mean_the_same_to_drivers(data: bytes) -> None:
    """Any write the simulated meter carries out, drivers decodes to a request that selects the same
    records; a write drivers calls reserved, the meter refuses with a response code."""
    outcome = SERVER.handle(data, RECORDS, in_progress=False)
    try:
        request = decode(uuids.RECORD_ACCESS_CONTROL_POINT, data)
    except ReservedValue:
        assert not _accepted(outcome)
        return
    except DecodeError:
        return  # truncated operands: drivers refuses, the meter answers "invalid operand"
    if not _accepted(outcome):
        return  # drivers keeps trailing operand bytes the meter refuses; server→client op codes
    assert isinstance(request, RacpRequest)
    assert not request.trailing
    if request.op_code is OpCode.ABORT_OPERATION:
        assert outcome.abort
        return
    selected = _selected(request)
    if request.op_code is OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
        assert outcome.response is not None
        assert _indication(outcome.response) == RacpCount(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, len(selected), 2)
    else:
        assert (outcome.report or outcome.delete) == selected
