"""``carehub provisioning run`` as a child process: it becomes ready (database and broker), publishes
a committed assignment change as a retained desired config, logs structured JSON lines without
patient data, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from carehub.local_services import MosquittoBroker, free_port
from core.hub_messages import HubConfig, parse_message
from provisioning import registry
from tests.pipeline import wait_until
from tests.provisioning.conftest import Clinic, Conn, rpm_ready_patient
from tests.provisioning.test_broker_acl import Client
from tests.provisioning.test_hub_config import add_units, assign


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def test_service_process_publishes_and_stops_on_sigterm(
    db: Conn, database_url: str, clinic: Clinic, broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    registry.create_hub(db, practice_id=clinic.practice_id, hub_id="hub-proc-1", serial="HP1")
    add_units(db, clinic, "BP-P1")
    patient = rpm_ready_patient(db, clinic)
    assign(db, clinic, "BP-P1", patient, "hub-proc-1")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
    env |= {
        "CAREHUB_DATABASE_URL": database_url,
        "CAREHUB_MQTT_PORT": str(broker.port),
        "CAREHUB_MQTT_TOPIC_ROOT": topic_root,
        "CAREHUB_HEALTH_PORT": str(port),
        "CAREHUB_PROVISIONING_CLIENT_ID": f"prov-{port}",
        "CAREHUB_PROVISIONING_POLL_INTERVAL_S": "0.2",
    }
    log_path = tmp_path / "provisioning.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "carehub", "provisioning", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    hub = Client(broker.port, "hub-proc-1", "")
    try:
        wait_until(lambda: ready(port), 30, "provisioning ready")
        assert hub.connected.wait(5)
        hub.subscribe(f"{topic_root}/hub/hub-proc-1/down/config/desired")
        wait_until(lambda: hub.messages, 15, "retained desired config")
        config = parse_message(HubConfig, hub.messages[0][1])
        assert (config.version, [w.serial for w in config.whitelist]) == (1, ["BP-P1"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        hub.close()
        if process.poll() is None:
            process.kill()
            process.wait(10)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = [line.get("message") or line.get("msg") for line in lines]
    assert "desired config published" in messages
    assert "provisioning config service stopped" in messages
    text = log_path.read_text()
    assert "MRN-100" not in text
    assert "1EG4" not in text
