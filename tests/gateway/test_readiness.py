"""The gateway's /readyz, as ``carehub gateway run`` serves it: ready only while the MQTT session is
up, a reading can be committed to the outbox now, and the Bluetooth adapter takes scans."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from carehub.commands.gateway import _run_gateway
from carehub.local_services import MosquittoBroker, free_port
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from gateway.agent import OUTBOX_FILE
from tests.gateway.cloud import publish_desired
from tests.gateway.conftest import HUB_ID
from tests.gateway.radio_home import running_home, until

SPEC = HomeSpec(devices=(DeviceSpec("fingertip_oximeter", "OX-0001", "C0:DE:00:00:00:04", stored=1),))


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def test_readyz_covers_mqtt_the_outbox_and_the_radio(broker: MosquittoBroker, topic_root: str, tmp_path: Path) -> None:
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(SPEC).to_json())
    health_port = free_port()
    data_dir = tmp_path / "hub"

    async def scenario() -> None:
        async with running_home(SPEC) as home:
            settings = home.settings(
                broker.port, topic_root, HUB_ID, data_dir, health_port=health_port, gateway_scan_window_s=0.3
            )
            stop = asyncio.Event()
            task = asyncio.create_task(_run_gateway(settings, home.radio.backends(), stop))
            try:
                ready = {"mqtt": True, "outbox": True, "radio": True}
                await until(lambda: readyz(health_port) == (200, {"status": "ready", "checks": ready}), "ready")

                # Another process holds the outbox's write lock: no reading could be committed now.
                other = sqlite3.connect(data_dir / OUTBOX_FILE, isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
                assert await asyncio.to_thread(readyz, health_port) == (
                    503,
                    {"status": "not_ready", "checks": ready | {"outbox": False}},
                )
                other.execute("ROLLBACK")
                other.close()
                assert (await asyncio.to_thread(readyz, health_port))[0] == 200

                # The adapter goes down (unplugged, rfkill): the next scan start fails.
                home.radio.adapter_powered = False
                await until(lambda: readyz(health_port)[1].get("checks", {}).get("radio") is False, "radio down")
                status, body = await asyncio.to_thread(readyz, health_port)
                assert (status, body["checks"]) == (503, ready | {"radio": False})
                home.radio.adapter_powered = True
                await until(lambda: readyz(health_port)[0] == 200, "radio back", timeout_s=30)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)

    asyncio.run(scenario())


def test_readyz_fails_when_the_outbox_disk_is_short_of_space(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    health_port = free_port()

    async def scenario() -> None:
        async with running_home(SPEC) as home:
            huge = 1024.0**3  # MB: more than any disk here has free
            settings = home.settings(
                broker.port,
                topic_root,
                HUB_ID,
                tmp_path / "hub",
                health_port=health_port,
                gateway_outbox_min_free_mb=huge,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(_run_gateway(settings, home.radio.backends(), stop))
            try:
                await until(lambda: readyz(health_port)[1].get("checks", {}).get("mqtt") is True, "mqtt up")
                status, body = await asyncio.to_thread(readyz, health_port)
                assert (status, body["checks"]["outbox"]) == (503, False)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
