"""Staff user bodies (never the password hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

Role = Literal["admin", "clinician", "care_staff", "logistics", "billing"]
Credential = Literal["none", "physician", "qhp", "nurse", "ma"]


class UserOut(BaseModel):
    id: UUID
    email: str
    display_name: str
    role: Role
    credential: Credential
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class UserCreate(BaseModel):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    credential: Credential = "none"
    password: str = Field(min_length=12, max_length=1024)


class UserChange(BaseModel):
    """Fields an admin may change; absent fields stay as they are."""

    role: Role | None = None
    credential: Credential | None = None
    active: bool | None = None
