"""Hub status queries (under ``carehub_api``; row-level security scopes the practice)."""

from __future__ import annotations

from psycopg.rows import class_row

from api.hubs.schemas import HubOut
from api.scope import Conn

_SELECT = """
SELECT h.id, h.serial, p.state, p.last_seen_at, p.changed_at, p.outbox_depth,
       c.desired_version AS desired_config_version, c.reported_version AS reported_config_version,
       coalesce(c.reported_errors, '{}') AS reported_config_errors
  FROM hubs h
  LEFT JOIN hub_presence p ON p.hub_id = h.id
  LEFT JOIN hub_config_state c ON c.hub_id = h.id
"""


def list_hubs(conn: Conn, state: str | None, limit: int, offset: int) -> tuple[list[HubOut], int]:
    where = " WHERE (%s::text IS NULL OR coalesce(p.state, 'unknown') = %s::text)"
    with conn.cursor(row_factory=class_row(HubOut)) as cur:
        rows = cur.execute(
            _SELECT + where + " ORDER BY h.id LIMIT %s OFFSET %s", (state, state, limit, offset)
        ).fetchall()
    count = conn.execute(
        "SELECT count(*) FROM hubs h LEFT JOIN hub_presence p ON p.hub_id = h.id" + where, (state, state)
    ).fetchone()
    return rows, int(count[0]) if count else 0


def get_hub(conn: Conn, hub_id: str) -> HubOut | None:
    with conn.cursor(row_factory=class_row(HubOut)) as cur:
        return cur.execute(_SELECT + " WHERE h.id = %s", (hub_id,)).fetchone()
