"""A small registered world for ingest tests: one practice, two homes (patient, hub, devices)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from core.domain import DeviceKind
from provisioning import registry
from provisioning.registry import DeviceRecord

ASSIGNED_FROM = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)


@dataclass(frozen=True)
class Home:
    hub_id: str
    patient_id: UUID
    cuff: DeviceRecord
    scale: DeviceRecord


@dataclass(frozen=True)
class World:
    practice_id: UUID
    homes: tuple[Home, Home]


@pytest.fixture
def world(db: psycopg.Connection[tuple[Any, ...]]) -> World:
    practice = registry.create_practice(db, name="Test Practice", time_zone="America/Chicago")
    homes = []
    for n in (1, 2):
        patient = registry.create_patient(db, practice_id=practice, mrn=f"MRN{n}", time_zone="America/Chicago")
        hub = registry.create_hub(db, practice_id=practice, hub_id=f"hub-000{n}", serial=f"HUBSERIAL{n}")
        cuff = registry.create_device(
            db, practice_id=practice, serial=f"BP000{n}", kind=DeviceKind.BP_CUFF, ble_address=f"A4:C1:38:00:00:0{n}"
        )
        scale = registry.create_device(db, practice_id=practice, serial=f"SC000{n}", kind=DeviceKind.SCALE)
        for device in (cuff, scale):
            registry.assign_device_to_patient(db, device=device, patient_id=patient, valid_from=ASSIGNED_FROM)
            registry.assign_device_to_hub(db, device=device, hub_id=hub, valid_from=ASSIGNED_FROM)
        homes.append(Home(hub, patient, cuff, scale))
    return World(practice, (homes[0], homes[1]))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bp_reading(
    serial: str, at: datetime, sys: float = 128, dia: float = 82, pulse: float = 70, reading_id: str | None = None
) -> dict[str, Any]:
    return {
        "reading_id": reading_id or str(uuid4()),
        "device_serial": serial,
        "kind": "blood_pressure",
        "measured_at": iso(at),
        "measured_at_source": "device_clock",
        "received_at": iso(at + timedelta(seconds=20)),
        "observations": [
            {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": sys, "unit": "mm[Hg]"},
            {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": dia, "unit": "mm[Hg]"},
            {"code": "MDC_PULS_RATE_NON_INV", "value": pulse, "unit": "/min"},
        ],
    }


def weight_reading(serial: str, at: datetime, pounds: float = 180.0, reading_id: str | None = None) -> dict[str, Any]:
    return {
        "reading_id": reading_id or str(uuid4()),
        "device_serial": serial,
        "kind": "weight",
        "measured_at": iso(at),
        "measured_at_source": "device_clock",
        "received_at": iso(at),
        "observations": [{"code": "MDC_MASS_BODY_ACTUAL", "value": pounds, "unit": "[lb_av]"}],
    }


def envelope(readings: Sequence[dict[str, Any]], batch_id: str | None = None) -> bytes:
    return json.dumps({"v": 1, "batch_id": batch_id or uuid4().hex, "readings": list(readings)}).encode()
