"""Subcommands of ``carehub``, in the order ``carehub --help`` lists them."""

from __future__ import annotations

from types import ModuleType

from carehub.commands import billing, db, decode, demo, devices, ingest, patients, provisioning_service, shipments

COMMANDS: tuple[ModuleType, ...] = (
    demo,
    db,
    ingest,
    decode,
    devices,
    patients,
    shipments,
    provisioning_service,
    billing,
)
