"""Staff user queries (under ``carehub_api``: an admin reads and creates users of their practice only)."""

from __future__ import annotations

from uuid import UUID

from psycopg.rows import class_row

from api.scope import Conn
from api.users.schemas import UserOut

_SELECT = "SELECT id, email, display_name, role, credential, active, created_at, last_login_at FROM users"


def list_users(conn: Conn, limit: int, offset: int) -> tuple[list[UserOut], int]:
    with conn.cursor(row_factory=class_row(UserOut)) as cur:
        rows = cur.execute(_SELECT + " ORDER BY lower(email) LIMIT %s OFFSET %s", (limit, offset)).fetchall()
    count = conn.execute("SELECT count(*) FROM users").fetchone()
    return rows, int(count[0]) if count else 0


def get_user(conn: Conn, user_id: UUID) -> UserOut | None:
    with conn.cursor(row_factory=class_row(UserOut)) as cur:
        return cur.execute(_SELECT + " WHERE id = %s", (user_id,)).fetchone()


def update_user(conn: Conn, user_id: UUID, *, role: str | None, credential: str | None, active: bool | None) -> bool:
    cur = conn.execute(
        "UPDATE users SET role = coalesce(%s, role), credential = coalesce(%s, credential),"
        " active = coalesce(%s, active) WHERE id = %s",
        (role, credential, active, user_id),
    )
    return cur.rowcount == 1
