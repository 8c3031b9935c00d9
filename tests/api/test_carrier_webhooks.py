"""EasyPost tracking webhooks on ``POST /webhooks/easypost`` against real PostgreSQL: the signature over the
raw body, the practice the credential names, custody moved by the carrier's events, repeats and foreign
trackers acknowledged without effect, and what cannot be an event stored and dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from api.app import create_app
from api.auth.passwords import Passwords
from api.settings import ApiSettings
from api.webhooks.authentication import Scheme
from api.webhooks.sealing import SecretBox
from provisioning.carrier_webhooks import easypost_signature
from tests.api.conftest import T0, Clock, World
from tests.api.records import Deployed, shipped, webhook_credential

Conn = psycopg.Connection[tuple[Any, ...]]

SECRET_A = "easypost-secret-A-0123456789abcdef"
SECRET_B = "easypost-secret-B-0123456789abcdef"
SHIPPO_TOKEN_A = "shippo-token-A-0123456789abcdef"


@dataclass
class Carriers:
    world: World
    client: TestClient
    a: Deployed
    b: Deployed


@pytest.fixture
def carriers(
    db: Conn,
    two_practices: World,
    api_settings: ApiSettings,
    pool: ConnectionPool[Conn],
    clock: Clock,
    passwords: Passwords,
) -> Iterator[Carriers]:
    key = SecretBox.new_key()
    box = SecretBox(key)
    with db.transaction():
        a, b = shipped(db, two_practices.a), shipped(db, two_practices.b)
        a_id, b_id = two_practices.a.id, two_practices.b.id
        webhook_credential(db, box, a_id, "easypost", Scheme.EASYPOST_HMAC, "signing-key", SECRET_A)
        webhook_credential(db, box, b_id, "easypost", Scheme.EASYPOST_HMAC, "signing-key", SECRET_B)
        webhook_credential(db, box, a_id, "shippo", Scheme.QUERY_TOKEN, "token", SHIPPO_TOKEN_A)
    settings = api_settings.model_copy(update={"webhook_secret_key": SecretStr(key)})
    app = create_app(settings, pool, clock=clock, passwords=passwords)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Carriers(two_practices, client, a, b)


def _tracking(db: Conn, shipment: Deployed) -> str:
    row = db.execute("SELECT tracking_number FROM shipments WHERE id = %s", (shipment.shipment_id,)).fetchone()
    assert row is not None
    return str(row[0])


def _event(tracking: str, status: str, at: datetime, event_id: str, description: str = "tracker.updated") -> bytes:
    stamp = at.isoformat().replace("+00:00", "Z")
    tracker = {
        "object": "Tracker",
        "id": "trk_0123456789",
        "tracking_code": tracking,
        "carrier": "UPS",
        "status": status,
        "status_detail": "arrived_at_destination" if status == "delivered" else "departed_facility",
        "updated_at": stamp,
        "tracking_details": [
            {
                "message": status.replace("_", " "),
                "status": status,
                "datetime": stamp,
                "tracking_location": {"city": "Peoria", "state": "IL", "zip": "61602", "country": "US"},
            }
        ],
    }
    doc = {"object": "Event", "id": event_id, "description": description, "mode": "production", "result": tracker}
    return json.dumps(doc).encode()


def _post(c: Carriers, body: bytes, secret: str = SECRET_A) -> Any:
    headers = {"X-Hmac-Signature": easypost_signature(secret, body), "Content-Type": "application/json"}
    return c.client.post("/webhooks/easypost", content=body, headers=headers)


def _custody(db: Conn, shipment: Deployed) -> str:
    row = db.execute("SELECT custody_state FROM devices WHERE id = %s", (shipment.device_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_tracker_events_move_the_practices_units_once(carriers: Carriers, db: Conn) -> None:
    tracking = _tracking(db, carriers.a)
    response = _post(carriers, _event(tracking, "in_transit", T0 - timedelta(hours=20), "evt_1"))
    assert response.status_code == 200, response.text
    assert response.json()["carrier_events"] == {"applied": 1, "units_moved": 1}
    assert _custody(db, carriers.a) == "in_transit"
    delivered = _event(tracking, "delivered", T0 - timedelta(hours=2), "evt_2")
    assert _post(carriers, delivered).json()["carrier_events"] == {"applied": 1, "units_moved": 1}
    assert _custody(db, carriers.a) == "delivered"
    shipment = db.execute(
        "SELECT status, delivered_at, delivered_event FROM shipments WHERE id = %s", (carriers.a.shipment_id,)
    ).fetchone()
    assert shipment == ("delivered", T0 - timedelta(hours=2), "evt_2")
    # EasyPost retries (or an attacker replays): the same event changes nothing
    again = _post(carriers, delivered)
    assert (again.status_code, again.json()["carrier_events"]) == (200, {"duplicate": 1})
    events = db.execute(
        "SELECT source, carrier_event_id, status, city FROM shipment_events WHERE shipment_id = %s"
        " ORDER BY occurred_at",
        (carriers.a.shipment_id,),
    ).fetchall()
    assert events == [("easypost", "evt_1", "in_transit", "Peoria"), ("easypost", "evt_2", "delivered", "Peoria")]


def test_a_practices_credential_never_moves_another_practices_parcel(carriers: Carriers, db: Conn) -> None:
    tracking_b = _tracking(db, carriers.b)
    body = _event(tracking_b, "delivered", T0 - timedelta(hours=2), "evt_b")
    response = _post(carriers, body, SECRET_A)  # signed with practice A's secret: B's parcel is unknown to A
    assert (response.status_code, response.json()["carrier_events"]) == (200, {"no_shipment": 1})
    assert _custody(db, carriers.b) == "label_created"
    moved = _post(carriers, body, SECRET_B)
    assert (moved.status_code, moved.json()["carrier_events"]) == (200, {"applied": 1, "units_moved": 1})
    assert _custody(db, carriers.b) == "delivered"


def test_bad_or_missing_signatures_are_refused_and_change_nothing(carriers: Carriers, db: Conn) -> None:
    body = _event(_tracking(db, carriers.a), "delivered", T0 - timedelta(hours=2), "evt_x")
    forged = carriers.client.post(
        "/webhooks/easypost", content=body, headers={"X-Hmac-Signature": easypost_signature("guess-0123456789", body)}
    )
    unsigned = carriers.client.post("/webhooks/easypost", content=body)
    tampered = carriers.client.post(
        "/webhooks/easypost", content=body.replace(b"delivered", b"cancelled"), headers={
            "X-Hmac-Signature": easypost_signature(SECRET_A, body)}
    )  # fmt: skip
    assert [r.status_code for r in (forged, unsigned, tampered)] == [401, 401, 401]
    outcomes = db.execute("SELECT auth_outcome FROM webhook_envelopes WHERE vendor = 'easypost' ORDER BY id").fetchall()
    assert outcomes == [("bad_signature",), ("missing_credentials",), ("bad_signature",)]
    assert _custody(db, carriers.a) == "label_created"


def test_other_events_are_acknowledged_and_non_events_dead_lettered(carriers: Carriers, db: Conn) -> None:
    other = json.dumps({"object": "Event", "id": "evt_batch", "description": "batch.updated", "result": {}}).encode()
    response = _post(carriers, other)
    assert (response.status_code, response.json()["carrier_events"]) == (200, {"ignored": 1})
    test_mode = json.loads(_event(_tracking(db, carriers.a), "delivered", T0, "evt_test"))
    test_mode["mode"] = "test"
    ignored = _post(carriers, json.dumps(test_mode).encode())
    assert (ignored.status_code, ignored.json()["carrier_events"]) == (200, {"ignored": 1})
    assert _custody(db, carriers.a) == "label_created"
    for body in (b'{"object": "Tracker"}', b"not json", _event("1Z", "teleported", T0, "evt_bad")):
        assert _post(carriers, body).status_code == 422, body
    letters = db.execute(
        "SELECT reason, topic, practice_id FROM dead_letters WHERE source = 'webhook' ORDER BY id"
    ).fetchall()
    a = carriers.world.a.id
    assert letters == [
        ("invalid_carrier_event", "webhooks/easypost", a),
        ("malformed_value", "webhooks/easypost", a),
        ("invalid_carrier_event", "webhooks/easypost", a),
    ]


def _shippo(tracking: str, status: str, at: datetime, object_id: str, event: str = "track_updated") -> bytes:
    stamp = at.isoformat().replace("+00:00", "Z")
    location = {"city": "Peoria", "state": "IL", "zip": "61602", "country": "US"}
    track = {
        "carrier": "ups",
        "tracking_number": tracking,
        "eta": None,
        "tracking_status": {"object_id": object_id, "status": status, "status_details": status.lower(),
                            "status_date": stamp, "substatus": None, "location": location},
        "tracking_history": [],
    }  # fmt: skip
    return json.dumps({"event": event, "test": False, "data": track}).encode()


def _post_shippo(c: Carriers, body: bytes, token: str | None = SHIPPO_TOKEN_A) -> Any:
    url = "/webhooks/shippo" if token is None else f"/webhooks/shippo?token={token}"
    return c.client.post(url, content=body, headers={"Content-Type": "application/json"})


def test_shippo_track_updates_authenticated_by_the_url_token(carriers: Carriers, db: Conn) -> None:
    tracking = _tracking(db, carriers.a)
    moving = _post_shippo(carriers, _shippo(tracking, "TRANSIT", T0 - timedelta(hours=20), "st_1"))
    assert (moving.status_code, moving.json()["carrier_events"]) == (200, {"applied": 1, "units_moved": 1})
    assert _custody(db, carriers.a) == "in_transit"
    body = _shippo(tracking, "DELIVERED", T0 - timedelta(hours=2), "st_2")
    assert _post_shippo(carriers, body).json()["carrier_events"] == {"applied": 1, "units_moved": 1}
    assert _post_shippo(carriers, body).json()["carrier_events"] == {"duplicate": 1}  # Shippo repeats itself
    assert _custody(db, carriers.a) == "delivered"
    other = _post_shippo(carriers, _shippo(tracking, "DELIVERED", T0, "st_3", event="transaction_created"))
    assert (other.status_code, other.json()["carrier_events"]) == (200, {"ignored": 1})
    test_mode = json.loads(_shippo("SHIPPO_RETURNED", "RETURNED", T0, "st_4"))
    test_mode["test"] = True
    ignored = _post_shippo(carriers, json.dumps(test_mode).encode())
    assert (ignored.status_code, ignored.json()["carrier_events"]) == (200, {"ignored": 1})
    # the token is a secret: it is in no stored header
    for (headers,) in db.execute("SELECT headers FROM webhook_envelopes WHERE vendor = 'shippo'").fetchall():
        assert SHIPPO_TOKEN_A not in json.dumps(headers)
        assert set(headers) <= {"content-type", "content-length", "user-agent"}


def test_shippo_without_the_right_token_is_refused(carriers: Carriers, db: Conn) -> None:
    body = _shippo(_tracking(db, carriers.a), "DELIVERED", T0 - timedelta(hours=2), "st_x")
    wrong, missing = _post_shippo(carriers, body, "guess-0123456789abcdef"), _post_shippo(carriers, body, None)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    outcomes = db.execute("SELECT auth_outcome FROM webhook_envelopes WHERE vendor = 'shippo' ORDER BY id").fetchall()
    assert outcomes == [("bad_credentials",), ("missing_credentials",)]
    assert _custody(db, carriers.a) == "label_created"
