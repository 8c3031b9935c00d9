"""What a vendor record says about its device (:func:`api.webhooks.telemetry.of_record`): exact
vectors, including the values a device cannot report, which are left out rather than stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.telemetry import Telemetry
from api.webhooks.telemetry import of_record
from drivers.vendors import MessageType, VendorRecord

RECEIVED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SENT = RECEIVED - timedelta(minutes=2)


def record(message: MessageType = MessageType.HEARTBEAT, **fields: object) -> VendorRecord:
    defaults: dict[str, object] = {"measured_at": SENT}
    return VendorRecord("bodytrace", message, "357872040012347", "key", **(defaults | fields))  # type: ignore[arg-type]


def test_a_heartbeat_with_volts_gives_an_estimated_percentage() -> None:
    got = of_record("bodytrace", record(battery_mv=4960, signal_dbm=-91), RECEIVED)
    expected = Telemetry(SENT, battery_pct=20, battery_mv=4960, battery_estimated=True, signal_dbm=-91, heartbeat=True)
    assert got == expected


def test_a_reported_percentage_is_kept_and_not_estimated() -> None:
    got = of_record("tenovi", record(MessageType.STATUS, battery_pct=55, battery_mv=5000), RECEIVED)
    assert got == Telemetry(SENT, battery_pct=55, battery_mv=5000)


def test_volts_from_a_vendor_without_a_known_range_give_no_percentage() -> None:
    assert of_record("transtek", record(MessageType.READING, battery_mv=3000), RECEIVED) == Telemetry(
        SENT, battery_mv=3000
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"battery_pct": 101}, Telemetry(SENT, heartbeat=True)),
        ({"battery_pct": -1}, Telemetry(SENT, heartbeat=True)),
        ({"battery_pct": 100}, Telemetry(SENT, battery_pct=100, heartbeat=True)),
        ({"battery_pct": 0}, Telemetry(SENT, battery_pct=0, heartbeat=True)),
        ({"battery_mv": 0}, Telemetry(SENT, heartbeat=True)),
        ({"signal_dbm": 1}, Telemetry(SENT, heartbeat=True)),
        ({"signal_dbm": -201}, Telemetry(SENT, heartbeat=True)),
        ({"signal_dbm": 0}, Telemetry(SENT, signal_dbm=0, heartbeat=True)),
        ({"signal_dbm": -200}, Telemetry(SENT, signal_dbm=-200, heartbeat=True)),
    ],
)
def test_values_a_device_cannot_report_are_left_out(fields: dict[str, object], expected: Telemetry) -> None:
    assert of_record("tenovi", record(**fields), RECEIVED) == expected


def test_the_time_is_the_latest_known_and_never_after_receipt() -> None:
    later = SENT + timedelta(minutes=1)
    assert of_record("bodytrace", record(vendor_received_at=later), RECEIVED) == Telemetry(later, heartbeat=True)
    ahead = RECEIVED + timedelta(days=3)  # a device clock running ahead
    assert of_record("bodytrace", record(measured_at=ahead), RECEIVED) == Telemetry(RECEIVED, heartbeat=True)
    assert of_record("bodytrace", record(measured_at=None), RECEIVED) == Telemetry(RECEIVED, heartbeat=True)


def test_test_traffic_says_nothing_about_a_device() -> None:
    assert of_record("transtek", record(MessageType.TEST, battery_pct=5), RECEIVED) is None
