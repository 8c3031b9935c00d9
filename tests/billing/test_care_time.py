# ruff: noqa: N802  (test names carry the reference's rule ids, e.g. TIME-1)

"""Care time against real PostgreSQL: timers, manual entries, edits and voids with their audit
trail, and the exclusion constraints that keep one minute in one program for one patient (TIME-1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from billing import care_time
from billing.care_time import Activity, MinuteInTwoPrograms, NotAClinician, OverlappingCareTime
from billing.case import Performer, Program, TimeSpent
from tests.billing.conftest import Clinic

Conn = psycopg.Connection[tuple[Any, ...]]
T0 = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def manual(db: Conn, clinic: Clinic, start: datetime, minutes: int, **kw: Any) -> care_time.CareTimeEntry:
    return care_time.add_manual(
        db,
        patient_id=kw.pop("patient", clinic.patient),
        performer_id=kw.pop("performer", clinic.nurse),
        program=kw.pop("program", Program.RPM),
        activity=kw.pop("activity", Activity.PATIENT_CALL),
        interactive=kw.pop("interactive", True),
        started_at=start,
        minutes=minutes,
        at=start + timedelta(hours=1),
        **kw,
    )


def test_a_timer_runs_from_start_to_stop_and_every_step_is_audited(db: Conn, clinic: Clinic) -> None:
    entry = care_time.start_timer(
        db,
        patient_id=clinic.patient,
        performer_id=clinic.physician,
        program=Program.CCM,
        activity=Activity.CARE_PLAN,
        interactive=False,
        at=T0,
    )
    assert (entry.ended_at, entry.performer_role, entry.source) == (None, "physician", "timer")
    stopped = care_time.stop_timer(
        db, entry_id=entry.id, by=clinic.physician, at=T0 + timedelta(minutes=31, seconds=40)
    )
    assert stopped.version == 2
    assert care_time.time_spent_of(stopped, "America/Chicago") == (
        TimeSpent(date(2026, 11, 3), 31, Program.CCM, Performer.PHYSICIAN, False, str(entry.id)),
    )
    assert [(r.version, r.action) for r in care_time.history(db, entry.id)] == [(1, "create"), (2, "stop")]


def test_overlapping_entries_by_the_same_staff_member_are_refused_even_for_two_patients(
    db: Conn, clinic: Clinic
) -> None:
    manual(db, clinic, T0, 20)
    with pytest.raises(OverlappingCareTime, match="same staff member"):
        manual(db, clinic, T0 + timedelta(minutes=19), 10, patient=clinic.other_patient)
    with pytest.raises(OverlappingCareTime):
        manual(db, clinic, T0 - timedelta(minutes=5), 6, program=Program.CCM)
    # back to back is not an overlap: [15:00, 15:20) then [15:20, 15:30)
    manual(db, clinic, T0 + timedelta(minutes=20), 10, patient=clinic.other_patient)
    assert db.execute("SELECT count(*) FROM care_time_entries").fetchone() == (2,)


def test_a_running_timer_blocks_its_performers_later_time(db: Conn, clinic: Clinic) -> None:
    care_time.start_timer(
        db,
        patient_id=clinic.patient,
        performer_id=clinic.nurse,
        program=Program.RPM,
        activity=Activity.DATA_REVIEW,
        interactive=False,
        at=T0,
    )
    with pytest.raises(OverlappingCareTime, match="running timer"):
        manual(db, clinic, T0 + timedelta(hours=2), 5, patient=clinic.other_patient)


def test_TIME_1_one_patient_minute_never_counts_for_two_programs(db: Conn, clinic: Clinic) -> None:
    manual(db, clinic, T0, 20, program=Program.RPM)
    with pytest.raises(MinuteInTwoPrograms, match="TIME-1"):
        manual(db, clinic, T0 + timedelta(minutes=10), 20, program=Program.CCM, performer=clinic.physician)
    # two clinicians on the same program at the same time is not double counting across programs
    manual(db, clinic, T0 + timedelta(minutes=10), 20, program=Program.RPM, performer=clinic.physician)


def test_edits_keep_every_version_with_who_when_and_why(db: Conn, clinic: Clinic) -> None:
    entry = manual(db, clinic, T0, 15, note="called about readings")
    edited = care_time.edit_entry(
        db,
        entry_id=entry.id,
        by=clinic.physician,
        at=T0 + timedelta(days=1),
        reason="call lasted 25 minutes",
        ended_at=T0 + timedelta(minutes=25),
    )
    assert (edited.version, edited.ended_at) == (2, T0 + timedelta(minutes=25))
    revisions = care_time.history(db, entry.id)
    assert [(r.action, r.changed_by, r.reason) for r in revisions] == [
        ("create", clinic.nurse, None),
        ("edit", clinic.physician, "call lasted 25 minutes"),
    ]
    assert revisions[0].snapshot["ended_at"].startswith("2026-11-03T15:15:00")
    assert revisions[1].snapshot["ended_at"].startswith("2026-11-03T15:25:00")


def test_an_edit_into_an_overlap_is_refused_and_changes_nothing(db: Conn, clinic: Clinic) -> None:
    first = manual(db, clinic, T0, 10)
    manual(db, clinic, T0 + timedelta(minutes=30), 10)
    with pytest.raises(OverlappingCareTime):
        care_time.edit_entry(
            db, entry_id=first.id, by=clinic.nurse, at=T0, reason="longer", ended_at=T0 + timedelta(minutes=35)
        )
    assert care_time.get_entry(db, first.id) == first
    assert len(care_time.history(db, first.id)) == 1


def test_a_voided_entry_stops_counting_and_blocking_but_stays_audited(db: Conn, clinic: Clinic) -> None:
    entry = manual(db, clinic, T0, 20)
    voided = care_time.void_entry(
        db, entry_id=entry.id, by=clinic.nurse, at=T0 + timedelta(hours=2), reason="wrong patient"
    )
    assert care_time.time_spent_of(voided, "America/Chicago") == ()
    manual(db, clinic, T0, 20, patient=clinic.other_patient)
    assert [r.action for r in care_time.history(db, entry.id)] == ["create", "void"]
    with pytest.raises(care_time.CareTimeError, match="voided"):
        care_time.edit_entry(db, entry_id=entry.id, by=clinic.nurse, at=T0, reason="x", interactive=False)


def test_entries_are_never_deleted_and_revisions_never_rewritten(db: Conn, clinic: Clinic) -> None:
    entry = manual(db, clinic, T0, 20)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("DELETE FROM care_time_entries WHERE id = %s", (entry.id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("UPDATE care_time_entry_revisions SET reason = 'tampered'")


def test_only_clinicians_furnish_care_time(db: Conn, clinic: Clinic) -> None:
    with pytest.raises(NotAClinician, match="credential 'none'"):
        manual(db, clinic, T0, 20, performer=clinic.biller)


@pytest.mark.parametrize(("minutes", "end"), [(None, None), (0, None), (721, None)])
def test_a_manual_entry_needs_a_sane_duration(db: Conn, clinic: Clinic, minutes: int | None, end: None) -> None:
    with pytest.raises(care_time.CareTimeError):
        care_time.add_manual(
            db,
            patient_id=clinic.patient,
            performer_id=clinic.nurse,
            program=Program.RPM,
            activity=Activity.OTHER,
            interactive=False,
            started_at=T0,
            minutes=minutes,
            ended_at=end,
            at=T0,
        )


def test_TIME_2_an_entry_across_the_patients_midnight_counts_on_both_dates(db: Conn, clinic: Clinic) -> None:
    start = datetime(2026, 12, 1, 5, 50, tzinfo=UTC)  # 23:50 CST on 30 November
    entry = manual(db, clinic, start, 25)
    assert [(t.on, t.minutes) for t in care_time.time_spent_of(entry, "America/Chicago")] == [
        (date(2026, 11, 30), 10),
        (date(2026, 12, 1), 15),
    ]
