"""Pure: device time → measured_at and its source (reference §12, gateway.readings docstring), and
the reading body built from a decoded frame."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.domain import MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from drivers.normalised import Normalised
from gateway.readings import ClockView, DeviceRef, build_reading, resolve_time

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 1, 15, 0, 0, tzinfo=UTC)  # 10:00 in New York
LOCAL = datetime(2026, 3, 1, 9, 30, 0)
MIN = timedelta(seconds=60)


def test_a_good_clock_is_used_as_sent_in_the_home_zone() -> None:
    got = resolve_time(LOCAL, received_at=NOW, clock=ClockView(NY, timedelta(seconds=3), MIN))
    assert (got.measured_at, got.source, got.clock_not_set) == (
        datetime(2026, 3, 1, 14, 30, tzinfo=UTC),
        MeasuredAtSource.DEVICE_CLOCK,
        False,
    )


def test_a_wrong_clock_is_corrected_by_the_offset_measured_at_connection() -> None:
    # The device clock runs 2 h 5 min behind: its 09:30 stamp means 11:35 local, 16:35 UTC... in the
    # future of NOW, so take a stamp from earlier: 07:00 local -> 12:00 UTC + 2h05 = 14:05 UTC.
    offset = timedelta(hours=2, minutes=5)
    got = resolve_time(datetime(2026, 3, 1, 7, 0), received_at=NOW, clock=ClockView(NY, offset, MIN))
    assert (got.measured_at, got.source) == (
        datetime(2026, 3, 1, 14, 5, tzinfo=UTC),
        MeasuredAtSource.DEVICE_CLOCK_CORRECTED,
    )
    assert got.device_time_utc == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_after_the_hub_wrote_the_clock_a_fresh_stamp_is_not_corrected_again() -> None:
    offset = timedelta(hours=-3)
    fresh = datetime(2026, 3, 1, 9, 59, 40)
    got = resolve_time(fresh, received_at=NOW, clock=ClockView(NY, offset, MIN, written=True))
    assert got.source is MeasuredAtSource.DEVICE_CLOCK
    assert got.measured_at == datetime(2026, 3, 1, 14, 59, 40, tzinfo=UTC)


def test_an_unset_clock_without_an_offset_falls_back_to_hub_receipt() -> None:
    factory = datetime(2000, 1, 1, 0, 3)
    got = resolve_time(factory, received_at=NOW, clock=ClockView(NY))
    assert (got.measured_at, got.source, got.clock_not_set) == (NOW, MeasuredAtSource.HUB_RECEIPT, True)


def test_a_stamp_in_the_future_is_never_trusted() -> None:
    future = datetime(2026, 3, 1, 12, 0)
    got = resolve_time(future, received_at=NOW, clock=ClockView(NY, timedelta(0), MIN))
    assert (got.measured_at, got.source, got.clock_not_set) == (NOW, MeasuredAtSource.HUB_RECEIPT, True)


def test_no_stamp_is_hub_receipt_without_a_clock_flag() -> None:
    got = resolve_time(None, received_at=NOW, clock=ClockView(NY, timedelta(0), MIN))
    assert (got.measured_at, got.source, got.clock_not_set) == (NOW, MeasuredAtSource.HUB_RECEIPT, False)


def _bp(at: datetime | None) -> Normalised:
    return Normalised(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(
            Observation(Metric.MDC_PRESS_BLD_NONINV_SYS, 16.0, Unit.KPA),
            Observation(Metric.MDC_PULS_RATE_NON_INV, 71.0, Unit.PER_MIN),
        ),
        measured_at=at,
        storable=True,
        flags=frozenset({ReadingFlag.IRREGULAR_PULSE}),
        user_id=2,
    )


def test_the_reading_body_matches_the_wire_format_and_replays_share_a_key() -> None:
    device = DeviceRef("BP-0001", "C0:DE:00:00:00:01")
    clock = ClockView(NY, timedelta(minutes=20), MIN)
    one = build_reading(
        _bp(LOCAL), device=device, reading_id="r1", received_at=NOW, connected_at=NOW, clock=clock, battery_pct=80
    )
    # The same record on the next connection, with a slightly different offset measured.
    two = build_reading(
        _bp(LOCAL),
        device=device,
        reading_id="r2",
        received_at=NOW + timedelta(hours=1),
        connected_at=NOW + timedelta(hours=1),
        clock=ClockView(NY, timedelta(minutes=20, seconds=2), MIN),
    )
    assert one is not None
    assert two is not None
    assert one.dedup_key == two.dedup_key
    assert json.loads(one.body) == {
        "reading_id": "r1",
        "device_serial": "BP-0001",
        "device_address": "C0:DE:00:00:00:01",
        "kind": "blood_pressure",
        "measured_at": "2026-03-01T14:50:00Z",
        "measured_at_source": "device_clock_corrected",
        "received_at": "2026-03-01T15:00:00Z",
        "from_device_memory": True,  # stamped 10 minutes before the connection
        "observations": [
            {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": 16.0, "unit": "kPa"},
            {"code": "MDC_PULS_RATE_NON_INV", "value": 71.0, "unit": "/min"},
        ],
        "flags": ["irregular_pulse"],
        "user_index": 2,
        "battery_pct": 80,
    }


def test_frames_that_are_not_readings_build_nothing() -> None:
    device = DeviceRef("BP-0001", None)
    got = build_reading(
        Normalised.not_a_reading(),
        device=device,
        reading_id="r",
        received_at=NOW,
        connected_at=NOW,
        clock=ClockView(NY),
    )
    assert got is None
