"""Hub MQTT identities: issue a hub its password (shown once, stored only as the Mosquitto
PBKDF2-SHA512 entry), revoke it, and render the broker's password file from the database.

Revocation takes effect at the broker when the password file is rewritten and Mosquitto reloads it
(SIGHUP): ``carehub provisioning password-file`` writes it; the deployment reloads the broker."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from uuid import UUID

from psycopg import errors as pg_errors

from provisioning.broker_credentials import new_password, password_entry, write_password_entries
from provisioning.registry import Conn, RegistryError, UnknownRecord, new_id


class CredentialError(RegistryError):
    """A credential could not be issued or revoked."""


def issue_hub_credentials(conn: Conn, hub_id: str, *, at: datetime, actor_id: UUID | None = None) -> str:
    """A new password for ``hub_id`` (any current one is revoked). Returned once; never stored."""
    password = new_password()
    with conn.transaction():
        row = conn.execute("SELECT practice_id FROM hubs WHERE id = %s", (hub_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no hub {hub_id}")
        revoke_hub(conn, hub_id, at=at, reason="reissued", actor_id=actor_id)
        try:
            conn.execute(
                "INSERT INTO hub_credentials (id, practice_id, hub_id, password_entry, issued_at, issued_by)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (new_id(), row[0], hub_id, password_entry(hub_id, password), at, actor_id),
            )
        except pg_errors.ForeignKeyViolation as exc:
            raise CredentialError("the issuing user must be staff of the hub's practice") from exc
    return password


def revoke_hub(conn: Conn, hub_id: str, *, at: datetime, reason: str, actor_id: UUID | None = None) -> int:
    """Revoke the hub's current credential (0 if it had none)."""
    cur = conn.execute(
        "UPDATE hub_credentials SET revoked_at = %s, revoke_reason = %s WHERE hub_id = %s AND revoked_at IS NULL",
        (at, reason, hub_id),
    )
    return cur.rowcount


def current_password_entries(conn: Conn) -> list[str]:
    """The password-file entries of every hub with a current credential."""
    rows = conn.execute(
        "SELECT password_entry FROM hub_credentials WHERE revoked_at IS NULL ORDER BY hub_id"
    ).fetchall()
    return [r[0] for r in rows]


def write_broker_password_file(conn: Conn, path: Path, services: Mapping[str, str]) -> int:
    """Write the broker's password file: every current hub plus the service accounts
    (``services`` maps a service username to its password). Returns the number of entries."""
    entries = current_password_entries(conn) + [password_entry(user, pw) for user, pw in sorted(services.items())]
    write_password_entries(path, entries)
    return len(entries)
