"""The simulated scale: provisional then final weight, kg or lb, BMI/height, heart-failure weight gain
and the A&D UC-352BLE memory quirk."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from core.domain import DeviceKind, Metric, ReadingFlag, Unit
from firmware_sim.devices.battery import Battery, battery_for
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import DeviceInformation
from firmware_sim.devices.outgoing import Delivery
from firmware_sim.devices.scale import Scale, and_uc352ble
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.weight_scale import LIVE_WEIGHT
from firmware_sim.intent import IntendedMeasurement
from firmware_sim.physiology import Condition, PatientProfile, Physiology

WM = uuids.WEIGHT_MEASUREMENT


def home_scale(patient: Physiology, clock: DeviceClock, seed: int, **kw: object) -> Scale:
    options: dict[str, object] = {
        "info": DeviceInformation("Sim", "WS-1", "WS1-0001"),
        "local_name": "WS-1",
        "battery": battery_for(DeviceKind.SCALE),
        "memory_capacity": 60,
    } | kw
    return Scale(users={1: patient}, clock=clock, seed=seed, **options)  # type: ignore[arg-type]


def listen(scale: Scale, at: datetime) -> None:
    scale.connect(at)
    scale.subscribe(LIVE_WEIGHT, at)
    scale.subscribe(WM, at)


def weight(intended: IntendedMeasurement | None) -> float | None:
    assert intended is not None
    return next((o.value for o in intended.observations if o.metric == Metric.MDC_MASS_BODY_ACTUAL), None)


def test_provisional_readings_then_the_final_one(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    scale = home_scale(patient, clock, seed, unsuccessful_rate=0.0)
    listen(scale, t0)
    frames = scale.measure(t0)
    assert [(f.characteristic, f.delivery) for f in frames] == [(LIVE_WEIGHT, Delivery.NOTIFY)] * 3 + [
        (WM, Delivery.INDICATE)
    ]
    provisional, final = [f.intended for f in frames[:3]], frames[3].intended
    assert all(i is not None and not i.final for i in provisional)
    assert final is not None
    assert final.final
    assert [weight(i) for i in provisional] != [weight(final)] * 3
    twin = Physiology(patient.profile, np.random.default_rng(seed))
    assert weight(final) == pytest.approx(twin.weight_kg(t0))


def test_pounds_are_shown_in_two_tenths(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    scale = home_scale(patient, clock, seed, unit=Unit.LB, heights_m={1: 1.78}, unsuccessful_rate=0.0)
    listen(scale, t0)
    final = scale.measure(t0)[-1]
    assert final.data[0] & 0x01  # imperial
    intended = final.intended
    assert intended is not None
    by_metric = {o.metric: o for o in intended.observations}
    pounds = by_metric[Metric.MDC_MASS_BODY_ACTUAL]
    assert pounds.source_unit == Unit.LB
    assert round((pounds.source_value or 0) * 10) % 2 == 0
    assert pounds.value == pytest.approx((pounds.source_value or 0) * 0.45359237)
    height = by_metric[Metric.MDC_LEN_BODY_ACTUAL]
    assert height.source_unit == Unit.INCH
    assert height.source_value == 70.1  # 178 cm in tenths of an inch
    assert by_metric[Metric.MDC_RATIO_MASS_BODY_LEN_SQ].unit == Unit.KG_PER_M2


def test_decompensating_heart_failure_patient_gains_weight(clock: DeviceClock, seed: int, t0: datetime) -> None:
    profile = PatientProfile(
        frozenset({Condition.HEART_FAILURE}), weight_kg=80.0, decompensation_starts=t0 + timedelta(days=7)
    )
    scale = home_scale(Physiology(profile, np.random.default_rng(seed)), clock, seed, memory_capacity=90)
    for day in range(14):
        scale.measure(t0 + timedelta(days=day))
    scale.connect(t0 + timedelta(days=14))
    scale.subscribe(WM, t0)
    weights = [weight(f.intended) for f in scale.transmit(t0)]
    stable = [w for w in weights[:7] if w is not None]
    gaining = [w for w in weights[10:] if w is not None]
    assert sum(gaining) / len(gaining) - sum(stable) / len(stable) > 2.0  # well past the 2 kg / week rule


def test_unsuccessful_weighings_are_events_not_weights(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    scale = home_scale(patient, clock, seed, memory_capacity=2000, battery=Battery(0, 0, 0))
    for i in range(2000):
        scale.measure(t0 + timedelta(hours=i))
    scale.connect(t0)
    scale.subscribe(WM, t0)
    failed = [f for f in scale.transmit(t0) if f.intended and ReadingFlag.MEASUREMENT_UNSUCCESSFUL in f.intended.flags]
    assert 3 < len(failed) < 50  # about 1 %
    assert all(f.data[1:3] == b"\xff\xff" and f.intended and f.intended.observations == () for f in failed)


def test_and_scale_waits_for_its_clock(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    scale = and_uc352ble(physiology=patient, clock=clock, seed=seed)
    scale.measure(t0)
    scale.measure(t0 + timedelta(days=1))
    at = t0 + timedelta(days=2)
    scale.connect(at)
    scale.pair(at)
    scale.subscribe(WM, at)
    assert scale.transmit(at) == []
    scale.write(uuids.DATE_TIME, encode_date_time(datetime(2026, 1, 17, 7, 0)), at)
    frames = scale.transmit(at)
    assert len(frames) == 2
    assert all(f.intended and f.intended.from_device_memory and f.intended.user_id is None for f in frames)
    assert scale.read(uuids.WEIGHT_SCALE_FEATURE, at) == bytes.fromhex("99 01 00 00")  # time stamp, 0.1 kg, 0.001 m
    assert scale.close_requested
