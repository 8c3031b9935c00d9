"""The gateway process killed with SIGKILL while it drains a backlog, then restarted: every reading
arrives exactly once, and the broker announces the lost hub with its session number (Last Will)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from carehub.local_services import IngestProcess, MosquittoBroker
from gateway.agent import OUTBOX_FILE
from gateway.outbox import Outbox
from tests.gateway.conftest import HUB_ID, Home, bp_outbox_reading
from tests.gateway.process import GatewayProcess, outbox_counts
from tests.pipeline import wait_until

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
READINGS = 600


def retained_status(port: int, topic_root: str) -> dict[str, Any]:
    got: list[dict[str, Any]] = []
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    client.connect("127.0.0.1", port)
    client.subscribe(f"{topic_root}/hub/{HUB_ID}/up/status", qos=1)
    client.loop_start()
    try:
        wait_until(lambda: got, 10, "the retained status")
    finally:
        client.loop_stop()
        client.disconnect()
    return got[-1]


def test_sigkill_mid_backlog_then_restart_delivers_everything_once(
    home: Home,
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    ingest: IngestProcess,
    topic_root: str,
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "hub"
    outbox = Outbox.open(data_dir / OUTBOX_FILE)
    rs = [
        bp_outbox_reading("BP-0001", T0 + timedelta(minutes=i), 110 + i % 50, 70 + i % 20, 60 + i % 30)
        for i in range(READINGS)
    ]
    outbox.add(rs, now=T0)
    outbox.close()
    # Small batches and a narrow window so the kill lands while the backlog is still draining.
    env = {"CAREHUB_GATEWAY_PUBLISH_MAX_BATCH": "5", "CAREHUB_GATEWAY_PUBLISH_WINDOW_BATCHES": "1"}
    first = GatewayProcess.start(
        hub_id=HUB_ID, mqtt_port=broker.port, topic_root=topic_root, data_dir=data_dir, extra_env=env
    )
    try:
        wait_until(lambda: outbox_counts(data_dir)[0] < READINGS - 50, 60, "part of the backlog to be acked")
    finally:
        first.kill()
    pending_at_kill = outbox_counts(data_dir)[0]
    assert 0 < pending_at_kill < READINGS, first.log_tail()
    lost = retained_status(broker.port, topic_root)
    assert (lost["state"], lost["session"]) == ("lost", 1)

    second = GatewayProcess.start(hub_id=HUB_ID, mqtt_port=broker.port, topic_root=topic_root, data_dir=data_dir)
    try:
        wait_until(lambda: outbox_counts(data_dir)[0] == 0, 120, "the rest of the backlog")
        online = retained_status(broker.port, topic_root)
        assert (online["state"], online["session"]) == ("online", 2)
    finally:
        assert second.stop() == 0, second.log_tail()
    count, distinct = db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone()  # type: ignore[misc]
    assert (count, distinct) == (READINGS * 3, READINGS)
    offline = retained_status(broker.port, topic_root)
    assert (offline["state"], offline["session"]) == ("offline", 2)
