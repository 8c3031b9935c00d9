"""Subcommands of ``carehub``, in the order ``carehub --help`` lists them."""

from __future__ import annotations

from types import ModuleType

from carehub.commands import (
    alerts,
    api,
    billing,
    db,
    decode,
    demo,
    devices,
    gateway,
    ingest,
    notifier,
    patients,
    provisioning_service,
    scheduler,
    shipments,
    users,
)

COMMANDS: tuple[ModuleType, ...] = (
    demo,
    db,
    ingest,
    decode,
    devices,
    patients,
    shipments,
    provisioning_service,
    notifier,
    scheduler,
    alerts,
    billing,
    gateway,
    api,
    users,
)
