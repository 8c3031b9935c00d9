"""Conditions, consents and program state of a patient through the API: exact bodies, the service's
refusals as 409/422 problems, and one audit row per request that read or changed them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg
from fastapi.testclient import TestClient

from tests.api import records
from tests.api.conftest import T0, World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]
PROBLEM = "application/problem+json"


def audit_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT action, user_id, patient_id, patient_ids FROM audit_log ORDER BY id").fetchall()


def test_conditions_are_listed_added_and_resolved(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    clinician = bearer(client, a.email("clinician"))
    url = f"/patients/{a.patient_id}/conditions"

    listed = client.get(url, headers=clinician)
    assert listed.status_code == 200
    ((heart_failure),) = listed.json()
    assert {k: heart_failure[k] for k in ("icd10_code", "condition_keys", "chronic", "resolved_on")} == {
        "icd10_code": "I50.22",
        "condition_keys": ["heart_failure"],
        "chronic": True,
        "resolved_on": None,
    }

    added = client.post(url, headers=clinician, json={"icd10_code": "e11.9", "chronic": True, "onset_on": "2020-05-01"})
    assert added.status_code == 201, added.text
    body = added.json()
    assert {k: body[k] for k in ("icd10_code", "condition_keys", "chronic", "onset_on", "recorded_by")} == {
        "icd10_code": "E11.9",
        "condition_keys": ["diabetes_type2"],
        "chronic": True,
        "onset_on": "2020-05-01",
        "recorded_by": str(a.users["clinician"]),
    }

    resolved = client.post(
        f"{url}/{heart_failure['id']}/resolve", headers=clinician, json={"resolved_on": "2026-03-01"}
    )
    assert resolved.status_code == 200
    assert resolved.json()["resolved_on"] == "2026-03-01"
    assert client.get(f"/patients/{a.patient_id}", headers=clinician).json()["condition_keys"] == ["diabetes_type2"]
    assert [r[0] for r in audit_rows(db)] == [
        "conditions.list",
        "conditions.add",
        "conditions.resolve",
        "patients.read",
    ]
    assert {(r[1], r[2], tuple(r[3])) for r in audit_rows(db)} == {(a.users["clinician"], a.patient_id, ())}


def test_condition_refusals_are_problems_and_leave_no_trace(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    clinician = bearer(client, a.email("clinician"))
    url = f"/patients/{a.patient_id}/conditions"

    duplicate = client.post(url, headers=clinician, json={"icd10_code": "I50.22", "chronic": True})
    assert (duplicate.status_code, duplicate.headers["content-type"]) == (409, PROBLEM)
    assert duplicate.json()["detail"] == "condition I50.22 is already recorded for the patient"

    not_icd10 = client.post(url, headers=clinician, json={"icd10_code": "50.22X", "chronic": True})
    assert (not_icd10.status_code, not_icd10.json()["detail"]) == (422, "'50.22X' is not an ICD-10-CM code")

    missing_flag = client.post(url, headers=clinician, json={"icd10_code": "E11.9"})
    assert missing_flag.status_code == 422
    assert missing_flag.json()["errors"] == [{"loc": ["body", "chronic"], "msg": "Field required", "type": "missing"}]

    condition_id = client.get(url, headers=clinician).json()[0]["id"]
    assert client.post(
        f"{url}/{condition_id}/resolve", headers=clinician, json={"resolved_on": "2026-03-01"}
    ).is_success
    again = client.post(f"{url}/{condition_id}/resolve", headers=clinician, json={"resolved_on": "2026-03-02"})
    assert (again.status_code, again.json()["detail"]) == (409, "the condition was resolved on 2026-03-01")
    unknown = client.post(f"{url}/{UUID(int=7)}/resolve", headers=clinician, json={"resolved_on": "2026-03-02"})
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no such condition for the patient")

    assert (
        client.post(
            url, headers=bearer(client, a.email("care_staff")), json={"icd10_code": "E11.9", "chronic": True}
        ).status_code
        == 403
    )
    assert [r[0] for r in audit_rows(db)] == ["conditions.list", "conditions.resolve"]


def test_consents_are_recorded_listed_and_revoked(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    nurse = bearer(client, a.email("care_staff"))
    url = f"/patients/{a.patient_id}/consents"
    obtained = T0 - timedelta(days=1)
    consent = {
        "program": "rpm",
        "modality": "written",
        "obtained_at": obtained.isoformat(),
        "text_version": "rpm-2026.1",
        "cost_sharing_explained": True,
    }
    recorded = client.post(url, headers=nurse, json=consent)
    assert recorded.status_code == 201, recorded.text
    expected = {
        "id": recorded.json()["id"],
        "program": "rpm",
        "modality": "written",
        "obtained_at": "2026-03-01T15:00:00Z",
        "obtained_by": str(a.users["care_staff"]),
        "text_version": "rpm-2026.1",
        "cost_sharing_explained": True,
        "revoked_at": None,
    }
    assert recorded.json() == expected
    assert client.get(url, headers=nurse).json() == [expected]

    revoked = client.post(f"{url}/rpm/revoke", headers=nurse)
    assert revoked.status_code == 200
    assert revoked.json() == [{**expected, "revoked_at": "2026-03-02T15:00:00Z"}]
    again = client.post(f"{url}/rpm/revoke", headers=nurse)
    assert (again.status_code, again.json()["detail"]) == (409, "no rpm consent in force to revoke")

    future = client.post(url, headers=nurse, json={**consent, "obtained_at": (T0 + timedelta(hours=1)).isoformat()})
    assert (future.status_code, future.json()["detail"]) == (422, "consent cannot be obtained in the future")
    naive = client.post(url, headers=nurse, json={**consent, "obtained_at": "2026-03-01T10:00:00"})
    assert naive.status_code == 422
    assert client.post(f"{url}/hospice/revoke", headers=nurse).status_code == 422
    assert client.post(url, headers=bearer(client, a.email("billing")), json=consent).status_code == 403
    assert [r[0] for r in audit_rows(db)] == ["consents.record", "consents.list", "consents.revoke"]


def test_program_state_shows_enrollment_and_every_eligibility_finding(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    patient = records.enrolled_patient(db, a)
    answer = client.get(f"/patients/{patient}/programs", headers=bearer(client, a.email("billing")))
    assert answer.status_code == 200
    body = answer.json()
    rpm, ccm = body["programs"]
    assert body["on"] == "2026-03-02"
    assert {k: rpm["enrollment"][k] for k in ("program", "starts_on", "ends_on", "condition_icd10")} == {
        "program": "rpm",
        "starts_on": "2026-01-31",
        "ends_on": None,
        "condition_icd10": "I10",
    }
    assert (rpm["enrolled"], rpm["eligible"]) == (True, True)
    assert [(f["rule"], f["ok"]) for f in rpm["findings"]] == [
        ("MEDICARE-ID", True),
        ("RPM-ELIG-1", True),
        ("RPM-ELIG-3", True),
        ("RPM-CONSENT-1", True),
    ]
    assert (ccm["program"], ccm["enrolled"], ccm["enrollment"], ccm["eligible"]) == ("ccm", False, None, False)
    assert ccm["findings"] == [
        {"rule": "MEDICARE-ID", "ok": True, "detail": "Medicare beneficiary identifier on file"},
        {"rule": "CCM-ELIG-1", "ok": False, "detail": "1 qualifying chronic condition(s); CCM needs two or more"},
        {"rule": "CCM-ELIG-3", "ok": True, "detail": "seen 2025-06-01"},
        {"rule": "CCM-CONSENT-1", "ok": False, "detail": "no ccm consent in force on 2026-03-02"},
    ]
    before = client.get(f"/patients/{patient}/programs?on=2026-01-15", headers=bearer(client, a.email("billing")))
    assert before.json()["programs"][0]["enrolled"] is False
    assert audit_rows(db) == [
        ("programs.read", a.users["billing"], patient, []),
        ("programs.read", a.users["billing"], patient, []),
    ]


def test_another_practices_patient_is_not_found(client: TestClient, db: Conn, two_practices: World) -> None:
    a, b = two_practices.a, two_practices.b
    admin = bearer(client, a.email("admin"))
    for path in ("conditions", "consents", "programs"):
        answer = client.get(f"/patients/{b.patient_id}/{path}", headers=admin)
        assert (answer.status_code, answer.json()["detail"]) == (404, "no such patient")
    added = client.post(
        f"/patients/{b.patient_id}/conditions", headers=admin, json={"icd10_code": "E11.9", "chronic": True}
    )
    assert added.status_code == 404
    assert db.execute("SELECT count(*) FROM patient_conditions WHERE patient_id = %s", (b.patient_id,)).fetchone() == (
        1,
    )
    assert audit_rows(db) == []


def test_a_clinician_enrolls_an_eligible_patient_and_ends_it(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    clinician = bearer(client, a.email("clinician"))
    patient = records.enrolled_patient(db, a)  # RPM from 2026-01-31
    url = f"/patients/{patient}/programs"

    overlapping = client.post(
        f"{url}/rpm/enrollment", headers=clinician, json={"starts_on": "2026-03-02", "condition_icd10": "I10"}
    )
    assert (overlapping.status_code, overlapping.json()["detail"]) == (
        409,
        "the patient is already enrolled in RPM for that period",
    )
    ended = client.post(
        f"{url}/rpm/enrollment/end", headers=clinician, json={"ends_on": "2026-02-28", "reason": "paused"}
    )
    assert ended.status_code == 200
    assert [(e["starts_on"], e["ends_on"], e["end_reason"]) for e in ended.json()] == [
        ("2026-01-31", "2026-02-28", "paused")
    ]
    again = client.post(
        f"{url}/rpm/enrollment/end", headers=clinician, json={"ends_on": "2026-03-01", "reason": "paused"}
    )
    assert (again.status_code, again.json()["detail"]) == (409, "no open rpm enrollment that started by 2026-03-01")

    enrolled = client.post(
        f"{url}/rpm/enrollment", headers=clinician,
        json={"starts_on": "2026-03-02", "condition_icd10": "i10", "ordering_npi": "1234567893"},
    )  # fmt: skip
    assert enrolled.status_code == 201, enrolled.text
    assert {k: v for k, v in enrolled.json().items() if k != "id"} == {
        "program": "rpm",
        "starts_on": "2026-03-02",
        "ends_on": None,
        "ordering_user_id": str(a.users["clinician"]),
        "condition_icd10": "I10",
        "end_reason": None,
    }
    not_eligible = client.post(
        f"{url}/ccm/enrollment", headers=clinician, json={"starts_on": "2026-03-02", "condition_icd10": "I10"}
    )
    assert (not_eligible.status_code, not_eligible.json()["detail"]) == (
        409,
        "not eligible for CCM: CCM-ELIG-1: 1 qualifying chronic condition(s); CCM needs two or more; "
        "CCM-CONSENT-1: no ccm consent in force on 2026-03-02",
    )
    nurse = bearer(client, a.email("care_staff"))
    assert (
        client.post(
            f"{url}/ccm/enrollment", headers=nurse, json={"starts_on": "2026-03-02", "condition_icd10": "I10"}
        ).status_code
        == 403
    )
    assert [r[0] for r in audit_rows(db)] == ["programs.end", "programs.enroll"]
