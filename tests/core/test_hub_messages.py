"""The hub ↔ cloud control-plane messages: exact JSON both ways, and clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.domain import DeviceKind
from core.hub_messages import (
    CommandType,
    HubCommand,
    HubConfig,
    HubEvents,
    HubEventType,
    HubState,
    HubStatus,
    InvalidHubMessage,
    SecurityMode,
    WhitelistEntry,
    parse_message,
)

AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def test_the_last_will_is_a_status_without_a_timestamp() -> None:
    will = HubStatus(state=HubState.LOST, session=17)
    assert json.loads(will.to_json()) == {"v": 1, "state": "lost", "session": 17}
    assert parse_message(HubStatus, will.to_json()) == will


def test_desired_config_round_trips_with_defaults() -> None:
    config = HubConfig(
        version=43,
        issued_at=AT,
        whitelist=[
            WhitelistEntry(
                serial="2203BP0042",
                kind=DeviceKind.BP_CUFF,
                address="A4:C1:38:12:34:56",
                assignment="asg-01",
                security=SecurityMode.BONDED,
            )
        ],
    )
    body = json.loads(config.to_json())
    assert body == {
        "v": 1,
        "version": 43,
        "issued_at": "2026-12-04T09:30:00Z",
        "whitelist": [
            {
                "v": 1,
                "serial": "2203BP0042",
                "kind": "bp_cuff",
                "address": "A4:C1:38:12:34:56",
                "assignment": "asg-01",
                "security": "bonded",
                "set_clock": True,
            }
        ],
        "upload": {"v": 1, "max_batch": 50, "max_delay_s": 30},
    }
    assert parse_message(HubConfig, config.to_json()) == config


def test_unknown_keys_are_ignored_for_rolling_upgrades() -> None:
    payload = (
        b'{"v":1,"session":3,"events":[{"event_id":"e1","type":"device_battery","at":"2026-12-04T09:30:00Z",'
        b'"device_serial":"SC1","battery_pct":15,"new_field":true}]}'
    )
    events = parse_message(HubEvents, payload)
    assert events.events[0].type is HubEventType.DEVICE_BATTERY
    assert events.events[0].battery_pct == 15


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"not json", "<root>"),
        (b'{"v":2,"state":"online","session":1}', "v:"),
        (b'{"state":"asleep","session":1}', "state:"),
        (b'{"state":"online","session":-1}', "session:"),
        (b'{"state":"online","session":"1"}', "session:"),
        (b'{"state":"online","session":1,"ts":"2026-12-04T09:30:00"}', "ts:"),
    ],
)
def test_invalid_status_messages_are_refused_with_the_field(payload: bytes, problem: str) -> None:
    with pytest.raises(InvalidHubMessage, match=problem):
        parse_message(HubStatus, payload)


def test_lower_case_ble_addresses_are_refused_so_whitelists_compare_exactly() -> None:
    with pytest.raises(InvalidHubMessage, match="address"):
        parse_message(WhitelistEntry, b'{"serial":"S1","kind":"scale","address":"a4:c1:38:12:34:56","assignment":"a"}')


def test_command_carries_its_expiry() -> None:
    cmd = HubCommand(cmd_id="c1", type=CommandType.RESEND_SINCE, issued_at=AT, expires_at=AT, since=AT)
    assert parse_message(HubCommand, cmd.to_json()).since == AT
