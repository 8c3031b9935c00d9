"""A patient's diagnoses (ICD-10-CM, condition keys derived by the database), program consents, and
program enrollment with its eligibility state: thin routes over :mod:`provisioning.enrollment`. Each
request leaves one audit row, written in the transaction that read or changed the data."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from api.enrollment import repository
from api.enrollment.schemas import (
    ConditionIn,
    ConditionOut,
    ConditionResolve,
    ConsentIn,
    ConsentOut,
    EnrollIn,
    EnrollmentEnd,
    EnrollmentOut,
    FindingOut,
    ProgramsOut,
    ProgramState,
)
from api.patients.repository import require_patient
from api.permissions import Permission, requires
from api.scope import Authorized, Conn
from api.service_errors import CONFLICT_RESPONSES, service_errors
from provisioning import enrollment
from provisioning.eligibility import Program

router = APIRouter(prefix="/patients/{patient_id}", tags=["enrollment"])


@router.get("/conditions", openapi_extra=requires(Permission.ENROLLMENT_READ), responses={404: {}})
def list_conditions(patient_id: UUID, scope: Authorized) -> list[ConditionOut]:
    """Active diagnoses first, then resolved ones, each by code."""
    with scope.transaction() as conn:
        require_patient(conn, patient_id)
        rows = repository.conditions(conn, patient_id)
        scope.audit(conn, "conditions.list", patient_id=patient_id)
    return rows


@router.post(
    "/conditions",
    status_code=201,
    openapi_extra=requires(Permission.CONDITIONS_MANAGE),
    responses=CONFLICT_RESPONSES,
)
def add_condition(patient_id: UUID, body: ConditionIn, scope: Authorized) -> ConditionOut:
    """Record a diagnosis; 422 when the code is not ICD-10-CM, 409 when the patient already has it."""
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        enrollment.add_condition(
            conn,
            patient_id,
            icd10_code=body.icd10_code,
            chronic=body.chronic,
            recorded_by=scope.principal.user_id,
            onset_on=body.onset_on,
            description=body.description,
        )
        code = body.icd10_code.strip().upper()
        row = next(c for c in repository.conditions(conn, patient_id) if c.icd10_code == code)
        scope.audit(conn, "conditions.add", patient_id=patient_id)
    return row


@router.post(
    "/conditions/{condition_id}/resolve",
    openapi_extra=requires(Permission.CONDITIONS_MANAGE),
    responses=CONFLICT_RESPONSES,
)
def resolve_condition(patient_id: UUID, condition_id: UUID, body: ConditionResolve, scope: Authorized) -> ConditionOut:
    """The diagnosis stops counting from ``resolved_on``; 409 when it was resolved before."""
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        enrollment.resolve_condition(conn, patient_id, condition_id, resolved_on=body.resolved_on)
        (row,) = repository.conditions(conn, patient_id, condition_id)
        scope.audit(conn, "conditions.resolve", patient_id=patient_id)
    return row


@router.get("/consents", openapi_extra=requires(Permission.ENROLLMENT_READ), responses={404: {}})
def list_consents(patient_id: UUID, scope: Authorized) -> list[ConsentOut]:
    with scope.transaction() as conn:
        require_patient(conn, patient_id)
        rows = repository.consents(conn, patient_id)
        scope.audit(conn, "consents.list", patient_id=patient_id)
    return rows


@router.post(
    "/consents", status_code=201, openapi_extra=requires(Permission.CONSENTS_MANAGE), responses=CONFLICT_RESPONSES
)
def record_consent(patient_id: UUID, body: ConsentIn, scope: Authorized) -> ConsentOut:
    """Consent obtained by the calling user (RPM-CONSENT-1 / CCM-CONSENT-1: who, when, how, which text)."""
    if body.obtained_at > scope.at:
        raise HTTPException(status_code=422, detail="consent cannot be obtained in the future")
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        consent_id = enrollment.record_consent(
            conn,
            patient_id,
            program=body.program,
            modality=body.modality.value,
            obtained_at=body.obtained_at,
            obtained_by=scope.principal.user_id,
            text_version=body.text_version,
            cost_sharing_explained=body.cost_sharing_explained,
        )
        (row,) = repository.consents(conn, patient_id, consent_id)
        scope.audit(conn, "consents.record", patient_id=patient_id)
    return row


@router.post(
    "/consents/{program}/revoke", openapi_extra=requires(Permission.CONSENTS_MANAGE), responses=CONFLICT_RESPONSES
)
def revoke_consent(patient_id: UUID, program: Program, scope: Authorized) -> list[ConsentOut]:
    """Revoke the patient's consent to ``program`` now; 409 when none is in force. Answers every consent."""
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        enrollment.revoke_consent(conn, patient_id, program=program, at=scope.at, strict=True)
        rows = repository.consents(conn, patient_id)
        scope.audit(conn, "consents.revoke", patient_id=patient_id)
    return rows


