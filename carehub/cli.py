"""``carehub`` — one command, one subcommand per process role or tool.

Each subcommand lives in :mod:`carehub.commands` as a module with ``register(subparsers)`` that adds
its parser and sets ``handler`` (a function ``(args) -> int``). Only the module of the command being
run is imported; every other command gets a placeholder parser carrying its help line, so
``carehub --help`` lists them all without loading their dependencies."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from carehub.commands import COMMANDS


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for ``argv``: the command named by its first argument fully registered, the others
    as placeholders (choosing one of them fails to parse only if it is not the one named)."""
    parser = argparse.ArgumentParser(
        prog="carehub",
        description="Remote patient monitoring: hubs, devices, ingest, alerts, billing.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv else None
    for command in COMMANDS:
        if command.name == chosen:
            command.load().register(subparsers)
        else:
            subparsers.add_parser(command.name, help=command.help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(arguments).parse_args(arguments)
    handler = args.handler
    code: int = handler(args)
    return code
