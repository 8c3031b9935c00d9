"""Hub status queries (under ``carehub_api``; row-level security scopes the practice)."""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row

from api.hubs.schemas import HubConfigOut, HubOut
from api.scope import Conn
from provisioning import hub_config

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


def hub_config_state(conn: Conn, hub_id: str, at: datetime) -> HubConfigOut:
    statuses = hub_config.config_status(conn, hub_id)
    pending = conn.execute("SELECT EXISTS (SELECT 1 FROM hub_config_pending WHERE hub_id = %s)", (hub_id,)).fetchone()
    s = statuses[0] if statuses else hub_config.HubConfigStatus(hub_id, 0, 0, None, None, ())
    return HubConfigOut(
        hub_id=hub_id,
        desired_version=s.desired_version,
        published_version=s.published_version,
        reported_version=s.reported_version,
        reported_at=s.reported_at,
        reported_errors=list(s.reported_errors),
        in_sync=s.in_sync,
        reissue_pending=bool(pending and pending[0]),
        whitelist=hub_config.whitelist(conn, hub_id, at),
    )
