"""Round trips between firmware_sim's cellular vendor simulators and drivers' vendor decoders: every
simulated webhook body decodes to the readings (and non-readings) the simulator intended, unit traps,
IMEI reconstruction, heartbeats, test traffic, battery messages and manual entries included.

One measurement may be several vendor messages (Tenovi posts blood pressure, pulse and irregular
heartbeat as separate metrics, in one array or one POST each). drivers groups the coincident metrics
of one body into one record; the webhook pipeline groups records across bodies the same way (device,
measurement time). Both sides are compared after that grouping (:func:`merged`).

Randomness is seeded and the seed printed (``CAREHUB_TEST_SEED`` replays a failing run)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.domain import DeviceKind, MeasuredAtSource, Observation, ReadingFlag, ReadingKind
from drivers import MessageType, VendorRecord, decode_vendor, to_observations
from firmware_sim.cellular.bodytrace import BodyTraceDevice
from firmware_sim.cellular.delivery import IntendedVendorMessage, MessageKind, VendorDelivery
from firmware_sim.cellular.imei import random_imei
from firmware_sim.cellular.mioconnect import MioConnectScale
from firmware_sim.cellular.tenovi import TenoviDevice
from firmware_sim.cellular.withings import WithingsUser
from tests.drivers.conftest import patient
from tests.drivers.intent_check import assert_observations

MEASUREMENTS = 60
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

MESSAGE_TYPES = {
    MessageKind.READING: MessageType.READING,
    MessageKind.HEARTBEAT: MessageType.HEARTBEAT,
    MessageKind.DEVICE_STATUS: MessageType.STATUS,
    MessageKind.TEST: MessageType.TEST,
}


def moments(seed: int, count: int = MEASUREMENTS) -> list[datetime]:
    """Measurement times spread over two months at all hours (whole milliseconds, as vendors send)."""
    rng = np.random.default_rng(seed)
    offsets = sorted(int(s) for s in rng.integers(0, 60 * 24 * 3600 * 1000, count))
    return [START + timedelta(milliseconds=ms) for ms in offsets]


def billable(record: VendorRecord) -> bool:
    """What counts toward RPM days with data: device-captured readings attributed to the patient
    (reference cellular §0 rule 6; Withings attrib 1 is flagged questionable and not counted)."""
    return (
        record.message is MessageType.READING
        and record.device_captured
        and ReadingFlag.QUESTIONABLE not in record.flags
        and to_observations(record).storable
    )


@dataclass
class Expected:
    """One measurement as both sides should describe it once its messages are grouped."""

    message: MessageType
    device_id: str
    kind: ReadingKind | None = None
    observations: list[Observation] = field(default_factory=list)
    flags: set[ReadingFlag] = field(default_factory=set)
    measured_at: datetime | None = None
    measured_at_source: MeasuredAtSource | None = None
    tz_offset_min: int | None = None
    billable: bool = False
    battery_pct: int | None = None


def from_intent(intent: IntendedVendorMessage) -> Expected:
    return Expected(
        message=MESSAGE_TYPES[intent.kind],
        device_id=intent.device_id,
        kind=intent.reading_kind,
        observations=list(intent.observations),
        flags=set(intent.flags),
        measured_at=intent.measured_at,
        measured_at_source=intent.measured_at_source,
        tz_offset_min=intent.tz_offset_min,
        billable=intent.billable,
        battery_pct=intent.battery_pct,
    )


def from_record(record: VendorRecord) -> Expected:
    heartbeat = record.message is MessageType.HEARTBEAT  # a transmission time, not a measurement time
    return Expected(
        message=record.message,
        device_id=record.device_id,
        kind=record.kind,
        observations=list(record.observations),
        flags=set(record.flags),
        measured_at=None if heartbeat else record.measured_at,
        measured_at_source=None if heartbeat else record.measured_at_source,
        tz_offset_min=record.tz_offset_min,
        billable=billable(record),
        battery_pct=record.battery_pct,
    )


def merged(messages: Iterable[Expected]) -> dict[tuple[str, datetime | None], Expected]:
    """The messages of one measurement (same device and measurement time) as one: a reading if any of
    them is, with every observation, flag and the battery any of them carries."""
    out: dict[tuple[str, datetime | None], Expected] = {}
    for message in messages:
        entry = out.setdefault((message.device_id, message.measured_at), message)
        if entry is message:
            continue
        if message.message is MessageType.READING:
            entry.message = MessageType.READING
        entry.kind = entry.kind or message.kind
        entry.observations.extend(message.observations)
        entry.flags |= message.flags
        entry.billable = entry.billable or message.billable
        entry.battery_pct = entry.battery_pct if message.battery_pct is None else message.battery_pct
    return out


def assert_deliveries_round_trip(deliveries: Iterable[VendorDelivery]) -> None:
    """Decode every body and compare measurement by measurement. A non-reading's values are not
    compared (MioConnect test traffic carries a well-formed weight that is never clinical data)."""
    deliveries = list(deliveries)
    records = [r for d in deliveries for r in decode_vendor(d.vendor, d.body).records]
    got = merged(from_record(r) for r in records)
    want = merged(from_intent(i) for d in deliveries for i in d.intended)
    assert got.keys() == want.keys()
    for key, expected in want.items():
        decoded = got[key]
        if expected.message is MessageType.READING:
            assert_observations(tuple(decoded.observations), tuple(expected.observations))
        assert (decoded.message, decoded.device_id, decoded.kind if expected.kind else None) == (
            expected.message,
            expected.device_id,
            expected.kind,
        )
        assert decoded.flags == expected.flags
        assert (decoded.measured_at, decoded.measured_at_source, decoded.tz_offset_min) == (
            expected.measured_at,
            expected.measured_at_source,
            expected.tz_offset_min,
        )
        assert decoded.billable == expected.billable
        assert decoded.battery_pct == expected.battery_pct


# --- BodyTrace -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [DeviceKind.SCALE, DeviceKind.BP_CUFF])
@pytest.mark.parametrize("leading_zero", [True, False])
@pytest.mark.parametrize("include_imei", [True, False])
def test_bodytrace_round_trips(seed: int, kind: DeviceKind, leading_zero: bool, include_imei: bool) -> None:
    """Grams with tare folded in above 100 g, pascals, the IMEI without its Luhn digit and leading
    zeros, and heartbeats with ``values: {}``."""
    rng = np.random.default_rng(seed)
    imei = random_imei(rng, leading_zero=leading_zero)
    device = BodyTraceDevice(imei, kind, patient(seed), rng, include_imei=include_imei, tare_rate=0.5)
    deliveries: list[VendorDelivery] = []
    for at in moments(seed):
        deliveries.append(device.measure(at))
        deliveries.append(device.heartbeat(at + timedelta(hours=8)))
    assert_deliveries_round_trip(deliveries)
    assert {r.device_id for d in deliveries for r in decode_vendor("bodytrace", d.body).records} == {imei}


# --- Tenovi ----------------------------------------------------------------------------------------


def _tenovi(kind: DeviceKind, seed: int, *, post_as_array: bool) -> TenoviDevice:
    return TenoviDevice(
        kind,
        patient(seed),
        np.random.default_rng(seed),
        patient_id="ch-pt-000042",
        sensor_code="13" if kind == DeviceKind.SCALE else None,
        post_as_array=post_as_array,
        estimated_rate=0.2,
        battery_report_rate=0.3,
    )


@pytest.mark.parametrize(
    "kind", [DeviceKind.BP_CUFF, DeviceKind.PULSE_OXIMETER, DeviceKind.GLUCOMETER, DeviceKind.SCALE]
)
@pytest.mark.parametrize("post_as_array", [True, False])
def test_tenovi_round_trips(seed: int, kind: DeviceKind, post_as_array: bool) -> None:
    """Strings or numbers, pounds, estimated timestamps, battery messages, irregular heartbeat, and a
    gateway replaced half-way (the device identity is ``hwi_device_id`` throughout)."""
    device = _tenovi(kind, seed, post_as_array=post_as_array)
    deliveries: list[VendorDelivery] = []
    for n, at in enumerate(moments(seed)):
        if n == MEASUREMENTS // 2:
            device.replace_gateway()
        deliveries.extend(device.measure(at))
    assert_deliveries_round_trip(deliveries)


# --- MioConnect / Transtek -------------------------------------------------------------------------


def test_mioconnect_round_trips(seed: int) -> None:
    scale = MioConnectScale("202109100001", patient(seed), np.random.default_rng(seed))
    deliveries = []
    for at in moments(seed):
        deliveries.append(scale.measure(at))
        deliveries.append(scale.test_message(at + timedelta(minutes=30)))
    assert_deliveries_round_trip(deliveries)


# --- Withings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [DeviceKind.BP_CUFF, DeviceKind.SCALE])
def test_withings_measure_groups_round_trip(seed: int, kind: DeviceKind) -> None:
    """``value × 10^unit`` with either exponent, and attrib: manual entries are readings that are not
    device-captured, "possibly another user" is questionable; neither counts for billing."""
    user = WithingsUser(12345, kind, patient(seed), np.random.default_rng(seed), manual_rate=0.2, ambiguous_rate=0.1)
    attribs = set()
    for at in moments(seed):
        measurement = user.measure(at)
        attribs.add(measurement.group["attrib"])
        (record,) = decode_vendor("withings", json.dumps({"measuregrps": [measurement.group]})).records
        intended = measurement.intended
        assert record.message is MessageType.READING
        assert record.kind == intended.reading_kind
        assert_observations(record.observations, intended.observations)
        assert record.flags == intended.flags
        assert (record.measured_at, record.measured_at_source) == (intended.measured_at, intended.measured_at_source)
        assert record.device_captured == (ReadingFlag.MANUAL_ENTRY not in intended.flags)
        assert billable(record) == intended.billable
        # The group names the device, not the user: the user comes with the notification hint, which
        # the webhook pipeline pairs with the fetch (drivers decodes only the group).
        assert record.device_id == (measurement.group["deviceid"] or "")
    assert attribs == {0, 1, 2, 4}
