"""Care time: entries started and stopped by a timer or entered manually, edited and voided with an
audit trail (issue 7 item 1; reference/rpm-ccm-rules.md RPM-MGMT-6, TIME-1, TIME-2).

The database is the source of truth for the invariants (migration 0350): exclusion constraints
refuse overlapping entries by one staff member and any patient minute counted for two programs;
triggers version every change into ``care_time_entry_revisions`` and refuse deletes. This module
translates those refusals into typed errors with a message a nurse can act on. The clock is passed
in (``at``); nothing here reads it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import class_row

from billing.case import Performer, Program, TimeSpent
from billing.periods import minutes_by_local_day
from core.errors import CarehubError
from core.ids import uuid7

Conn = psycopg.Connection[Any]

MAX_ENTRY = timedelta(hours=12)


class Activity(StrEnum):
    DATA_REVIEW = "data_review"
    PATIENT_CALL = "patient_call"
    CARE_PLAN = "care_plan"
    CARE_COORDINATION = "care_coordination"
    MEDICATION_MANAGEMENT = "medication_management"
    EDUCATION = "education"
    OTHER = "other"


class CareTimeError(CarehubError):
    """A care time change was refused (the message says why and what to do)."""


class CareTimeConflict(CareTimeError):
    """The entry is not in a state that allows the change (already stopped, voided, or changed meanwhile),
    or the change collides with other entries."""


class OverlappingCareTime(CareTimeConflict):
    """The performer already has an entry (or a running timer) covering part of this time."""


class MinuteInTwoPrograms(CareTimeConflict):
    """Another entry counts part of this time for the patient under the other program (TIME-1)."""


class UnknownEntry(CareTimeError):
    """No such (non-voided, where it matters) care time entry in the practice."""


class NotAClinician(CareTimeError):
    """The performer has no clinical credential (physician, QHP, nurse or MA)."""


@dataclass(frozen=True, slots=True)
class CareTimeEntry:
    id: UUID
    practice_id: UUID
    patient_id: UUID
    performer_id: UUID
    program: str
    performer_role: str
    activity: str
    interactive: bool
    source: str
    started_at: datetime
    ended_at: datetime | None
    note: str | None
    version: int
    voided_at: datetime | None


@dataclass(frozen=True, slots=True)
class Revision:
    entry_id: UUID
    version: int
    action: str
    changed_by: UUID
    changed_at: datetime
    reason: str | None
    snapshot: dict[str, Any]


_ENTRY_COLUMNS = (
    "id, practice_id, patient_id, performer_id, program, performer_role, activity, interactive, source, "
    "started_at, ended_at, note, version, voided_at"
)

# credential (users, migration 0004) -> billing role; 'none' cannot furnish care time
_ROLE_OF_CREDENTIAL = {
    "physician": Performer.PHYSICIAN,
    "qhp": Performer.PHYSICIAN,
    "nurse": Performer.CLINICAL_STAFF,
    "ma": Performer.CLINICAL_STAFF,
}


def _new_id(at: datetime) -> UUID:
    return uuid7(int(at.timestamp() * 1000))


def _performer_role(conn: Conn, practice_id: UUID, performer_id: UUID) -> Performer:
    row = conn.execute(
        "SELECT credential, active FROM users WHERE practice_id = %s AND id = %s", (practice_id, performer_id)
    ).fetchone()
    if row is None:
        raise NotAClinician("the performer is not a user of this practice")
    credential, active = row
    if not active:
        raise NotAClinician("the performer's account is inactive")
    role = _ROLE_OF_CREDENTIAL.get(credential)
    if role is None:
        raise NotAClinician(
            f"a user with credential {credential!r} cannot furnish billable care time; "
            "record the clinician who did the work"
        )
    return role


def _practice_of(conn: Conn, patient_id: UUID) -> UUID:
    row = conn.execute("SELECT practice_id FROM patients WHERE id = %s", (patient_id,)).fetchone()
    if row is None:
        raise CareTimeError("no such patient")
    return UUID(str(row[0]))


def _translate(exc: psycopg.Error) -> CareTimeError:
    diag = getattr(exc, "diag", None)
    constraint = diag.constraint_name if diag is not None else None
    if constraint == "care_time_performer_no_overlap":
        return OverlappingCareTime(
            "this time overlaps another entry (or a running timer) of the same staff member; one person's "
            "minute counts for one patient and one program only: stop the timer or correct the other entry"
        )
    if constraint == "care_time_patient_one_program_per_minute":
        return MinuteInTwoPrograms(
            "the patient already has time in the other program during this interval; a minute counts for one "
            "program only (TIME-1): split the work into entries that do not overlap"
        )
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return CareTimeError("patient and performer must belong to the same practice")
    return CareTimeError(f"care time entry refused: {str(exc).splitlines()[0]}")


def _write(conn: Conn, statement: str, params: tuple[Any, ...]) -> CareTimeEntry | None:
    try:
        with conn.transaction(), conn.cursor(row_factory=class_row(CareTimeEntry)) as cur:
            cur.execute(statement, params)
            return cur.fetchone()
    except (pg_errors.ExclusionViolation, pg_errors.CheckViolation, pg_errors.ForeignKeyViolation) as exc:
        raise _translate(exc) from exc


def start_timer(
    conn: Conn,
    *,
    patient_id: UUID,
    performer_id: UUID,
    program: Program,
    activity: Activity,
    interactive: bool,
    at: datetime,
    note: str | None = None,
) -> CareTimeEntry:
    return _insert(
        conn, patient_id, performer_id, program, activity, interactive, "timer", at, None, note, performer_id, at
    )


def add_manual(
    conn: Conn,
    *,
    patient_id: UUID,
    performer_id: UUID,
    program: Program,
    activity: Activity,
    interactive: bool,
    started_at: datetime,
    minutes: int | None = None,
    ended_at: datetime | None = None,
    note: str | None = None,
    entered_by: UUID | None = None,
    at: datetime,
) -> CareTimeEntry:
    """A manual entry: a start and either the minutes or the end (every entry has a clock interval,
    so overlaps can be refused)."""
    if (minutes is None) == (ended_at is None):
        raise CareTimeError("give either minutes or an end time")
    if minutes is not None:
        if not 1 <= minutes <= MAX_ENTRY.total_seconds() // 60:
            raise CareTimeError("minutes must be between 1 and 720")
        ended_at = started_at + timedelta(minutes=minutes)
    return _insert(
        conn,
        patient_id,
        performer_id,
        program,
        activity,
        interactive,
        "manual",
        started_at,
        ended_at,
        note,
        entered_by or performer_id,
        at,
    )


def _insert(
    conn: Conn,
    patient_id: UUID,
    performer_id: UUID,
    program: Program,
    activity: Activity,
    interactive: bool,
    source: str,
    started_at: datetime,
    ended_at: datetime | None,
    note: str | None,
    by: UUID,
    at: datetime,
) -> CareTimeEntry:
    if ended_at is not None and not started_at < ended_at <= started_at + MAX_ENTRY:
        raise CareTimeError("an entry ends after it starts and lasts at most 12 hours")
    practice_id = _practice_of(conn, patient_id)
    role = _performer_role(conn, practice_id, performer_id)
    entry = _write(
        conn,
        "INSERT INTO care_time_entries (id, practice_id, patient_id, performer_id, program, performer_role, activity,"
        " interactive, source, started_at, ended_at, note, created_by, created_at, updated_by, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING {_ENTRY_COLUMNS}",
        (
            _new_id(started_at),
            practice_id,
            patient_id,
            performer_id,
            program.value,
            role.value,
            activity.value,
            interactive,
            source,
            started_at,
            ended_at,
            note,
            by,
            at,
            by,
            at,
        ),
    )
    assert entry is not None
    return entry


def get_entry(conn: Conn, entry_id: UUID) -> CareTimeEntry:
    with conn.cursor(row_factory=class_row(CareTimeEntry)) as cur:
        cur.execute(f"SELECT {_ENTRY_COLUMNS} FROM care_time_entries WHERE id = %s", (entry_id,))
        entry = cur.fetchone()
    if entry is None:
        raise UnknownEntry("no such care time entry")
    return entry


def stop_timer(conn: Conn, *, entry_id: UUID, by: UUID, at: datetime) -> CareTimeEntry:
    entry = get_entry(conn, entry_id)
    if entry.ended_at is not None or entry.voided_at is not None:
        raise CareTimeConflict("this entry is not a running timer")
    if not entry.started_at < at <= entry.started_at + MAX_ENTRY:
        raise CareTimeError("a timer stops after it started and within 12 hours; correct it with an edit")
    updated = _write(
        conn,
        "UPDATE care_time_entries SET ended_at = %s, updated_by = %s, updated_at = %s, change_reason = %s"
        f" WHERE id = %s AND ended_at IS NULL RETURNING {_ENTRY_COLUMNS}",
        (at, by, at, "timer stopped", entry_id),
    )
    if updated is None:
        raise CareTimeConflict("this timer was stopped concurrently")
    return updated


def edit_entry(
    conn: Conn,
    *,
    entry_id: UUID,
    by: UUID,
    at: datetime,
    reason: str,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
    program: Program | None = None,
    activity: Activity | None = None,
    interactive: bool | None = None,
    note: str | None = None,
) -> CareTimeEntry:
    """Correct an entry. The previous version stays in the audit trail with who, when and why."""
    if not reason.strip():
        raise CareTimeError("an edit needs a reason")
    entry = get_entry(conn, entry_id)
    if entry.voided_at is not None:
        raise CareTimeConflict("a voided entry cannot be edited")
    new_start = started_at or entry.started_at
    new_end = ended_at or entry.ended_at
    if new_end is not None and not new_start < new_end <= new_start + MAX_ENTRY:
        raise CareTimeError("an entry ends after it starts and lasts at most 12 hours")
    updated = _write(
        conn,
        "UPDATE care_time_entries SET started_at = %s, ended_at = %s, program = %s, activity = %s, interactive = %s,"
        " note = %s, updated_by = %s, updated_at = %s, change_reason = %s"
        f" WHERE id = %s AND version = %s RETURNING {_ENTRY_COLUMNS}",
        (
            new_start,
            new_end,
            (program or Program(entry.program)).value,
            (activity or Activity(entry.activity)).value,
            entry.interactive if interactive is None else interactive,
            entry.note if note is None else note,
            by,
            at,
            reason.strip(),
            entry_id,
            entry.version,
        ),
    )
    if updated is None:
        raise CareTimeConflict("the entry changed while you edited it; reload and try again")
    return updated


def void_entry(conn: Conn, *, entry_id: UUID, by: UUID, at: datetime, reason: str) -> CareTimeEntry:
    """Withdraw an entry (it stops counting and blocking); it stays in the audit trail."""
    if not reason.strip():
        raise CareTimeError("voiding an entry needs a reason")
    entry = get_entry(conn, entry_id)
    if entry.voided_at is not None:
        raise CareTimeConflict("this entry is already voided")
    end = entry.ended_at or max(at, entry.started_at + timedelta(seconds=1))
    updated = _write(
        conn,
        "UPDATE care_time_entries SET ended_at = %s, voided_at = %s, updated_by = %s, updated_at = %s,"
        f" change_reason = %s WHERE id = %s AND version = %s RETURNING {_ENTRY_COLUMNS}",
        (end, at, by, at, reason.strip(), entry_id, entry.version),
    )
    if updated is None:
        raise CareTimeConflict("the entry changed while you voided it; reload and try again")
    return updated


def history(conn: Conn, entry_id: UUID) -> list[Revision]:
    with conn.cursor(row_factory=class_row(Revision)) as cur:
        cur.execute(
            "SELECT entry_id, version, action, changed_by, changed_at, reason, snapshot"
            " FROM care_time_entry_revisions WHERE entry_id = %s ORDER BY version",
            (entry_id,),
        )
        return cur.fetchall()


def entries_of_patient(
    conn: Conn, patient_id: UUID, started_from: datetime, started_before: datetime
) -> list[CareTimeEntry]:
    """A patient's entries (voided ones too: staff see what was withdrawn) started in an interval."""
    with conn.cursor(row_factory=class_row(CareTimeEntry)) as cur:
        cur.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM care_time_entries WHERE patient_id = %s AND started_at >= %s"
            " AND started_at < %s ORDER BY started_at",
            (patient_id, started_from, started_before),
        )
        return cur.fetchall()


def time_spent_of(entry: CareTimeEntry, time_zone: str) -> tuple[TimeSpent, ...]:
    """A finished, non-voided entry as the engine's minutes per local date (TIME-2: split at the
    patient's local midnight)."""
    if entry.ended_at is None or entry.voided_at is not None:
        return ()
    return tuple(
        TimeSpent(
            day, minutes, Program(entry.program), Performer(entry.performer_role), entry.interactive, str(entry.id)
        )
        for day, minutes in minutes_by_local_day(entry.started_at, entry.ended_at, time_zone)
    )
