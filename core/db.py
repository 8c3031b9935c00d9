"""Database access shared by carehub processes: connection settings, and database create/drop for
demo and tests. Connections are created by entry points and passed down (no module-level pools)."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.errors import CarehubError

_DBNAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseUnavailable(CarehubError):
    """The database cannot be reached or refused the connection (advice: check the URL and server)."""


def with_database(conninfo: str, dbname: str) -> str:
    """The same connection string pointing at another database on the same server."""
    return make_conninfo(conninfo, dbname=dbname)


def database_name(conninfo: str) -> str:
    name = conninfo_to_dict(conninfo).get("dbname")
    return str(name) if name else "postgres"


def connect(
    conninfo: str,
    *,
    application_name: str,
    autocommit: bool = False,
    connect_timeout_s: float = 5.0,
    statement_timeout_s: float | None = None,
) -> psycopg.Connection[tuple[Any, ...]]:
    """Open one connection with carehub's session settings (UTC, application name, timeouts)."""
    options = "-c TimeZone=UTC"
    if statement_timeout_s is not None:
        options += f" -c statement_timeout={int(statement_timeout_s * 1000)}"
    try:
        return psycopg.connect(
            conninfo,
            autocommit=autocommit,
            application_name=application_name,
            connect_timeout=max(1, round(connect_timeout_s)),
            options=options,
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to the database: {exc}".strip()) from exc


def create_database(admin_conninfo: str, dbname: str, *, template: str | None = None) -> None:
    """CREATE DATABASE (names restricted to lower-case identifiers; used by demo and tests)."""
    if not _DBNAME_RE.match(dbname) or (template is not None and not _DBNAME_RE.match(template)):
        raise CarehubError(f"invalid database name {dbname!r}")
    with connect(admin_conninfo, application_name="carehub-admin", autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
        if template is not None:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(dbname), sql.Identifier(template))
        conn.execute(stmt)


def drop_database(admin_conninfo: str, dbname: str) -> None:
    if not _DBNAME_RE.match(dbname):
        raise CarehubError(f"invalid database name {dbname!r}")
    with connect(admin_conninfo, application_name="carehub-admin", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))
