"""``carehub billing time ...``, ``fees load`` and the interim enrollment file, through the CLI
entry point against a real database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from billing import repository
from billing.case import Program
from billing.fee_schedule import ConversionFactorKind, seeded_schedule
from carehub.cli import main
from provisioning import enrollment as provisioning_enrollment
from provisioning.eligibility import Program as ProvisioningProgram
from tests.billing.conftest import Clinic

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture(autouse=True)
def _database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["billing", "time", *argv])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines() if line], out.err


def test_time_commands_add_edit_void_and_show_history(clinic: Clinic, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--patient", str(clinic.patient), "--program", "RPM", "--activity", "patient_call"]
    code, (entry,), _ = run(
        capsys, "add", *common, "--performer", str(clinic.nurse), "--interactive", "yes",
        "--start", "2026-11-03T15:00:00Z", "--minutes", "12",
    )  # fmt: skip
    assert code == 0
    assert (entry["performer_role"], entry["ended_at"], entry["interactive"]) == (
        "clinical_staff",
        "2026-11-03T15:12:00+00:00",
        True,
    )
    code, _, err = run(
        capsys, "add", *common, "--performer", str(clinic.nurse), "--interactive", "no",
        "--start", "2026-11-03T15:10:00Z", "--minutes", "5",
    )  # fmt: skip
    assert code == 1
    assert "overlaps another entry" in err
    code, (edited,), _ = run(
        capsys, "edit", "--entry", entry["id"], "--by", str(clinic.physician), "--reason", "longer call",
        "--end", "2026-11-03T15:20:00Z",
    )  # fmt: skip
    assert (code, edited["version"]) == (0, 2)
    code, (voided,), _ = run(capsys, "void", "--entry", entry["id"], "--by", str(clinic.nurse), "--reason", "duplicate")
    assert (code, voided["voided"]) == (0, True)
    code, listed, _ = run(capsys, "list", "--patient", str(clinic.patient), "--month", "2026-11")
    assert (code, [(e["id"], e["voided"]) for e in listed]) == (0, [(entry["id"], True)])
    code, history, _ = run(capsys, "history", "--entry", entry["id"])
    assert [(h["version"], h["action"], h["reason"]) for h in history] == [
        (1, "create", None),
        (2, "edit", "longer call"),
        (3, "void", "duplicate"),
    ]


def test_timer_start_and_stop_use_the_clock_of_the_command(clinic: Clinic, capsys: pytest.CaptureFixture[str]) -> None:
    code, (entry,), _ = run(
        capsys, "start", "--patient", str(clinic.patient), "--performer", str(clinic.nurse), "--program", "CCM",
        "--activity", "care_coordination", "--interactive", "no",
    )  # fmt: skip
    assert (code, entry["ended_at"], entry["source"]) == (0, None, "timer")
    code, (stopped,), _ = run(capsys, "stop", "--entry", entry["id"], "--by", str(clinic.nurse))
    assert code == 0
    assert stopped["ended_at"] is not None


def test_fees_load_replaces_a_years_schedule(db: Conn, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert repository.fee_schedule(db, 2026, ConversionFactorKind.NON_QP) == seeded_schedule(2026)
    path = tmp_path / "rvu.csv"
    path.write_text("code,rvu\n99454,1.41\n99457,1.50\n")
    argv = ["billing", "fees", "load", "--year", "2027", "--file", str(path), "--non-qp-cf", "34.0000"]
    assert main([*argv, "--qp-cf", "34.2000", "--source", "test release"]) == 0
    schedule = repository.fee_schedule(db, 2027, ConversionFactorKind.NON_QP)
    assert schedule.unit_amount("99454") == Decimal("47.94")
    path.write_text("code,rvu\n99454,x\n")
    assert main([*argv, "--qp-cf", "34.2000", "--source", "bad"]) == 2
    assert "not a number" in capsys.readouterr().err


def test_enrollment_facts_come_from_provisioning_and_billing_records(db: Conn, clinic: Clinic) -> None:
    nov = date(2026, 11, 1)
    at = datetime(2026, 10, 20, 15, tzinfo=UTC)
    patient, other = clinic.patient, clinic.other_patient
    for pid, mbi in ((patient, "1EG4TE5MK73"), (other, "1EG4TE5MK74")):
        db.execute("INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic)"
                   " VALUES (%s, %s, %s, 'I10', true), (%s, %s, %s, 'E11.9', true)",
                   (uuid4(), clinic.practice_id, pid, uuid4(), clinic.practice_id, pid))  # fmt: skip
        provisioning_enrollment.update_patient(db, pid, mbi=mbi, last_visit_on=date(2026, 6, 1))
        for program in (ProvisioningProgram.RPM, ProvisioningProgram.CCM):
            provisioning_enrollment.record_consent(
                db, pid, program=program, modality="written", obtained_at=at, obtained_by=clinic.nurse,
                text_version="v1", cost_sharing_explained=True,
            )  # fmt: skip
            provisioning_enrollment.enroll(
                db, pid, program=program, starts_on=date(2026, 10, 20), ordering_user_id=clinic.physician,
                condition_icd10="I10",
            )  # fmt: skip
    # the other patient: consent to CCM revoked in October, last visit more than 12 months back
    provisioning_enrollment.revoke_consent(db, other, program=ProvisioningProgram.CCM, at=at + timedelta(days=5))
    provisioning_enrollment.update_patient(db, other, last_visit_on=date(2025, 11, 1))
    repository.record_care_plan(
        db, patient_id=patient, established_on=date(2026, 10, 20), recorded_by=clinic.physician, at=at
    )
    repository.attest_ccm_complexity(
        db, patient_id=patient, month=nov, mdm="high", care_plan_change="substantially_revised",
        by=clinic.physician, at=at,
    )  # fmt: skip

    facts = repository.DatabaseEnrollments(db).enrollments(clinic.practice_id, nov)
    mine, theirs = facts[patient], facts[other]
    assert (mine.programs, mine.established, mine.care_plan, mine.ccm_complex, mine.rpm_order_on_file) == (
        frozenset({Program.RPM, Program.CCM}), True, True, True, True,
    )  # fmt: skip
    assert [(c.program, c.on) for c in mine.consents] == [
        (Program.RPM, date(2026, 10, 20)),
        (Program.CCM, date(2026, 10, 20)),
    ]
    assert (mine.rpm_episode_start, mine.device_period_start) == (date(2026, 10, 20), None)
    assert (theirs.established, theirs.care_plan, theirs.ccm_complex) == (False, False, False)
    assert [c.program for c in theirs.consents] == [Program.RPM]
    assert repository.DatabaseEnrollments(db).enrollments(clinic.practice_id, date(2026, 9, 1)) == {}


def test_care_plan_complexity_and_submitted_codes_through_the_cli(
    db: Conn, clinic: Clinic, capsys: pytest.CaptureFixture[str]
) -> None:
    pid, doc = str(clinic.patient), str(clinic.physician)
    assert main(["billing", "care-plan", "--patient", pid, "--established-on", "2026-10-20", "--by", doc]) == 0
    assert "care_plan_id" in capsys.readouterr().out
    argv = ["billing", "complex-ccm", "--patient", pid, "--month", "2026-11", "--mdm", "moderate"]
    assert main([*argv, "--care-plan-change", "established", "--by", doc]) == 0
    assert db.execute("SELECT mdm, care_plan_change FROM ccm_complexity_attestations").fetchall() == [
        ("moderate", "established")
    ]
    argv = ["billing", "submitted", "--patient", pid, "--code", "99453", "--date-of-service", "2026-10-30"]
    assert main([*argv, "--by", doc]) == 0
    assert main([*argv, "--by", doc]) == 0  # the same line twice is recorded once
    assert db.execute("SELECT count(*) FROM billing_submitted_codes").fetchone() == (1,)
    # RPM-SETUP-1 from records: billed in the episode that started 20 Oct, not in one starting 1 Nov
    assert repository.setup_billed(db, clinic.practice_id, {clinic.patient: date(2026, 10, 20)}) == {clinic.patient}
    assert repository.setup_billed(db, clinic.practice_id, {clinic.patient: date(2026, 11, 1)}) == set()
