"""Care time: log entries for a patient (a running timer or a manual interval), list them per month,
stop, edit and void them; every change is a new version in the entry's revision history (written by
the database in the same transaction). Thin routes over :mod:`billing.care_time`; overlaps and a
minute in two programs are 409 problems with the service's advice. One audit row per request."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.care_time.schemas import CareTimeEdit, CareTimeIn, CareTimeOut, RevisionOut, VoidIn
from api.patients.repository import require_patient
from api.permissions import Permission, requires
from api.scope import Authorized, Conn
from api.service_errors import CONFLICT_RESPONSES, service_errors
from billing import care_time
from billing.care_time import CareTimeEntry
from billing.periods import month_bounds

router = APIRouter(tags=["care time"])

Month = Annotated[
    str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM (default: this month).")
]


def _out(entry: CareTimeEntry) -> CareTimeOut:
    return CareTimeOut.model_validate(entry, from_attributes=True)


def _entry(conn: Conn, entry_id: UUID) -> CareTimeEntry:
    with service_errors():
        return care_time.get_entry(conn, entry_id)


def _local_month(conn: Conn, patient_id: UUID, month: str | None, now: datetime) -> tuple[datetime, datetime]:
    row = conn.execute("SELECT time_zone FROM patients WHERE id = %s", (patient_id,)).fetchone()
    zone = ZoneInfo(row[0] if row else "UTC")
    first_day = date.fromisoformat(f"{month}-01") if month else now.astimezone(zone).date().replace(day=1)
    first, last = month_bounds(first_day)
    start = datetime.combine(first, time.min, zone)
    end = datetime.combine(date.fromordinal(last.toordinal() + 1), time.min, zone)
    return start, end


@router.get("/patients/{patient_id}/care-time", openapi_extra=requires(Permission.CARE_TIME_READ), responses={404: {}})
def list_care_time(patient_id: UUID, scope: Authorized, month: Month = None) -> list[CareTimeOut]:
    """Entries started in the month (the patient's local calendar), voided ones included, oldest first."""
    with scope.transaction() as conn:
        require_patient(conn, patient_id)
        start, end = _local_month(conn, patient_id, month, scope.at)
        entries = care_time.entries_of_patient(conn, patient_id, start, end)
        scope.audit(conn, "care_time.list", patient_id=patient_id)
    return [_out(e) for e in entries]


@router.post(
    "/patients/{patient_id}/care-time",
    status_code=201,
    openapi_extra=requires(Permission.CARE_TIME_WRITE),
    responses=CONFLICT_RESPONSES,
)
def log_care_time(patient_id: UUID, body: CareTimeIn, scope: Authorized) -> CareTimeOut:
    """Start a timer now, or log a manual interval. The performer (default: the caller) needs a clinical
    credential (422 otherwise); their time cannot overlap another entry of theirs (409)."""
    performer = body.performer_id or scope.principal.user_id
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        if body.timer:
            entry = care_time.start_timer(
                conn,
                patient_id=patient_id,
                performer_id=performer,
                program=body.program,
                activity=body.activity,
                interactive=body.interactive,
                at=scope.at,
                note=body.note,
            )
        else:
            assert body.started_at is not None  # the schema's validator guarantees it
            entry = care_time.add_manual(
                conn,
                patient_id=patient_id,
                performer_id=performer,
                program=body.program,
                activity=body.activity,
                interactive=body.interactive,
                started_at=body.started_at,
                minutes=body.minutes,
                ended_at=body.ended_at,
                note=body.note,
                entered_by=scope.principal.user_id,
                at=scope.at,
            )
        scope.audit(conn, "care_time.log", patient_id=patient_id)
    return _out(entry)


@router.post(
    "/care-time/{entry_id}/stop", openapi_extra=requires(Permission.CARE_TIME_WRITE), responses=CONFLICT_RESPONSES
)
def stop_timer(entry_id: UUID, scope: Authorized) -> CareTimeOut:
    """Stop a running timer now; 409 when the entry is not a running timer."""
    with scope.transaction() as conn, service_errors():
        patient_id = _entry(conn, entry_id).patient_id
        entry = care_time.stop_timer(conn, entry_id=entry_id, by=scope.principal.user_id, at=scope.at)
        scope.audit(conn, "care_time.stop", patient_id=patient_id)
    return _out(entry)


@router.patch("/care-time/{entry_id}", openapi_extra=requires(Permission.CARE_TIME_WRITE), responses=CONFLICT_RESPONSES)
def edit_care_time(entry_id: UUID, body: CareTimeEdit, scope: Authorized) -> CareTimeOut:
    """Correct an entry with a reason; the previous version stays in its revisions."""
    with scope.transaction() as conn, service_errors():
        patient_id = _entry(conn, entry_id).patient_id
        entry = care_time.edit_entry(
            conn,
            entry_id=entry_id,
            by=scope.principal.user_id,
            at=scope.at,
            reason=body.reason,
            started_at=body.started_at,
            ended_at=body.ended_at,
            program=body.program,
            activity=body.activity,
            interactive=body.interactive,
            note=body.note,
        )
        scope.audit(conn, "care_time.edit", patient_id=patient_id)
    return _out(entry)


@router.post(
    "/care-time/{entry_id}/void", openapi_extra=requires(Permission.CARE_TIME_WRITE), responses=CONFLICT_RESPONSES
)
def void_care_time(entry_id: UUID, body: VoidIn, scope: Authorized) -> CareTimeOut:
    """Withdraw an entry (it stops counting); 409 when it is voided already."""
    with scope.transaction() as conn, service_errors():
        patient_id = _entry(conn, entry_id).patient_id
        entry = care_time.void_entry(
            conn, entry_id=entry_id, by=scope.principal.user_id, at=scope.at, reason=body.reason
        )
        scope.audit(conn, "care_time.void", patient_id=patient_id)
    return _out(entry)


@router.get("/care-time/{entry_id}/revisions", openapi_extra=requires(Permission.CARE_TIME_READ), responses={404: {}})
def care_time_revisions(entry_id: UUID, scope: Authorized) -> list[RevisionOut]:
    """Every version of the entry: who changed it, when, why, and the entry as it was."""
    with scope.transaction() as conn:
        patient_id = _entry(conn, entry_id).patient_id
        revisions = care_time.history(conn, entry_id)
        scope.audit(conn, "care_time.revisions", patient_id=patient_id)
    return [RevisionOut.model_validate(r, from_attributes=True) for r in revisions]
