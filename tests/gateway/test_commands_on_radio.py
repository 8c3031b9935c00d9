"""Commands that reach the BLE side, on the virtual radio: ``unpair`` forgets the bond (the next
connection pairs again), ``download_all`` reads a meter's whole memory again (nothing is added twice),
``time_sync`` writes a clock that was within the threshold."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from carehub.local_services import MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from core.topics import HubTopic
from gateway.device_session import SessionReport
from tests.gateway.cloud import Watcher, publish_desired
from tests.gateway.conftest import HUB_ID
from tests.gateway.radio_home import running_home, until


def command(cmd_id: str, type_: str, serial: str | None = None) -> bytes:
    now = datetime.now(UTC)
    body = {
        "cmd_id": cmd_id,
        "type": type_,
        "issued_at": now.isoformat(),
        "expires_at": (now + timedelta(hours=1)).isoformat(),
    }
    if serial:
        body["device_serial"] = serial
    return json.dumps(body).encode()


def test_unpair_download_all_and_time_sync(broker: MosquittoBroker, topic_root: str, tmp_path: Path) -> None:
    spec = HomeSpec(devices=(DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=12),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    watcher = Watcher(broker.port, topic_root, HUB_ID)

    async def scenario() -> None:
        async with running_home(spec) as home:
            settings = home.settings(broker.port, topic_root, HUB_ID, tmp_path / "hub")
            gateway = await home.start_gateway(settings, revisit_s=0.3)

            def reports() -> list[SessionReport]:
                return [r for s, r in gateway.devices.reports if s == "GL-0001"]

            await until(reports, "the first session")
            first = gateway.devices.reports[0][1]
            assert (first.paired, first.readings_added) == (True, 12)
            await until(lambda: len(reports()) >= 2, "a second session")
            assert not gateway.devices.reports[-1][1].paired  # bonded: re-encrypts

            watcher.publish(HubTopic.COMMAND, command("c-unpair", "unpair", "GL-0001"))
            await until(lambda: watcher.of(HubTopic.COMMAND_RESULT), "the unpair result")
            n = len(reports())
            await until(lambda: len(reports()) > n + 1, "sessions after the unpair")
            assert any(r.paired for r in reports()[n:])  # paired again from scratch

            watcher.publish(HubTopic.COMMAND, command("c-all", "download_all", "GL-0001"))
            await until(lambda: len(watcher.of(HubTopic.COMMAND_RESULT)) == 2, "the download_all result")
            n = len(reports())
            await until(lambda: any(r.duplicates >= 12 for r in reports()[n:]), "the whole memory again")
            held = gateway.outbox._conn.execute("SELECT count(*) FROM readings").fetchone()[0]
            assert held == 12  # nothing added twice

            watcher.publish(HubTopic.COMMAND, command("c-time", "time_sync"))
            await until(lambda: len(watcher.of(HubTopic.COMMAND_RESULT)) == 3, "the time_sync result")
            n = len(reports())
            await until(lambda: any(r.clock_written for r in reports()[n:]), "a clock write")

    try:
        asyncio.run(scenario())
    finally:
        watcher.close()
    results = [(r["cmd_id"], r["result"]) for r in watcher.of(HubTopic.COMMAND_RESULT)]
    assert results == [("c-unpair", "ok"), ("c-all", "ok"), ("c-time", "ok")]
    assert [e["device_serial"] for e in watcher.events("device_unpaired")] == ["GL-0001"]
