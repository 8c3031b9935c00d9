"""`carehub scheduler` and `carehub notifier` as real processes: configured from the environment,
doing their work, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts import store
from carehub.local_services import MosquittoBroker
from tests.alerts.conftest import SECRET_KEY, add_route, bp_c1
from tests.alerts.test_notifier import SECRET, Receiver
from tests.ingest.conftest import World
from tests.pipeline import wait_until


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def run(command: str, **env: str) -> subprocess.Popen[bytes]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
        environment |= {f"CAREHUB_{k.upper()}": v for k, v in env.items()} | {"CAREHUB_LOG_FORMAT": "text"}
        log = (tmp_path / f"{command}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "carehub", command], env=environment, stdout=log, stderr=log)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_scheduler_process_consumes_presence_and_stops_on_sigterm(
    start: Any, database_url: str, db: psycopg.Connection[Any], world: World, broker: MosquittoBroker, topic_root: str
) -> None:
    process = start(
        "scheduler",
        database_url=database_url,
        mqtt_port=str(broker.port),
        mqtt_topic_root=topic_root,
        scheduler_worker_id="t1",
        scheduler_tick_s="0.5",
    )
    hub = world.homes[0].hub_id
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=hub, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:

        def published() -> bool:
            info = client.publish(
                f"{topic_root}/hub/{hub}/up/status", json.dumps({"v": 1, "state": "online", "session": 3}), qos=1
            )
            info.wait_for_publish(5)
            return db.execute("SELECT session FROM hub_presence").fetchone() == (3,)

        wait_until(published, 60, "the scheduler stored the hub's presence")
        # Its ticks ran too: the world's patients have no readings for 20 days (ADH-2).
        wait_until(lambda: db.execute("SELECT count(*) FROM alerts WHERE rule_id = 'ADH-2'").fetchone() == (2,), 30)
    finally:
        client.disconnect()
        client.loop_stop()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_notifier_process_delivers_and_stops_on_sigterm(
    start: Any, database_url: str, db: psycopg.Connection[Any], world: World
) -> None:
    receiver = Receiver(fail_first=1)
    try:
        add_route(db, world.practice_id, "webhook", receiver.url, secret=SECRET)
        with db.transaction():
            store.raise_alert(db, bp_c1(world), datetime.now(UTC))
        process = start(
            "notifier",
            database_url=database_url,
            notifier_retry_base_s="0.2",
            notifier_poll_interval_s="0.1",
            notifier_secret_key=SECRET_KEY,
        )
        wait_until(lambda: db.execute("SELECT status FROM notification_outbox").fetchone() == ("delivered",), 60)
        assert [ok for ok, _, _ in receiver.requests] == [True, True]
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        receiver.close()
