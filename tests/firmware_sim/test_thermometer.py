"""The simulated thermometer: °C/°F, type, A&D Date Time quirk, failed readings as NaN."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from core.domain import SpecialValue, Unit
from firmware_sim.devices.battery import Battery
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.thermometer import and_ut201ble
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.health_thermometer import TemperatureDetails, TemperatureType
from firmware_sim.physiology import Physiology

TM = uuids.TEMPERATURE_MEASUREMENT


def download(thermometer: object, at: datetime) -> list:  # type: ignore[type-arg]
    from firmware_sim.devices.thermometer import Thermometer

    assert isinstance(thermometer, Thermometer)
    thermometer.connect(at)
    thermometer.pair(at)
    thermometer.subscribe(TM, at)
    thermometer.write(uuids.DATE_TIME, encode_date_time(datetime(2026, 1, 20, 7, 0)), at)
    return thermometer.transmit(at)


@pytest.mark.parametrize("unit", [Unit.CEL, Unit.DEG_F])
def test_readings_in_either_unit(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime, unit: Unit) -> None:
    thermometer = and_ut201ble(physiology=patient, clock=clock, seed=seed, unit=unit)
    times = [t0 + timedelta(hours=4 * i) for i in range(6)]
    for at in times:
        thermometer.measure(at)
    frames = download(thermometer, t0 + timedelta(days=2))
    twin = Physiology(patient.profile, np.random.default_rng(seed))
    for frame, at in zip(frames, times, strict=True):
        assert bool(frame.data[0] & 0x01) == (unit == Unit.DEG_F)
        intended = frame.intended
        assert intended is not None
        assert intended.details == TemperatureDetails(TemperatureType.EAR)
        (observation,) = intended.observations
        celsius = twin.temperature_c(at)
        if observation.special is None:
            assert observation.value == pytest.approx(celsius, abs=0.03)  # °F shown to 0.1: ≤ 0.028 °C off
            assert (observation.source_unit == Unit.DEG_F) == (unit == Unit.DEG_F)


def test_and_thermometer_waits_for_its_clock_and_reads_its_type(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    thermometer = and_ut201ble(physiology=patient, clock=clock, seed=seed)
    thermometer.measure(t0)
    thermometer.connect(t0)
    thermometer.pair(t0)
    thermometer.subscribe(TM, t0)
    assert thermometer.transmit(t0) == []
    assert thermometer.read(uuids.TEMPERATURE_TYPE, t0) == b"\x03"
    assert thermometer.read(uuids.MEASUREMENT_INTERVAL, t0) == b"\x00\x00"


def test_failed_readings_are_nan(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    thermometer = and_ut201ble(
        physiology=patient, clock=clock, seed=seed, memory_capacity=2000, battery=Battery(0, 0, 0)
    )
    for i in range(2000):
        thermometer.measure(t0 + timedelta(minutes=i))
    frames = download(thermometer, t0 + timedelta(days=1))
    failed = [f for f in frames if f.intended and f.intended.observations[0].special == SpecialValue.NAN]
    assert 3 < len(failed) < 50  # about 1 %
    assert all(f.data[1:5] == bytes.fromhex("FF FF 7F 00") for f in failed)
