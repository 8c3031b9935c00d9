"""Replacement, loss and return flows (``reference/cellular-and-logistics.md`` §3.2).

- **Faulty, advance exchange** (:func:`replace_device`, also used for a sealed-battery swap): the
  replacement is assigned and shipped first; the old unit goes ``faulty → replaced →
  return_requested`` at once, but its patient and hub assignments stay open until the replacement's
  first reading (closed by :mod:`provisioning.activation`), so stored readings it uploads late
  still count for the patient.
- **Lost** (:func:`report_lost`) in transit or at home: the unit is ``lost`` and blocked (ingest
  dead-letters its data as ``device_blocked``) and its assignments end at the loss time. A
  replacement is then an ordinary assignment and shipment.
- **Unenrolled** (:func:`unenroll_device`): the patient stops; assignments end and a return is
  requested.
- **Return receipt** (:func:`receive_return`): ``returned`` then ``quarantine`` in one step; a unit
  leaves quarantine only by refurbishing (then restock) or retirement.
- **Hub swap** (:func:`swap_hub`): every device on the old hub moves to the new one at a time; the old
  hub's broker credentials are revoked."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from provisioning import inventory
from provisioning.custody import CustodyAction, CustodyState
from provisioning.hub_credentials import revoke_hub
from provisioning.registry import (
    Conn,
    DeviceRecord,
    RegistryError,
    assign_device_to_hub,
    device_by_serial,
    end_hub_assignment,
    end_patient_assignment,
    new_id,
)
from provisioning.shipping import assign_device, create_shipment
from provisioning.tracking_numbers import Carrier


class ReplacementError(RegistryError):
    """A replacement, loss or return step was refused."""


def _current_patient_and_hub(conn: Conn, device_id: UUID) -> tuple[UUID, str | None]:
    row = conn.execute(
        "SELECT a.patient_id, (SELECT h.hub_id FROM device_hub_assignments h WHERE h.device_id = a.device_id"
        " AND h.valid_to IS NULL ORDER BY h.valid_from DESC LIMIT 1)"
        " FROM device_patient_assignments a WHERE a.device_id = %s AND a.valid_to IS NULL"
        " ORDER BY a.valid_from DESC LIMIT 1",
        (device_id,),
    ).fetchone()
    if row is None:
        raise ReplacementError("the device is not assigned to a patient")
    return row[0], row[1]


def replace_device(
    conn: Conn,
    *,
    old_serial: str,
    new_serial: str,
    reason: str,
    at: datetime,
    actor_id: UUID,
    carrier: Carrier,
    tracking_number: str,
    ship_date: date,
) -> UUID:
    """Advance exchange of a faulty unit (or a sealed-battery swap): returns the replacement id."""
    with conn.transaction():
        old = device_by_serial(conn, old_serial)
        new = device_by_serial(conn, new_serial)
        if old.kind is not new.kind:
            raise ReplacementError(f"a {old.kind.value} is replaced by a {old.kind.value}, not a {new.kind.value}")
        patient_id, hub_id = _current_patient_and_hub(conn, old.id)
        state = inventory.get_device(conn, old_serial).custody_state
        if state in (CustodyState.DELIVERED, CustodyState.ACTIVATED):
            inventory.transition(conn, old.id, CustodyAction.REPORT_FAULTY, at=at, actor_id=actor_id, reason=reason)
        replacement_id = new_id()
        conn.execute(
            "INSERT INTO device_replacements (id, practice_id, patient_id, old_device_id, new_device_id, reason,"
            " requested_by, requested_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (replacement_id, old.practice_id, patient_id, old.id, new.id, reason, actor_id, at),
        )
        assign_device(conn, serial=new_serial, patient_id=patient_id, at=at, actor_id=actor_id, hub_id=hub_id)
        create_shipment(
            conn,
            patient_id=patient_id,
            serials=[new_serial],
            carrier=carrier,
            tracking_number=tracking_number,
            ship_date=ship_date,
            at=at,
            actor_id=actor_id,
        )
        inventory.transition(
            conn,
            old.id,
            CustodyAction.SHIP_REPLACEMENT,
            at=at,
            actor_id=actor_id,
            reason=reason,
            evidence={"replacement_serial": new_serial, "replacement_id": str(replacement_id)},
        )
        inventory.transition(conn, old.id, CustodyAction.REQUEST_RETURN, at=at, actor_id=actor_id, reason=reason)
    return replacement_id


def _release(conn: Conn, device: DeviceRecord, at: datetime) -> None:
    """End the unit's patient and hub assignments at ``at`` and close a replacement it was the old unit of."""
    end_patient_assignment(conn, device=device, at=at)
    end_hub_assignment(conn, device=device, at=at)
    conn.execute(
        "UPDATE device_replacements SET closed_at = %s WHERE old_device_id = %s AND closed_at IS NULL",
        (at, device.id),
    )


def report_lost(conn: Conn, *, serial: str, reason: str, at: datetime, actor_id: UUID) -> None:
    """Mark a unit lost and block it: from ``at`` nothing it sends is attributed to anyone."""
    with conn.transaction():
        device = device_by_serial(conn, serial)
        inventory.transition(conn, device.id, CustodyAction.REPORT_LOST, at=at, actor_id=actor_id, reason=reason)
        _release(conn, device, at)


def unenroll_device(conn: Conn, *, serial: str, reason: str, at: datetime, actor_id: UUID) -> None:
    """The patient stops using the unit: assignments end at ``at`` and a return is requested."""
    with conn.transaction():
        device = device_by_serial(conn, serial)
        inventory.transition(conn, device.id, CustodyAction.UNENROLL, at=at, actor_id=actor_id, reason=reason)
        _release(conn, device, at)
        inventory.transition(conn, device.id, CustodyAction.REQUEST_RETURN, at=at, actor_id=actor_id, reason=reason)


def receive_return(conn: Conn, *, serial: str, at: datetime, actor_id: UUID, reason: str = "received") -> None:
    """A unit is back at the warehouse: ``returned``, then ``quarantine`` until inspected. Any
    assignment still open (a found lost unit, a replacement that never sent a reading) ends now."""
    with conn.transaction():
        device = device_by_serial(conn, serial)
        inventory.transition(conn, device.id, CustodyAction.RECEIVE_RETURN, at=at, actor_id=actor_id, reason=reason)
        _release(conn, device, at)
        inventory.transition(conn, device.id, CustodyAction.QUARANTINE, at=at, actor_id=actor_id, reason=reason)


def swap_hub(conn: Conn, *, old_hub_id: str, new_hub_id: str, at: datetime, actor_id: UUID) -> int:
    """Move every device on ``old_hub_id`` to ``new_hub_id`` from ``at``; revoke the old hub's
    credentials. Returns the number of devices moved."""
    with conn.transaction():
        serials = [
            r[0]
            for r in conn.execute(
                "SELECT d.serial FROM device_hub_assignments a JOIN devices d ON d.id = a.device_id"
                " WHERE a.hub_id = %s AND a.valid_to IS NULL ORDER BY d.serial",
                (old_hub_id,),
            ).fetchall()
        ]
        for serial in serials:
            device = device_by_serial(conn, serial)
            end_hub_assignment(conn, device=device, at=at)
            assign_device_to_hub(conn, device=device, hub_id=new_hub_id, valid_from=at)
        revoke_hub(conn, old_hub_id, at=at, reason="hub_swapped", actor_id=actor_id)
    return len(serials)
