"""Audit log bodies."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel


class AuditEntryOut(BaseModel):
    id: int
    user_id: UUID
    at: datetime
    action: str
    patient_id: UUID | None
    patient_ids: list[UUID]
    method: str
    route: str
    client_address: str | None
