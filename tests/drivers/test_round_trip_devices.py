"""Every simulated device, driven through a realistic session (readings stored while nobody listens,
a download after the collector pairs and sets the clock, live measurements with their display-only
frames, glucose records pulled with RACP), sends frames that drivers decodes to exactly what the
device intended; with fault injection switched on, the corrupted frames decode to what the fault
allows and the intact ones still exactly.

Randomness is seeded and the seed printed (``CAREHUB_TEST_SEED`` replays a failing run)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from drivers import DecodeError, TrailingBytes, TruncatedFrame, decode
from drivers.glucose import GlucoseContext as DecodedContext
from drivers.racp import RacpCount, RacpResponse
from firmware_sim.devices.bp_cuff import and_ua651ble, omron_style
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.faults import FaultPlan
from firmware_sim.devices.glucometer import accu_chek_style, contour_style
from firmware_sim.devices.outgoing import Fault, Outgoing
from firmware_sim.devices.peripheral import SimulatedPeripheral
from firmware_sim.devices.pulse_oximeter import fingertip_oximeter
from firmware_sim.devices.scale import and_uc352ble
from firmware_sim.devices.thermometer import and_ut201ble
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_current_time, encode_date_time
from firmware_sim.gatt.glucose import GlucoseDetails
from firmware_sim.gatt.weight_scale import LIVE_WEIGHT
from firmware_sim.intent import EncodedMeasurement
from tests.drivers.conftest import patient
from tests.drivers.intent_check import assert_context, assert_matches_intent, round_trip

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
STORED = 25
"""Fewer than the smallest memory (30 records on the A&D presets), so every one comes back."""
EVERY_FAULT = FaultPlan(
    garbage_rate=0.05, truncated_rate=0.05, trailing_bytes_rate=0.05, flipped_flag_rate=0.05, rfu_flags_rate=0.05
)


def clock() -> DeviceClock:
    return DeviceClock.local(T0, "America/New_York", drift_ppm=40)


def check_frame(frame: Outgoing) -> str:
    """Decode one frame as a collector would and hold it to its intent; returns what it was."""
    if frame.fault is not None:
        return _check_faulty(frame)
    if frame.characteristic == uuids.RECORD_ACCESS_CONTROL_POINT:
        assert isinstance(decode(frame.characteristic, frame.data, strict=True), (RacpCount, RacpResponse))
        return "racp"
    assert frame.intended is not None
    if frame.characteristic == uuids.GLUCOSE_MEASUREMENT_CONTEXT:
        decoded = decode(frame.characteristic, frame.data, strict=True)
        assert isinstance(decoded, DecodedContext)
        details = frame.intended.details
        assert isinstance(details, GlucoseDetails)
        assert details.context is not None
        assert_context(decoded, details.context)
        return "context"
    round_trip(EncodedMeasurement(frame.characteristic, frame.data, frame.intended))
    return "final" if frame.intended.final else "display"


def _check_faulty(frame: Outgoing) -> str:
    try:
        decoded = decode(frame.characteristic, frame.data)
    except DecodeError as error:
        assert error.raw_hex == frame.data.hex()  # noqa: PT017 - a typed error is an allowed outcome
        assert frame.fault is not Fault.RFU_FLAGS
        assert isinstance(error, TruncatedFrame) or frame.fault is not Fault.TRUNCATED  # noqa: PT017
        return f"{frame.fault}: refused"
    assert frame.fault is not Fault.TRUNCATED, "a truncated frame must be refused"
    if frame.fault is Fault.TRAILING_BYTES:
        assert decoded.trailing
        with pytest.raises(TrailingBytes):
            decode(frame.characteristic, frame.data, strict=True)
    if frame.fault in (Fault.TRAILING_BYTES, Fault.RFU_FLAGS) and not isinstance(decoded, DecodedContext):
        assert frame.intended is not None
        assert_matches_intent(decoded, frame.intended)
    return f"{frame.fault}: decoded"


def check_session(frames: list[Outgoing]) -> Counter[str]:
    return Counter(check_frame(frame) for frame in frames)


def download(
    device: SimulatedPeripheral, at: datetime, subscriptions: tuple[str, ...], passkey: str | None = None
) -> list[Outgoing]:
    """Connect, bond, subscribe, set the clock as the device expects, and take everything it sends."""
    device.connect(at)
    device.pair(at, passkey=passkey)
    for characteristic in subscriptions:
        device.subscribe(characteristic, at)
    local = datetime(2026, 3, 1, 8, 0)
    if uuids.DATE_TIME in {c.uuid for s in device.services for c in s.characteristics}:
        device.write(uuids.DATE_TIME, encode_date_time(local), at)
    else:
        device.write(uuids.CURRENT_TIME, encode_current_time(local, 1), at)
    frames = device.transmit(at)
    return frames


def measure_while_away(device: SimulatedPeripheral, count: int = STORED) -> datetime:
    at = T0
    for _ in range(count):
        at += timedelta(hours=7)
        device.measure(at)
    return at + timedelta(hours=1)


Scenario = Callable[[int, FaultPlan], Counter[str]]


def cuff_and(seed: int, faults: FaultPlan) -> Counter[str]:
    cuff = and_ua651ble(physiology=patient(seed), clock=clock(), seed=seed, faults=faults)
    at = measure_while_away(cuff)
    seen = check_session(download(cuff, at, (uuids.INTERMEDIATE_CUFF_PRESSURE, uuids.BLOOD_PRESSURE_MEASUREMENT)))
    cuff.disconnect(at)
    return seen


def cuff_omron_two_users(seed: int, faults: FaultPlan) -> Counter[str]:
    users = {1: patient(seed), 2: patient(seed + 1)}
    cuff = omron_style(users=users, clock=clock(), seed=seed, faults=faults)
    at = T0
    for n in range(STORED):
        cuff.select_user(1 + n % 2)
        at += timedelta(hours=5)
        cuff.measure(at)
    subscriptions = (uuids.INTERMEDIATE_CUFF_PRESSURE, uuids.BLOOD_PRESSURE_MEASUREMENT)
    seen = check_session(download(cuff, at, subscriptions, passkey="123456"))
    for _ in range(5):  # live, with the cuff pressure streamed while inflating
        at += timedelta(minutes=10)
        seen += check_session(cuff.measure(at))
        seen += check_session(cuff.transmit(at))
    return seen


def glucometer_accu_chek(seed: int, faults: FaultPlan) -> Counter[str]:
    meter = accu_chek_style(physiology=patient(seed), clock=clock(), seed=seed, faults=faults)
    at = measure_while_away(meter)
    meter.control_test(at)
    subscriptions = (uuids.GLUCOSE_MEASUREMENT, uuids.GLUCOSE_MEASUREMENT_CONTEXT, uuids.RECORD_ACCESS_CONTROL_POINT)
    seen = check_session(download(meter, at, subscriptions, passkey="482913"))
    for request in ("04 01", "01 01", "01 03 01 0A 00", "01 06"):
        seen += check_session(meter.write(uuids.RECORD_ACCESS_CONTROL_POINT, bytes.fromhex(request), at))
        seen += check_session(meter.transmit(at))
    return seen


def glucometer_contour_mmol(seed: int, faults: FaultPlan) -> Counter[str]:
    meter = contour_style(physiology=patient(seed), clock=clock(), seed=seed, faults=faults)
    at = measure_while_away(meter)
    subscriptions = (uuids.GLUCOSE_MEASUREMENT, uuids.GLUCOSE_MEASUREMENT_CONTEXT, uuids.RECORD_ACCESS_CONTROL_POINT)
    seen = check_session(download(meter, at, subscriptions))
    seen += check_session(meter.write(uuids.RECORD_ACCESS_CONTROL_POINT, bytes.fromhex("01 01"), at))
    seen += check_session(meter.transmit(at))
    for _ in range(5):  # new records notified while connected
        at += timedelta(minutes=30)
        seen += check_session(meter.measure(at))
    return seen


def scale(seed: int, faults: FaultPlan) -> Counter[str]:
    device = and_uc352ble(physiology=patient(seed), clock=clock(), seed=seed, faults=faults, heights_m={1: 1.78})
    at = measure_while_away(device)
    seen = check_session(download(device, at, (LIVE_WEIGHT, uuids.WEIGHT_MEASUREMENT)))
    for _ in range(5):  # live: the weight settles on the provisional characteristic first
        at += timedelta(minutes=10)
        seen += check_session(device.measure(at))
    return seen


def oximeter(seed: int, faults: FaultPlan) -> Counter[str]:
    device = fingertip_oximeter(physiology=patient(seed), clock=clock(), seed=seed, faults=faults)
    at = measure_while_away(device)
    seen = check_session(download(device, at, (uuids.PLX_SPOT_CHECK_MEASUREMENT, uuids.PLX_CONTINUOUS_MEASUREMENT)))
    for second in range(20):
        seen += check_session(device.stream(at + timedelta(seconds=second)))
    return seen


def thermometer(seed: int, faults: FaultPlan) -> Counter[str]:
    device = and_ut201ble(physiology=patient(seed), clock=clock(), seed=seed, faults=faults)
    at = measure_while_away(device)
    return check_session(download(device, at, (uuids.TEMPERATURE_MEASUREMENT,)))


SCENARIOS: dict[str, Scenario] = {
    "A&D cuff": cuff_and,
    "Omron cuff, two users": cuff_omron_two_users,
    "Accu-Chek meter": glucometer_accu_chek,
    "Contour meter, mmol/L": glucometer_contour_mmol,
    "A&D scale": scale,
    "oximeter": oximeter,
    "A&D thermometer": thermometer,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_frame_of_a_session_decodes_to_its_intent(name: str, seed: int) -> None:
    seen = SCENARIOS[name](seed, FaultPlan())
    print(dict(seen))
    assert seen["final"] >= STORED  # every stored record came through and was checked


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_faulty_sessions_decode_to_what_each_fault_allows(name: str, seed: int) -> None:
    seen = SCENARIOS[name](seed, EVERY_FAULT)
    print(dict(seen))
    assert sum(count for kind, count in seen.items() if ":" in kind) > 0  # faults happened
    assert seen["final"] > 0  # and intact frames were still checked exactly
