"""Shipment bodies: parcels with their devices and carrier events."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from provisioning.shipping import CarrierStatus, Direction
from provisioning.tracking_numbers import Carrier


class ShipmentSort(StrEnum):
    SHIP_DATE = "ship_date"
    SHIP_DATE_DESC = "-ship_date"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"


class ShipmentOut(BaseModel):
    id: UUID
    patient_id: UUID
    direction: Direction
    carrier: Carrier
    tracking_number: str
    ship_date: date
    status: CarrierStatus
    delivered_at: datetime | None
    address_line1: str
    address_line2: str | None
    city: str
    state: str
    postal_code: str
    device_ids: list[UUID]
    created_by: UUID
    created_at: datetime


class ShipmentEventOut(BaseModel):
    id: int
    source: str
    carrier_event_id: str
    status: str
    status_detail: str | None
    message: str | None
    occurred_at: datetime
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    received_at: datetime


class AddressIn(BaseModel):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str = Field(pattern=r"^[A-Z]{2}$")
    postal_code: str = Field(pattern=r"^[0-9]{5}(-[0-9]{4})?$")


class ShipmentIn(BaseModel):
    patient_id: UUID
    device_ids: list[UUID] = Field(min_length=1, max_length=20)
    carrier: Carrier
    # Checked with the carrier's check digit by provisioning (a wrong one is a 422 problem).
    tracking_number: str = Field(min_length=8, max_length=40)
    ship_date: date
    direction: Direction = Direction.OUTBOUND
    address: AddressIn | None = Field(default=None, description="Default: the patient's address on file.")
