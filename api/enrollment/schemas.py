"""Bodies of a patient's diagnoses, consents and program enrollment."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from provisioning.eligibility import Program


class ConditionOut(BaseModel):
    id: UUID
    icd10_code: str
    condition_keys: list[str]
    description: str | None
    chronic: bool
    onset_on: date | None
    resolved_on: date | None
    recorded_by: UUID | None
    recorded_at: datetime


class ConditionIn(BaseModel):
    # The format is checked by the database as the service writes it (migration 0004); a code that
    # fails it is a 422 problem with the service's message.
    icd10_code: str = Field(min_length=3, max_length=8, examples=["I50.22"])
    chronic: bool = Field(description="The clinician attests it is expected to last at least 12 months.")
    onset_on: date | None = None
    description: str | None = Field(default=None, max_length=300)


class ConditionResolve(BaseModel):
    resolved_on: date


class ConsentModality(StrEnum):
    VERBAL = "verbal"
    WRITTEN = "written"


class ConsentOut(BaseModel):
    id: UUID
    program: Program
    modality: ConsentModality
    obtained_at: datetime
    obtained_by: UUID
    text_version: str
    cost_sharing_explained: bool
    revoked_at: datetime | None


class ConsentIn(BaseModel):
    program: Program
    modality: ConsentModality
    obtained_at: AwareDatetime
    text_version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")
    cost_sharing_explained: bool


class EnrollmentOut(BaseModel):
    id: UUID
    program: Program
    starts_on: date
    ends_on: date | None
    ordering_user_id: UUID
    condition_icd10: str
    end_reason: str | None


class EnrollIn(BaseModel):
    """An order for a program: the calling practitioner orders it for ``condition_icd10`` (RPM-ELIG-3)."""

    starts_on: date
    condition_icd10: str = Field(min_length=3, max_length=8, examples=["I10"])
    ordering_npi: str | None = Field(default=None, pattern=r"^[0-9]{10}$")


class EnrollmentEnd(BaseModel):
    ends_on: date
    reason: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["patient_declined"])


class FindingOut(BaseModel):
    rule: str
    ok: bool
    detail: str


class ProgramState(BaseModel):
    program: Program
    enrolled: bool
    enrollment: EnrollmentOut | None
    eligible: bool
    findings: list[FindingOut]


class ProgramsOut(BaseModel):
    on: date
    programs: list[ProgramState]
