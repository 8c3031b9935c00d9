"""Registering practices, patients, hubs and devices, and the time-bounded assignments that tie a
device to a patient and to a hub. The database constraints (composite practice keys, exclusion
constraints on overlapping periods) are the source of truth; these functions translate their
violations into typed errors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import errors as pg_errors

from core.domain import DeviceKind
from core.errors import CarehubError
from core.ids import uuid7

Conn = psycopg.Connection[tuple[Any, ...]]


class RegistryError(CarehubError):
    """A registration or assignment was refused."""


class UnknownRecord(RegistryError):
    """No row with that identifier (in that practice)."""


class OverlappingAssignment(RegistryError):
    """The device already has an assignment covering part of the requested period."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: UUID
    practice_id: UUID
    serial: str
    kind: DeviceKind
    ble_address: str | None


def new_id() -> UUID:
    """A UUIDv7 for a new provisioning record (time-ordered keys keep B-tree inserts local)."""
    return uuid7(time.time_ns() // 1_000_000)


def create_practice(conn: Conn, *, name: str, time_zone: str) -> UUID:
    practice_id = new_id()
    conn.execute("INSERT INTO practices (id, name, time_zone) VALUES (%s, %s, %s)", (practice_id, name, time_zone))
    return practice_id


def create_patient(
    conn: Conn,
    *,
    practice_id: UUID,
    mrn: str,
    time_zone: str,
    given_name: str | None = None,
    family_name: str | None = None,
) -> UUID:
    patient_id = new_id()
    conn.execute(
        "INSERT INTO patients (id, practice_id, mrn, time_zone, given_name, family_name)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (patient_id, practice_id, mrn, time_zone, given_name, family_name),
    )
    return patient_id


def create_hub(conn: Conn, *, practice_id: UUID, hub_id: str, serial: str) -> str:
    conn.execute("INSERT INTO hubs (id, practice_id, serial) VALUES (%s, %s, %s)", (hub_id, practice_id, serial))
    return hub_id


def create_device(
    conn: Conn,
    *,
    practice_id: UUID,
    serial: str,
    kind: DeviceKind,
    connectivity: str = "ble",
    ble_address: str | None = None,
    imei: str | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
    model_id: UUID | None = None,
    firmware: str | None = None,
    lot: str | None = None,
) -> DeviceRecord:
    device_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO devices (id, practice_id, serial, kind, connectivity, ble_address, imei, manufacturer,"
                " model, model_id, firmware, lot) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    device_id,
                    practice_id,
                    serial,
                    kind.value,
                    connectivity,
                    ble_address,
                    imei,
                    manufacturer,
                    model,
                    model_id,
                    firmware,
                    lot,
                ),
            )
    except pg_errors.UniqueViolation as exc:
        raise RegistryError(f"a device with serial {serial} or the same IMEI is already registered") from exc
    return DeviceRecord(device_id, practice_id, serial, kind, ble_address)


def device_by_serial(conn: Conn, serial: str) -> DeviceRecord:
    row = conn.execute(
        "SELECT id, practice_id, serial, kind, ble_address FROM devices WHERE serial = %s", (serial,)
    ).fetchone()
    if row is None:
        raise UnknownRecord(f"no device with serial {serial}")
    return DeviceRecord(row[0], row[1], row[2], DeviceKind(row[3]), row[4])


def assign_device_to_patient(
    conn: Conn,
    *,
    device: DeviceRecord,
    patient_id: UUID,
    valid_from: datetime,
    valid_to: datetime | None = None,
) -> UUID:
    assignment_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO device_patient_assignments (id, practice_id, device_id, patient_id, valid_from, valid_to)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (assignment_id, device.practice_id, device.id, patient_id, valid_from, valid_to),
            )
    except pg_errors.ExclusionViolation as exc:
        raise OverlappingAssignment(
            f"device {device.serial} is already assigned to a patient during that period"
        ) from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise RegistryError("device and patient must exist in the same practice") from exc
    return assignment_id


def assign_device_to_hub(
    conn: Conn, *, device: DeviceRecord, hub_id: str, valid_from: datetime, valid_to: datetime | None = None
) -> UUID:
    assignment_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO device_hub_assignments (id, practice_id, device_id, hub_id, valid_from, valid_to)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (assignment_id, device.practice_id, device.id, hub_id, valid_from, valid_to),
            )
    except pg_errors.ExclusionViolation as exc:
        raise OverlappingAssignment(f"device {device.serial} is already on a hub during that period") from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise RegistryError("device and hub must exist in the same practice") from exc
    return assignment_id


def end_hub_assignment(conn: Conn, *, device: DeviceRecord, at: datetime) -> int:
    """Close the device's open hub assignment at ``at`` (the device moves to another hub)."""
    cur = conn.execute(
        "UPDATE device_hub_assignments SET valid_to = %s WHERE device_id = %s AND valid_to IS NULL AND valid_from < %s",
        (at, device.id, at),
    )
    return cur.rowcount


def end_patient_assignment(conn: Conn, *, device: DeviceRecord, at: datetime) -> int:
    """Close the device's open patient assignment at ``at``: readings measured from ``at`` on no longer
    count for that patient (readings measured before still do, however late they arrive)."""
    cur = conn.execute(
        "UPDATE device_patient_assignments SET valid_to = %s"
        " WHERE device_id = %s AND valid_to IS NULL AND valid_from < %s",
        (at, device.id, at),
    )
    return cur.rowcount


def create_user(
    conn: Conn, *, practice_id: UUID, email: str, display_name: str, role: str, credential: str = "none"
) -> UUID:
    """A staff member (the actor of custody events, consents and orders)."""
    user_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO users (id, practice_id, email, display_name, role, credential)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (user_id, practice_id, email, display_name, role, credential),
            )
    except pg_errors.UniqueViolation as exc:
        raise RegistryError("a user with this email already exists") from exc
    except pg_errors.CheckViolation as exc:
        raise RegistryError(f"user refused: {exc.diag.constraint_name}") from exc
    return user_id


def user_by_email(conn: Conn, email: str) -> tuple[UUID, UUID]:
    """(user id, practice id) of an active staff member."""
    row = conn.execute(
        "SELECT id, practice_id FROM users WHERE lower(email) = lower(%s) AND active", (email,)
    ).fetchone()
    if row is None:
        raise UnknownRecord("no active user with that email")
    return row[0], row[1]
