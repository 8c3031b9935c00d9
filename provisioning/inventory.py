"""Inventory: device models, devices with their identifiers, and custody transitions recorded as
events. :func:`transition` is the only writer of ``devices.custody_state``: it locks the device row,
asks the pure machine (:mod:`provisioning.custody`) and writes the new state and its event in the
caller's transaction, so a state never changes without its event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from psycopg import errors as pg_errors

from core.domain import DeviceKind
from provisioning import custody
from provisioning.custody import CustodyAction, CustodyEvent, CustodyState
from provisioning.identifiers import normalise_ble_address, normalise_imei, normalise_serial
from provisioning.registry import Conn, DeviceRecord, RegistryError, UnknownRecord, create_device, new_id


class Connectivity(StrEnum):
    BLE = "ble"
    CELLULAR = "cellular"


class FdaStatus(StrEnum):
    CLEARED_510K = "cleared_510k"
    DE_NOVO = "de_novo"
    PMA_APPROVED = "pma_approved"
    EXEMPT = "exempt"
    ENFORCEMENT_DISCRETION = "enforcement_discretion"
    NOT_A_DEVICE = "not_a_device"


@dataclass(frozen=True, slots=True)
class DeviceModel:
    id: UUID
    vendor: str
    model: str
    kind: DeviceKind
    connectivity: Connectivity
    fda_status: FdaStatus


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A unit to put into stock, already validated (see :func:`device_spec`)."""

    serial: str
    model: DeviceModel
    ble_address: str | None
    imei: str | None
    firmware: str | None
    lot: str | None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device as logistics staff see it."""

    id: UUID
    practice_id: UUID
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
    patient_mrn: str | None


class InventoryError(RegistryError):
    """An inventory operation was refused."""


def device_spec(
    *,
    serial: str,
    model: DeviceModel,
    ble_address: str | None = None,
    imei: str | None = None,
    firmware: str | None = None,
    lot: str | None = None,
) -> DeviceSpec:
    """Validate a unit's identifiers against its model: a BLE unit needs its address (the hub
    whitelists it), a cellular unit its IMEI (check digit verified) and no BLE address."""
    serial = normalise_serial(serial)
    address = normalise_ble_address(ble_address) if ble_address else None
    imei_value = normalise_imei(imei) if imei else None
    if model.connectivity is Connectivity.BLE and address is None:
        raise InventoryError(f"{model.vendor} {model.model} is a BLE device: its BLE address is required")
    if model.connectivity is Connectivity.CELLULAR:
        if imei_value is None:
            raise InventoryError(f"{model.vendor} {model.model} is a cellular device: its IMEI is required")
        if address is not None:
            raise InventoryError("a cellular device has no BLE address")
    return DeviceSpec(serial, model, address, imei_value, (firmware or "").strip() or None, (lot or "").strip() or None)


def register_model(
    conn: Conn,
    *,
    vendor: str,
    model: str,
    kind: DeviceKind,
    connectivity: Connectivity,
    fda_status: FdaStatus,
    fda_reference: str | None = None,
) -> DeviceModel:
    model_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO device_models (id, vendor, model, kind, connectivity, fda_status, fda_reference)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (model_id, vendor, model, kind.value, connectivity.value, fda_status.value, fda_reference),
            )
    except pg_errors.UniqueViolation as exc:
        raise InventoryError(f"model {vendor} {model} is already registered") from exc
    return DeviceModel(model_id, vendor, model, kind, connectivity, fda_status)


def models_by_name(conn: Conn) -> dict[tuple[str, str], DeviceModel]:
    """Every model keyed by (vendor, model), case-folded."""
    rows = conn.execute("SELECT id, vendor, model, kind, connectivity, fda_status FROM device_models").fetchall()
    return {
        (r[1].casefold(), r[2].casefold()): DeviceModel(
            r[0], r[1], r[2], DeviceKind(r[3]), Connectivity(r[4]), FdaStatus(r[5])
        )
        for r in rows
    }


def register_device(conn: Conn, *, practice_id: UUID, spec: DeviceSpec) -> DeviceRecord:
    """Put a validated unit into stock (custody ``in_stock``)."""
    return create_device(
        conn,
        practice_id=practice_id,
        serial=spec.serial,
        kind=spec.model.kind,
        connectivity=spec.model.connectivity.value,
        ble_address=spec.ble_address,
        imei=spec.imei,
        manufacturer=spec.model.vendor,
        model=spec.model.model,
        model_id=spec.model.id,
        firmware=spec.firmware,
        lot=spec.lot,
    )


def transition(
    conn: Conn,
    device_id: UUID,
    action: CustodyAction,
    *,
    at: datetime,
    actor_id: UUID | None,
    actor_kind: str = "user",
    reason: str | None = None,
    evidence: Mapping[str, str] | None = None,
) -> CustodyEvent:
    """Move one device by ``action`` and record the event (in the caller's transaction)."""
    with conn.transaction():
        row = conn.execute(
            "SELECT practice_id, custody_state FROM devices WHERE id = %s FOR UPDATE", (device_id,)
        ).fetchone()
        if row is None:
            raise UnknownRecord(f"no device {device_id}")
        practice_id, state = row[0], CustodyState(row[1])
        event = custody.apply(
            state, action, at=at, actor_id=actor_id, actor_kind=actor_kind, reason=reason, evidence=evidence
        )
        target = event.to_state
        conn.execute(
            """
            UPDATE devices
               SET custody_state = %(state)s,
                   custody_changed_at = %(at)s,
                   blocked_at = CASE WHEN %(blocked)s THEN coalesce(blocked_at, %(at)s)
                                     WHEN %(state)s = 'in_stock' THEN NULL ELSE blocked_at END,
                   delivered_at = CASE WHEN %(action)s IN ('assign', 'restock') THEN NULL
                                       WHEN %(action)s = 'deliver' THEN %(at)s ELSE delivered_at END,
                   activated_at = CASE WHEN %(action)s IN ('assign', 'restock') THEN NULL
                                       WHEN %(action)s = 'activate' THEN %(at)s ELSE activated_at END
             WHERE id = %(id)s
            """,
            {
                "state": target.value,
                "at": at,
                "blocked": target in custody.BLOCKED_STATES,
                "action": action.value,
                "id": device_id,
            },
        )
        try:
            conn.execute(
                "INSERT INTO device_custody_events (practice_id, device_id, action, from_state, to_state, at,"
                " actor_id, actor_kind, reason, evidence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    practice_id,
                    device_id,
                    action.value,
                    state.value,
                    target.value,
                    at,
                    actor_id,
                    actor_kind,
                    event.reason,
                    json.dumps(dict(event.evidence), sort_keys=True),
                ),
            )
        except pg_errors.ForeignKeyViolation as exc:
            raise InventoryError("the acting user must be staff of the device's practice") from exc
        except pg_errors.CheckViolation as exc:
            raise InventoryError(f"custody event refused by the database: {exc.diag.constraint_name}") from exc
    return event


