"""Device bodies: inventory rows, custody history, assignments, and the logistics actions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from provisioning.custody import CustodyAction, CustodyState
from provisioning.tracking_numbers import Carrier

ReasonCode = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", examples=["device_faulty"])


class DeviceOut(BaseModel):
    id: UUID
    serial: str
    kind: str
    vendor: str | None
    model: str | None
    ble_address: str | None
    imei: str | None
    firmware: str | None
    lot: str | None
    custody_state: CustodyState
    custody_changed_at: datetime | None
    blocked_at: datetime | None
    delivered_at: datetime | None
    activated_at: datetime | None
    patient_id: UUID | None
    hub_id: str | None


class CustodyEventOut(BaseModel):
    action: CustodyAction
    from_state: CustodyState
    to_state: CustodyState
    at: datetime
    actor_id: UUID | None
    actor_kind: str
    reason: str
    evidence: dict[str, Any]


class PatientAssignmentOut(BaseModel):
    id: UUID
    patient_id: UUID
    valid_from: datetime
    valid_to: datetime | None


class HubAssignmentOut(BaseModel):
    id: UUID
    hub_id: str
    valid_from: datetime
    valid_to: datetime | None


class DeviceDetail(DeviceOut):
    custody_history: list[CustodyEventOut]
    patient_assignments: list[PatientAssignmentOut]
    hub_assignments: list[HubAssignmentOut]


class AssignIn(BaseModel):
    patient_id: UUID
    hub_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{4,64}$")


class ReasonIn(BaseModel):
    reason: str = ReasonCode


class ReplacementIn(BaseModel):
    new_device_id: UUID
    reason: str = ReasonCode
    carrier: Carrier
    tracking_number: str = Field(min_length=8, max_length=40)
    ship_date: date


class ReplacementOut(BaseModel):
    replacement_id: UUID
    old_device: DeviceOut
    new_device: DeviceOut
