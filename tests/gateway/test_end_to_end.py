"""End to end on real services: a simulated A&D cuff, a Contour-style glucometer with stored records,
an A&D scale and a fingertip oximeter → the gateway (bleak API on the virtual radio) → private
Mosquitto → ingest → PostgreSQL. Every value in the database equals the value the device produced."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from carehub.local_services import IngestProcess, MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from tests.gateway.cloud import publish_desired
from tests.gateway.conftest import HUB_ID, register_home
from tests.gateway.radio_home import running_home, stored_rows, until

HOME = HomeSpec(
    devices=(
        DeviceSpec("and_ua651ble", "BP-0001", "C0:DE:00:00:00:01", stored=5, seed=11),
        DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=8, seed=12),
        DeviceSpec("and_uc352ble", "SC-0001", "C0:DE:00:00:00:03", stored=4, seed=13),
        DeviceSpec("fingertip_oximeter", "OX-0001", "C0:DE:00:00:00:04", stored=3, seed=14),
    ),
    time_zone="America/New_York",
    t0=datetime.now(UTC).replace(microsecond=0).isoformat(),
)


def assert_same_rows(stored: dict[Any, float | str], intended: dict[Any, float | str]) -> None:
    assert sorted(stored) == sorted(intended)
    for key, value in intended.items():
        if isinstance(value, str):
            assert stored[key] == value, key
        else:
            assert stored[key] == pytest.approx(value, rel=1e-9), key


def test_every_stored_value_equals_what_the_devices_measured(
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    ingest: IngestProcess,
    topic_root: str,
    tmp_path: Path,
) -> None:
    register_home(db, HOME)
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(HOME).to_json())
    zone = ZoneInfo(HOME.time_zone)

    async def scenario() -> None:
        async with running_home(HOME) as home:
            gateway = await home.start_gateway(
                home.settings(broker.port, topic_root, HUB_ID, tmp_path / "hub"), revisit_s=0.5
            )
            everyone = {d.serial for d in HOME.devices}
            await until(
                lambda: (
                    {serial for serial, _ in gateway.devices.reports} == everyone
                    and gateway.outbox.depth() == 0
                    and len(stored_rows(db)) == len(home.frames.intended_rows(zone))
                ),
                "the stored records of every device",
                120,
            )
            per_device = {s: len(home.frames.intended_rows(zone, {s})) for s in everyone}
            assert all(per_device.values()), per_device  # every device's memory came across
            # Then life goes on: a new measurement on the cuff, which advertises again.
            cuff = home.peripherals["BP-0001"]
            sessions_before = sum(1 for s, _ in gateway.devices.reports if s == "BP-0001")
            cuff.model.measure(datetime.now(UTC))
            await cuff.notify_pending()
            await until(
                lambda: (
                    sum(1 for s, _ in gateway.devices.reports if s == "BP-0001") > sessions_before
                    and gateway.outbox.depth() == 0
                    and len(stored_rows(db)) == len(home.frames.intended_rows(zone))
                ),
                "the new cuff reading",
                60,
            )
            paired = [(s, r.paired) for s, r in gateway.devices.reports if s == "BP-0001"]
            assert paired[0] == ("BP-0001", True)
            assert all(not p for _, p in paired[1:])  # bonded once; later connections re-encrypt
            assert_same_rows(stored_rows(db), home.frames.intended_rows(zone))
            sources = db.execute("SELECT DISTINCT measured_at_source FROM readings").fetchall()
            assert sources == [("device_clock",)]

    asyncio.run(scenario())
