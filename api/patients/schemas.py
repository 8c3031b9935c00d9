"""Patient bodies of the API."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel


class PatientSort(StrEnum):
    FAMILY_NAME = "family_name"
    FAMILY_NAME_DESC = "-family_name"
    MRN = "mrn"
    MRN_DESC = "-mrn"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


class PatientOut(BaseModel):
    id: UUID
    mrn: str
    given_name: str | None
    family_name: str | None
    birth_date: date | None
    time_zone: str
    condition_keys: list[str]
    created_at: datetime
