"""Apply carehub's SQL migrations in order, each in its own transaction, recorded in
``schema_migrations``. Safe to run twice and from several processes at once (an advisory lock
serialises runners); an applied migration whose file changed is an error, not a silent skip.

Steps that differ between TimescaleDB and plain PostgreSQL come as two files
(``NNNN_name.timescaledb.sql`` / ``NNNN_name.postgres.sql``). The storage is chosen once per database
(TimescaleDB when the extension is available, unless configured otherwise) and recorded, so every
later step uses the same path."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import psycopg

from core.errors import CarehubError

logger = logging.getLogger(__name__)

Storage = Literal["timescaledb", "postgres"]
_FILE_RE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<variant>timescaledb|postgres))?\.sql$")
_LOCK_KEY = 0x6361_7265_6875_62  # "carehub"


class MigrationError(CarehubError):
    """Migrations cannot be applied (a changed file, a missing variant, an unavailable extension)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    variant: Storage | None
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}" + (f" ({self.variant})" if self.variant else "")


@dataclass(frozen=True, slots=True)
class MigrationReport:
    storage: Storage
    applied: tuple[str, ...]
    already_applied: int


def discover() -> dict[int, dict[Storage | None, Migration]]:
    """All migration files shipped in ``core/migrations``, by version and variant."""
    steps: dict[int, dict[Storage | None, Migration]] = {}
    for entry in resources.files("core.migrations").iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        variant: Storage | None = match["variant"]  # type: ignore[assignment]
        migration = Migration(int(match["version"]), match["name"], variant, entry.read_text("utf-8"))
        variants = steps.setdefault(migration.version, {})
        if variant in variants:
            raise MigrationError(f"two migrations for version {migration.version} variant {variant}")
        variants[variant] = migration
    for version, variants in steps.items():
        if None in variants and len(variants) > 1:
            raise MigrationError(f"migration {version} has both a common file and storage variants")
        if None not in variants and set(variants) != {"timescaledb", "postgres"}:
            raise MigrationError(f"migration {version} needs both a timescaledb and a postgres variant")
    return dict(sorted(steps.items()))


def plan(storage: Storage) -> list[Migration]:
    """The ordered migrations for one storage path."""
    return [variants.get(None) or variants[storage] for variants in discover().values()]


def _timescaledb_available(conn: psycopg.Connection[tuple[Any, ...]]) -> bool:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def choose_storage(conn: psycopg.Connection[tuple[Any, ...]], requested: str) -> Storage:
    recorded = conn.execute(
        "SELECT variant FROM schema_migrations WHERE variant IS NOT NULL ORDER BY version LIMIT 1"
    ).fetchone()
    if recorded is not None:
        storage: Storage = "timescaledb" if recorded[0] == "timescaledb" else "postgres"
        if requested not in ("auto", storage):
            raise MigrationError(f"this database uses {storage} storage; it cannot be migrated as {requested}")
        return storage
    available = _timescaledb_available(conn)
    if requested == "timescaledb" and not available:
        raise MigrationError(
            "CAREHUB_DB_STORAGE=timescaledb but the timescaledb extension is not installed on this server"
        )
    if requested == "postgres":
        return "postgres"
    return "timescaledb" if available else "postgres"


def migrate(
    conn: psycopg.Connection[tuple[Any, ...]],
    *,
    storage: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> MigrationReport:
    """Apply pending migrations on ``conn`` (an autocommit connection)."""
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection; each step opens its own transaction")
    say = progress or (lambda text: logger.info("%s", text))
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version     integer PRIMARY KEY,
                   name        text NOT NULL,
                   variant     text CHECK (variant IN ('timescaledb', 'postgres')),
                   checksum    text NOT NULL,
                   applied_at  timestamptz NOT NULL DEFAULT now())"""
        )
        chosen = choose_storage(conn, storage)
        applied_rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        applied = {int(v): str(c) for v, c in applied_rows}
        done: list[str] = []
        for migration in plan(chosen):
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.label} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            say(f"applying migration {migration.label}")
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, variant, checksum) VALUES (%s, %s, %s, %s)",
                    (migration.version, migration.name, migration.variant, migration.checksum),
                )
            done.append(migration.label)
        return MigrationReport(storage=chosen, applied=tuple(done), already_applied=len(applied))
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
