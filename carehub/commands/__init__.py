"""Subcommands of ``carehub``, in the order ``carehub --help`` lists them."""

from __future__ import annotations

from types import ModuleType

from carehub.commands import billing, db, decode, demo, ingest

COMMANDS: tuple[ModuleType, ...] = (demo, db, ingest, decode, billing)
