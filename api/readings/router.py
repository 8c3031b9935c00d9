"""``/patients/{patient_id}/readings``: a time range, daily summaries, and the latest value per metric.
One audit row per request, in the transaction that read the data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from api.patients.repository import patient_visible
from api.permissions import Permission, requires
from api.readings import repository
from api.readings.schemas import DailySummaryOut, ReadingOut
from api.scope import Authorized, Conn

router = APIRouter(prefix="/patients/{patient_id}/readings", tags=["readings"])

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=366)
MAX_READINGS = 10_000

Metric = Annotated[int | None, Query(ge=0, le=0xFFFFFFFF, description="MDC code to restrict to.")]


def _require_patient_unless(rows: Sequence[object], conn: Conn, patient_id: UUID) -> None:
    """404 unless the patient is visible. Rows of the patient prove it (row-level security hides
    other practices' readings), so the extra query runs only for an empty answer: one round trip
    less per request on the hot path."""
    if not rows and not patient_visible(conn, patient_id):
        raise HTTPException(status_code=404, detail="no such patient")


def _range(start: datetime | None, end: datetime | None, now: datetime, span: timedelta) -> tuple[datetime, datetime]:
    end = end or now
    start = start or end - span
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(status_code=422, detail="times need a UTC offset (RFC 3339)")
    if not start < end or end - start > MAX_RANGE:
        raise HTTPException(status_code=422, detail="the range must be non-empty and at most 366 days")
    return start, end


@router.get("", openapi_extra=requires(Permission.READINGS_READ), responses={404: {}})
def list_readings(
    patient_id: UUID,
    scope: Authorized,
    start: Annotated[
        datetime | None, Query(alias="from", description="Inclusive; default 30 days before `to`.")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Exclusive; default now.")] = None,
    metric: Metric = None,
    limit: Annotated[int, Query(ge=1, le=MAX_READINGS)] = 1000,
) -> list[ReadingOut]:
    lo, hi = _range(start, end, scope.at, DEFAULT_RANGE)
    with scope.transaction() as conn:
        rows = repository.readings_between(conn, patient_id, lo, hi, metric, limit)
        _require_patient_unless(rows, conn, patient_id)
        scope.audit(conn, "readings.read", patient_id=patient_id)
    return rows


@router.get("/daily", openapi_extra=requires(Permission.READINGS_READ), responses={404: {}})
def daily_summaries(
    patient_id: UUID,
    scope: Authorized,
    first: Annotated[date | None, Query(alias="from", description="First UTC day; default 30 days ago.")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last UTC day, inclusive; default today.")] = None,
    metric: Metric = None,
) -> list[DailySummaryOut]:
    last = last or scope.at.date()
    first = first or last - DEFAULT_RANGE
    if first > last or last - first > MAX_RANGE:
        raise HTTPException(status_code=422, detail="the range must be non-empty and at most 366 days")
    with scope.transaction() as conn:
        rows = repository.daily_between(conn, patient_id, first, last, metric)
        _require_patient_unless(rows, conn, patient_id)
        scope.audit(conn, "readings.daily", patient_id=patient_id)
    return rows


@router.get("/latest", openapi_extra=requires(Permission.READINGS_READ), responses={404: {}})
def latest_readings(patient_id: UUID, scope: Authorized) -> list[ReadingOut]:
    with scope.transaction() as conn:
        rows = repository.latest_per_metric(conn, patient_id)
        _require_patient_unless(rows, conn, patient_id)
        scope.audit(conn, "readings.latest", patient_id=patient_id)
    return rows
