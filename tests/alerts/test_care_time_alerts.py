"""ADH-5 / ADH-6 from the tables: billing's care time and provisioning's enrollments, evaluated by the
scheduler with an injected clock on each patient's local date (month boundaries across time zones),
voided entries never counting, one active alert per rule and automatic resolution."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from alerts.scheduler import Scheduler
from billing import care_time
from billing.care_time import Activity
from billing.case import Program
from provisioning import enrollment
from provisioning.eligibility import Program as ProvisioningProgram
from tests.billing.conftest import Clinic, clinic  # noqa: F401  (the fixture is shared)

Conn = psycopg.Connection[Any]
CHICAGO = "America/Chicago"  # clinic.patient
NEW_YORK = "America/New_York"  # clinic.other_patient


def local(zone: str, day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def dec(day: int) -> date:
    return date(2026, 12, day)


def enroll(db: Conn, clinic: Clinic, patient: UUID, *programs: ProvisioningProgram) -> None:  # noqa: F811
    """Through provisioning's own path: last visit, two chronic conditions, consent, then the order."""
    enrollment.update_patient(
        db, patient, mbi="1EG4TE5MK73" if patient == clinic.patient else "1EG4TE5MK74", last_visit_on=date(2026, 9, 15)
    )
    for code in ("I10", "E11.9"):
        enrollment.add_condition(db, patient, icd10_code=code, chronic=True, recorded_by=clinic.physician)
    for program in programs:
        enrollment.record_consent(
            db, patient, program=program, modality="verbal", obtained_at=local(CHICAGO, date(2026, 10, 25), 10),
            obtained_by=clinic.nurse, text_version="rpm-ccm-v1", cost_sharing_explained=True,
        )  # fmt: skip
        enrollment.enroll(
            db, patient, program=program, starts_on=date(2026, 11, 1), ordering_user_id=clinic.physician,
            condition_icd10="I10",
        )  # fmt: skip


def log(
    db: Conn, clinic: Clinic, patient: UUID, program: Program, start: datetime, minutes: int,  # noqa: F811
    interactive: bool = False,
) -> UUID:  # fmt: skip
    entry = care_time.add_manual(
        db, patient_id=patient, performer_id=clinic.nurse, program=program,
        activity=Activity.PATIENT_CALL if interactive else Activity.DATA_REVIEW, interactive=interactive,
        started_at=start, minutes=minutes, at=start + timedelta(minutes=minutes),
    )  # fmt: skip
    return entry.id


def void(db: Conn, clinic: Clinic, entry_id: UUID, at: datetime) -> None:  # noqa: F811
    care_time.void_entry(db, entry_id=entry_id, by=clinic.nurse, at=at, reason="entered on the wrong patient")


def alerts(db: Conn) -> list[tuple[str, str, str]]:
    """(patient, rule, status) of every ADH-5/ADH-6 alert."""
    rows = db.execute(
        "SELECT patient_id::text, rule_id, status FROM alerts WHERE rule_id IN ('ADH-5', 'ADH-6') ORDER BY opened_at"
    ).fetchall()
    return [(str(p), str(r), str(s)) for p, r, s in rows]


def scheduler() -> Scheduler:
    return Scheduler(escalate_after=timedelta(hours=2))


def test_adh_6_fires_on_local_day_20_with_19_minutes_and_resolves_at_20(db: Conn, clinic: Clinic) -> None:  # noqa: F811
    patient = str(clinic.patient)
    enroll(db, clinic, clinic.patient, ProvisioningProgram.CCM)
    log(db, clinic, clinic.patient, Program.CCM, local(CHICAGO, dec(3), 9), 19)
    # a voided 30-minute entry never counts
    void(
        db,
        clinic,
        log(db, clinic, clinic.patient, Program.CCM, local(CHICAGO, dec(4), 9), 30),
        local(CHICAGO, dec(4), 12),
    )
    run = scheduler()
    run.tick(db, local(CHICAGO, dec(19), 23, 59))  # day 19, local
    assert alerts(db) == []
    result = run.tick(db, local(CHICAGO, dec(20)))  # day 20 from local midnight (06:00 UTC)
    assert "care_time" in result.ran
    assert alerts(db) == [(patient, "ADH-6", "open")]
    run.tick(db, local(CHICAGO, dec(21), 10))  # day 21: still one alert, not a second
    assert alerts(db) == [(patient, "ADH-6", "open")]
    observed = db.execute("SELECT observed FROM alerts WHERE rule_id = 'ADH-6'").fetchone()
    assert observed is not None
    assert observed[0]["ccm_minutes"] == 19
    log(db, clinic, clinic.patient, Program.CCM, local(CHICAGO, dec(21), 11), 1)  # the 20th minute
    cleared = run.tick(db, local(CHICAGO, dec(21), 12))
    assert cleared.cleared == 1
    assert alerts(db) == [(patient, "ADH-6", "resolved")]


