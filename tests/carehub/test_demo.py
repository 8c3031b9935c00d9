"""``carehub demo`` as a user runs it: a child process that ends with one JSON line of totals."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from core.db import create_database, drop_database, with_database


@pytest.fixture
def empty_database(pg_admin_url: str) -> Iterator[str]:
    name = f"carehub_test_demo_{secrets.token_hex(4)}"
    create_database(pg_admin_url, name)
    yield with_database(pg_admin_url, name)
    drop_database(pg_admin_url, name)


def run_demo(args: list[str], env_extra: dict[str, str]) -> tuple[dict[str, object], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
    env.update(env_extra)
    proc = subprocess.run(
        [sys.executable, "-m", "carehub", "demo", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary, proc.stdout


def assert_consistent(summary: dict[str, object]) -> None:
    published = summary["readings_published"]
    assert isinstance(published, int)
    assert published > 0
    assert summary["unacknowledged"] == 0
    assert summary["acked_accepted"] + summary["acked_duplicate"] + summary["acked_rejected"] == published  # type: ignore[operator]
    assert summary["readings_stored"] == summary["acked_accepted"]
    assert summary["duplicates"] == summary["acked_duplicate"]
    assert summary["dead_letters"] == summary["acked_rejected"]


def test_demo_with_a_configured_database_and_mosquitto(empty_database: str, mosquitto_binary: str) -> None:
    summary, out = run_demo(["--duration", "6", "--hubs", "8", "--rate", "8"], {"CAREHUB_DATABASE_URL": empty_database})
    assert_consistent(summary)
    assert summary["ingest_workers"] == 2
    assert "mosquitto" in out
    assert "password file and ACL" in out
    assert "stored" in out  # the live progress lines
    # Beside them, homes with real gateways on the virtual BLE radio (device -> GATT -> outbox -> MQTT).
    assert summary["radio_homes"] == 3
    assert summary["gateway_device_sessions"] > 0
    assert summary["gateway_readings_stored"] > 0
    assert summary["gateway_readings_stored"] == summary["gateway_readings_acknowledged"]


def test_demo_with_nothing_configured_uses_embedded_postgres_and_the_in_process_broker() -> None:
    summary, out = run_demo(["--duration", "5", "--hubs", "4", "--rate", "4", "--broker", "amqtt"], {})
    assert_consistent(summary)
    assert summary["ingest_workers"] == 1
    assert "embedded-postgres" in out
    assert "amqtt" in out