@router.get("/programs", openapi_extra=requires(Permission.ENROLLMENT_READ), responses={404: {}})
def program_state(
    patient_id: UUID,
    scope: Authorized,
    on: Annotated[date | None, Query(description="The day to evaluate (default: today, UTC).")] = None,
    rpm_condition: Annotated[
        str | None,
        Query(
            max_length=8,
            description="The ICD-10-CM code an RPM order would name (default: the enrollment's, "
            "else the first active diagnosis).",
        ),
    ] = None,
) -> ProgramsOut:
    """Per program: the enrollment in force on ``on`` and every eligibility rule with its finding."""
    day = on or scope.at.date()
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        enrollments = repository.enrollments(conn, patient_id)
        states = [_state(conn, patient_id, program, day, enrollments, rpm_condition) for program in Program]
        scope.audit(conn, "programs.read", patient_id=patient_id)
    return ProgramsOut(on=day, programs=states)


@router.post(
    "/programs/{program}/enrollment",
    status_code=201,
    openapi_extra=requires(Permission.ENROLLMENT_MANAGE),
    responses=CONFLICT_RESPONSES,
)
def enroll(patient_id: UUID, program: Program, body: EnrollIn, scope: Authorized) -> EnrollmentOut:
    """Enroll the patient from ``starts_on``, ordered by the caller, if every eligibility rule passes on that
    day; 409 naming the failing rules otherwise, or when an enrollment already covers the period."""
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        enrollment_id = enrollment.enroll(
            conn,
            patient_id,
            program=program,
            starts_on=body.starts_on,
            ordering_user_id=scope.principal.user_id,
            condition_icd10=body.condition_icd10,
            ordering_npi=body.ordering_npi,
        )
        row = next(e for e in repository.enrollments(conn, patient_id) if e.id == enrollment_id)
        scope.audit(conn, "programs.enroll", patient_id=patient_id)
    return row


@router.post(
    "/programs/{program}/enrollment/end",
    openapi_extra=requires(Permission.ENROLLMENT_MANAGE),
    responses=CONFLICT_RESPONSES,
)
def end_enrollment(patient_id: UUID, program: Program, body: EnrollmentEnd, scope: Authorized) -> list[EnrollmentOut]:
    """End the open enrollment on ``ends_on`` with a reason; 409 when none is open. Answers the program's
    enrollments."""
    with scope.transaction() as conn, service_errors():
        require_patient(conn, patient_id)
        enrollment.end_enrollment(
            conn, patient_id, program=program, ends_on=body.ends_on, reason=body.reason, strict=True
        )
        rows = [e for e in repository.enrollments(conn, patient_id) if e.program is program]
        scope.audit(conn, "programs.end", patient_id=patient_id)
    return rows


def _state(
    conn: Conn, patient_id: UUID, program: Program, day: date, enrollments: list[EnrollmentOut], condition: str | None
) -> ProgramState:
    in_force = [e for e in enrollments if e.starts_on <= day and (e.ends_on is None or day <= e.ends_on)]
    current = next((e for e in in_force if e.program is program), None)
    if program is Program.RPM and condition is None:
        active = [c.icd10_code for c in repository.conditions(conn, patient_id) if c.resolved_on is None]
        condition = current.condition_icd10 if current else (active[0] if active else "none")
    eligibility = enrollment.check_eligibility(conn, patient_id, program, on=day, condition_icd10=condition or "")
    return ProgramState(
        program=program,
        enrolled=current is not None,
        enrollment=current,
        eligible=eligibility.eligible,
        findings=[FindingOut(rule=f.rule, ok=f.ok, detail=f.detail) for f in eligibility.findings],
    )