def test_adh_5_fires_on_local_day_25_and_resolves_with_an_interactive_call(db: Conn, clinic: Clinic) -> None:  # noqa: F811
    patient = str(clinic.patient)
    enroll(db, clinic, clinic.patient, ProvisioningProgram.RPM)
    log(db, clinic, clinic.patient, Program.RPM, local(CHICAGO, dec(5), 9), 9)
    # a voided interactive call is no interactive communication
    void(
        db, clinic, log(db, clinic, clinic.patient, Program.RPM, local(CHICAGO, dec(6), 9), 15, interactive=True),
        local(CHICAGO, dec(6), 12),
    )  # fmt: skip
    run = scheduler()
    run.tick(db, local(CHICAGO, dec(25), 8))  # 9 minutes on day 25: nothing
    assert alerts(db) == []
    log(db, clinic, clinic.patient, Program.RPM, local(CHICAGO, dec(7), 9), 1)  # the 10th minute
    run.tick(db, local(CHICAGO, dec(24), 23, 59))  # day 24 (the clock is injected; evaluation is stateless)
    assert alerts(db) == []
    run.tick(db, local(CHICAGO, dec(25)))
    assert alerts(db) == [(patient, "ADH-5", "open")]
    run.tick(db, local(CHICAGO, dec(26), 9))
    assert alerts(db) == [(patient, "ADH-5", "open")]
    log(db, clinic, clinic.patient, Program.RPM, local(CHICAGO, dec(26), 10), 5, interactive=True)
    run.tick(db, local(CHICAGO, dec(26), 11))
    assert alerts(db) == [(patient, "ADH-5", "resolved")]


def test_month_boundary_is_each_patients_local_month(db: Conn, clinic: Clinic) -> None:  # noqa: F811
    """At 2027-01-01 05:30 UTC Chicago is still on December 31, New York already on January 1."""
    chicago, new_york = str(clinic.patient), str(clinic.other_patient)
    for patient in (clinic.patient, clinic.other_patient):
        enroll(db, clinic, patient, ProvisioningProgram.CCM, ProvisioningProgram.RPM)
    # Chicago: 25 CCM minutes at 23:10 local on November 30 (05:10 UTC on December 1) are November's
    log(db, clinic, clinic.patient, Program.CCM, datetime(2026, 12, 1, 5, 10, tzinfo=UTC), 25)
    # New York: 12 non-interactive RPM minutes and 30 CCM minutes in December
    log(db, clinic, clinic.other_patient, Program.RPM, local(NEW_YORK, dec(2), 9), 12)
    log(db, clinic, clinic.other_patient, Program.CCM, local(NEW_YORK, dec(3), 9), 30)
    run = scheduler()
    run.tick(db, local(NEW_YORK, dec(31), 12))
    assert sorted(alerts(db)) == sorted([(chicago, "ADH-6", "open"), (new_york, "ADH-5", "open")])
    run.tick(db, datetime(2027, 1, 1, 5, 30, tzinfo=UTC))
    # New York's month rolled over (day 1: nothing due), Chicago's has not
    assert sorted(alerts(db)) == sorted([(chicago, "ADH-6", "open"), (new_york, "ADH-5", "resolved")])
    run.tick(db, local(CHICAGO, date(2027, 1, 1)))
    assert sorted(alerts(db)) == sorted([(chicago, "ADH-6", "resolved"), (new_york, "ADH-5", "resolved")])


def test_rules_need_an_active_enrollment_in_their_program(db: Conn, clinic: Clinic) -> None:  # noqa: F811
    patient = str(clinic.patient)
    # RPM only: 0 CCM minutes on day 28 raise no ADH-6; RPM minutes without a call raise ADH-5
    enroll(db, clinic, clinic.patient, ProvisioningProgram.RPM)
    log(db, clinic, clinic.patient, Program.RPM, local(CHICAGO, dec(2), 9), 20)
    run = scheduler()
    run.tick(db, local(CHICAGO, dec(28), 9))
    assert alerts(db) == [(patient, "ADH-5", "open")]
    # the enrollment ended: the alert resolves (no longer a care-team task)
    enrollment.end_enrollment(db, clinic.patient, program=ProvisioningProgram.RPM, ends_on=dec(28), reason="declined")
    run.tick(db, local(CHICAGO, dec(29), 9))
    assert alerts(db) == [(patient, "ADH-5", "resolved")]
