"""``carehub demo`` as a user runs it: a child process that ends with one JSON line of totals, and
whose API and dashboard answer while it runs."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from core.db import create_database, drop_database, with_database


@pytest.fixture
def empty_database(pg_admin_url: str) -> Iterator[str]:
    name = f"carehub_test_demo_{secrets.token_hex(4)}"
    create_database(pg_admin_url, name)
    yield with_database(pg_admin_url, name)
    drop_database(pg_admin_url, name)


@dataclass(frozen=True)
class DemoApi:
    url: str
    email: str
    password: str


API_LINE = re.compile(r"^api: (http://127\.0\.0\.1:\d+)  dashboard: ")
SIGN_IN_LINE = re.compile(r"^sign in as (\S+) with password (\S+) ")


def run_demo(
    args: list[str], env_extra: dict[str, str], while_running: Callable[[DemoApi], None] | None = None
) -> tuple[dict[str, object], str]:
    """Runs the demo to its end; ``while_running`` is called with its API once the demo prints it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
    env.update(env_extra)
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "carehub", "demo", "--api-port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        lines: list[str] = []
        url = None
        try:
            for line in proc.stdout:
                lines.append(line)
                if match := API_LINE.match(line):
                    url = match.group(1)
                if (match := SIGN_IN_LINE.match(line)) and url and while_running is not None:
                    while_running(DemoApi(url, match.group(1), match.group(2)))
            proc.wait(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr.seek(0)
        out = "".join(lines)
        assert proc.returncode == 0, out[-3000:] + stderr.read()[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    return summary, out


def check_the_demo_api(api: DemoApi) -> None:
    """The demo's API answers /readyz (database and broker), serves the dashboard, and an admin
    signed in with the printed password reads the demo practice's patients and readings."""
    with httpx.Client(base_url=api.url, timeout=30) as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            200,
            {"status": "ready", "checks": {"database": True, "broker": True}},
        )
        page = client.get("/dashboard")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script src="/dashboard/dashboard.js"' in page.text
        assert client.get("/dashboard/dashboard.js").status_code == 200
        login = client.post("/auth/login", json={"email": api.email, "password": api.password})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        patients = client.get("/patients", headers=headers).json()
        assert patients["total"] == 8  # one per simulated hub of the demo practice
        latest = client.get(f"/patients/{patients['items'][0]['id']}/readings/latest", headers=headers)
        assert latest.status_code == 200
        assert client.get("/alerts", headers=headers).status_code == 200


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
    checked: list[DemoApi] = []

    def check(api: DemoApi) -> None:
        check_the_demo_api(api)
        checked.append(api)

    summary, out = run_demo(
        ["--duration", "6", "--hubs", "8", "--rate", "8"], {"CAREHUB_DATABASE_URL": empty_database}, check
    )
    assert_consistent(summary)
    assert [a.url for a in checked] == [summary["api_url"]]
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
    assert summary["api_url"] is not None  # the API ran beside the in-process broker too
