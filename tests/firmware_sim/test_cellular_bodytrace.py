"""BodyTrace payloads: the reference's examples, IMEI formats, pascals, grams, tare and heartbeats."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.domain import DeviceKind, MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from firmware_sim.cellular.bodytrace import BodyTraceDevice
from firmware_sim.cellular.delivery import IntendedVendorMessage, MessageKind
from firmware_sim.cellular.imei import bodytrace_device_id, luhn_digit, make_imei, random_imei
from firmware_sim.errors import SimulationError
from firmware_sim.physiology import BloodPressure, Physiology
from tests.firmware_sim.cellular_fixtures import fixed

TS = datetime.fromtimestamp(1709560907.123, UTC)  # the reference examples' "ts": 1709560907123


def test_imei_luhn_vectors() -> None:
    # Origin: reference cellular §1.1, "49015420323751 -> 490154203237518", and the BP example's
    # deviceId 35787204001234 with imei "357872040012347".
    assert luhn_digit("49015420323751") == 8
    assert make_imei("35787204", 1234) == "357872040012347"
    assert bodytrace_device_id("357872040012347") == 35787204001234


def test_leading_zeros_are_lost_in_the_device_id(seed: int) -> None:
    imei = random_imei(np.random.default_rng(seed), leading_zero=True)
    device_id = bodytrace_device_id(imei)
    assert len(str(device_id)) < 14
    assert str(device_id).zfill(14) + imei[-1] == imei  # the reference's reconstruction recovers it
    with pytest.raises(SimulationError):
        bodytrace_device_id(imei[:-1] + str((int(imei[-1]) + 1) % 10))  # bad check digit


def test_bp_example_in_pascals(seed: int) -> None:
    # Origin: reference cellular §1.1 "Example — BP cuff": 120/80 mmHg ≈ 15999/10666 Pa.
    cuff = BodyTraceDevice(
        "357872040012347", DeviceKind.BP_CUFF, fixed(), np.random.default_rng(seed), include_imei=True
    )
    delivery = cuff.measure(TS)
    document = delivery.json()
    assert {k: document[k] for k in ("deviceId", "imei", "ts")} == {
        "deviceId": 35787204001234,
        "imei": "357872040012347",
        "ts": 1709560907123,
    }
    assert document["values"] == {"systolic": 15999, "diastolic": 10666, "pulse": 72, "unit": 1, "irregular": 0}
    assert 4700 <= document["batteryVoltage"] <= 6000
    assert 60 <= document["rssi"] <= 115
    assert delivery.intended == (
        IntendedVendorMessage(
            "bodytrace",
            MessageKind.READING,
            "357872040012347",
            reading_kind=ReadingKind.BLOOD_PRESSURE,
            observations=(
                Observation(
                    Metric.MDC_PRESS_BLD_NONINV_SYS, 120.0, Unit.MMHG, source_value=15999.0, source_unit=Unit.PA
                ),
                Observation(
                    Metric.MDC_PRESS_BLD_NONINV_DIA, 80.0, Unit.MMHG, source_value=10666.0, source_unit=Unit.PA
                ),
                Observation(Metric.MDC_PULS_RATE_NON_INV, 72.0, Unit.PER_MIN),
            ),
            measured_at=TS.replace(microsecond=123000),
            measured_at_source=MeasuredAtSource.VENDOR_CLOUD,
            true_measured_at=TS,
            billable=True,
        ),
    )
    assert round(15999 / 133.322) == 120  # the reference's guard recovers the intent


def test_scale_example_in_grams_and_basic_auth(seed: int) -> None:
    # Origin: reference cellular §1.1 "Example — scale": weight 81650 g, unit 1, tare 0.
    scale = BodyTraceDevice(
        "357872040012347",
        DeviceKind.SCALE,
        fixed(),
        np.random.default_rng(seed),
        tare_rate=0.0,
        basic_auth=("ch", "pw"),
    )
    delivery = scale.measure(TS)
    assert delivery.json()["values"] == {"unit": 1, "weight": 81650, "tare": 0}
    assert "imei" not in delivery.json()
    assert delivery.headers["Authorization"] == "Basic " + base64.b64encode(b"ch:pw").decode()
    (intended,) = delivery.intended
    assert intended.observations == (
        Observation(Metric.MDC_MASS_BODY_ACTUAL, 81.65, Unit.KG, source_value=81650.0, source_unit=Unit.G),
    )


def test_large_tare_is_folded_into_the_weight(seed: int) -> None:
    scale = BodyTraceDevice("357872040012347", DeviceKind.SCALE, fixed(), np.random.default_rng(seed), tare_rate=1.0)
    seen = set()
    for i in range(300):
        delivery = scale.measure(TS + timedelta(days=i))
        values = delivery.json()["values"]
        (intended,) = delivery.intended
        true_grams = intended.observations[0].source_value
        tare = values["tare"]
        subtracted = values["weight"] - tare if abs(tare) > 100 else values["weight"]
        assert subtracted == true_grams
        seen.add(abs(tare) > 100)
    assert seen == {True, False}


def test_heartbeat_is_not_a_reading(seed: int) -> None:
    scale = BodyTraceDevice("357872040012347", DeviceKind.SCALE, fixed(), np.random.default_rng(seed))
    delivery = scale.heartbeat(TS)
    assert delivery.json()["values"] == {}
    assert delivery.intended == (IntendedVendorMessage("bodytrace", MessageKind.HEARTBEAT, "357872040012347"),)


def test_irregular_flag_and_battery_drain(seed: int) -> None:
    cuff = BodyTraceDevice(
        "357872040012347",
        DeviceKind.BP_CUFF,
        fixed(bp=BloodPressure(150, 95, 88, irregular_pulse=True)),
        np.random.default_rng(seed),
    )
    first = cuff.measure(TS)
    assert first.json()["values"]["irregular"] == 1
    assert first.intended[0].flags == {ReadingFlag.IRREGULAR_PULSE}
    for i in range(1000):
        cuff.heartbeat(TS + timedelta(hours=i))
    assert cuff.measure(TS + timedelta(days=50)).json()["batteryVoltage"] < first.json()["batteryVoltage"] - 700


def test_real_physiology_values_round_trip_through_pascals(patient: Physiology, seed: int) -> None:
    cuff = BodyTraceDevice(
        random_imei(np.random.default_rng(seed)), DeviceKind.BP_CUFF, patient, np.random.default_rng(seed)
    )
    for i in range(200):
        delivery = cuff.measure(TS + timedelta(hours=i))
        values = delivery.json()["values"]
        sys_obs, dia_obs, _pulse = delivery.intended[0].observations
        assert round(values["systolic"] / 133.322) == sys_obs.value
        assert round(values["diastolic"] / 133.322) == dia_obs.value
