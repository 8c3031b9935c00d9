"""Subcommands of ``carehub``, in the order ``carehub --help`` lists them."""

from __future__ import annotations

from types import ModuleType

from carehub.commands import alerts, db, decode, demo, ingest, notifier, scheduler

COMMANDS: tuple[ModuleType, ...] = (demo, db, ingest, decode, notifier, scheduler, alerts)
