"""Audit log queries (under ``carehub_api``: an admin sees their practice's entries only). Rows are
written by :meth:`api.scope.Scope.audit` in the transaction of the request they describe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from api.audit.schemas import AuditEntryOut
from api.scope import Conn


@dataclass(frozen=True, slots=True)
class AuditFilter:
    patient_id: UUID | None = None
    user_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None


_WHERE = (
    " WHERE (%(patient)s::uuid IS NULL OR patient_id = %(patient)s::uuid OR %(patient)s::uuid = ANY(patient_ids))"
    " AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)"
    " AND (%(start)s::timestamptz IS NULL OR at >= %(start)s::timestamptz)"
    " AND (%(end)s::timestamptz IS NULL OR at < %(end)s::timestamptz)"
)


def list_entries(conn: Conn, f: AuditFilter, limit: int, offset: int) -> tuple[list[AuditEntryOut], int]:
    params: dict[str, object] = {
        "patient": f.patient_id,
        "user": f.user_id,
        "start": f.start,
        "end": f.end,
        "limit": limit,
        "offset": offset,
    }
    with conn.cursor(row_factory=class_row(AuditEntryOut)) as cur:
        rows = cur.execute(
            "SELECT id, user_id, at, action, patient_id, patient_ids, method, route, host(client_address)"
            " AS client_address FROM audit_log"
            + _WHERE
            + " ORDER BY at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s",
            params,
        ).fetchall()
    count = conn.execute("SELECT count(*) FROM audit_log" + _WHERE, params).fetchone()
    return rows, int(count[0]) if count else 0
