"""Credentials, failed-login counters and refresh tokens in PostgreSQL.

Authentication runs before any practice is known, so these queries run as the owner (not under
``carehub_api``); every one is keyed by the user or the token digest it was given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from core.ids import uuid7

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Credential:
    id: UUID
    practice_id: UUID
    active: bool
    password_hash: str | None
    failed_logins: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class StoredRefreshToken:
    id: UUID
    practice_id: UUID
    user_id: UUID
    family_id: UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    user_active: bool


def credential_for_update(conn: Conn, email: str) -> Credential | None:
    with conn.cursor(row_factory=class_row(Credential)) as cur:
        return cur.execute(
            "SELECT id, practice_id, active, password_hash, failed_logins, locked_until"
            " FROM users WHERE lower(email) = lower(%s) FOR UPDATE",
            (email,),
        ).fetchone()


def set_password(conn: Conn, user_id: UUID, password_hash: str, at: datetime) -> None:
    conn.execute(
        "UPDATE users SET password_hash = %s, password_changed_at = %s, failed_logins = 0, locked_until = NULL"
        " WHERE id = %s",
        (password_hash, at, user_id),
    )


def record_failure(conn: Conn, user_id: UUID, failed_logins: int, locked_until: datetime | None) -> None:
    conn.execute(
        "UPDATE users SET failed_logins = %s, locked_until = %s WHERE id = %s", (failed_logins, locked_until, user_id)
    )


def record_success(conn: Conn, user_id: UUID, at: datetime) -> None:
    conn.execute(
        "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = %s WHERE id = %s", (at, user_id)
    )


def store_refresh_token(
    conn: Conn,
    *,
    practice_id: UUID,
    user_id: UUID,
    family_id: UUID,
    digest: bytes,
    issued_at: datetime,
    expires_at: datetime,
) -> UUID:
    token_id = uuid7(int(issued_at.timestamp() * 1000))
    conn.execute(
        "INSERT INTO refresh_tokens (id, practice_id, user_id, family_id, token_sha256, issued_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (token_id, practice_id, user_id, family_id, digest, issued_at, expires_at),
    )
    return token_id


def refresh_token_for_update(conn: Conn, digest: bytes) -> StoredRefreshToken | None:
    with conn.cursor(row_factory=class_row(StoredRefreshToken)) as cur:
        return cur.execute(
            "SELECT t.id, t.practice_id, t.user_id, t.family_id, t.expires_at, t.used_at, t.revoked_at,"
            " u.active AS user_active"
            " FROM refresh_tokens t JOIN users u ON u.id = t.user_id"
            " WHERE t.token_sha256 = %s FOR UPDATE OF t",
            (digest,),
        ).fetchone()


def mark_used(conn: Conn, token_id: UUID, at: datetime) -> None:
    conn.execute("UPDATE refresh_tokens SET used_at = %s WHERE id = %s", (at, token_id))


def revoke_family(conn: Conn, family_id: UUID, at: datetime, reason: str) -> int:
    cur = conn.execute(
        "UPDATE refresh_tokens SET revoked_at = %s, revoked_reason = %s WHERE family_id = %s AND revoked_at IS NULL",
        (at, reason, family_id),
    )
    return cur.rowcount
