"""``carehub db migrate|status`` — apply or list the schema migrations."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.db import connect
from core.errors import CarehubError
from core.migrate import discover, migrate
from core.settings import DatabaseSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database schema: migrate, status")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    mig = actions.add_parser("migrate", help="apply pending migrations (safe to run again)")
    mig.set_defaults(handler=run_migrate)
    status = actions.add_parser("status", help="list applied and pending migrations")
    status.set_defaults(handler=run_status)


def run_migrate(args: argparse.Namespace) -> int:
    settings = DatabaseSettings()
    try:
        with connect(settings.database_url, application_name="carehub-migrate", autocommit=True) as conn:
            report = migrate(conn, storage=settings.db_storage, progress=lambda text: print(text, flush=True))
    except CarehubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"database is up to date ({report.storage} storage; {len(report.applied)} applied now, "
        f"{report.already_applied} before)"
    )
    return 0


def run_status(args: argparse.Namespace) -> int:
    settings = DatabaseSettings()
    try:
        with connect(settings.database_url, application_name="carehub-migrate", autocommit=True) as conn:
            exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
            applied: dict[int, tuple[object, object]] = {}
            if exists and exists[0]:
                for version, variant, applied_at in conn.execute(
                    "SELECT version, variant, applied_at FROM schema_migrations ORDER BY version"
                ):
                    applied[int(version)] = (variant, applied_at)
    except CarehubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for version, variants in discover().items():
        name = next(iter(variants.values())).name
        if version in applied:
            variant, at = applied[version]
            print(f"{version:04d}_{name:<30} applied {at} {variant or ''}".rstrip())
        else:
            print(f"{version:04d}_{name:<30} pending")
    return 0
