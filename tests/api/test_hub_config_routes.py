"""A hub's configuration through the API: desired vs published vs reported version and the whitelist
its assignments give now; logistics may have it issued again (the publisher's pending mark), and the
versions move as the provisioning service issues and the hub reports. No patient data, no audit rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from core.hub_messages import ReportedConfig
from provisioning import hub_config
from tests.api import records
from tests.api.conftest import T0, World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]


def test_config_versions_and_whitelist_follow_issue_and_report(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    logistics = bearer(client, a.email("logistics"))
    device = records.device_in_stock(db, a)
    patient = records.enrolled_patient(db, a)
    assigned = client.post(
        f"/devices/{device}/assign", headers=logistics, json={"patient_id": str(patient), "hub_id": a.hub_id}
    )
    assert assigned.status_code == 200

    url = f"/hubs/{a.hub_id}/config"
    state = client.get(url, headers=bearer(client, a.email("clinician"))).json()
    assert {k: v for k, v in state.items() if k != "whitelist"} == {
        "hub_id": a.hub_id,
        "desired_version": 0,
        "published_version": 0,
        "reported_version": None,
        "reported_at": None,
        "reported_errors": [],
        "in_sync": False,
        "reissue_pending": True,
    }
    (entry,) = state["whitelist"]
    assert (entry["serial"], entry["kind"]) == (records.serial(db, device), "bp_cuff")

    assert hub_config.materialise_pending(db, T0) == [(a.hub_id, 1)]  # the provisioning service's round
    hub_config.record_reported(
        db, a.hub_id, ReportedConfig(version=1, applied_at=T0, errors=[]), T0 + timedelta(seconds=5)
    )
    synced = client.get(url, headers=logistics).json()
    assert (synced["desired_version"], synced["reported_version"], synced["in_sync"], synced["reissue_pending"]) == (
        1,
        1,
        True,
        False,
    )

    reissued = client.post(f"{url}/reissue", headers=logistics)
    assert reissued.status_code == 202
    assert (reissued.json()["reissue_pending"], reissued.json()["desired_version"]) == (True, 1)
    assert hub_config.materialise_pending(db, T0) == [(a.hub_id, 2)]
    assert client.get(url, headers=logistics).json()["in_sync"] is False  # the hub still runs version 1
    assert db.execute("SELECT count(*) FROM audit_log WHERE action NOT LIKE 'devices.%'").fetchone() == (0,)


def test_reissue_is_for_logistics_and_admins_of_the_hubs_practice(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a, b = two_practices.a, two_practices.b
    for role, status in (("admin", 202), ("logistics", 202), ("clinician", 403), ("care_staff", 403), ("billing", 403)):
        answer = client.post(f"/hubs/{a.hub_id}/config/reissue", headers=bearer(client, a.email(role)))
        assert answer.status_code == status, role
    admin = bearer(client, a.email("admin"))
    for method in ("GET", "POST"):
        path = f"/hubs/{b.hub_id}/config" + ("/reissue" if method == "POST" else "")
        answer = client.request(method, path, headers=admin)
        assert (answer.status_code, answer.json()["detail"]) == (404, "no such hub")
    assert client.get("/hubs/no/config", headers=admin).status_code == 422
    assert db.execute("SELECT hub_id FROM hub_config_pending ORDER BY hub_id").fetchall() == [(a.hub_id,)]
