"""Queries behind the FHIR export. They run under ``carehub_api`` in a practice-scoped transaction, so
row-level security confines them to the user's practice: another practice's id finds nothing."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from api.fhir import vocabulary as v
from api.fhir.resources import DeviceRow, GatewayRow, ObservationKey, ObservationRow, PatientRow, observation_key
from api.fhir.search import ObservationFilter
from api.scope import Conn

_BP_CODES = ", ".join(str(code) for code in sorted(v.BP_COMPONENT_CODES))
# The Observation group a row belongs to (ObservationKey.group): the BP panel for its components.
_GROUP = f"CASE WHEN metric IN ({_BP_CODES}) THEN {v.MDC_PRESS_BLD_NONINV} ELSE metric END"
_OBSERVATION_COLUMNS = "reading_id, patient_id, device_id, hub_id, metric, value, special, unit, measured_at, flags"


def get_patient(conn: Conn, patient_id: UUID) -> PatientRow | None:
    with conn.cursor(row_factory=class_row(PatientRow)) as cur:
        return cur.execute(
            "SELECT id, practice_id, mrn, given_name, family_name, birth_date, mbi, address_line1, address_line2,"
            " city, state, postal_code FROM patients WHERE id = %s",
            (patient_id,),
        ).fetchone()


def get_devices(conn: Conn, device_ids: Collection[UUID], at: datetime) -> list[DeviceRow]:
    """The devices, each with the patient it is assigned to at ``at``."""
    with conn.cursor(row_factory=class_row(DeviceRow)) as cur:
        return cur.execute(
            "SELECT d.id, d.serial, d.kind, d.ble_address, d.imei, d.manufacturer, d.model, d.firmware,"
            " d.blocked_at, (SELECT a.patient_id FROM device_patient_assignments a"
            "   WHERE a.device_id = d.id AND a.valid_from <= %(at)s AND (a.valid_to IS NULL OR a.valid_to > %(at)s)"
            "   ORDER BY a.valid_from DESC LIMIT 1) AS patient_id"
            " FROM devices d WHERE d.id = ANY(%(ids)s) ORDER BY d.id",
            {"ids": list(device_ids), "at": at},
        ).fetchall()


def get_gateways(conn: Conn, hub_ids: Collection[str]) -> list[GatewayRow]:
    with conn.cursor(row_factory=class_row(GatewayRow)) as cur:
        return cur.execute("SELECT id, serial FROM hubs WHERE id = ANY(%s) ORDER BY id", (list(hub_ids),)).fetchall()


@dataclass(frozen=True, slots=True)
class ObservationPage:
    rows: list[ObservationRow]
    next_cursor: ObservationKey | None
    """Where the next page starts; None when this page is the last."""


def observation_page(
    conn: Conn, patient_id: UUID, wanted: ObservationFilter, after: ObservationKey | None, limit: int
) -> ObservationPage:
    """Up to ``limit`` Observations of a patient that ``wanted`` allows, after ``after``, as their stored rows,
    in :class:`ObservationKey` order. One more key than asked for tells whether a page follows."""
    params = {
        "patient": patient_id,
        "lo": wanted.window.start,
        "hi": wanted.window.end,
        "groups": sorted(wanted.groups) if wanted.groups is not None else None,
        "after_at": after.measured_at if after else None,
        "after_device": after.device_id if after else None,
        "after_group": after.group if after else None,
        "keys": limit + 1,
    }
    with conn.cursor(row_factory=class_row(ObservationRow)) as cur:
        rows = cur.execute(
            f"WITH scoped AS ("
            f"  SELECT {_OBSERVATION_COLUMNS}, {_GROUP} AS grp FROM readings"
            f"   WHERE patient_id = %(patient)s"
            f"     AND measured_at >= coalesce(%(lo)s::timestamptz, '-infinity')"
            f"     AND measured_at < coalesce(%(hi)s::timestamptz, 'infinity')"
            f"), keys AS ("
            f"  SELECT DISTINCT measured_at, device_id, grp FROM scoped"
            f"   WHERE (%(groups)s::integer[] IS NULL OR grp = ANY(%(groups)s::integer[]))"
            f"     AND (%(after_at)s::timestamptz IS NULL"
            f"      OR (measured_at, device_id, grp) > (%(after_at)s::timestamptz, %(after_device)s::uuid,"
            f"                                          %(after_group)s::integer))"
            f"   ORDER BY measured_at, device_id, grp LIMIT %(keys)s"
            f") SELECT {', '.join('s.' + c.strip() for c in _OBSERVATION_COLUMNS.split(','))}"
            f"  FROM scoped s JOIN keys k USING (measured_at, device_id, grp)"
            f" ORDER BY s.measured_at, s.device_id, s.grp, s.metric",
            params,
        ).fetchall()
    keys: list[ObservationKey] = []
    for row in rows:
        key = observation_key(row)
        if not keys or keys[-1] != key:
            keys.append(key)
    if len(keys) <= limit:
        return ObservationPage(rows, None)
    last = keys[limit - 1]
    kept = [r for r in rows if observation_key(r) <= last]
    return ObservationPage(kept, last)


def observation_rows(conn: Conn, key: ObservationKey) -> list[ObservationRow]:
    """The stored rows of one Observation: one index probe on the (device, metric, instant) key."""
    metrics = sorted(v.BP_COMPONENT_CODES) if key.group == v.MDC_PRESS_BLD_NONINV else [key.group]
    with conn.cursor(row_factory=class_row(ObservationRow)) as cur:
        return cur.execute(
            f"SELECT {_OBSERVATION_COLUMNS} FROM readings"
            " WHERE device_id = %s AND metric = ANY(%s) AND measured_at = %s ORDER BY metric",
            (key.device_id, metrics, key.measured_at),
        ).fetchall()
