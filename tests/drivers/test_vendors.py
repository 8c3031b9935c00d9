"""Cellular vendor payloads (reference/cellular-and-logistics.md §0–§1). Example bodies are the
reference's own examples unless noted."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.domain import MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from drivers import (
    ImplausibleValue,
    MalformedValue,
    MessageType,
    UnknownVendor,
    UnknownVendorField,
    VendorRecord,
    decode_vendor,
    to_observations,
)
from drivers.vendors.bodytrace import imei_from_device_id

TS = datetime(2024, 3, 4, 14, 1, 47, 123000, tzinfo=UTC)


def one(vendor: str, body: Any) -> VendorRecord:
    payload = decode_vendor(vendor, json.dumps(body))
    assert len(payload.records) == 1
    return payload.records[0]


def test_bodytrace_imei_reconstruction() -> None:
    # reference §1.1: 49015420323751 -> "490154203237518"; leading zeros restored
    assert imei_from_device_id(49015420323751) == "490154203237518"
    assert imei_from_device_id(1234) == "000000000012344"


def test_bodytrace_scale_grams_to_kg() -> None:
    # reference §1.1 scale example
    body = {
        "deviceId": 35787204001234,
        "ts": 1709560907123,
        "batteryVoltage": 5522,
        "rssi": 91,
        "values": {"unit": 1, "weight": 81650, "tare": 0},
    }
    assert one("bodytrace", body) == VendorRecord(
        vendor="bodytrace",
        message=MessageType.READING,
        device_id="357872040012347",
        idempotency_key="bodytrace:357872040012347:1709560907123:weight",
        kind=ReadingKind.WEIGHT,
        observations=(
            Observation(Metric.MDC_MASS_BODY_ACTUAL, 81.65, Unit.KG, source_value=81650.0, source_unit=Unit.G),
        ),
        measured_at=TS,
        measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
        battery_mv=5522,
        signal_dbm=-91,
        extras=(("display_unit", 1),),
    )


def test_bodytrace_tare_over_100_g_is_subtracted() -> None:
    body = {"deviceId": 35787204001234, "ts": 1709560907123, "values": {"weight": 81650, "tare": 150}}
    assert one("bodytrace", body).observations[0].value == 81.5


def test_regression_bodytrace_pressures_are_pascals_not_mmhg() -> None:
    # reference §1.1 BP example: 15999/10666 Pa = 120/80 mmHg; irregular 0
    body = {
        "deviceId": 35787204001234,
        "imei": "357872040012347",
        "ts": 1709560907123,
        "batteryVoltage": 5801,
        "rssi": 80,
        "values": {"systolic": 15999, "diastolic": 10666, "pulse": 72, "unit": 1, "irregular": 0},
    }
    record = one("bodytrace", body)
    assert record.observations == (
        Observation(Metric.MDC_PRESS_BLD_NONINV_SYS, 120.0, Unit.MMHG, source_value=15999.0, source_unit=Unit.PA),
        Observation(Metric.MDC_PRESS_BLD_NONINV_DIA, 80.0, Unit.MMHG, source_value=10666.0, source_unit=Unit.PA),
        Observation(Metric.MDC_PULS_RATE_NON_INV, 72.0, Unit.PER_MIN),
    )
    assert record.flags == frozenset()


def test_bodytrace_mmhg_magnitude_is_accepted_and_irregular_flagged() -> None:
    body = {"deviceId": 1, "ts": 1709560907123, "values": {"systolic": 120, "diastolic": 80, "irregular": 1}}
    record = one("bodytrace", body)
    assert [o.value for o in record.observations] == [120.0, 80.0]
    assert record.flags == {ReadingFlag.IRREGULAR_PULSE}


def test_bodytrace_pressure_of_no_known_unit_is_quarantined() -> None:
    body = {"deviceId": 1, "ts": 1709560907123, "values": {"systolic": 500, "diastolic": 80}}
    with pytest.raises(ImplausibleValue):
        decode_vendor("bodytrace", json.dumps(body))


def test_bodytrace_heartbeat_is_not_a_reading() -> None:
    record = one("bodytrace", {"deviceId": 35787204001234, "ts": 1709560907123, "batteryVoltage": 5000, "values": {}})
    assert record.message is MessageType.HEARTBEAT
    assert to_observations(record).storable is False


def test_bodytrace_imei_mismatch_and_unknown_value_key() -> None:
    with pytest.raises(MalformedValue):
        decode_vendor("bodytrace", json.dumps({"deviceId": 1, "imei": "999", "ts": 1, "values": {}}))
    with pytest.raises(UnknownVendorField):
        decode_vendor("bodytrace", json.dumps({"deviceId": 1, "ts": 1, "values": {"glucose": 100}}))


TENOVI_BP = {
    "metric": "blood_pressure",
    "device_name": "Tenovi BPM - L",
    "hwi_device_id": "0b6f3c2e-4d1a-4a8e-9f55-2c1d7e9a1b20",
    "patient_id": "ch-pt-000042",
    "hardware_uuid": "a1b2c3d4e5f6",
    "sensor_code": "10",
    "value_1": "128",
    "value_2": "82",
    "created": "2025-03-04T14:02:11.512Z",
    "timestamp": "2025-03-04T14:01:47Z",
    "timezone_offset": -300,
    "estimated_timestamp": False,
    "filter_params": {"measurement_index": 1},
}
TENOVI_PULSE = {**TENOVI_BP, "metric": "pulse", "value_1": "71", "value_2": None, "created": "2025-03-04T14:02:11.530Z"}


def test_tenovi_post_as_array_groups_coincident_metrics() -> None:
    # reference §1.2 post-as-array example
    assert one("tenovi", [TENOVI_BP, TENOVI_PULSE]) == VendorRecord(
        vendor="tenovi",
        message=MessageType.READING,
        device_id="0b6f3c2e-4d1a-4a8e-9f55-2c1d7e9a1b20",
        idempotency_key="tenovi:0b6f3c2e-4d1a-4a8e-9f55-2c1d7e9a1b20:blood_pressure+pulse:2025-03-04T14:01:47Z:1",
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(
            Observation(Metric.MDC_PRESS_BLD_NONINV_SYS, 128.0, Unit.MMHG),
            Observation(Metric.MDC_PRESS_BLD_NONINV_DIA, 82.0, Unit.MMHG),
            Observation(Metric.MDC_PULS_RATE_NON_INV, 71.0, Unit.PER_MIN),
        ),
        measured_at=datetime(2025, 3, 4, 14, 1, 47, tzinfo=UTC),
        measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
        tz_offset_min=-300,
        vendor_received_at=datetime(2025, 3, 4, 14, 2, 11, 512000, tzinfo=UTC),
    )


def test_tenovi_weight_in_pounds_and_estimated_time() -> None:
    body = {**TENOVI_BP, "metric": "weight", "value_1": "180.5", "value_2": None, "estimated_timestamp": True}
    record = one("tenovi", body)
    assert record.observations == (
        Observation(Metric.MDC_MASS_BODY_ACTUAL, 180.5 * 0.45359237, Unit.KG, source_value=180.5, source_unit=Unit.LB),
    )
    assert record.measured_at_source is MeasuredAtSource.VENDOR_ESTIMATED


def test_tenovi_battery_alone_is_status_and_unknown_metric_refused() -> None:
    record = one("tenovi", {**TENOVI_BP, "metric": "battery_percentage", "value_1": "88", "value_2": None})
    assert (record.message, record.battery_pct, to_observations(record).storable) == (MessageType.STATUS, 88, False)
    with pytest.raises(UnknownVendorField):
        decode_vendor("tenovi", json.dumps({**TENOVI_BP, "metric": "peak_expiratory_flow"}))


MIO = {
    "deviceId": "202109100001",
    "modelNumber": "GBS-2012-C",
    "createdAt": 1709560950,
    "isTest": False,
    "data": {"wt": 81650, "bmi": 0, "fat": 0, "bm": 0, "mus": 0, "ts": 1709560907},
}


def test_transtek_forwarded_scale() -> None:
    # reference §1.4 Mode B example
    assert one("transtek", MIO) == VendorRecord(
        vendor="transtek",
        message=MessageType.READING,
        device_id="202109100001",
        idempotency_key="transtek:202109100001:1709560907:weight",
        kind=ReadingKind.WEIGHT,
        observations=(
            Observation(Metric.MDC_MASS_BODY_ACTUAL, 81.65, Unit.KG, source_value=81650.0, source_unit=Unit.G),
        ),
        measured_at=datetime(2024, 3, 4, 14, 1, 47, tzinfo=UTC),
        measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
        vendor_received_at=datetime(2024, 3, 4, 14, 2, 30, tzinfo=UTC),
    )


def test_transtek_test_traffic_and_status_are_not_readings() -> None:
    test = one("mioconnect", {**MIO, "isTest": True})
    assert test.message is MessageType.TEST
    assert to_observations(test).storable is False
    status = one("transtek", {k: v for k, v in MIO.items() if k != "data"} | {"status": {"battery": 3}})
    assert status.message is MessageType.STATUS
    with pytest.raises(UnknownVendorField):
        decode_vendor("transtek", json.dumps({**MIO, "data": {"data_type": "bgm_gen2_measure", "ts": 1}}))


WITHINGS = {
    "grpid": 5234567890,
    "attrib": 0,
    "date": 1709560907,
    "created": 1709560950,
    "modified": 1709560950,
    "category": 1,
    "deviceid": "892359876fd8805ac45bab078c4828692f0276b1",
    "model": "BPM Connect",
    "model_id": 45,
    "measures": [
        {"value": 128, "type": 10, "unit": 0},
        {"value": 82, "type": 9, "unit": 0},
        {"value": 71, "type": 11, "unit": 0},
    ],
}


def test_withings_group_device_captured() -> None:
    # reference §1.6 getmeas example
    record = one("withings", WITHINGS)
    assert record.observations == (
        Observation(Metric.MDC_PRESS_BLD_NONINV_SYS, 128.0, Unit.MMHG),
        Observation(Metric.MDC_PRESS_BLD_NONINV_DIA, 82.0, Unit.MMHG),
        Observation(Metric.MDC_PULS_RATE_NON_INV, 71.0, Unit.PER_MIN),
    )
    assert (record.device_captured, record.flags) == (True, frozenset())


def test_regression_manual_entry_is_not_device_captured() -> None:
    # reference §0 rule 6: Withings attrib 2/4 are manual entries; billing must not count them
    record = one("withings", {**WITHINGS, "attrib": 2, "measures": [{"value": 81650, "type": 1, "unit": -3}]})
    norm = to_observations(record)
    assert norm.observations == (Observation(Metric.MDC_MASS_BODY_ACTUAL, 81.65, Unit.KG),)
    assert (norm.device_captured, norm.flags) == (False, {ReadingFlag.MANUAL_ENTRY})


def test_vendor_errors() -> None:
    with pytest.raises(UnknownVendor):
        decode_vendor("acme", "{}")
    with pytest.raises(MalformedValue) as caught:
        decode_vendor("bodytrace", b"not json")
    assert caught.value.raw_hex == b"not json".hex()
    with pytest.raises(MalformedValue):
        decode_vendor("tenovi", '{"metric": "weight", "hwi_device_id": "x", "timestamp": "2025-01-01", "value_1": NaN}')
