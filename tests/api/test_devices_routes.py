"""Device inventory and custody through the API: filters, detail with custody history and assignments,
assign / unassign / replace / block as the custody machine allows (409 otherwise), validation as 422,
one audit row per request naming the patients involved."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from core.domain import DeviceKind
from provisioning import inventory
from provisioning.inventory import Connectivity, FdaStatus
from tests.api import records
from tests.api.conftest import World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]


def audit_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT action, patient_id, patient_ids FROM audit_log ORDER BY id").fetchall()


def test_the_inventory_filters_by_state_model_kind_and_practice(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a, b = two_practices.a, two_practices.b
    deployed = records.delivered(db, a)
    model = inventory.register_model(
        db, vendor="A&D", model="UA-651BLE", kind=DeviceKind.BP_CUFF, connectivity=Connectivity.BLE,
        fda_status=FdaStatus.CLEARED_510K,
    )  # fmt: skip
    spec = inventory.device_spec(serial="AND-0001", model=model, ble_address="00:09:1F:00:00:01")
    inventory.register_device(db, practice_id=a.id, spec=spec)
    logistics = bearer(client, a.email("logistics"))

    def serials(**params: str) -> tuple[int, list[str]]:
        page = client.get("/devices", headers=logistics, params=params).json()
        return page["total"], [d["serial"] for d in page["items"]]

    deployed_serial = records.serial(db, deployed.device_id)
    assert serials() == (3, sorted(["AND-0001", "BP-A", deployed_serial]))
    assert serials(state="delivered") == (1, [deployed_serial])
    assert serials(model="ua-651ble") == (1, ["AND-0001"])
    assert serials(kind="scale") == (0, [])
    assert serials(practice_id=str(b.id)) == (0, [])
    assert serials(limit="1", offset="1") == (3, ["BP-A"])
    assert serials(sort="-serial") == (3, sorted(["AND-0001", "BP-A", deployed_serial], reverse=True))
    # units never moved (custody_changed_at NULL) first, then by their last move
    assert serials(sort="custody_changed_at") == (3, ["AND-0001", "BP-A", deployed_serial])
    assert serials(sort="-custody_changed_at") == (3, [deployed_serial, "AND-0001", "BP-A"])
    bad = client.get("/devices", headers=logistics, params={"state": "on_the_moon"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "state"]
    rows = audit_rows(db)
    assert rows[0] == ("devices.list", None, [deployed.patient_id])
    assert rows[1] == ("devices.list", None, [deployed.patient_id])
    assert len(rows) == 9  # the refused request left none


def test_a_device_shows_its_custody_history_and_assignments(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    deployed = records.delivered(db, a)
    detail = client.get(f"/devices/{deployed.device_id}", headers=bearer(client, a.email("clinician")))
    assert detail.status_code == 200
    body = detail.json()
    assert (body["custody_state"], body["patient_id"], body["delivered_at"]) == (
        "delivered",
        str(deployed.patient_id),
        "2026-03-02T03:00:00Z",
    )
    assert [(e["action"], e["from_state"], e["to_state"], e["actor_kind"]) for e in body["custody_history"]] == [
        ("assign", "in_stock", "assigned", "user"),
        ("create_label", "assigned", "label_created", "user"),
        ("deliver", "label_created", "delivered", "user"),
    ]
    assert body["custody_history"][2]["reason"] == "manual_delivered"
    assert [(p["patient_id"], p["valid_to"]) for p in body["patient_assignments"]] == [(str(deployed.patient_id), None)]
    assert body["hub_assignments"] == []
    assert audit_rows(db) == [("devices.read", None, [deployed.patient_id])]


def test_assigning_follows_enrollment_and_the_custody_machine(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a, b = two_practices.a, two_practices.b
    logistics = bearer(client, a.email("logistics"))
    device = records.device_in_stock(db, a)
    patient = records.enrolled_patient(db, a)

    not_enrolled = client.post(f"/devices/{device}/assign", headers=logistics, json={"patient_id": str(a.patient_id)})
    assert (not_enrolled.status_code, not_enrolled.json()["detail"]) == (
        409,
        "the patient is not enrolled in RPM on that date: enroll before assigning a device",
    )
    foreign = client.post(f"/devices/{device}/assign", headers=logistics, json={"patient_id": str(b.patient_id)})
    assert (foreign.status_code, foreign.json()["detail"]) == (404, "no such patient")

    assigned = client.post(
        f"/devices/{device}/assign", headers=logistics, json={"patient_id": str(patient), "hub_id": a.hub_id}
    )
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["custody_state"], assigned.json()["patient_id"], assigned.json()["hub_id"]) == (
        "assigned",
        str(patient),
        a.hub_id,
    )
    # the assignment marked the hub for a new configuration, in the API's own transaction
    assert db.execute("SELECT hub_id FROM hub_config_pending").fetchall() == [(a.hub_id,)]

    other = records.enrolled_patient(db, a)
    twice = client.post(f"/devices/{device}/assign", headers=logistics, json={"patient_id": str(other)})
    assert (twice.status_code, twice.json()["detail"]) == (
        409,
        "cannot assign a device that is assigned; allowed: activate, cancel, create_label",
    )
    assert (
        client.post(f"/devices/{b.device_id}/assign", headers=logistics, json={"patient_id": str(other)}).status_code
        == 404
    )
    clinician = bearer(client, a.email("clinician"))
    assert (
        client.post(f"/devices/{device}/assign", headers=clinician, json={"patient_id": str(other)}).status_code == 403
    )
    assert audit_rows(db) == [("devices.assign", patient, [])]


def test_unassign_and_block_move_custody_or_answer_409(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    logistics = bearer(client, a.email("logistics"))
    leaving, missing = records.delivered(db, a), records.delivered(db, a)

    unassigned = client.post(f"/devices/{leaving.device_id}/unassign", headers=logistics, json={"reason": "withdrew"})
    assert unassigned.status_code == 200
    assert (unassigned.json()["custody_state"], unassigned.json()["patient_id"]) == ("return_requested", None)

    blocked = client.post(f"/devices/{missing.device_id}/block", headers=logistics, json={"reason": "not_returned"})
    assert blocked.status_code == 200
    assert (blocked.json()["custody_state"], blocked.json()["blocked_at"], blocked.json()["patient_id"]) == (
        "lost",
        "2026-03-02T15:00:00Z",
        None,
    )
    again = client.post(f"/devices/{missing.device_id}/block", headers=logistics, json={"reason": "not_returned"})
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "cannot report_lost a device that is lost; allowed: receive_return, retire",
    )
    in_stock = records.device_in_stock(db, a)
    never_out = client.post(f"/devices/{in_stock}/unassign", headers=logistics, json={"reason": "withdrew"})
    assert (never_out.status_code, never_out.json()["detail"]) == (
        409,
        "cannot unenroll a device that is in_stock; allowed: assign, retire",
    )
    bad_reason = client.post(f"/devices/{in_stock}/block", headers=logistics, json={"reason": "Lost It!"})
    assert bad_reason.status_code == 422
    assert audit_rows(db) == [("devices.unassign", leaving.patient_id, []), ("devices.block", missing.patient_id, [])]


def test_a_replacement_ships_a_new_unit_and_awaits_the_old_one(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    logistics = bearer(client, a.email("logistics"))
    old = records.delivered(db, a)
    new = records.device_in_stock(db, a)
    scale = records.device_in_stock(db, a, DeviceKind.SCALE)
    order = {"new_device_id": str(new), "reason": "cuff_leak", "carrier": "ups", "ship_date": "2026-03-02"}

    wrong_kind = client.post(
        f"/devices/{old.device_id}/replacement",
        headers=logistics,
        json={**order, "new_device_id": str(scale), "tracking_number": records.ups_number(1)},
    )
    assert (wrong_kind.status_code, wrong_kind.json()["detail"]) == (
        409,
        "a bp_cuff is replaced by a bp_cuff, not a scale",
    )
    bad_number = client.post(
        f"/devices/{old.device_id}/replacement",
        headers=logistics,
        json={**order, "tracking_number": "1Z5R89390357567128"},
    )
    assert (bad_number.status_code, bad_number.json()["detail"]) == (
        422,
        "'1Z5R89390357567128' is not a valid UPS tracking number",
    )
    replaced = client.post(
        f"/devices/{old.device_id}/replacement",
        headers=logistics,
        json={**order, "tracking_number": "1Z5R89390357567127"},
    )
    assert replaced.status_code == 201, replaced.text
    body = replaced.json()
    # the old unit keeps counting for the patient until the replacement's first reading
    assert (body["old_device"]["custody_state"], body["old_device"]["patient_id"]) == (
        "return_requested",
        str(old.patient_id),
    )
    assert (body["new_device"]["custody_state"], body["new_device"]["patient_id"]) == (
        "label_created",
        str(old.patient_id),
    )
    assert db.execute(
        "SELECT patient_id, old_device_id, new_device_id, reason, closed_at FROM device_replacements WHERE id = %s",
        (body["replacement_id"],),
    ).fetchone() == (old.patient_id, old.device_id, new, "cuff_leak", None)
    assert audit_rows(db) == [("devices.replace", old.patient_id, [])]
