"""Care time through the API: manual entries and timers, the patient's month in their own calendar,
edits and voids as new versions in the revision history, the service's refusals as 409/422 problems,
and one audit row per request."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.api import records
from tests.api.conftest import Clock, World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]


def audit_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT action, user_id, patient_id FROM audit_log ORDER BY id").fetchall()


MANUAL = {
    "program": "RPM",
    "activity": "data_review",
    "interactive": False,
    "started_at": "2026-03-02T13:00:00Z",
    "minutes": 15,
}


def test_an_entry_is_logged_edited_and_voided_with_its_revisions(
    client: TestClient, db: Conn, two_practices: World
) -> None:
    a = two_practices.a
    clinician = bearer(client, a.email("clinician"))
    logged = client.post(f"/patients/{a.patient_id}/care-time", headers=clinician, json={**MANUAL, "note": "BP trend"})
    assert logged.status_code == 201, logged.text
    entry = logged.json()
    assert {k: v for k, v in entry.items() if k != "id"} == {
        "patient_id": str(a.patient_id),
        "performer_id": str(a.users["clinician"]),
        "program": "RPM",
        "performer_role": "physician",
        "activity": "data_review",
        "interactive": False,
        "source": "manual",
        "started_at": "2026-03-02T13:00:00Z",
        "ended_at": "2026-03-02T13:15:00Z",
        "note": "BP trend",
        "version": 1,
        "voided_at": None,
    }
    url = f"/care-time/{entry['id']}"
    edited = client.patch(url, headers=clinician, json={"reason": "it was a call", "activity": "patient_call",
                                                        "interactive": True})  # fmt: skip
    assert edited.status_code == 200
    assert (edited.json()["version"], edited.json()["activity"], edited.json()["interactive"]) == (
        2,
        "patient_call",
        True,
    )
    voided = client.post(f"{url}/void", headers=clinician, json={"reason": "logged twice"})
    assert (voided.json()["version"], voided.json()["voided_at"]) == (3, "2026-03-02T15:00:00Z")

    revisions = client.get(f"{url}/revisions", headers=bearer(client, a.email("billing"))).json()
    assert [(r["version"], r["action"], r["reason"], r["changed_by"]) for r in revisions] == [
        (1, "create", None, str(a.users["clinician"])),
        (2, "edit", "it was a call", str(a.users["clinician"])),
        (3, "void", "logged twice", str(a.users["clinician"])),
    ]
    assert revisions[0]["snapshot"]["activity"] == "data_review"
    assert revisions[1]["snapshot"]["activity"] == "patient_call"

    no_edit = client.patch(url, headers=clinician, json={"reason": "again", "minutes": 3})
    assert (no_edit.status_code, no_edit.json()["detail"]) == (409, "a voided entry cannot be edited")
    no_void = client.post(f"{url}/void", headers=clinician, json={"reason": "again"})
    assert (no_void.status_code, no_void.json()["detail"]) == (409, "this entry is already voided")
    no_reason = client.patch(url, headers=clinician, json={"note": "x"})
    assert no_reason.json()["errors"] == [{"loc": ["body", "reason"], "msg": "Field required", "type": "missing"}]
    assert audit_rows(db) == [
        ("care_time.log", a.users["clinician"], a.patient_id),
        ("care_time.edit", a.users["clinician"], a.patient_id),
        ("care_time.void", a.users["clinician"], a.patient_id),
        ("care_time.revisions", a.users["billing"], a.patient_id),
    ]


def test_a_timer_runs_until_stopped(client: TestClient, db: Conn, clock: Clock, two_practices: World) -> None:
    a = two_practices.a
    nurse = bearer(client, a.email("care_staff"))
    started = client.post(
        f"/patients/{a.patient_id}/care-time",
        headers=nurse,
        json={"program": "CCM", "activity": "care_coordination", "interactive": False, "timer": True},
    )
    assert started.status_code == 201, started.text
    assert (started.json()["source"], started.json()["ended_at"], started.json()["performer_role"]) == (
        "timer",
        None,
        "clinical_staff",
    )
    # the running timer blocks the nurse's later time
    overlapping = client.post(
        f"/patients/{a.patient_id}/care-time", headers=nurse, json={**MANUAL, "started_at": "2026-03-02T15:10:00Z"}
    )
    assert overlapping.status_code == 409
    assert overlapping.json()["detail"].startswith("this time overlaps another entry (or a running timer)")

    clock.advance(25 * 60)
    nurse = bearer(client, a.email("care_staff"))  # the access token lives 15 minutes
    url = f"/care-time/{started.json()['id']}/stop"
    stopped = client.post(url, headers=nurse)
    assert (stopped.status_code, stopped.json()["ended_at"], stopped.json()["version"]) == (
        200,
        "2026-03-02T15:25:00Z",
        2,
    )
    again = client.post(url, headers=nurse)
    assert (again.status_code, again.json()["detail"]) == (409, "this entry is not a running timer")
    assert [r[0] for r in audit_rows(db)] == ["care_time.log", "care_time.stop"]


def test_refusals_name_what_to_fix(client: TestClient, db: Conn, two_practices: World) -> None:
    a, b = two_practices.a, two_practices.b
    url = f"/patients/{a.patient_id}/care-time"
    admin = bearer(client, a.email("admin"))
    no_credential = client.post(url, headers=admin, json=MANUAL)
    assert (no_credential.status_code, no_credential.json()["detail"]) == (
        422,
        "a user with credential 'none' cannot furnish billable care time; record the clinician who did the work",
    )
    on_behalf = client.post(url, headers=admin, json={**MANUAL, "performer_id": str(a.users["clinician"])})
    assert on_behalf.status_code == 201
    assert db.execute("SELECT created_by FROM care_time_entries").fetchall() == [(a.users["admin"],)]
    other_program = client.post(
        url, headers=admin, json={**MANUAL, "program": "CCM", "performer_id": str(a.users["care_staff"])}
    )
    assert (other_program.status_code, other_program.json()["detail"].split(" (")[0]) == (
        409,
        "the patient already has time in the other program during this interval; a minute counts for one program only",
    )
    both = client.post(url, headers=admin, json={**MANUAL, "ended_at": "2026-03-02T13:20:00Z"})
    assert both.status_code == 422
    assert both.json()["errors"][0]["msg"] == (
        "Value error, a manual entry needs started_at and either minutes or ended_at"
    )
    too_long = client.post(url, headers=admin, json={**MANUAL, "minutes": 721})
    assert too_long.json()["errors"][0]["loc"] == ["body", "minutes"]

    foreign = records.care_entry(db, b)
    for method, path, body in (
        ("POST", f"/care-time/{foreign}/stop", None),
        ("PATCH", f"/care-time/{foreign}", {"reason": "mine now"}),
        ("POST", f"/care-time/{foreign}/void", {"reason": "mine now"}),
        ("GET", f"/care-time/{foreign}/revisions", None),
    ):
        answer = client.request(method, path, headers=admin, json=body)
        assert (answer.status_code, answer.json()["detail"]) == (404, "no such care time entry"), path
    assert client.post(url, headers=bearer(client, a.email("billing")), json=MANUAL).status_code == 403
    assert client.get(url, headers=bearer(client, a.email("logistics"))).status_code == 403
    assert [r[0] for r in audit_rows(db)] == ["care_time.log"]


def test_the_month_is_the_patients_own_calendar(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    clinician = bearer(client, a.email("clinician"))
    url = f"/patients/{a.patient_id}/care-time"
    # 03:00 UTC on 1 March is 21:00 on 28 February in Chicago: February's time for this patient
    late_february = client.post(url, headers=clinician, json={**MANUAL, "started_at": "2026-03-01T03:00:00Z"}).json()
    march = client.post(url, headers=clinician, json=MANUAL).json()

    def listed(month: str | None) -> list[str]:
        answer = client.get(url, headers=clinician, params={"month": month} if month else {})
        assert answer.status_code == 200
        return [e["id"] for e in answer.json()]

    assert listed(None) == [march["id"]]
    assert listed("2026-03") == [march["id"]]
    assert listed("2026-02") == [late_february["id"]]
    assert client.get(url, headers=clinician, params={"month": "2026-13"}).status_code == 422
    assert [r[0] for r in audit_rows(db)] == ["care_time.log", "care_time.log"] + ["care_time.list"] * 3
