"""What the logistics commands (``carehub devices|patients|shipments|provisioning``) share: the
database connection from ``CAREHUB_DATABASE_URL``, the acting staff member (``--actor EMAIL``, whose
practice scopes every lookup), time options, and output as a readable table or ``--json``.

Every command runs in one transaction: it commits whole or changes nothing. Errors carehub raises on
purpose print as ``error: ...`` with exit status 1 (2 for usage errors, from argparse)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import psycopg

from core.db import connect
from core.errors import CarehubError
from core.settings import DatabaseSettings
from provisioning.registry import Conn, user_by_email


@dataclass(frozen=True, slots=True)
class Context:
    conn: Conn
    actor_id: UUID
    practice_id: UUID
    now: datetime


def add_actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--actor", required=True, metavar="EMAIL", help="the staff member doing this (recorded)")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_at(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--at", type=aware_time, default=None, help="when it happened (RFC 3339; default now)")


def aware_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time with an offset, e.g. 2026-03-02T15:00:00Z")
    return parsed


def day(text: str) -> date:
    return date.fromisoformat(text)


@contextmanager
def session(args: argparse.Namespace) -> Iterator[Context]:
    """One transaction with the actor resolved; commits if the command returns normally."""
    settings = DatabaseSettings()
    with connect(settings.database_url, application_name="carehub-cli", autocommit=True) as conn, conn.transaction():
        actor_id, practice_id = user_by_email(conn, args.actor)
        yield Context(conn, actor_id, practice_id, getattr(args, "at", None) or datetime.now(UTC))


def handler(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn carehub's typed errors into ``error: ...`` and exit status 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except CarehubError as exc:
            print(f"error: {exc}", file=sys.stderr)
            for line in getattr(exc, "errors", ()):
                print(f"  line {line.line}: {line.message}", file=sys.stderr)
            return 1
        except psycopg.errors.IntegrityError as exc:
            # A constraint the domain layer does not translate (a duplicate MRN, an unknown time zone).
            print(f"error: refused by the database ({exc.diag.constraint_name or exc.sqlstate})", file=sys.stderr)
            return 1

    return run


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    """Print rows as JSON (every key) or as an aligned table of ``columns``."""
    plain = [{k: _plain(v) for k, v in row.items()} for row in rows]
    if as_json:
        print(json.dumps(plain, indent=2, sort_keys=True))
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in plain]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row_cells in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row_cells, widths, strict=True)).rstrip())
    if not cells:
        print("(none)")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