def history(conn: Conn, device_id: UUID) -> list[CustodyEvent]:
    """Every recorded custody event of a device, oldest first."""
    rows = conn.execute(
        "SELECT action, from_state, to_state, at, actor_id, actor_kind, reason, evidence"
        " FROM device_custody_events WHERE device_id = %s ORDER BY id",
        (device_id,),
    ).fetchall()
    return [
        CustodyEvent(CustodyAction(r[0]), CustodyState(r[1]), CustodyState(r[2]), r[3], r[4], r[5], r[6], dict(r[7]))
        for r in rows
    ]


_DEVICE_SELECT = """
SELECT d.id, d.practice_id, d.serial, d.kind, m.vendor, coalesce(m.model, d.model), d.ble_address, d.imei,
       d.firmware, d.lot, d.custody_state, d.custody_changed_at, d.blocked_at, d.delivered_at, d.activated_at,
       pa.patient_id,
       (SELECT h.hub_id FROM device_hub_assignments h
         WHERE h.device_id = d.id AND h.valid_to IS NULL ORDER BY h.valid_from DESC LIMIT 1),
       pa.mrn
  FROM devices d
  LEFT JOIN device_models m ON m.id = d.model_id
  LEFT JOIN LATERAL (
        SELECT a.patient_id, p.mrn FROM device_patient_assignments a JOIN patients p ON p.id = a.patient_id
         WHERE a.device_id = d.id AND a.valid_to IS NULL ORDER BY a.valid_from DESC LIMIT 1) pa ON true
"""


