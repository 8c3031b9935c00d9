"""``/patients``: list (pagination, filters, sorting) and read one patient. Each request that returns
patient data leaves one audit row, written in the transaction that read it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from api.pagination import Limit, Offset, Page
from api.patients import repository
from api.patients.schemas import PatientOut, PatientSort
from api.permissions import Permission, requires
from api.scope import Authorized

router = APIRouter(prefix="/patients", tags=["patients"])


@router.get("", openapi_extra=requires(Permission.PATIENTS_READ))
def list_patients(
    scope: Authorized,
    limit: Limit = 50,
    offset: Offset = 0,
    sort: PatientSort = PatientSort.FAMILY_NAME,
    name: Annotated[str | None, Query(max_length=100, description="Prefix of the given or family name.")] = None,
    mrn: Annotated[str | None, Query(max_length=64)] = None,
    condition: Annotated[
        str | None, Query(pattern=r"^[a-z][a-z0-9_]*$", description="A condition key, e.g. heart_failure.")
    ] = None,
) -> Page[PatientOut]:
    with scope.transaction() as conn:
        rows, total = repository.list_patients(
            conn, repository.PatientFilter(name, mrn, condition), sort, limit, offset
        )
        scope.audit(conn, "patients.list", patient_ids=[r.id for r in rows])
    return Page[PatientOut](items=rows, total=total, limit=limit, offset=offset)


@router.get("/{patient_id}", openapi_extra=requires(Permission.PATIENTS_READ), responses={404: {}})
def get_patient(patient_id: UUID, scope: Authorized) -> PatientOut:
    with scope.transaction() as conn:
        row = repository.get_patient(conn, patient_id)
        if row is None:
            raise HTTPException(status_code=404, detail="no such patient")
        scope.audit(conn, "patients.read", patient_id=patient_id)
    return row
