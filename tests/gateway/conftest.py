"""Fixtures for gateway tests: a registered home (practice, patient, hub, devices), an ingest worker
on the session broker, and readings shaped as the gateway stores them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from carehub import simulated_home
from carehub.local_services import IngestProcess, MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec
from gateway.outbox import OutboxReading
from provisioning import registry

ASSIGNED_FROM = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
HUB_ID = "hub-gw-0001"


@dataclass(frozen=True)
class Home:
    practice_id: UUID
    patient_id: UUID
    hub_id: str


BP_ONLY = HomeSpec(devices=(DeviceSpec("and_ua651ble", "BP-0001", "C0:DE:00:00:00:01"),))


def register_home(db: psycopg.Connection[tuple[Any, ...]], spec: HomeSpec = BP_ONLY, hub_id: str = HUB_ID) -> Home:
    practice = registry.create_practice(db, name="Gateway Practice", time_zone="America/New_York")
    patient = simulated_home.register_home(
        db, spec, practice_id=practice, hub_id=hub_id, mrn=f"MRN-{hub_id}", assigned_from=ASSIGNED_FROM
    )
    return Home(practice, patient, hub_id)


@pytest.fixture
def home(db: psycopg.Connection[tuple[Any, ...]]) -> Home:
    return register_home(db)


@pytest.fixture
def ingest(database_url: str, broker: MosquittoBroker, topic_root: str, tmp_path: Path) -> Iterator[IngestProcess]:
    worker = IngestProcess.start(
        name=f"gw-ingest-{uuid4().hex[:6]}",
        database_url=database_url,
        mqtt_port=broker.port,
        workdir=tmp_path / "ingest",
        topic_root=topic_root,
        shared_group=None,
    )
    try:
        worker.wait_ready(60)
        yield worker
    finally:
        worker.stop()


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def bp_outbox_reading(serial: str, at: datetime, systolic: float, diastolic: float, pulse: float) -> OutboxReading:
    """A blood-pressure reading as the gateway's outbox holds it (the shape build_reading produces)."""
    reading_id = str(uuid4())
    body = {
        "reading_id": reading_id,
        "device_serial": serial,
        "kind": "blood_pressure",
        "measured_at": iso(at),
        "measured_at_source": "device_clock",
        "received_at": iso(at + timedelta(seconds=5)),
        "from_device_memory": False,
        "observations": [
            {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": systolic, "unit": "mm[Hg]"},
            {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": diastolic, "unit": "mm[Hg]"},
            {"code": "MDC_PULS_RATE_NON_INV", "value": pulse, "unit": "/min"},
        ],
    }
    return OutboxReading(
        reading_id=reading_id,
        dedup_key=f"{serial}|{iso(at)}|{systolic}|{diastolic}|{pulse}",
        device_serial=serial,
        measured_at=at,
        body=json.dumps(body).encode(),
    )
