"""Care time bodies: entries (a timer or a manual interval), edits with a reason, revisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from billing.care_time import Activity
from billing.case import Program

Note = Field(default=None, max_length=4000, description="Free text; never logged.")
Reason = Field(min_length=1, max_length=500)


class CareTimeOut(BaseModel):
    id: UUID
    patient_id: UUID
    performer_id: UUID
    program: Program
    performer_role: str
    activity: Activity
    interactive: bool
    source: str
    started_at: datetime
    ended_at: datetime | None
    note: str | None
    version: int
    voided_at: datetime | None


class CareTimeIn(BaseModel):
    """A timer started now (``timer: true``), or a manual entry with its start and either ``minutes`` or
    ``ended_at``."""

    program: Program
    activity: Activity
    interactive: bool = Field(description="Synchronous two-way conversation with the patient or caregiver.")
    timer: bool = False
    started_at: AwareDatetime | None = None
    minutes: int | None = Field(default=None, ge=1, le=720)
    ended_at: AwareDatetime | None = None
    note: str | None = Note
    performer_id: UUID | None = Field(default=None, description="Who did the work (default: the caller).")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.timer and (self.started_at or self.minutes or self.ended_at):
            raise ValueError("a timer starts now: give no started_at, minutes or ended_at")
        if not self.timer and (self.started_at is None or (self.minutes is None) == (self.ended_at is None)):
            raise ValueError("a manual entry needs started_at and either minutes or ended_at")
        return self


class CareTimeEdit(BaseModel):
    reason: str = Reason
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    program: Program | None = None
    activity: Activity | None = None
    interactive: bool | None = None
    note: str | None = Note


class VoidIn(BaseModel):
    reason: str = Reason


class RevisionOut(BaseModel):
    version: int
    action: str
    changed_by: UUID
    changed_at: datetime
    reason: str | None
    snapshot: dict[str, Any]
