"""Property tests: any byte string (or JSON-ish document) gives a value or a typed DecodeError,
never another exception, for every registered decoder; and normalising a decoded value never fails."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import CHARACTERISTICS, VENDORS, DecodeError, decode, decode_vendor, to_observations
from drivers.date_time import DateTime
from drivers.racp import FilterType, OpCode, Operator, RacpRequest

FAST = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)

# Frames that start with plausible flags reach deep into the optional fields far more often than
# uniform bytes do: half the examples are a flags byte pair followed by random fields.
frames = st.one_of(
    st.binary(max_size=40),
    st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=38)).map(lambda t: t[0].to_bytes(2, "little") + t[1]),
)


@pytest.mark.parametrize("uuid", sorted(CHARACTERISTICS))
@FAST
@given(data=frames)
def test_any_bytes_decode_to_a_frame_or_a_typed_error(uuid: str, data: bytes) -> None:
    try:
        frame = decode(uuid, data)
    except DecodeError as exc:
        assert exc.raw_hex == data.hex()  # noqa: PT017 - any input: a typed error is an allowed outcome
        return
    normalised = to_observations(frame)
    for obs in normalised.observations:
        assert (obs.value is None) != (obs.special is None)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["128", "2025-03-04T14:01:47Z", "abc", "", "1e400"]),
)
KEYS = [
    "deviceId",
    "imei",
    "ts",
    "batteryVoltage",
    "rssi",
    "values",
    "weight",
    "tare",
    "unit",
    "systolic",
    "diastolic",
    "pulse",
    "irregular",
    "metric",
    "hwi_device_id",
    "timestamp",
    "value_1",
    "value_2",
    "sensor_code",
    "filter_params",
    "measurement_index",
    "estimated_timestamp",
    "timezone_offset",
    "created",
    "createdAt",
    "isTest",
    "data",
    "status",
    "wt",
    "bmi",
    "fat",
    "data_type",
    "grpid",
    "attrib",
    "date",
    "measures",
    "type",
    "value",
    "alert",
]
METRIC_NAMES = ["blood_pressure", "pulse", "weight", "glucose", "spO2", "temperature", "battery_percentage"]
json_docs = st.recursive(
    st.one_of(json_scalars, st.sampled_from(METRIC_NAMES)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=8)
    ),
    max_leaves=25,
)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@FAST
@given(document=json_docs)
def test_any_json_document_decodes_or_fails_typed(vendor: str, document: Any) -> None:
    body = json.dumps(document)
    try:
        payload = decode_vendor(vendor, body)
    except DecodeError as exc:
        assert exc.raw_hex == body.encode().hex()  # noqa: PT017 - a typed error is an allowed outcome
        return
    for record in payload.records:
        to_observations(record)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@FAST
@given(body=st.binary(max_size=60))
def test_any_bytes_as_vendor_body_fail_typed(vendor: str, body: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_vendor(vendor, body)


dates = st.builds(
    DateTime,
    st.integers(1582, 9999),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
)


@given(
    st.sampled_from(
        [OpCode.REPORT_STORED_RECORDS, OpCode.DELETE_STORED_RECORDS, OpCode.REPORT_NUMBER_OF_STORED_RECORDS]
    ),
    st.sampled_from([Operator.LESS_THAN_OR_EQUAL, Operator.GREATER_THAN_OR_EQUAL, Operator.WITHIN_RANGE]),
    st.one_of(
        st.tuples(st.just(FilterType.SEQUENCE_NUMBER), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
        st.tuples(st.just(FilterType.USER_FACING_TIME), dates, dates),
    ),
)
def test_racp_request_round_trip(op_code: OpCode, operator: Operator, filt: tuple[Any, Any, Any]) -> None:
    filter_type, low, high = filt
    bounds = (low, high) if operator is Operator.WITHIN_RANGE else (low,)
    request = RacpRequest(op_code, operator, filter_type, bounds)
    assert decode("2a52", request.encode()) == request


@given(dates)
def test_date_time_round_trip(value: DateTime) -> None:
    assert decode("2a08", value.encode()).date_time == value  # type: ignore[attr-defined]
