"""Staff user queries (under ``carehub_api``: an admin reads and creates users of their practice only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from api.scope import Conn

_SELECT = "SELECT id, email, display_name, role, credential, active, created_at, last_login_at FROM users"


@dataclass(frozen=True, slots=True)
class UserRow:
    id: UUID
    email: str
    display_name: str
    role: str
    credential: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None


def list_users(conn: Conn, limit: int, offset: int) -> tuple[list[UserRow], int]:
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        rows = cur.execute(_SELECT + " ORDER BY lower(email) LIMIT %s OFFSET %s", (limit, offset)).fetchall()
    count = conn.execute("SELECT count(*) FROM users").fetchone()
    return rows, int(count[0]) if count else 0


def get_user(conn: Conn, user_id: UUID) -> UserRow | None:
    with conn.cursor(row_factory=class_row(UserRow)) as cur:
        return cur.execute(_SELECT + " WHERE id = %s", (user_id,)).fetchone()
