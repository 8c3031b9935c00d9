"""``/billing``: the monthly report of a practice (CMS codes per patient, what was not billed and why,
the program summary) and one patient's explanation, computed by :func:`billing.report.build_report`
exactly as ``carehub billing report`` does (the same thresholds, from ``CAREHUB_BILLING_*``). Each
request leaves one audit row naming the patients it returned."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from api.billing.schemas import BillingReportOut, ExplanationOut, PatientBillingOut
from api.patients.repository import require_patient
from api.permissions import Permission, requires
from api.scope import ApiContext, Authorized, Conn, Scope, context
from api.service_errors import service_errors
from billing import repository
from billing.report import MonthlyReport, build_report, to_json
from billing.rules_2026 import rules_for

router = APIRouter(prefix="/billing", tags=["billing"])

Month = Annotated[str, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM", examples=["2026-03"])]
NOT_ENROLLED = "not enrolled in RPM or CCM during the month: no code is billable"


def _report(
    conn: Conn, scope: Scope, ctx: ApiContext, month: str, patient_ids: frozenset[UUID] | None = None
) -> MonthlyReport:
    first = date.fromisoformat(f"{month}-01")
    with service_errors():
        return build_report(
            conn,
            practice_id=scope.principal.practice_id,
            month=first,
            as_of=scope.at.date(),
            rules=ctx.settings.apply(rules_for(first.year)),
            fees=repository.fee_schedule(conn, first.year, ctx.settings.billing_conversion_factor),
            enrollments=repository.DatabaseEnrollments(conn),
            patient_ids=patient_ids,
        )


@router.get("/report", openapi_extra=requires(Permission.BILLING_READ), responses={422: {}})
def monthly_report(month: Month, scope: Authorized, ctx: Annotated[ApiContext, Depends(context)]) -> BillingReportOut:
    """Per enrolled patient: the codes billed with units, amounts, rules and evidence, and the codes not
    billed with the reason; the practice summary and the patients at risk of missing 16 days."""
    with scope.transaction() as conn:
        report = _report(conn, scope, ctx, month)
        scope.audit(conn, "billing.report", patient_ids=[p.patient_id for p in report.patients])
    return BillingReportOut.model_validate(to_json(report))


@router.get("/patients/{patient_id}/explanation", openapi_extra=requires(Permission.BILLING_READ), responses={404: {}})
def explanation(
    patient_id: UUID, month: Month, scope: Authorized, ctx: Annotated[ApiContext, Depends(context)]
) -> ExplanationOut:
    """Why each code was or was not billable for the patient in the month (the report's line for them)."""
    with scope.transaction() as conn:
        require_patient(conn, patient_id)
        report = _report(conn, scope, ctx, month, frozenset({patient_id}))
        scope.audit(conn, "billing.explain", patient_id=patient_id)
    lines = BillingReportOut.model_validate(to_json(report)).patients
    result: PatientBillingOut | None = lines[0] if lines else None
    return ExplanationOut(
        patient_id=patient_id,
        month=month,
        enrolled=result is not None,
        detail=None if result else NOT_ENROLLED,
        result=result,
    )
