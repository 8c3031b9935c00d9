"""Subcommands of ``carehub``, in the order ``carehub --help`` lists them."""

from __future__ import annotations

from types import ModuleType

from carehub.commands import db, decode, demo, gateway, ingest

COMMANDS: tuple[ModuleType, ...] = (demo, db, ingest, gateway, decode)
