"""Device reads the inventory service does not answer by id: serial of an id, and assignment history
(row-level security scopes the practice)."""

from __future__ import annotations

from uuid import UUID

from psycopg.rows import class_row

from api.devices.schemas import HubAssignmentOut, PatientAssignmentOut
from api.scope import Conn


def serial_of(conn: Conn, device_id: UUID) -> str | None:
    row = conn.execute("SELECT serial FROM devices WHERE id = %s", (device_id,)).fetchone()
    return str(row[0]) if row else None


def patient_assignments(conn: Conn, device_id: UUID) -> list[PatientAssignmentOut]:
    with conn.cursor(row_factory=class_row(PatientAssignmentOut)) as cur:
        return cur.execute(
            "SELECT id, patient_id, valid_from, valid_to FROM device_patient_assignments WHERE device_id = %s"
            " ORDER BY valid_from, id",
            (device_id,),
        ).fetchall()


def hub_assignments(conn: Conn, device_id: UUID) -> list[HubAssignmentOut]:
    with conn.cursor(row_factory=class_row(HubAssignmentOut)) as cur:
        return cur.execute(
            "SELECT id, hub_id, valid_from, valid_to FROM device_hub_assignments WHERE device_id = %s"
            " ORDER BY valid_from, id",
            (device_id,),
        ).fetchall()
