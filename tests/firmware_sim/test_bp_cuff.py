"""The simulated blood-pressure cuff: memory pushed on connection, the A&D clock-before-data quirk,
users, security, link loss, replay and corruption faults, clock drift and battery drain."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import numpy as np
import pytest

from core.domain import Metric, ReadingFlag, Unit
from firmware_sim.devices.battery import Battery, BatteryDepleted
from firmware_sim.devices.bp_cuff import BloodPressureCuff, and_ua651ble, omron_style
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import DeviceInformation, Property
from firmware_sim.devices.outgoing import Delivery, Fault, Outgoing
from firmware_sim.devices.peripheral import PairingFailed
from firmware_sim.gatt import uuids
from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.gatt.blood_pressure import MeasurementStatus
from firmware_sim.gatt.date_time import AdjustReason, encode_current_time, encode_date_time
from firmware_sim.physiology import Physiology

BPM = uuids.BLOOD_PRESSURE_MEASUREMENT


def twin(patient: Physiology, seed: int) -> Physiology:
    """The same patient with the same seed, to know what the cuff should have measured."""
    return Physiology(patient.profile, np.random.default_rng(seed))


def measure_daily(cuff: BloodPressureCuff, start: datetime, days: int) -> list[datetime]:
    times = [start + timedelta(days=d, hours=h) for d in range(days) for h in (0, 12)]
    for at in times:
        assert cuff.measure(at) == []  # nobody listening: stored
    return times


def download_and(cuff: BloodPressureCuff, at: datetime) -> list[Outgoing]:
    cuff.connect(at)
    cuff.pair(at)
    cuff.subscribe(BPM, at)
    cuff.write(uuids.DATE_TIME, encode_date_time(datetime(2026, 2, 1, 8, 0)), at)
    frames = cuff.transmit(at)
    cuff.disconnect(at)
    return frames


def test_and_cuff_releases_stored_records_only_after_its_clock_is_written(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    times = measure_daily(cuff, t0, 3)
    stamps = [clock.stamp(when) for when in times]
    assert cuff.has_unsent_data
    at = t0 + timedelta(days=4)
    cuff.connect(at)
    with pytest.raises(AttError) as refused:
        cuff.subscribe(BPM, at)
    assert refused.value.code == AttErrorCode.INSUFFICIENT_AUTHENTICATION  # bond first (Just Works)
    cuff.pair(at)
    cuff.subscribe(BPM, at)
    assert cuff.pending_frames == 0
    assert not cuff.close_requested
    cuff.write(uuids.DATE_TIME, encode_date_time(datetime(2026, 1, 19, 7, 0)), at)
    frames = cuff.transmit(at)
    assert cuff.close_requested  # the cuff drops the link when done
    expected = twin(patient, seed)
    assert [f.intended.device_time for f in frames if f.intended] == stamps
    assert len(frames) == len(times)
    for frame, when in zip(frames, times, strict=True):
        assert (frame.characteristic, frame.delivery) == (BPM, Delivery.INDICATE)
        intended = frame.intended
        assert intended is not None
        assert intended.from_device_memory
        bp = expected.blood_pressure(when)
        values = {o.metric: o.value for o in intended.observations}
        assert values[Metric.MDC_PRESS_BLD_NONINV_SYS] == bp.systolic
        assert values[Metric.MDC_PRESS_BLD_NONINV_DIA] == bp.diastolic
        assert values[Metric.MDC_PULS_RATE_NON_INV] == bp.pulse
        assert (ReadingFlag.IRREGULAR_PULSE in intended.flags) == bp.irregular_pulse
        assert intended.user_id is None  # A&D sends no User ID
    assert not cuff.has_unsent_data
    cuff.disconnect(at)
    assert download_and(cuff, at + timedelta(hours=1)) == []  # delivered records are not sent again


def test_time_stamps_are_the_device_clock_drifting_unset(patient: Physiology, seed: int, t0: datetime) -> None:
    clock = DeviceClock.local(t0, "America/New_York", drift_ppm=100)
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    when = t0 + timedelta(days=20)  # 100 ppm over 20 days = 172.8 s fast
    cuff.measure(when)
    frames = download_and(cuff, when + timedelta(minutes=5))
    assert frames[0].intended is not None
    assert frames[0].intended.device_time == datetime(2026, 2, 4, 7, 2, 52)


def test_memory_keeps_the_newest_records(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed, memory_capacity=30)
    times = measure_daily(cuff, t0, 20)  # 40 measurements, room for 30
    expected = [clock.stamp(at) for at in times[-30:]]  # before the download sets the clock
    frames = download_and(cuff, t0 + timedelta(days=21))
    assert [f.intended.device_time for f in frames if f.intended] == expected


def test_link_lost_mid_transfer_resumes_with_what_was_not_sent(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    measure_daily(cuff, t0, 3)
    at = t0 + timedelta(days=4)
    cuff.connect(at)
    cuff.pair(at)
    cuff.subscribe(BPM, at)
    cuff.write(uuids.DATE_TIME, encode_date_time(datetime(2026, 1, 19, 7, 0)), at)
    first = cuff.transmit(at, max_frames=2)
    cuff.disconnect(at)  # link loss
    rest = download_and(cuff, at + timedelta(minutes=1))
    assert len(first) == 2
    assert len(rest) == 4
    assert {f.data for f in first}.isdisjoint(f.data for f in rest)


def test_replay_fault_resends_everything_after_reconnect(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    measure_daily(cuff, t0, 2)
    first = download_and(cuff, t0 + timedelta(days=3))
    cuff.faults.force(Fault.REPLAY)
    cuff.measure(t0 + timedelta(days=3, hours=1))
    again = download_and(cuff, t0 + timedelta(days=4))
    assert [f.data for f in again[:-1]] == [f.data for f in first]
    assert [f.intended for f in again[:-1]] == [f.intended for f in first]  # identical intent: dedup must catch it
    assert len(again) == len(first) + 1


def test_replay_rate_is_seeded(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    from firmware_sim.devices.faults import FaultPlan

    def replays(device_seed: int) -> list[int]:
        cuff = and_ua651ble(physiology=patient, clock=clock, seed=device_seed, faults=FaultPlan(replay_rate=0.5))
        cuff.measure(t0)
        counts = []
        for day in range(1, 22):
            counts.append(len(download_and(cuff, t0 + timedelta(days=day))))
        return counts

    assert replays(seed) == replays(seed)
    assert {0, 1} <= set(replays(seed)[1:])  # with rate 0.5 over 20 reconnects, both happen


def test_live_measurement_with_intermediate_cuff_pressure(patient: Physiology, seed: int, t0: datetime) -> None:
    cuff = omron_style(users={1: patient}, clock=DeviceClock.local(t0, "America/New_York"), seed=seed)
    cuff.connect(t0)
    cuff.pair(t0, passkey="123456")
    cuff.subscribe(uuids.INTERMEDIATE_CUFF_PRESSURE, t0)
    cuff.subscribe(BPM, t0)
    frames = cuff.measure(t0)
    assert [f.characteristic for f in frames] == [uuids.INTERMEDIATE_CUFF_PRESSURE] * 3 + [BPM]
    assert [f.delivery for f in frames] == [Delivery.NOTIFY] * 3 + [Delivery.INDICATE]
    live = frames[-1].intended
    assert live is not None
    assert not live.from_device_memory
    assert live.user_id == 1
    assert all(f.intended is not None and not f.intended.final for f in frames[:3])
    assert cuff.close_requested
    assert not cuff.has_unsent_data


def test_two_users_have_their_own_memory_and_user_id(seed: int, t0: datetime) -> None:
    rng = np.random.default_rng(seed)
    from firmware_sim.physiology import Condition, PatientProfile

    alice = Physiology(PatientProfile(frozenset({Condition.HYPERTENSION}), systolic=150), rng)
    bob = Physiology(PatientProfile(frozenset({Condition.COPD}), systolic=115), rng)
    cuff = omron_style(
        users={1: alice, 2: bob}, clock=DeviceClock.local(t0, "America/New_York"), seed=seed, memory_capacity=3
    )
    for day in range(5):
        cuff.measure(t0 + timedelta(days=day))
    cuff.select_user(2)
    cuff.measure(t0 + timedelta(days=5))
    at = t0 + timedelta(days=6)
    cuff.connect(at)
    with pytest.raises(PairingFailed):
        cuff.pair(at, passkey="000000")
    cuff.pair(at, passkey="123456")
    cuff.subscribe(BPM, at)
    users = [f.intended.user_id for f in cuff.transmit(at) if f.intended]
    assert users == [1, 1, 1, 2]  # three newest of user 1 (capacity 3 per user), then user 2
    cuff.disconnect(at)
    cuff.connect(at)  # bonded: re-encrypting needs no passkey
    cuff.pair(at)
    assert cuff.link is not None
    assert cuff.link.encrypted


def test_kpa_cuff_intent_keeps_kpa_and_canonical_mmhg(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed, unit=Unit.KPA)
    cuff.measure(t0)
    frame = download_and(cuff, t0 + timedelta(hours=1))[0]
    assert frame.data[0] & 0x01
    intended = frame.intended
    assert intended is not None
    systolic = next(o for o in intended.observations if o.metric == Metric.MDC_PRESS_BLD_NONINV_SYS)
    assert systolic.source_unit == Unit.KPA
    assert systolic.unit == Unit.MMHG
    assert systolic.source_value == round(systolic.source_value or 0, 1)
    assert systolic.value == pytest.approx((systolic.source_value or 0) * 7.50062, rel=1e-5)


def test_status_bits_follow_physiology_and_flags_follow_bits(patient: Physiology, seed: int, t0: datetime) -> None:
    cuff = omron_style(
        users={1: patient},
        clock=DeviceClock.local(t0, "America/New_York"),
        seed=seed,
        battery=Battery(0, 0, 0),
        memory_capacity=1000,
    )
    for hour in range(1100):
        cuff.measure(t0 + timedelta(hours=hour))
    at = t0 + timedelta(days=20)
    cuff.connect(at)
    cuff.pair(at, passkey="123456")
    cuff.subscribe(BPM, at)
    intents = [f.intended for f in cuff.transmit(at) if f.intended]
    assert len(intents) == 1000  # the newest 1000 of 1100
    irregular = [i for i in intents if ReadingFlag.IRREGULAR_PULSE in i.flags]
    assert 10 < len(irregular) < 60  # about 3 %
    for intended in intents:
        assert intended.status is not None
        assert (ReadingFlag.IRREGULAR_PULSE in intended.flags) == bool(
            intended.status & MeasurementStatus.IRREGULAR_PULSE
        )


def test_forced_corruption_marks_the_frame_and_keeps_the_intent(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    clean = and_ua651ble(physiology=twin(patient, seed), clock=dataclasses.replace(clock), seed=seed)
    faulty = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    for cuff in (clean, faulty):
        measure_daily(cuff, t0, 1)
    faulty.faults.force(Fault.TRUNCATED)
    faulty.faults.force(Fault.GARBAGE)
    good = download_and(clean, t0 + timedelta(days=1))
    bad = download_and(faulty, t0 + timedelta(days=1))
    assert [f.fault for f in bad] == [Fault.TRUNCATED, Fault.GARBAGE]
    assert len(bad[0].data) < len(good[0].data)
    assert good[0].data.startswith(bad[0].data)
    assert bad[1].data != good[1].data
    assert 1 <= len(bad[1].data) <= 20
    assert [f.intended for f in bad] == [f.intended for f in good]


def test_gatt_table_advertisement_and_reads(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    assert cuff.advertisement.local_name == "A&D_UA-651_2345"
    assert cuff.advertisement.service_uuids == (uuids.BLOOD_PRESSURE_SERVICE,)
    service = cuff.services[0]
    assert service.uuid == uuids.BLOOD_PRESSURE_SERVICE
    date_time = next(c for c in service.characteristics if c.uuid == uuids.DATE_TIME)
    assert date_time.properties == {Property.READ, Property.WRITE}  # A&D: Date Time inside 0x1810
    assert any(s.uuid == uuids.AND_VENDOR_SERVICE for s in cuff.services)
    assert all(s.uuid != uuids.CURRENT_TIME_SERVICE for s in cuff.services)
    cuff.connect(t0)
    assert cuff.read(uuids.BLOOD_PRESSURE_FEATURE, t0) == bytes.fromhex("0F 00")
    assert cuff.read(uuids.MANUFACTURER_NAME, t0) == b"A&D Medical"
    assert cuff.read(uuids.MODEL_NUMBER, t0) == b"UA-651BLE"
    assert cuff.read(uuids.DATE_TIME, t0) == encode_date_time(datetime(2026, 1, 15, 7, 0))
    assert cuff.read(uuids.BATTERY_LEVEL, t0) == bytes((100,))  # 99.98 %: whole percent, rounded up
    for action, code in (
        (lambda: cuff.read(uuids.GLUCOSE_FEATURE, t0), AttErrorCode.ATTRIBUTE_NOT_FOUND),
        (lambda: cuff.read(uuids.INTERMEDIATE_CUFF_PRESSURE, t0), AttErrorCode.INSUFFICIENT_AUTHENTICATION),
        (lambda: cuff.write(uuids.BLOOD_PRESSURE_FEATURE, b"\x00\x00", t0), AttErrorCode.WRITE_NOT_PERMITTED),
        (
            lambda: cuff.write(uuids.DATE_TIME, b"\xe8\x07\x0d\x01\x00\x00\x00", t0),
            AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH,
        ),
    ):
        with pytest.raises(AttError) as refused:
            action()
        assert refused.value.code == code
    cuff.pair(t0)
    with pytest.raises(AttError) as refused:
        cuff.read(BPM, t0)
    assert refused.value.code == AttErrorCode.READ_NOT_PERMITTED


def test_current_time_write_sets_the_clock(patient: Physiology, seed: int, t0: datetime) -> None:
    clock = DeviceClock.local(t0, "America/New_York", drift_ppm=200)
    cuff = omron_style(users={1: patient}, clock=clock, seed=seed, cts_ignores_fields=True)
    at = t0 + timedelta(days=10)
    cuff.connect(at)
    assert cuff.read(uuids.CURRENT_TIME, at)[:7] == encode_date_time(datetime(2026, 1, 25, 7, 2, 52))
    with pytest.raises(AttError) as ignored:  # 0x80 "data field ignored": applied all the same
        cuff.write(
            uuids.CURRENT_TIME, encode_current_time(datetime(2026, 1, 25, 7, 0), AdjustReason.MANUAL_TIME_UPDATE), at
        )
    assert ignored.value.code == AttErrorCode.DATA_FIELD_IGNORED
    assert clock.now(at) == datetime(2026, 1, 25, 7, 0)
    with pytest.raises(AttError) as refused:
        cuff.write(uuids.CURRENT_TIME, encode_date_time(datetime(2026, 1, 25, 7, 0)), at)  # 7 bytes (obniz)
    assert refused.value.code == AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH


def test_flat_battery_stops_the_cuff(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    cuff.battery.level_pct = 0.3
    cuff.measure(t0)
    with pytest.raises(BatteryDepleted):
        cuff.measure(t0 + timedelta(hours=1))
    with pytest.raises(BatteryDepleted):
        cuff.connect(t0 + timedelta(hours=2))


def test_device_information_is_data() -> None:
    info = DeviceInformation("A&D Medical", "UA-651BLE", "5110012345")
    assert info.firmware_revision == "1.0.0"
