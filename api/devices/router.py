"""``/devices``: the practice's inventory with custody state, one device with its custody history and
assignments, and the logistics actions (assign, unassign, replace, block): thin routes over
:mod:`provisioning.inventory`, :mod:`provisioning.shipping` and :mod:`provisioning.replacement`. The
custody state machine decides what is legal; an illegal move is a 409 problem. A device names the
patient it is with, so each request leaves one audit row."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from api.devices import repository
from api.devices.schemas import (
    AssignIn,
    CustodyEventOut,
    DeviceDetail,
    DeviceOut,
    ReasonIn,
    ReplacementIn,
    ReplacementOut,
)
from api.pagination import Limit, Offset, Page
from api.patients.repository import require_patient
from api.permissions import Permission, requires
from api.scope import Authorized, Conn
from api.service_errors import CONFLICT_RESPONSES, service_errors
from core.domain import DeviceKind
from provisioning import inventory, replacement, shipping
from provisioning.custody import CustodyState
from provisioning.inventory import DeviceOrder

router = APIRouter(prefix="/devices", tags=["devices"])


def _serial(conn: Conn, device_id: UUID) -> str:
    serial = repository.serial_of(conn, device_id)
    if serial is None:
        raise HTTPException(status_code=404, detail="no such device")
    return serial


def _device(conn: Conn, serial: str) -> DeviceOut:
    return DeviceOut.model_validate(inventory.get_device(conn, serial), from_attributes=True)


@router.get("", openapi_extra=requires(Permission.DEVICES_READ))
def list_devices(
    scope: Authorized,
    limit: Limit = 50,
    offset: Offset = 0,
    sort: DeviceOrder = DeviceOrder.SERIAL,
    state: Annotated[CustodyState | None, Query(description="Custody state.")] = None,
    model: Annotated[str | None, Query(max_length=100, description="Model name (case-insensitive).")] = None,
    kind: Annotated[DeviceKind | None, Query()] = None,
    practice_id: Annotated[UUID | None, Query(description="Only this practice (a user sees their own only).")] = None,
) -> Page[DeviceOut]:
    """Devices by serial (or ``sort``)."""
    where = inventory.DeviceFilter(practice_id, state, model, kind.value if kind else None)
    with scope.transaction() as conn:
        rows = inventory.list_devices(conn, limit=limit, offset=offset, where=where, order=sort)
        total = inventory.count_devices(conn, where)
        items = [DeviceOut.model_validate(r, from_attributes=True) for r in rows]
        scope.audit(conn, "devices.list", patient_ids=sorted({r.patient_id for r in rows if r.patient_id}))
    return Page[DeviceOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/{device_id}", openapi_extra=requires(Permission.DEVICES_READ), responses={404: {}})
def get_device(device_id: UUID, scope: Authorized) -> DeviceDetail:
    """The device, every custody event (oldest first) and every patient and hub assignment."""
    with scope.transaction() as conn:
        device = _device(conn, _serial(conn, device_id))
        events = [CustodyEventOut.model_validate(e, from_attributes=True) for e in inventory.history(conn, device_id)]
        patients = repository.patient_assignments(conn, device_id)
        detail = DeviceDetail(
            **device.model_dump(),
            custody_history=events,
            patient_assignments=patients,
            hub_assignments=repository.hub_assignments(conn, device_id),
        )
        scope.audit(conn, "devices.read", patient_ids=sorted({a.patient_id for a in patients}))
    return detail


@router.post("/{device_id}/assign", openapi_extra=requires(Permission.DEVICES_MANAGE), responses=CONFLICT_RESPONSES)
def assign_device(device_id: UUID, body: AssignIn, scope: Authorized) -> DeviceOut:
    """Assign a unit in stock to a patient enrolled in RPM (and to the patient's hub) from now."""
    with scope.transaction() as conn, service_errors():
        serial = _serial(conn, device_id)
        require_patient(conn, body.patient_id)
        shipping.assign_device(
            conn,
            serial=serial,
            patient_id=body.patient_id,
            at=scope.at,
            actor_id=scope.principal.user_id,
            hub_id=body.hub_id,
        )
        device = _device(conn, serial)
        scope.audit(conn, "devices.assign", patient_id=body.patient_id)
    return device


@router.post("/{device_id}/unassign", openapi_extra=requires(Permission.DEVICES_MANAGE), responses=CONFLICT_RESPONSES)
def unassign_device(device_id: UUID, body: ReasonIn, scope: Authorized) -> DeviceOut:
    """The patient stops using the unit: its assignments end now and a return is requested."""
    with scope.transaction() as conn, service_errors():
        serial = _serial(conn, device_id)
        patient_id = _device(conn, serial).patient_id
        replacement.unenroll_device(
            conn, serial=serial, reason=body.reason, at=scope.at, actor_id=scope.principal.user_id
        )
        device = _device(conn, serial)
        scope.audit(conn, "devices.unassign", patient_id=patient_id)
    return device


@router.post(
    "/{device_id}/replacement",
    status_code=201,
    openapi_extra=requires(Permission.DEVICES_MANAGE),
    responses=CONFLICT_RESPONSES,
)
def replace_device(device_id: UUID, body: ReplacementIn, scope: Authorized) -> ReplacementOut:
    """Advance exchange: the replacement is assigned and shipped now; the old unit is marked replaced and
    awaited back, and keeps counting for the patient until the replacement's first reading."""
    with scope.transaction() as conn, service_errors():
        old_serial = _serial(conn, device_id)
        new_serial = _serial(conn, body.new_device_id)
        patient_id = _device(conn, old_serial).patient_id
        replacement_id = replacement.replace_device(
            conn,
            old_serial=old_serial,
            new_serial=new_serial,
            reason=body.reason,
            at=scope.at,
            actor_id=scope.principal.user_id,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            ship_date=body.ship_date,
        )
        out = ReplacementOut(
            replacement_id=replacement_id, old_device=_device(conn, old_serial), new_device=_device(conn, new_serial)
        )
        scope.audit(conn, "devices.replace", patient_id=patient_id)
    return out


@router.post("/{device_id}/block", openapi_extra=requires(Permission.DEVICES_MANAGE), responses=CONFLICT_RESPONSES)
def block_device(device_id: UUID, body: ReasonIn, scope: Authorized) -> DeviceOut:
    """Report the unit lost: it is blocked (ingest dead-letters whatever it sends) and its assignments end
    now. Legal only where the custody machine allows ``report_lost``."""
    with scope.transaction() as conn, service_errors():
        serial = _serial(conn, device_id)
        patient_id = _device(conn, serial).patient_id
        replacement.report_lost(conn, serial=serial, reason=body.reason, at=scope.at, actor_id=scope.principal.user_id)
        device = _device(conn, serial)
        scope.audit(conn, "devices.block", patient_id=patient_id)
    return device
