"""``carehub`` — one command, one subcommand per process role or tool.

Each subcommand lives in :mod:`carehub.commands` as a module with ``register(subparsers)`` that adds
its parser and sets ``handler`` (a function ``(args) -> int``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from carehub.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="carehub",
        description="Remote patient monitoring: hubs, devices, ingest, alerts, billing.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    handler = args.handler
    code: int = handler(args)
    return code
