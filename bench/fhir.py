"""FHIR export benchmark: what the FHIR mapping costs over the plain readings API, on the same data, in
the same run, through the real application (ASGI in process, PostgreSQL, row-level security, audit).

Seeds a practice with N patients, each with a blood-pressure cuff (3 readings a day: systolic,
diastolic, mean and pulse rows) and a scale (1 weight a day) over 90 days, then for random patients
asks, interleaved so that load affects all alike, for the last 30 days as
  (a) ``GET /patients/{id}/readings`` (baseline: one JSON row per stored observation),
  (b) ``GET /fhir/Observation?patient=…&date=ge…&date=lt…&_count=1000`` (searchset Bundle),
  (c) ``GET /fhir/Patient/{id}/$everything?start=…&end=…&_count=1000`` (plus Patient and Devices).
Prints p50/p99 latency, body size and the ratios b/a and c/a at p50.
Usage: .venv/bin/python bench/fhir.py [--patients N] [--requests N] [--seed S] [--admin-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth.passwords import Passwords
from api.pool import open_pool
from api.settings import ApiSettings
from api.users.service import create_user_with_password
from core.db import connect, create_database, drop_database, with_database
from core.migrate import migrate

DAYS = 90
WINDOW_DAYS = 30
BP = ((150021, 125.0, "mm[Hg]"), (150022, 80.0, "mm[Hg]"), (150023, 95.0, "mm[Hg]"), (149546, 70.0, "/min"))
WEIGHT = 188736
PASSWORD = "bench password of some length"


def say(text: str) -> None:
    print(text, flush=True)


def seed(url: str, patients: int, rng: random.Random, end: datetime) -> tuple[list[UUID], int]:
    """Practice, admin, patients, devices and 90 days of readings (COPY); returns patients and rows."""
    rows = 0
    ids = [uuid4() for _ in range(patients)]
    with connect(url, application_name="carehub-bench-fhir") as conn:
        practice = uuid4()
        conn.execute("INSERT INTO practices (id, name, time_zone) VALUES (%s, 'Bench', 'America/Chicago')", (practice,))
        conn.execute("INSERT INTO hubs (id, practice_id, serial) VALUES ('HUBBENCH', %s, 'SER-BENCH')", (practice,))
        create_user_with_password(
            conn,
            fast_passwords(),
            practice_id=practice,
            email="admin@bench.example",
            display_name="Bench",
            role="admin",
            credential="none",
            password=PASSWORD,
            at=end - timedelta(days=DAYS),
        )
        devices: dict[UUID, tuple[UUID, UUID]] = {pid: (uuid4(), uuid4()) for pid in ids}
        with conn.cursor().copy("COPY patients (id, practice_id, mrn, time_zone) FROM STDIN") as cp:
            for n, pid in enumerate(ids):
                cp.write_row((pid, practice, f"MRN-{n}", "America/Chicago"))
        with conn.cursor().copy("COPY devices (id, practice_id, serial, kind, connectivity) FROM STDIN") as cp:
            for cuff, scale in devices.values():
                cp.write_row((cuff, practice, f"C-{cuff.hex[:16]}", "bp_cuff", "ble"))
                cp.write_row((scale, practice, f"S-{scale.hex[:16]}", "scale", "cellular"))
        start = end - timedelta(days=DAYS)
        with conn.cursor().copy(
            "COPY device_patient_assignments (id, practice_id, device_id, patient_id, valid_from) FROM STDIN"
        ) as cp:
            for pid, pair in devices.items():
                for device in pair:
                    cp.write_row((uuid4(), practice, device, pid, start))
        with conn.cursor().copy(
            "COPY readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, unit,"
            " measured_at, measured_at_source, received_at, from_device_memory) FROM STDIN"
        ) as cp:
            for pid, (cuff, scale) in devices.items():
                for day in range(DAYS):
                    midnight = start + timedelta(days=day)
                    for hour in (7, 13, 20):
                        at = midnight + timedelta(hours=hour, seconds=rng.randrange(3600))
                        reading = uuid4()
                        for metric, value, unit in BP:
                            value_ = value + rng.uniform(-10, 10)
                            cp.write_row(
                                (
                                    practice,
                                    pid,
                                    cuff,
                                    "HUBBENCH",
                                    reading,
                                    metric,
                                    value_,
                                    unit,
                                    at,
                                    "device_clock",
                                    at,
                                    False,
                                )
                            )
                            rows += 1
                    at = midnight + timedelta(hours=6, seconds=rng.randrange(3600))
                    cp.write_row(
                        (
                            practice,
                            pid,
                            scale,
                            None,
                            uuid4(),
                            WEIGHT,
                            80 + rng.uniform(-2, 2),
                            "kg",
                            at,
                            "vendor_cloud",
                            at,
                            False,
                        )
                    )
                    rows += 1
        conn.commit()
        conn.execute("ANALYZE")
    return ids, rows


def fast_passwords() -> Passwords:
    """The bench measures reads, not login: a cheap argon2id profile."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(url: str, ids: list[UUID], requests: int, rng: random.Random, end: datetime) -> dict[str, Any]:
    settings = ApiSettings(
        database_url=url,
        api_jwt_secret=SecretStr(secrets.token_urlsafe(48)),
        api_login_rate_per_minute=1000,
        api_pool_min_size=2,
        api_pool_max_size=4,
    )
    pool = open_pool(settings)
    lo, hi = end - timedelta(days=WINDOW_DAYS), end
    day_lo, day_hi = lo.date().isoformat(), (hi - timedelta(days=1)).date().isoformat()
    contenders = {
        "(a) /patients/{id}/readings": lambda pid: (
            f"/patients/{pid}/readings",
            {"from": lo.isoformat(), "to": hi.isoformat(), "limit": 10000},
        ),
        "(b) /fhir/Observation": lambda pid: (
            "/fhir/Observation",
            {"patient": str(pid), "date": [f"ge{day_lo}", f"le{day_hi}"], "_count": 1000},
        ),
        "(c) /fhir/Patient/{id}/$everything": lambda pid: (
            f"/fhir/Patient/{pid}/$everything",
            {"start": day_lo, "end": day_hi, "_count": 1000},
        ),
    }
    latencies: dict[str, list[float]] = {name: [] for name in contenders}
    sizes: dict[str, list[int]] = {name: [] for name in contenders}
    try:
        app = create_app(settings, pool, passwords=fast_passwords())
        with TestClient(app) as client:
            token = client.post("/auth/login", json={"email": "admin@bench.example", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            for n in range(requests + 10):
                pid = rng.choice(ids)
                for name, request in contenders.items():
                    path, params = request(pid)
                    started = time.perf_counter()
                    response = client.get(path, params=params, headers=headers)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise SystemExit(f"{name}: {response.status_code} {response.text[:300]}")
                    if n >= 10:  # the first rounds warm caches and the pool
                        latencies[name].append(elapsed * 1000)
                        sizes[name].append(len(response.content))
    finally:
        pool.close()
    return {"latencies": latencies, "sizes": sizes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200, help="requests per contender")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CAREHUB_BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"),
    )
    args = parser.parse_args(argv)
    say(f"seed {args.seed}; {args.patients:,} patients, {args.requests:,} requests per contender")
    rng = random.Random(args.seed)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    name = f"carehub_bench_fhir_{secrets.token_hex(3)}"
    create_database(args.admin_url, name)
    try:
        url = with_database(args.admin_url, name)
        with connect(url, application_name="carehub-bench-fhir", autocommit=True) as conn:
            migrate(conn, storage="auto")
        say("seeding…")
        ids, rows = seed(url, args.patients, rng, end)
        say(f"{rows:,} reading rows; {WINDOW_DAYS}-day window per request (~{WINDOW_DAYS * 13} rows)")
        result = run(url, ids, args.requests, rng, end)
    finally:
        drop_database(args.admin_url, name)
    latencies, sizes = result["latencies"], result["sizes"]
    say("")
    say(f"{'contender':<36} {'p50 ms':>8} {'p99 ms':>8} {'body KiB':>9}")
    for contender, samples in latencies.items():
        say(
            f"{contender:<36} {percentile(samples, 0.5):>8.1f} {percentile(samples, 0.99):>8.1f}"
            f" {statistics.mean(sizes[contender]) / 1024:>9.1f}"
        )
    base = percentile(latencies["(a) /patients/{id}/readings"], 0.5)
    say("")
    say(f"b/a at p50 = {percentile(latencies['(b) /fhir/Observation'], 0.5) / base:.2f}x")
    say(f"c/a at p50 = {percentile(latencies['(c) /fhir/Patient/{id}/$everything'], 0.5) / base:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
