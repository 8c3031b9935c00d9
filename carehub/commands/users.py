"""``carehub users create`` — bootstrap staff accounts (the first admin of a practice) from a shell.
The password is read from standard input (``--password-stdin``) or prompted for, never an argument."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from api.auth.passwords import Passwords
from api.users.service import create_user_with_password
from carehub.operations import handler
from core.db import connect
from core.settings import DatabaseSettings

ROLES = ("admin", "clinician", "care_staff", "logistics", "billing")
CREDENTIALS = ("none", "physician", "qhp", "nurse", "ma")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("users", help="staff accounts of the API (create the first admin)")
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    p = actions.add_parser("create", help="create a staff user with a password")
    p.add_argument("--practice-id", required=True, type=UUID)
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True, help="display name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--credential", default="none", choices=CREDENTIALS)
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=handler(run_create))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("error: the passwords differ")
    return first


def run_create(args: argparse.Namespace) -> int:
    password = _read_password(args)
    settings = DatabaseSettings()
    with connect(settings.database_url, application_name="carehub-cli", autocommit=True) as conn, conn.transaction():
        user_id = create_user_with_password(
            conn,
            Passwords(),
            practice_id=args.practice_id,
            email=args.email,
            display_name=args.name,
            role=args.role,
            credential=args.credential,
            password=password,
            at=datetime.now(UTC),
        )
    print(user_id)
    return 0
