"""Billing report bodies: the JSON of ``carehub billing report`` (:func:`billing.report.to_json`),
typed for the OpenAPI document."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class CodeLineOut(BaseModel):
    code: str = Field(examples=["99454"])
    units: int
    unit_amount: float | None
    amount: float | None
    date_of_service: date
    rules: list[str]
    evidence: dict[str, Any]


class NotBilledOut(BaseModel):
    code: str
    reason: str
    rules: list[str]


class WarningOut(BaseModel):
    rule: str
    message: str


class PatientBillingOut(BaseModel):
    patient_id: UUID
    mrn: str
    case_sha256: str = Field(description="SHA-256 of the exact facts the engine was given.")
    month: str
    codes: list[CodeLineOut]
    not_billed: list[NotBilledOut]
    warnings: list[WarningOut]
    total_amount: float


class PeriodStatusOut(BaseModel):
    patient_id: UUID
    mrn: str
    period_start: date
    period_end: date
    days_so_far: int
    days_remaining: int
    days_needed_for_99454: int


class SummaryOut(BaseModel):
    enrolled: dict[str, int]
    active: dict[str, int]
    codes: dict[str, int]
    expected_allowed_amount: float
    patients_at_risk_of_missing_16_days: list[PeriodStatusOut]
    patients_who_cannot_reach_16_days: list[PeriodStatusOut]


class BillingReportOut(BaseModel):
    practice_id: UUID
    month: str
    as_of: date
    summary: SummaryOut
    patients: list[PatientBillingOut]


class ExplanationOut(BaseModel):
    """Why each code was or was not billable for one patient in a month."""

    patient_id: UUID
    month: str
    enrolled: bool = Field(description="Enrolled in RPM or CCM at some point in the month.")
    detail: str | None = Field(description="Why nothing was evaluated, when the patient was not enrolled.")
    result: PatientBillingOut | None
