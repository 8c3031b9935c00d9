"""The simulated glucometer behind its RACP: the download flow of reference §5.5, streaming with abort
and "procedure already in progress", ATT errors for missing subscriptions and bonding, context
records, LO/HI, control solution, the renumbering replay fault and the battery-change clock reset."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from core.domain import ReadingFlag, ReadingKind, SpecialValue, Unit
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.glucometer import Glucometer, accu_chek_style, contour_style
from firmware_sim.devices.outgoing import Delivery, Fault, Outgoing
from firmware_sim.gatt import uuids
from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.gatt.glucose import GlucoseDetails, Meal
from firmware_sim.physiology import PatientProfile, Physiology

GM, CONTEXT, RACP = uuids.GLUCOSE_MEASUREMENT, uuids.GLUCOSE_MEASUREMENT_CONTEXT, uuids.RECORD_ACCESS_CONTROL_POINT
PASSKEY = "482913"


def meter_with_records(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime, count: int, **kw: object
) -> Glucometer:
    meter = accu_chek_style(physiology=patient, clock=clock, seed=seed, **kw)  # type: ignore[arg-type]
    for i in range(count):
        meter.measure(t0 + timedelta(hours=6 * i))
    return meter


def session(meter: Glucometer, at: datetime, *, context: bool = True) -> None:
    """Steps 1-3 of the reference's download flow: connect, bond, enable all three."""
    meter.connect(at)
    meter.pair(at, passkey=PASSKEY)
    meter.subscribe(GM, at)
    if context:
        meter.subscribe(CONTEXT, at)
    meter.subscribe(RACP, at)


def racp(meter: Glucometer, request: str, at: datetime) -> list[Outgoing]:
    return meter.write(RACP, bytes.fromhex(request), at)


def measurements(frames: list[Outgoing]) -> list[int]:
    return [
        f.intended.sequence_number
        for f in frames
        if f.characteristic == GM and f.intended and f.intended.sequence_number is not None
    ]


def test_first_sync_then_incremental_sync(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 6)
    at = t0 + timedelta(days=2)
    session(meter, at)
    assert racp(meter, "04 01", at) == [Outgoing(RACP, Delivery.INDICATE, bytes.fromhex("05 00 06 00"))]
    assert racp(meter, "01 01", at) == []  # records stream through transmit()
    frames = meter.transmit(at)
    assert measurements(frames) == [1, 2, 3, 4, 5, 6]
    assert frames[-1] == Outgoing(RACP, Delivery.INDICATE, bytes.fromhex("06 00 01 01"))
    assert all(f.delivery == Delivery.NOTIFY for f in frames[:-1])
    for frame in frames[:-1]:  # a context follows its measurement under the same intent
        assert frame.intended is not None
        assert frame.intended.from_device_memory
        assert frame.intended.kind == ReadingKind.GLUCOSE
    meter.disconnect(at)
    for i in range(6, 9):
        meter.measure(t0 + timedelta(hours=6 * i))
    later = at + timedelta(days=1)
    session(meter, later)
    assert racp(meter, "01 03 01 07 00", later) == []  # ≥ last + 1
    assert measurements(meter.transmit(later)) == [7, 8, 9]
    assert racp(meter, "01 03 01 0A 00", later) == [Outgoing(RACP, Delivery.INDICATE, bytes.fromhex("06 00 01 06"))]


