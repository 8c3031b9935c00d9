"""The audit log: exactly one row per request that reads or changes patient data (who, when, what,
which patient, route, client address), none for other requests; append-only for the owner and the
API role alike; readable by admins of the practice only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from tests.api.conftest import T0, World, login
from tests.api.routes import route_table

Conn = psycopg.Connection[tuple[Any, ...]]

# The audit action each patient-data operation records; every other operation records nothing.
AUDITED = {
    "GET /patients": "patients.list",
    "GET /patients/{patient_id}": "patients.read",
    "GET /patients/{patient_id}/readings": "readings.read",
    "GET /patients/{patient_id}/readings/daily": "readings.daily",
    "GET /patients/{patient_id}/readings/latest": "readings.latest",
    "GET /alerts": "alerts.list",
    "GET /alerts/stream": "alerts.stream",
    "POST /alerts/{alert_id}/acknowledge": "alerts.acknowledge",
    "POST /alerts/{alert_id}/resolve": "alerts.resolve",
    "POST /alerts/{alert_id}/snooze": "alerts.snooze",
    "GET /fhir/Patient/{patient_id}": "fhir.patient_read",
    "GET /fhir/Device/{device_id}": "fhir.device_read",
    "GET /fhir/Observation": "fhir.observation_search",
    "GET /fhir/Observation/{observation_id}": "fhir.observation_read",
    "GET /fhir/Patient/{patient_id}/$everything": "fhir.patient_everything",
    "GET /patients/{patient_id}/conditions": "conditions.list",
    "POST /patients/{patient_id}/conditions": "conditions.add",
    "POST /patients/{patient_id}/conditions/{condition_id}/resolve": "conditions.resolve",
    "GET /patients/{patient_id}/consents": "consents.list",
    "POST /patients/{patient_id}/consents": "consents.record",
    "POST /patients/{patient_id}/consents/{program}/revoke": "consents.revoke",
    "GET /patients/{patient_id}/programs": "programs.read",
    "POST /patients/{patient_id}/programs/{program}/enrollment": "programs.enroll",
    "POST /patients/{patient_id}/programs/{program}/enrollment/end": "programs.end",
    "GET /devices": "devices.list",
    "GET /devices/{device_id}": "devices.read",
    "POST /devices/{device_id}/assign": "devices.assign",
    "POST /devices/{device_id}/unassign": "devices.unassign",
    "POST /devices/{device_id}/replacement": "devices.replace",
    "POST /devices/{device_id}/block": "devices.block",
    "GET /shipments": "shipments.list",
    "POST /shipments": "shipments.create",
    "GET /shipments/{shipment_id}": "shipments.read",
    "GET /shipments/{shipment_id}/events": "shipments.events",
    "POST /shipments/{shipment_id}/delivered": "shipments.delivered",
    "POST /shipments/{shipment_id}/returned": "shipments.return_to_sender",
    "GET /patients/{patient_id}/care-time": "care_time.list",
    "POST /patients/{patient_id}/care-time": "care_time.log",
    "POST /care-time/{entry_id}/stop": "care_time.stop",
    "PATCH /care-time/{entry_id}": "care_time.edit",
    "POST /care-time/{entry_id}/void": "care_time.void",
    "GET /care-time/{entry_id}/revisions": "care_time.revisions",
    "GET /billing/report": "billing.report",
    "GET /billing/patients/{patient_id}/explanation": "billing.explain",
    "GET /alerts/patients/{patient_id}/overrides": "alerts.overrides",
    # The admin holds alerts.manage but no clinical credential: refused by the service (403) after the
    # audit row for the attempt to change the patient's thresholds.
    "POST /alerts/patients/{patient_id}/overrides": "alerts.overrides",
}
# The fixture's device is assigned to no patient: reading it is audited without one.
AUDITED_WITHOUT_PATIENT = {"/alerts", "/alerts/stream", "/fhir/Device/{device_id}"}


@pytest.fixture
def http(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, timeout=httpx.Timeout(10, read=30)) as client:
        yield client


def _rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT practice_id, user_id, at, action, patient_id, patient_ids, method, route, host(client_address)"
        " FROM audit_log ORDER BY id"
    ).fetchall()


def test_each_patient_data_request_leaves_exactly_one_row(
    app: FastAPI, http: httpx.Client, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    headers = {"Authorization": f"Bearer {login(http, a.email('admin'))['access_token']}"}
    cases, _ = route_table(app)
    assert {str(c) for c in cases} >= set(AUDITED)
    for case in cases:
        before = len(_rows(db))
        url, body = case.prepare(db, a)
        if case.streams:
            with http.stream("GET", url, headers=headers) as response:
                assert response.status_code == 200
        else:
            response = http.request(case.method, url, headers=headers, json=body)
            assert response.status_code == case.expected_status("admin", True), f"{case}: {response.text}"
        added = _rows(db)[before:]
        if str(case) not in AUDITED:
            assert added == [], f"{case} wrote {added}"
            continue
        assert len(added) == 1, f"{case} wrote {len(added)} rows"
        practice_id, user_id, at, action, patient_id, patient_ids, method, route, client = added[0]
        assert (practice_id, user_id, at) == (a.id, a.users["admin"], T0)
        assert (action, method, route, client) == (AUDITED[str(case)], case.method, case.path, "127.0.0.1")
        if case.path == "/patients":
            assert (patient_id, patient_ids) == (None, [a.patient_id])
        elif case.path.startswith("/patients/"):
            assert (str(patient_id), patient_ids) == (url.split("/")[2], []), f"{case}"
        elif case.path.startswith(("/alerts/", "/fhir/")) and case.path not in AUDITED_WITHOUT_PATIENT:
            assert (patient_id, patient_ids) == (a.patient_id, [])
        # the domain routes on devices, shipments and entries name their patients in tests/api/test_*_routes.py


def test_a_refused_request_leaves_no_row(http: httpx.Client, db: Conn, two_practices: World) -> None:
    a, b = two_practices.a, two_practices.b
    logistics = {"Authorization": f"Bearer {login(http, a.email('logistics'))['access_token']}"}
    admin = {"Authorization": f"Bearer {login(http, a.email('admin'))['access_token']}"}
    assert http.get(f"/patients/{a.patient_id}/readings", headers=logistics).status_code == 403
    assert http.get(f"/patients/{b.patient_id}", headers=admin).status_code == 404
    assert http.get(f"/patients/{a.patient_id}/readings").status_code == 401
    assert _rows(db) == []


def test_admins_query_their_practices_audit_log(http: httpx.Client, two_practices: World) -> None:
    a, b = two_practices.a, two_practices.b
    for practice in (a, b):
        clinician = {"Authorization": f"Bearer {login(http, practice.email('clinician'))['access_token']}"}
        assert http.get(f"/patients/{practice.patient_id}", headers=clinician).status_code == 200
        assert http.get(f"/patients/{practice.patient_id}/readings/latest", headers=clinician).status_code == 200
    admin = {"Authorization": f"Bearer {login(http, a.email('admin'))['access_token']}"}
    page = http.get("/audit", params={"patient_id": str(a.patient_id)}, headers=admin).json()
    assert page["total"] == 2
    assert sorted(e["action"] for e in page["items"]) == ["patients.read", "readings.latest"]
    assert {e["user_id"] for e in page["items"]} == {str(a.users["clinician"])}
    everything = http.get("/audit", headers=admin).json()
    assert everything["total"] == 2  # practice B's rows are invisible
    assert http.get("/audit", params={"patient_id": str(b.patient_id)}, headers=admin).json()["total"] == 0


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET action = 'patients.list'", "DELETE FROM audit_log", "TRUNCATE audit_log"]
)
def test_the_audit_log_is_append_only_even_for_the_owner(
    http: httpx.Client, db: Conn, two_practices: World, statement: str
) -> None:
    headers = {"Authorization": f"Bearer {login(http, two_practices.a.email('clinician'))['access_token']}"}
    assert http.get(f"/patients/{two_practices.a.patient_id}", headers=headers).status_code == 200
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        db.execute(statement)
    assert len(_rows(db)) == 1


def test_the_api_role_may_only_insert_and_select(db: Conn) -> None:
    privileges = db.execute(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE grantee = 'carehub_api' AND table_name = 'audit_log' ORDER BY 1"
    ).fetchall()
    assert [p[0] for p in privileges] == ["INSERT", "SELECT"]
