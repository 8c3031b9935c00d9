"""The billing report and a patient's explanation through the API: an RPM patient with 20 days of
device data and 25 interactive minutes in March 2026 earns 99454 and 99457 (priced from the 2026 fee
schedule), 99453 is withheld without a set-up record; a patient not enrolled is explained as such.
Billing staff read it, clinicians do not; each request leaves one audit row naming the patients."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from billing import care_time
from billing.care_time import Activity
from billing.case import Program
from tests.api import records
from tests.api.conftest import SYS, Clock, Practice, World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]
APRIL_2 = datetime(2026, 4, 2, 15, 0, tzinfo=UTC)


def monitored_patient(db: Conn, practice: Practice) -> uuid.UUID:
    """Enrolled in RPM, a cuff reading at noon in Chicago on 1-20 March, and 25 minutes of calls."""
    unit = records.assigned(db, practice)
    for day in range(1, 21):
        at = datetime(2026, 3, day, 18, 0, tzinfo=UTC)
        db.execute(
            "INSERT INTO readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, unit,"
            " measured_at, measured_at_source, received_at, from_device_memory)"
            " VALUES (%s, %s, %s, NULL, %s, %s, 128, 'mm[Hg]', %s, 'device', %s, false)",
            (practice.id, unit.patient_id, unit.device_id, uuid.uuid4(), SYS, at, at),
        )
    care_time.add_manual(
        db, patient_id=unit.patient_id, performer_id=practice.users["care_staff"], program=Program.RPM,
        activity=Activity.PATIENT_CALL, interactive=True, started_at=datetime(2026, 3, 10, 16, 0, tzinfo=UTC),
        minutes=25, at=APRIL_2,
    )  # fmt: skip
    return unit.patient_id


def audit_rows(db: Conn) -> list[tuple[Any, ...]]:
    return db.execute("SELECT action, user_id, patient_id, patient_ids FROM audit_log ORDER BY id").fetchall()


def test_the_monthly_report_lists_codes_per_patient(
    client: TestClient, db: Conn, clock: Clock, two_practices: World
) -> None:
    a = two_practices.a
    patient = monitored_patient(db, a)
    monitored_patient(db, two_practices.b)
    clock.now = APRIL_2
    billing = bearer(client, a.email("billing"))
    answer = client.get("/billing/report", headers=billing, params={"month": "2026-03"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["practice_id"], report["month"], report["as_of"]) == (str(a.id), "2026-03", "2026-03-31")
    assert report["summary"]["enrolled"] == {"RPM": 1}
    assert report["summary"]["codes"] == {"99454": 1, "99457": 1}
    assert report["summary"]["expected_allowed_amount"] == 103.88  # 1.56 and 1.55 RVU x 33.4009
    (line,) = report["patients"]
    assert (line["patient_id"], line["month"], line["total_amount"]) == (str(patient), "2026-03", 103.88)
    assert [(c["code"], c["units"], c["amount"], c["date_of_service"]) for c in line["codes"]] == [
        ("99454", 1, 52.11, "2026-03-30"),
        ("99457", 1, 51.77, "2026-03-10"),
    ]
    assert "99453" in {n["code"] for n in line["not_billed"]}
    assert len(line["case_sha256"]) == 64
    assert audit_rows(db) == [("billing.report", a.users["billing"], None, [patient])]


def test_a_patients_explanation_says_why(client: TestClient, db: Conn, clock: Clock, two_practices: World) -> None:
    a = two_practices.a
    patient = monitored_patient(db, a)
    clock.now = APRIL_2
    billing = bearer(client, a.email("billing"))
    explained = client.get(f"/billing/patients/{patient}/explanation", headers=billing, params={"month": "2026-03"})
    assert explained.status_code == 200
    body = explained.json()
    assert (body["enrolled"], body["detail"]) == (True, None)
    assert [c["code"] for c in body["result"]["codes"]] == ["99454", "99457"]
    setup = next(n for n in body["result"]["not_billed"] if n["code"] == "99453")
    assert setup == {
        "code": "99453",
        "reason": "no set-up and patient education visit on record (who, when, how) in this episode",
        "rules": ["RPM-SETUP-1"],
    }

    march_before = client.get(
        f"/billing/patients/{a.patient_id}/explanation", headers=billing, params={"month": "2026-03"}
    ).json()
    assert march_before == {
        "patient_id": str(a.patient_id),
        "month": "2026-03",
        "enrolled": False,
        "detail": "not enrolled in RPM or CCM during the month: no code is billable",
        "result": None,
    }
    foreign = client.get(
        f"/billing/patients/{two_practices.b.patient_id}/explanation", headers=billing, params={"month": "2026-03"}
    )
    assert foreign.status_code == 404
    assert audit_rows(db) == [
        ("billing.explain", a.users["billing"], patient, []),
        ("billing.explain", a.users["billing"], a.patient_id, []),
    ]


def test_who_reads_billing_and_what_a_bad_month_answers(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    for role, status in (("billing", 200), ("admin", 200), ("clinician", 403), ("care_staff", 403), ("logistics", 403)):
        answer = client.get("/billing/report", headers=bearer(client, a.email(role)), params={"month": "2026-03"})
        assert answer.status_code == status, role
    billing = bearer(client, a.email("billing"))
    assert client.get("/billing/report", headers=billing, params={"month": "2026-3"}).status_code == 422
    assert client.get("/billing/report", headers=billing).json()["errors"][0]["loc"] == ["query", "month"]
    unsupported = client.get("/billing/report", headers=billing, params={"month": "2019-03"})
    assert (unsupported.status_code, unsupported.json()["detail"]) == (
        422,
        "no billing rules for 2019; carehub has rules for 2026",
    )
    assert [r[0] for r in audit_rows(db)] == ["billing.report", "billing.report"]