def _device_row(r: tuple[Any, ...]) -> DeviceRow:
    values = list(r)
    values[10] = CustodyState(values[10])
    return DeviceRow(*values)


def get_device(conn: Conn, serial: str) -> DeviceRow:
    row = conn.execute(_DEVICE_SELECT + " WHERE d.serial = %s", (serial,)).fetchone()
    if row is None:
        raise UnknownRecord(f"no device with serial {serial}")
    return _device_row(row)


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    practice_id: UUID | None = None
    state: CustodyState | None = None
    model: str | None = None  # the model name, case-insensitive
    kind: str | None = None


_DEVICE_WHERE = (
    " WHERE (%(practice)s::uuid IS NULL OR d.practice_id = %(practice)s)"
    " AND (%(state)s::text IS NULL OR d.custody_state = %(state)s)"
    " AND (%(model)s::text IS NULL OR lower(coalesce(m.model, d.model)) = lower(%(model)s))"
    " AND (%(kind)s::text IS NULL OR d.kind = %(kind)s)"
)


def _filter_params(f: DeviceFilter) -> dict[str, Any]:
    return {
        "practice": f.practice_id,
        "state": f.state.value if f.state else None,
        "model": f.model,
        "kind": f.kind,
    }


class DeviceOrder(StrEnum):
    """Orders of :func:`list_devices` (a leading ``-`` is descending); the serial breaks ties."""

    SERIAL = "serial"
    SERIAL_DESC = "-serial"
    CUSTODY_CHANGED_AT = "custody_changed_at"
    CUSTODY_CHANGED_AT_DESC = "-custody_changed_at"


_ORDER_SQL: Mapping[DeviceOrder, str] = {
    DeviceOrder.SERIAL: "d.serial",
    DeviceOrder.SERIAL_DESC: "d.serial DESC",
    DeviceOrder.CUSTODY_CHANGED_AT: "d.custody_changed_at NULLS FIRST, d.serial",
    DeviceOrder.CUSTODY_CHANGED_AT_DESC: "d.custody_changed_at DESC NULLS LAST, d.serial",
}


def list_devices(
    conn: Conn,
    *,
    practice_id: UUID | None = None,
    state: CustodyState | None = None,
    limit: int = 500,
    offset: int = 0,
    where: DeviceFilter | None = None,
    order: DeviceOrder = DeviceOrder.SERIAL,
) -> list[DeviceRow]:
    """Devices in ``order``; ``where`` (when given) replaces the ``practice_id``/``state`` shorthands."""
    f = where or DeviceFilter(practice_id=practice_id, state=state)
    rows = conn.execute(
        _DEVICE_SELECT + _DEVICE_WHERE + f" ORDER BY {_ORDER_SQL[order]} LIMIT %(limit)s OFFSET %(offset)s",
        {**_filter_params(f), "limit": limit, "offset": offset},
    ).fetchall()
    return [_device_row(r) for r in rows]


def count_devices(conn: Conn, where: DeviceFilter) -> int:
    row = conn.execute(
        "SELECT count(*) FROM devices d LEFT JOIN device_models m ON m.id = d.model_id" + _DEVICE_WHERE,
        _filter_params(where),
    ).fetchone()
    return int(row[0]) if row else 0


def last_heartbeats(conn: Conn, device_ids: list[UUID]) -> dict[UUID, datetime]:
    """Each device's latest vendor heartbeat (``device_telemetry``), for those that ever sent one."""
    rows = conn.execute(
        "SELECT device_id, last_heartbeat_at FROM device_telemetry"
        " WHERE device_id = ANY(%s) AND last_heartbeat_at IS NOT NULL",
        (device_ids,),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


def last_readings(conn: Conn, device_ids: list[UUID]) -> dict[UUID, datetime]:
    """When each device last measured something that was stored (engagement's input)."""
    rows = conn.execute(
        "SELECT device_id, max(measured_at) FROM readings WHERE device_id = ANY(%s) GROUP BY device_id",
        (device_ids,),
    ).fetchall()
    return {r[0]: r[1] for r in rows}
