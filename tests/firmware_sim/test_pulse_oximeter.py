"""The simulated pulse oximeter: spot-checks live and from memory, continuous stream, clock-not-set."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.domain import ReadingFlag
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.outgoing import Delivery
from firmware_sim.devices.pulse_oximeter import fingertip_oximeter
from firmware_sim.gatt import uuids
from firmware_sim.gatt.pulse_oximeter import MeasurementStatus
from firmware_sim.physiology import Physiology

SPOT, CONTINUOUS = uuids.PLX_SPOT_CHECK_MEASUREMENT, uuids.PLX_CONTINUOUS_MEASUREMENT


def test_stored_spot_checks_carry_the_storage_bit(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    oximeter = fingertip_oximeter(physiology=patient, clock=clock, seed=seed)
    for i in range(5):
        oximeter.measure(t0 + timedelta(hours=i))
    oximeter.connect(t0 + timedelta(hours=6))
    oximeter.subscribe(SPOT, t0)
    stored = oximeter.transmit(t0)
    assert len(stored) == 5
    for frame in stored:
        assert frame.delivery == Delivery.INDICATE
        assert frame.intended is not None
        assert frame.intended.from_device_memory
        assert frame.intended.status is not None
        assert frame.intended.status & MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE
    live = oximeter.measure(t0 + timedelta(hours=7))
    assert len(live) == 1
    assert live[0].intended is not None
    assert not live[0].intended.from_device_memory


def test_continuous_stream_only_when_subscribed(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    oximeter = fingertip_oximeter(physiology=patient, clock=clock, seed=seed)
    oximeter.connect(t0)
    assert oximeter.stream(t0) == []
    oximeter.subscribe(CONTINUOUS, t0)
    frames = [f for s in range(60) for f in oximeter.stream(t0 + timedelta(seconds=s))]
    assert len(frames) == 60
    assert all(f.delivery == Delivery.NOTIFY and f.intended and f.intended.device_time is None for f in frames)
    assert not oximeter.memory.records  # a stream is not stored


def test_clock_not_set_after_battery_change(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    oximeter = fingertip_oximeter(physiology=patient, clock=clock, seed=seed)
    oximeter.replace_battery(t0)
    oximeter.connect(t0)
    oximeter.subscribe(SPOT, t0)
    (frame,) = oximeter.measure(t0)
    assert frame.data[0] & 0x10
    assert frame.intended is not None
    assert ReadingFlag.CLOCK_NOT_SET in frame.intended.flags
    oximeter.write(uuids.CURRENT_TIME, bytes.fromhex("EA 07 01 0F 07 00 00 04 00 01"), t0)
    (frame,) = oximeter.measure(t0 + timedelta(minutes=1))
    assert not frame.data[0] & 0x10


def test_features_and_questionable_readings(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    oximeter = fingertip_oximeter(physiology=patient, clock=clock, seed=seed, memory_capacity=2000)
    oximeter.connect(t0)
    assert oximeter.read(uuids.PLX_FEATURES, t0) == bytes.fromhex("4B 00 80 62 30 20 00")
    oximeter.disconnect(t0)
    for i in range(2000):
        oximeter.measure(t0 + timedelta(minutes=i))
    oximeter.connect(t0)
    oximeter.subscribe(SPOT, t0)
    flags = [f.intended.flags for f in oximeter.transmit(t0) if f.intended]
    assert 20 < sum(ReadingFlag.QUESTIONABLE in f for f in flags) < 120  # about 3 %
    assert 3 < sum(ReadingFlag.MEASUREMENT_UNAVAILABLE in f for f in flags) < 50  # about 1 %
