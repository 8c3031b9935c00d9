"""Vendor webhook throughput over real HTTP (uvicorn, httpx clients), against two floors measured in the
same run on the same server and database:

  (a) bare HTTP: a route that reads the body and answers 200 (what FastAPI + uvicorn cost at all);
  (b) envelope only: a route that commits the raw envelope and answers (the durability floor of §0.1);
  (c) carehub: ``POST /webhooks/bodytrace`` — envelope, Basic auth, decode, ingest validation, COPY +
      resolve-and-insert, ingest hooks (activation, alert evaluation), outcome; one new reading each.

Run: ``.venv/bin/python -P bench/webhooks.py [--requests 2000] [--clients 4]``. A practice with 10,000
patients sending 3 readings a day posts about 0.35 requests/s."""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from api.app import create_app
from api.pool import open_pool
from api.settings import ApiSettings
from api.webhooks import repository
from api.webhooks.authentication import Scheme, secret_digest
from carehub.commands.ingest import stored_readings_hooks
from carehub.local_services import free_port
from core.db import connect, create_database, drop_database, with_database
from core.migrate import migrate
from drivers.vendors.bodytrace import imei_from_device_id
from ingest.settings import IngestSettings

PASSWORD = "bench-password-0123456789abcdef"


def say(text: str) -> None:
    print(text, flush=True)


def seed(url: str, devices: int) -> list[int]:
    """One practice, one patient per cuff, each cuff cellular with an IMEI; one BodyTrace credential."""
    now = datetime.now(UTC)
    device_ids = [10_000_000_000 + i for i in range(devices)]
    with connect(url, application_name="bench-webhooks", autocommit=True) as conn:
        migrate(conn)
        conn.execute(
            "SELECT carehub_ensure_reading_partitions(%s, %s)", (now - timedelta(days=40), now + timedelta(days=40))
        )
    with connect(url, application_name="bench-webhooks") as conn:
        practice = uuid.uuid4()
        conn.execute("INSERT INTO practices (id, name, time_zone) VALUES (%s, 'Bench', 'America/Chicago')", (practice,))
        for n, device_id in enumerate(device_ids):
            patient, device = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                "INSERT INTO patients (id, practice_id, mrn, time_zone) VALUES (%s, %s, %s, 'America/Chicago')",
                (patient, practice, f"MRN-{n}"),
            )
            conn.execute(
                "INSERT INTO devices (id, practice_id, serial, kind, connectivity, imei)"
                " VALUES (%s, %s, %s, 'bp_cuff', 'cellular', %s)",
                (device, practice, f"BT-{n}", imei_from_device_id(device_id)),
            )
            conn.execute(
                "INSERT INTO device_patient_assignments (id, practice_id, device_id, patient_id, valid_from)"
                " VALUES (%s, %s, %s, %s, %s)",
                (uuid.uuid4(), practice, device, patient, now - timedelta(days=60)),
            )
        repository.create_credential(
            conn,
            credential_id=uuid.uuid4(),
            practice_id=practice,
            vendor="bodytrace",
            scheme=Scheme.BASIC,
            key_id="bench",
            secret_sha256=secret_digest(PASSWORD),
            secret_encrypted=None,
        )
        conn.commit()
    return device_ids


def bodies(device_ids: list[int], count: int) -> list[bytes]:
    start_ms = int((datetime.now(UTC) - timedelta(days=1)).timestamp() * 1000)
    return [
        json.dumps(
            {
                "deviceId": device_ids[i % len(device_ids)],
                "ts": start_ms + i * 1000,
                "batteryVoltage": 5800,
                "rssi": 80,
                "values": {"systolic": 15999 + i % 50, "diastolic": 10666, "pulse": 72, "irregular": 0},
            }
        ).encode()
        for i in range(count)
    ]


def add_floors(app: FastAPI, url: str) -> None:
    @app.post("/bench/bare", include_in_schema=False)
    async def bare(request: Request) -> Response:
        await request.body()
        return Response(b'{"ok":true}', media_type="application/json")

    local = threading.local()

    @app.post("/bench/envelope", include_in_schema=False)
    async def envelope(request: Request) -> Response:
        raw = await request.body()
        envelope_id = await run_in_threadpool(store, raw)
        return Response(json.dumps({"envelope_id": envelope_id}).encode(), media_type="application/json")

    def store(raw: bytes) -> int:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect(url, application_name="bench-floor")
        with conn.transaction():
            return repository.insert_envelope(
                conn, vendor="bench", received_at=datetime.now(UTC), headers={}, body=raw, client_address=None
            )


def run(
    base: str, path: str, payloads: list[bytes], clients: int, headers: dict[str, str]
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [payloads[i::clients] for i in range(clients)]

    def worker(chunk: list[bytes]) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            mine = []
            for body in chunk:
                t0 = time.perf_counter()
                response = client.post(path, content=body, headers=headers)
                mine.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
            with lock:
                latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(worker, c) for c in chunks]:
            future.result()
    return len(payloads) / (time.perf_counter() - started), latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CAREHUB_BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"),
    )
    args = parser.parse_args(argv)
    name = f"carehub_bench_webhooks_{secrets.token_hex(3)}"
    create_database(args.admin_url, name)
    try:
        url = with_database(args.admin_url, name)
        say(f"seeding {args.devices} cellular cuffs…")
        device_ids = seed(url, args.devices)
        settings = ApiSettings(
            database_url=url, api_jwt_secret=SecretStr("bench-signing-key-0123456789abcdef-0123"), api_pool_max_size=8
        )
        pool = open_pool(settings)
        app = create_app(settings, pool, reading_hooks=stored_readings_hooks(IngestSettings()))
        add_floors(app, url)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()}
        payloads = bodies(device_ids, args.requests)
        say(f"{args.requests} requests per contender, {args.clients} concurrent clients")
        results: dict[str, tuple[float, list[float]]] = {}
        contenders: list[tuple[str, Callable[[], tuple[float, list[float]]]]] = [
            ("(a) bare HTTP", lambda: run(base, "/bench/bare", payloads, args.clients, {})),
            ("(b) envelope commit only", lambda: run(base, "/bench/envelope", payloads, args.clients, {})),
            ("(c) carehub webhook", lambda: run(base, "/webhooks/bodytrace", payloads, args.clients, auth)),
        ]
        for label, contender in contenders:
            results[label] = contender()
        server.should_exit = True
        thread.join(10)
        pool.close()
        with connect(url, application_name="bench-webhooks") as conn:
            stored = conn.execute("SELECT count(DISTINCT reading_id) FROM readings").fetchone()
        say(f"{'contender':<28}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        for label, (rate, latencies) in results.items():
            say(f"{label:<28}{rate:>9,.0f}{pct(latencies, 50):>9.1f}{pct(latencies, 99):>9.1f}")
        a, b, c = (results[label][0] for label, _ in contenders)
        say(f"c/a = {c / a:.2f}, c/b = {c / b:.2f}; readings stored: {stored[0] if stored else 0} of {args.requests}")
        return 0
    finally:
        drop_database(args.admin_url, name)


if __name__ == "__main__":
    raise SystemExit(main())