def test_intended_values_follow_physiology_and_meal_context(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    twin = Physiology(patient.profile, np.random.default_rng(seed))
    meter = meter_with_records(patient, clock, seed, t0, 20)
    at = t0 + timedelta(days=6)
    session(meter, at)
    racp(meter, "01 01", at)
    frames = meter.transmit(at)
    contexts = [f for f in frames if f.characteristic == CONTEXT]
    assert 5 < len(contexts) < 20  # context_rate 0.7
    for i, frame in enumerate(f for f in frames if f.characteristic == GM):
        when = t0 + timedelta(hours=6 * i)
        intended = frame.intended
        assert intended is not None
        assert intended.observations[0].value == twin.glucose(when)
        assert intended.device_time == clock.stamp(when)
        assert isinstance(intended.details, GlucoseDetails)
        context = intended.details.context
        assert bool(frame.data[0] & 0x10) == (context is not None)
        if context is not None:
            assert context.meal == Meal[twin.meal_timing(when).name]


def test_context_is_not_sent_without_its_subscription(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 10)
    at = t0 + timedelta(days=3)
    session(meter, at, context=False)
    racp(meter, "01 01", at)
    frames = meter.transmit(at)
    assert {f.characteristic for f in frames} == {GM, RACP}
    assert any(f.data[0] & 0x10 for f in frames if f.characteristic == GM)  # still announced


def test_abort_stops_a_report_and_other_writes_are_refused_meanwhile(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 10, context_rate=0.0)
    at = t0 + timedelta(days=3)
    session(meter, at)
    racp(meter, "01 01", at)
    assert measurements(meter.transmit(at, max_frames=3)) == [1, 2, 3]
    for request in ("01 01", "04 01", "02 01"):
        with pytest.raises(AttError) as refused:
            racp(meter, request, at)
        assert refused.value.code == AttErrorCode.PROCEDURE_ALREADY_IN_PROGRESS
    assert racp(meter, "03 00", at) == [Outgoing(RACP, Delivery.INDICATE, bytes.fromhex("06 00 03 01"))]
    assert meter.transmit(at) == []
    assert racp(meter, "04 01", at)[0].data == bytes.fromhex("05 00 0A 00")  # nothing was lost
    assert racp(meter, "03 00", at)[0].data == bytes.fromhex("06 00 03 01")  # abort with nothing running


def test_disabling_notifications_mid_report_ends_it_not_completed(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 5, context_rate=0.0)
    at = t0 + timedelta(days=2)
    session(meter, at)
    racp(meter, "01 01", at)
    meter.transmit(at, max_frames=2)
    meter.unsubscribe(GM, at)
    assert meter.transmit(at) == [Outgoing(RACP, Delivery.INDICATE, bytes.fromhex("06 00 01 08"))]


def test_link_loss_drops_the_procedure(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 5, context_rate=0.0)
    at = t0 + timedelta(days=2)
    session(meter, at)
    racp(meter, "01 01", at)
    meter.transmit(at, max_frames=1)
    meter.disconnect(at)
    session(meter, at)
    assert racp(meter, "01 01", at) == []  # not "already in progress": the old one died with the link
    assert measurements(meter.transmit(at)) == [1, 2, 3, 4, 5]


def test_att_errors_before_the_flow_is_set_up(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 2)
    at = t0 + timedelta(days=1)
    meter.connect(at)
    with pytest.raises(AttError) as refused:
        meter.subscribe(RACP, at)
    assert refused.value.code == AttErrorCode.INSUFFICIENT_AUTHENTICATION  # GLS needs a bond
    meter.pair(at, passkey=PASSKEY)
    with pytest.raises(AttError) as refused:
        racp(meter, "01 01", at)
    assert refused.value.code == AttErrorCode.CCCD_IMPROPERLY_CONFIGURED  # RACP indications off
    meter.subscribe(RACP, at)
    with pytest.raises(AttError) as refused:
        racp(meter, "01 01", at)
    assert refused.value.code == AttErrorCode.CCCD_IMPROPERLY_CONFIGURED  # measurement notifications off
    assert racp(meter, "04 01", at)[0].data == bytes.fromhex("05 00 02 00")  # a count needs no notifications
    assert meter.read(uuids.GLUCOSE_FEATURE, at) == bytes.fromhex("29 02")


def test_delete_then_count(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 8)
    at = t0 + timedelta(days=3)
    session(meter, at)
    assert racp(meter, "02 02 01 05 00", at)[0].data == bytes.fromhex("06 00 02 01")  # delete ≤ 5
    assert racp(meter, "04 01", at)[0].data == bytes.fromhex("05 00 03 00")
    assert racp(meter, "01 05", at) == []
    assert measurements(meter.transmit(at)) == [6]


def test_contour_style_refuses_time_filter_and_delete_and_notifies_live(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = contour_style(physiology=patient, clock=clock, seed=seed)
    meter.connect(t0)
    meter.pair(t0)
    for uuid in (GM, CONTEXT, RACP):
        meter.subscribe(uuid, t0)
    live = meter.measure(t0)
    assert live
    assert live[0].characteristic == GM
    assert live[0].data[0] & 0x04  # mol/L
    observation = live[0].intended.observations[0] if live[0].intended else None
    assert observation is not None
    assert observation.source_unit == Unit.MMOL_PER_L
    assert racp(meter, "01 03 02 E8 07 05 01 00 00 00", t0)[0].data == bytes.fromhex("06 00 01 09")
    assert racp(meter, "02 01", t0)[0].data == bytes.fromhex("06 00 02 02")


def test_lo_reading_and_control_solution(clock: DeviceClock, seed: int, t0: datetime) -> None:
    # A patient far below the meter's 20 mg/dL floor, as in a severe hypoglycaemic episode.
    crashing = Physiology(PatientProfile(frozenset(), fasting_glucose=0.0), np.random.default_rng(seed))
    meter = accu_chek_style(physiology=crashing, clock=clock, seed=seed, context_rate=0.0)
    meter.measure(t0)
    meter.control_test(t0 + timedelta(minutes=5))
    session(meter, t0)
    racp(meter, "01 01", t0)
    lo, control = (f.intended for f in meter.transmit(t0) if f.characteristic == GM)
    assert lo is not None
    assert lo.observations[0].special == SpecialValue.NEGATIVE_INFINITY
    assert lo.status == 0x0040
    assert control is not None
    assert control.flags == {ReadingFlag.CONTROL_SOLUTION}


def test_replay_fault_renumbers_memory_from_zero(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 4, context_rate=0.0)
    at = t0 + timedelta(days=2)
    session(meter, at)
    racp(meter, "01 01", at)
    first = meter.transmit(at)
    meter.disconnect(at)
    meter.faults.force(Fault.REPLAY)
    session(meter, at)
    assert racp(meter, "01 03 01 05 00", at)[0].data == bytes.fromhex("06 00 01 06")  # ≥ last + 1: nothing
    assert racp(meter, "01 06", at) == []  # the newest record now has a lower number: the gateway must notice
    assert measurements(meter.transmit(at)) == [3]
    racp(meter, "01 01", at)
    again = meter.transmit(at)
    assert measurements(again) == [0, 1, 2, 3]
    assert [f.intended.observations for f in again if f.intended] == [
        f.intended.observations for f in first if f.intended
    ]


def test_battery_change_resets_the_clock_and_flags_time_fault(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = accu_chek_style(physiology=patient, clock=clock, seed=seed, context_rate=0.0)
    meter.replace_battery(t0)
    meter.measure(t0 + timedelta(minutes=1))
    session(meter, t0 + timedelta(minutes=2))
    racp(meter, "01 06", t0)
    (frame, _done) = meter.transmit(t0)
    assert frame.intended is not None
    assert frame.intended.device_time == datetime(2020, 1, 1, 0, 1)
    assert ReadingFlag.TIME_FAULT in frame.intended.flags


def test_low_battery_is_annunciated(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime) -> None:
    meter = accu_chek_style(physiology=patient, clock=clock, seed=seed, context_rate=0.0)
    meter.battery.level_pct = 8.0
    meter.measure(t0)
    session(meter, t0)
    racp(meter, "01 01", t0)
    assert ReadingFlag.LOW_BATTERY in (meter.transmit(t0)[0].intended or pytest.fail("no intent")).flags


def test_time_offset_makes_base_time_differ_from_user_facing_time(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = accu_chek_style(physiology=patient, clock=clock, seed=seed, context_rate=0.0, time_offset_min=60)
    meter.measure(t0)
    session(meter, t0)
    racp(meter, "01 01", t0)
    intended = meter.transmit(t0)[0].intended
    assert intended is not None
    assert isinstance(intended.details, GlucoseDetails)
    assert intended.details.base_time == datetime(2026, 1, 15, 6, 0)
    assert intended.device_time == datetime(2026, 1, 15, 7, 0)
