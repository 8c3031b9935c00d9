"""Shipments through the API: create (tracking numbers checked with the carrier's check digit), list with
filters, detail and events, and staff marking a parcel delivered or returned only where the custody
machine moves every unit in it (409 otherwise); one audit row per request."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.api import records
from tests.api.conftest import World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]
UPS = "1Z5R89390357567127"


def audit_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT action, patient_id, patient_ids FROM audit_log ORDER BY id").fetchall()


def custody(db: Conn, device_id: Any) -> str:
    row = db.execute("SELECT custody_state FROM devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_shipment_is_created_for_assigned_units_only(client: TestClient, db: Conn, two_practices: World) -> None:
    a, b = two_practices.a, two_practices.b
    logistics = bearer(client, a.email("logistics"))
    unit = records.assigned(db, a)
    order = {"patient_id": str(unit.patient_id), "device_ids": [str(unit.device_id)], "carrier": "ups",
             "tracking_number": "1z 5r8 939 0357 5671 27", "ship_date": "2026-03-02"}  # fmt: skip

    created = client.post("/shipments", headers=logistics, json=order)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: v for k, v in body.items() if k not in ("id", "created_at")} == {
        "patient_id": str(unit.patient_id),
        "direction": "outbound",
        "carrier": "ups",
        "tracking_number": UPS,
        "ship_date": "2026-03-02",
        "status": "pre_transit",
        "delivered_at": None,
        "address_line1": "12 Elm Street",
        "address_line2": None,
        "city": "Springfield",
        "state": "IL",
        "postal_code": "62704",
        "device_ids": [str(unit.device_id)],
        "created_by": str(a.users["logistics"]),
    }
    assert custody(db, unit.device_id) == "label_created"

    bad_number = client.post("/shipments", headers=logistics, json={**order, "tracking_number": "1Z5R89390357567128"})
    assert (bad_number.status_code, bad_number.json()["detail"]) == (
        422,
        "'1Z5R89390357567128' is not a valid UPS tracking number",
    )
    second = records.assigned(db, a)
    same_label = client.post(
        "/shipments",
        headers=logistics,
        json={**order, "patient_id": str(second.patient_id), "device_ids": [str(second.device_id)]},
    )
    assert (same_label.status_code, same_label.json()["detail"]) == (
        409,
        f"a UPS shipment {UPS} shipped on 2026-03-02 exists already",
    )
    assert custody(db, second.device_id) == "assigned"  # the refused request changed nothing
    order["tracking_number"] = records.ups_number(42)
    stock = records.device_in_stock(db, a)
    unassigned = client.post("/shipments", headers=logistics, json={**order, "device_ids": [str(stock)]})
    assert (unassigned.status_code, unassigned.json()["detail"]) == (
        409,
        "cannot create_label a device that is in_stock; allowed: assign, retire",
    )
    foreign = client.post("/shipments", headers=logistics, json={**order, "device_ids": [str(b.device_id)]})
    assert (foreign.status_code, foreign.json()["detail"]) == (404, "no such device")
    empty = client.post("/shipments", headers=logistics, json={**order, "device_ids": []})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["loc"] == ["body", "device_ids"]
    assert client.post("/shipments", headers=bearer(client, a.email("clinician")), json=order).status_code == 403
    assert audit_rows(db) == [("shipments.create", unit.patient_id, [])]
    assert db.execute("SELECT count(*) FROM shipments").fetchone() == (1,)


def test_shipments_are_listed_with_filters_and_read_with_their_events(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    moving, waiting = records.in_transit(db, a), records.shipped(db, a)
    records.shipped(db, two_practices.b)
    nurse = bearer(client, a.email("care_staff"))

    def ids(**params: str) -> tuple[int, list[str]]:
        page = client.get("/shipments", headers=nurse, params=params).json()
        return page["total"], [s["id"] for s in page["items"]]

    assert ids(sort="created_at") == (2, [str(moving.shipment_id), str(waiting.shipment_id)])
    assert ids(status="in_transit") == (1, [str(moving.shipment_id)])
    assert ids(patient_id=str(waiting.patient_id)) == (1, [str(waiting.shipment_id)])
    assert ids(direction="return") == (0, [])
    assert client.get("/shipments", headers=nurse, params={"sort": "weight"}).status_code == 422

    detail = client.get(f"/shipments/{moving.shipment_id}", headers=nurse).json()
    assert (detail["status"], detail["device_ids"]) == ("in_transit", [str(moving.device_id)])
    events = client.get(f"/shipments/{moving.shipment_id}/events", headers=nurse).json()
    assert [(e["source"], e["status"], e["occurred_at"]) for e in events] == [
        ("easypost", "in_transit", "2026-03-01T19:00:00Z")
    ]
    assert audit_rows(db) == [
        ("shipments.list", None, sorted([moving.patient_id, waiting.patient_id])),
        ("shipments.list", None, [moving.patient_id]),
        ("shipments.list", None, [waiting.patient_id]),
        ("shipments.list", None, []),
        ("shipments.read", moving.patient_id, []),
        ("shipments.events", moving.patient_id, []),
    ]


def test_staff_mark_delivered_or_returned_only_as_the_custody_machine_allows(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    logistics = bearer(client, a.email("logistics"))
    labelled, moving = records.shipped(db, a), records.in_transit(db, a)
    labelled_serial = records.serial(db, labelled.device_id)

    not_moving = client.post(f"/shipments/{labelled.shipment_id}/returned", headers=logistics)
    assert (not_moving.status_code, not_moving.json()["detail"]) == (
        409,
        f"device {labelled_serial} is label_created: it cannot be marked return_to_sender",
    )
    delivered = client.post(f"/shipments/{labelled.shipment_id}/delivered", headers=logistics)
    assert delivered.status_code == 200
    assert (delivered.json()["status"], delivered.json()["delivered_at"]) == ("delivered", "2026-03-02T15:00:00Z")
    assert custody(db, labelled.device_id) == "delivered"
    twice = client.post(f"/shipments/{labelled.shipment_id}/delivered", headers=logistics)
    assert (twice.status_code, twice.json()["detail"]) == (
        409,
        f"device {labelled_serial} is delivered: it cannot be marked delivered",
    )

    returned = client.post(f"/shipments/{moving.shipment_id}/returned", headers=logistics)
    assert returned.status_code == 200
    assert returned.json()["status"] == "return_to_sender"
    assert custody(db, moving.device_id) == "return_to_sender"
    assert db.execute(
        "SELECT source, status, message FROM shipment_events WHERE shipment_id = %s ORDER BY id", (moving.shipment_id,)
    ).fetchall() == [("easypost", "in_transit", None), ("manual", "return_to_sender", "recorded by staff")]
    assert audit_rows(db) == [
        ("shipments.delivered", labelled.patient_id, []),
        ("shipments.return_to_sender", moving.patient_id, []),
    ]


def test_a_return_parcel_received_at_the_practice(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    logistics = bearer(client, a.email("logistics"))
    home = records.delivered(db, a)
    order = {"patient_id": str(home.patient_id), "device_ids": [str(home.device_id)], "carrier": "ups",
             "tracking_number": UPS, "ship_date": "2026-03-02", "direction": "return"}  # fmt: skip
    premature = client.post("/shipments", headers=logistics, json=order)
    assert (premature.status_code, premature.json()["detail"]) == (
        409,
        f"device {records.serial(db, home.device_id)} is not awaiting return",
    )
    assert client.post(f"/devices/{home.device_id}/unassign", headers=logistics, json={"reason": "withdrew"}).is_success
    parcel = client.post("/shipments", headers=logistics, json=order).json()["id"]
    refused = client.post(f"/shipments/{parcel}/returned", headers=logistics)
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        "a return shipment cannot be marked return_to_sender",
    )
    received = client.post(f"/shipments/{parcel}/delivered", headers=logistics)
    assert received.status_code == 200
    assert custody(db, home.device_id) == "returned"
    assert [r[0] for r in audit_rows(db)] == ["devices.unassign", "shipments.create", "shipments.delivered"]
