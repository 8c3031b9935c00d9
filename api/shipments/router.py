"""``/shipments``: parcels to and from patients with their carrier events; create one (tracking number
checked with the carrier's check digit) and record what staff saw (delivered, returned to sender) as
the custody state machine allows: thin routes over :mod:`provisioning.shipping`. A shipment carries a
patient's address, so each request leaves one audit row."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from api.devices.repository import serial_of
from api.pagination import Limit, Offset, Page
from api.patients.repository import require_patient
from api.permissions import Permission, requires
from api.scope import Authorized, Conn, Scope
from api.service_errors import CONFLICT_RESPONSES, service_errors
from api.shipments import repository
from api.shipments.schemas import ShipmentEventOut, ShipmentIn, ShipmentOut, ShipmentSort
from provisioning import shipping
from provisioning.enrollment import Address
from provisioning.shipping import CarrierStatus, Direction
from provisioning.tracking_numbers import Carrier

router = APIRouter(prefix="/shipments", tags=["shipments"])


def _shipment(conn: Conn, shipment_id: UUID) -> ShipmentOut:
    row = repository.get_shipment(conn, shipment_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such shipment")
    return row


@router.get("", openapi_extra=requires(Permission.SHIPMENTS_READ))
def list_shipments(
    scope: Authorized,
    limit: Limit = 50,
    offset: Offset = 0,
    sort: ShipmentSort = ShipmentSort.SHIP_DATE_DESC,
    status: Annotated[CarrierStatus | None, Query()] = None,
    direction: Annotated[Direction | None, Query()] = None,
    carrier: Annotated[Carrier | None, Query()] = None,
    patient_id: Annotated[UUID | None, Query()] = None,
) -> Page[ShipmentOut]:
    f = repository.ShipmentFilter(
        status.value if status else None,
        direction.value if direction else None,
        carrier.value if carrier else None,
        patient_id,
    )
    with scope.transaction() as conn:
        rows, total = repository.list_shipments(conn, f, sort, limit, offset)
        scope.audit(conn, "shipments.list", patient_ids=sorted({r.patient_id for r in rows}))
    return Page[ShipmentOut](items=rows, total=total, limit=limit, offset=offset)


@router.post("", status_code=201, openapi_extra=requires(Permission.SHIPMENTS_MANAGE), responses=CONFLICT_RESPONSES)
def create_shipment(body: ShipmentIn, scope: Authorized) -> ShipmentOut:
    """A labelled parcel: outbound units move to ``label_created``; a return parcel's units must be awaiting
    return. 422 for a tracking number that fails its check digit, 409 for a unit that cannot ship."""
    with scope.transaction() as conn, service_errors():
        require_patient(conn, body.patient_id)
        serials = []
        for device_id in body.device_ids:
            serial = serial_of(conn, device_id)
            if serial is None:
                raise HTTPException(status_code=404, detail="no such device")
            serials.append(serial)
        address = body.address
        shipment_id = shipping.create_shipment(
            conn,
            patient_id=body.patient_id,
            serials=serials,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            ship_date=body.ship_date,
            at=scope.at,
            actor_id=scope.principal.user_id,
            direction=body.direction,
            address=Address(address.line1, address.city, address.state, address.postal_code, address.line2)
            if address
            else None,
        )
        row = _shipment(conn, shipment_id)
        scope.audit(conn, "shipments.create", patient_id=body.patient_id)
    return row


@router.get("/{shipment_id}", openapi_extra=requires(Permission.SHIPMENTS_READ), responses={404: {}})
def get_shipment(shipment_id: UUID, scope: Authorized) -> ShipmentOut:
    with scope.transaction() as conn:
        row = _shipment(conn, shipment_id)
        scope.audit(conn, "shipments.read", patient_id=row.patient_id)
    return row


@router.get("/{shipment_id}/events", openapi_extra=requires(Permission.SHIPMENTS_READ), responses={404: {}})
def shipment_events(shipment_id: UUID, scope: Authorized) -> list[ShipmentEventOut]:
    """Carrier and staff events, oldest first."""
    with scope.transaction() as conn:
        row = _shipment(conn, shipment_id)
        events = repository.events(conn, shipment_id)
        scope.audit(conn, "shipments.events", patient_id=row.patient_id)
    return events


def _mark(shipment_id: UUID, status: CarrierStatus, scope: Scope) -> ShipmentOut:
    with scope.transaction() as conn, service_errors():
        patient_id = _shipment(conn, shipment_id).patient_id
        shipping.mark_shipment(conn, shipment_id, status, at=scope.at, actor_id=scope.principal.user_id)
        row = _shipment(conn, shipment_id)
        scope.audit(conn, f"shipments.{status.value}", patient_id=patient_id)
    return row


@router.post(
    "/{shipment_id}/delivered", openapi_extra=requires(Permission.SHIPMENTS_MANAGE), responses=CONFLICT_RESPONSES
)
def mark_delivered(shipment_id: UUID, scope: Authorized) -> ShipmentOut:
    """Staff saw the parcel arrive (handed over in clinic; a return parcel received at the practice).
    409 unless every unit in it can move so."""
    return _mark(shipment_id, CarrierStatus.DELIVERED, scope)


@router.post(
    "/{shipment_id}/returned", openapi_extra=requires(Permission.SHIPMENTS_MANAGE), responses=CONFLICT_RESPONSES
)
def mark_returned(shipment_id: UUID, scope: Authorized) -> ShipmentOut:
    """An outbound parcel came back undelivered (return to sender). 409 unless its units are in transit."""
    return _mark(shipment_id, CarrierStatus.RETURN_TO_SENDER, scope)
