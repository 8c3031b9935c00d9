"""Tenovi webhooks: the reference's post-as-array example, string-or-number values, estimated
timestamps, irregular-heartbeat messages, pounds, gateway replacement and battery messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.domain import DeviceKind, MeasuredAtSource, Metric, ReadingFlag, Unit
from firmware_sim.cellular.delivery import MessageKind
from firmware_sim.cellular.tenovi import TenoviDevice
from firmware_sim.errors import SimulationError
from firmware_sim.physiology import BloodPressure, PatientProfile, Physiology
from tests.firmware_sim.cellular_fixtures import FixedPhysiology, fixed

AT = datetime(2025, 3, 4, 14, 1, 47, tzinfo=UTC)  # the reference example's timestamp


def bpm(seed: int, **kw: object) -> TenoviDevice:
    options: dict[str, object] = {
        "physiology": fixed(bp=BloodPressure(128, 82, 71, irregular_pulse=False)),
        "rng": np.random.default_rng(seed),
        "patient_id": "ch-pt-000042",
        "hwi_device_id": "0b6f3c2e-4d1a-4a8e-9f55-2c1d7e9a1b20",
        "hardware_uuid": "a1b2c3d4e5f6",
        "estimated_rate": 0.0,
        "battery_report_rate": 0.0,
    } | kw
    return TenoviDevice(DeviceKind.BP_CUFF, **options)  # type: ignore[arg-type]


def normalised(document: dict[str, object]) -> dict[str, object]:
    """Values compared as strings (Tenovi sends either), ``created`` left out (ours carries ms)."""
    out = {k: v for k, v in document.items() if k != "created"}
    for key in ("value_1", "value_2"):
        out[key] = None if document[key] is None else str(document[key])
    return out


def test_post_as_array_example(seed: int) -> None:
    # Origin: reference cellular §1.2 "Example (post-as-array, BP + pulse)".
    (delivery,) = bpm(seed).measure(AT, received_at=AT + timedelta(seconds=24, microseconds=512000))
    assert delivery.headers["Authorization"] == "Bearer tenovi-sim"
    documents = delivery.json()
    common = {
        "device_name": "Tenovi BPM - L",
        "hwi_device_id": "0b6f3c2e-4d1a-4a8e-9f55-2c1d7e9a1b20",
        "patient_id": "ch-pt-000042",
        "hardware_uuid": "a1b2c3d4e5f6",
        "sensor_code": "10",
        "timestamp": "2025-03-04T14:01:47Z",
        "timezone_offset": -300,
        "estimated_timestamp": False,
        "filter_params": {"measurement_index": 1},
    }
    assert [normalised(d) for d in documents] == [
        {"metric": "blood_pressure", "value_1": "128", "value_2": "82", **common},
        {"metric": "pulse", "value_1": "71", "value_2": None, **common},
    ]
    assert documents[0]["created"] == "2025-03-04T14:02:11.512Z"
    sys_obs, dia_obs = delivery.intended[0].observations
    assert (sys_obs.metric, sys_obs.value, dia_obs.value) == (Metric.MDC_PRESS_BLD_NONINV_SYS, 128.0, 82.0)
    assert all(i.device_id == "0b6f3c2e-4d1a-4a8e-9f55-2c1d7e9a1b20" and i.billable for i in delivery.intended)


def test_values_come_as_strings_and_numbers(seed: int) -> None:
    device = bpm(seed)
    kinds = {type(d["value_1"]) for i in range(40) for d in device.measure(AT + timedelta(hours=i))[0].json()}
    assert kinds == {str, int}


def test_one_post_per_metric_without_array(seed: int) -> None:
    deliveries = bpm(seed, post_as_array=False).measure(AT)
    assert [json.loads(d.body)["metric"] for d in deliveries] == ["blood_pressure", "pulse"]
    assert all(isinstance(d.json(), dict) and len(d.intended) == 1 for d in deliveries)


def test_irregular_heartbeat_is_its_own_message(seed: int) -> None:
    device = bpm(seed, physiology=fixed(bp=BloodPressure(150, 95, 90, irregular_pulse=True)))
    (delivery,) = device.measure(AT)
    metrics = [d["metric"] for d in delivery.json()]
    assert metrics == ["blood_pressure", "pulse", "irregular_heartbeat"]
    assert str(delivery.json()[2]["value_1"]) == "1"
    assert delivery.intended[2].flags == {ReadingFlag.IRREGULAR_PULSE}
    assert delivery.intended[2].observations == ()


def test_estimated_timestamps_are_receipt_times(seed: int) -> None:
    device = bpm(seed, estimated_rate=1.0)
    received = AT + timedelta(hours=3)
    (delivery,) = device.measure(AT, received_at=received)
    assert delivery.json()[0]["estimated_timestamp"] is True
    assert delivery.json()[0]["timestamp"] == "2025-03-04T17:01:47Z"
    intended = delivery.intended[0]
    assert intended.measured_at_source == MeasuredAtSource.VENDOR_ESTIMATED
    assert intended.measured_at == received
    assert intended.true_measured_at == AT


def test_gateway_replacement_keeps_the_device_identity(seed: int) -> None:
    device = bpm(seed)
    before = device.measure(AT)[0].json()[0]
    device.replace_gateway()
    after = device.measure(AT + timedelta(days=1))[0].json()[0]
    assert before["hardware_uuid"] != after["hardware_uuid"]
    assert before["hwi_device_id"] == after["hwi_device_id"]


def test_scale_in_pounds_needs_a_sensor_code(patient: Physiology, seed: int) -> None:
    with pytest.raises(SimulationError):
        TenoviDevice(DeviceKind.SCALE, patient, np.random.default_rng(seed), "p1")
    scale = TenoviDevice(
        DeviceKind.SCALE, patient, np.random.default_rng(seed), "p1", sensor_code="99", battery_report_rate=0
    )
    (delivery,) = scale.measure(AT)
    (weight,) = delivery.intended[0].observations
    assert weight.source_unit == Unit.LB
    assert float(delivery.json()[0]["value_1"]) == weight.source_value


def test_glucometer_meal_context_and_battery_messages(patient: Physiology, seed: int) -> None:
    meter = TenoviDevice(DeviceKind.GLUCOMETER, patient, np.random.default_rng(seed), "p1", battery_report_rate=0.5)
    contexts, batteries = set(), 0
    for i in range(48):
        (delivery,) = meter.measure(AT + timedelta(minutes=30 * i))
        for document, intended in zip(delivery.json(), delivery.intended, strict=True):
            if document["metric"] == "battery_percentage":
                batteries += 1
                assert intended.kind == MessageKind.DEVICE_STATUS
                assert not intended.billable
                assert intended.battery_pct == int(document["value_1"])
            else:
                contexts.add(document["filter_params"].get("meal_context"))
                assert document["filter_params"]["measurement_location"] == "finger"
    assert contexts == {"pre-prandial", "post-prandial", "fasting", None}
    assert batteries > 5


def test_timezone_offset_follows_dst(seed: int) -> None:
    summer = AT + timedelta(days=120)
    (delivery,) = bpm(seed).measure(summer)
    assert delivery.json()[0]["timezone_offset"] == -240
    assert delivery.intended[0].tz_offset_min == -240


def test_glucose_sample_type_is_undetermined_and_hi_is_flagged(patient: Physiology, seed: int) -> None:
    """Regression (round trip with drivers): Tenovi states a location but no sample type, yet the
    intent claimed capillary plasma; and a value at the meter's ceiling, posted with
    ``alert: sensor_result_above_range``, carried no flag in the intent."""
    meter = TenoviDevice(DeviceKind.GLUCOMETER, patient, np.random.default_rng(seed), "p1", battery_report_rate=0.0)
    for i in range(200):
        (delivery,) = meter.measure(AT + timedelta(minutes=30 * i))
        (document,) = delivery.json()
        (intended,) = delivery.intended
        assert [o.metric for o in intended.observations] == [Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA]
        above = document["filter_params"].get("alert") == "sensor_result_above_range"
        assert (ReadingFlag.RESULT_ABOVE_RANGE in intended.flags) == above
    (delivery,) = TenoviDevice(DeviceKind.GLUCOMETER, _VeryHigh(PatientProfile(frozenset())), meter.rng, "p1").measure(
        AT
    )
    assert delivery.json()[0]["filter_params"]["alert"] == "sensor_result_above_range"
    assert delivery.intended[0].flags == {ReadingFlag.RESULT_ABOVE_RANGE}


class _VeryHigh(FixedPhysiology):
    def glucose(self, at: datetime) -> float:
        return 650.0
