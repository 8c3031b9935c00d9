"""Shipment reads (row-level security scopes the practice)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row

from api.scope import Conn
from api.shipments.schemas import ShipmentEventOut, ShipmentOut, ShipmentSort

_SORT = {
    ShipmentSort.SHIP_DATE: ("ship_date", "ASC"),
    ShipmentSort.SHIP_DATE_DESC: ("ship_date", "DESC"),
    ShipmentSort.CREATED_AT: ("created_at", "ASC"),
    ShipmentSort.CREATED_AT_DESC: ("created_at", "DESC"),
}

_SELECT = """
SELECT s.id, s.patient_id, s.direction, s.carrier, s.tracking_number, s.ship_date, s.status, s.delivered_at,
       s.address_line1, s.address_line2, s.city, s.state, s.postal_code,
       coalesce((SELECT array_agg(d.device_id ORDER BY d.device_id) FROM shipment_devices d
                  WHERE d.shipment_id = s.id), '{}') AS device_ids,
       s.created_by, s.created_at
  FROM shipments s
"""
_WHERE = (
    " WHERE (%(status)s::text IS NULL OR s.status = %(status)s)"
    " AND (%(direction)s::text IS NULL OR s.direction = %(direction)s)"
    " AND (%(carrier)s::text IS NULL OR s.carrier = %(carrier)s)"
    " AND (%(patient)s::uuid IS NULL OR s.patient_id = %(patient)s)"
)


@dataclass(frozen=True, slots=True)
class ShipmentFilter:
    status: str | None = None
    direction: str | None = None
    carrier: str | None = None
    patient_id: UUID | None = None


def list_shipments(
    conn: Conn, f: ShipmentFilter, sort: ShipmentSort, limit: int, offset: int
) -> tuple[list[ShipmentOut], int]:
    params = {"status": f.status, "direction": f.direction, "carrier": f.carrier, "patient": f.patient_id}
    column, direction = _SORT[sort]
    query = sql.SQL(_SELECT + _WHERE) + sql.SQL(" ORDER BY {} {}, s.id LIMIT %(limit)s OFFSET %(offset)s").format(
        sql.Identifier("s", column), sql.SQL(direction)
    )
    with conn.cursor(row_factory=class_row(ShipmentOut)) as cur:
        rows = cur.execute(query, {**params, "limit": limit, "offset": offset}).fetchall()
    count = conn.execute("SELECT count(*) FROM shipments s" + _WHERE, params).fetchone()
    return rows, int(count[0]) if count else 0


def get_shipment(conn: Conn, shipment_id: UUID) -> ShipmentOut | None:
    with conn.cursor(row_factory=class_row(ShipmentOut)) as cur:
        return cur.execute(_SELECT + " WHERE s.id = %s", (shipment_id,)).fetchone()


def events(conn: Conn, shipment_id: UUID) -> list[ShipmentEventOut]:
    with conn.cursor(row_factory=class_row(ShipmentEventOut)) as cur:
        return cur.execute(
            "SELECT id, source, carrier_event_id, status, status_detail, message, occurred_at, city, state,"
            " postal_code, country, received_at FROM shipment_events WHERE shipment_id = %s"
            " ORDER BY occurred_at, id",
            (shipment_id,),
        ).fetchall()
