"""Subcommands of ``carehub``, in the order ``carehub --help`` lists them.

Each entry names its module instead of importing it: ``carehub gateway run`` on a hub must not load
psycopg, FastAPI, billing or alerts only to build a help screen (issue 4). The module, imported when
its command runs, has ``register(subparsers)`` that adds the full parser and sets ``handler``; the
name and help here are what ``carehub --help`` shows without importing it, and
``tests/carehub/test_cli.py`` checks they match what the module registers."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True, slots=True)
class Command:
    """One ``carehub`` subcommand: its name, its one-line help and the module that implements it."""

    name: str
    help: str
    module: str

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "run the whole system locally: private database and broker, ingest, simulated hubs",
        "carehub.commands.demo",
    ),
    Command("db", "database schema: migrate, status", "carehub.commands.db"),
    Command("ingest", "run an ingest worker: MQTT readings -> PostgreSQL, exactly once", "carehub.commands.ingest"),
    Command("decode", "decode a BLE characteristic value or a vendor payload to JSON", "carehub.commands.decode"),
    Command("devices", "inventory and custody: import, assign, replace, return", "carehub.commands.devices"),
    Command("patients", "enrollment: demographics, conditions, consent, eligibility", "carehub.commands.patients"),
    Command("shipments", "shipments and carrier tracking events", "carehub.commands.shipments"),
    Command(
        "provisioning",
        "hub credentials, broker ACL and hub configuration",
        "carehub.commands.provisioning_service",
    ),
    Command(
        "notifier",
        "deliver alert notifications (signed webhooks, email) from the outbox, with retries",
        "carehub.commands.notifier",
    ),
    Command(
        "scheduler",
        "time-driven alerts (confirmations, escalation, adherence, devices, hubs) and hub presence",
        "carehub.commands.scheduler",
    ),
    Command("alerts", "list, acknowledge, resolve or snooze alerts", "carehub.commands.alerts"),
    Command("billing", "RPM/CCM billing: explain a case, monthly report, care time", "carehub.commands.billing"),
    Command("gateway", "the hub agent: BLE devices -> durable outbox -> MQTT", "carehub.commands.gateway"),
    Command(
        "api",
        "serve the practice-facing HTTP API (patients, readings, alerts, hubs, users, audit)",
        "carehub.commands.api",
    ),
    Command("users", "staff accounts of the API (create the first admin)", "carehub.commands.users"),
    Command("webhooks", "vendor webhook credentials; reprocess unprocessed envelopes", "carehub.commands.webhooks"),
)
