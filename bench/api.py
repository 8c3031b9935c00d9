"""API benchmark (issue 8): the practice-facing API over real HTTP against a database with 10 million
readings across 10,000 patients.

Measured, each against a baseline taken in the same run:
  (1) the 30-day readings query and (2) the daily summary of one random patient, p50/p99 latency over
      many requests from one client, against
        (a) the route's SQL alone, executed directly through psycopg as the owner (no HTTP, no RLS,
            no audit),
        (b) the route's whole transaction through psycopg (``SET LOCAL ROLE carehub_api`` with the
            practice setting, the patient check, the query, the audit insert), and
        (c) ``GET /healthz`` over the same HTTP connection (the HTTP floor);
  (3) the alerts list at 20 concurrent clients, requests/s, against ``/healthz`` at the same
      concurrency.
Goal: p99 under 50 ms for the patient queries on this machine.

The database is generated server-side (``INSERT … SELECT generate_series``, a few hundred patients per
statement, with progress) and kept for the next run: its name carries the size and a marker table
carries ``DATA_VERSION``; a database whose marker differs is rebuilt. ``--rebuild`` forces it.

Usage: .venv/bin/python bench/api.py [--readings N] [--patients M] [--requests K] [--build-only]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
from psycopg_pool import ConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.auth.passwords import Passwords
from api.auth.repository import set_password
from api.readings import repository as readings_repository
from api.scope import practice_transaction
from carehub.local_services import ApiProcess
from core.db import connect, create_database, drop_database, with_database
from core.migrate import migrate

# Bump when the generated data changes shape; a database with another marker is rebuilt.
DATA_VERSION = "api-bench-1"
PRACTICES = 10
DAYS = 180  # the readings span this many days back from the build time
PATIENTS_PER_STATEMENT = 250
ALERTS_PER_PRACTICE = 100
CONCURRENT_CLIENTS = 20
GOAL_P99_MS = 50
# (MDC code, base value, UCUM unit): one blood-pressure measurement is three observation rows.
METRICS = ((150021, 120.0, "mm[Hg]"), (150022, 80.0, "mm[Hg]"), (149546, 70.0, "/min"))
BENCH_EMAIL = "clinician@practice0.bench.example"

Conn = psycopg.Connection[tuple[Any, ...]]


def say(text: str) -> None:
    print(text, flush=True)


# ----------------------------------------------------------------------------------------- the data


def database_name(readings: int, patients: int) -> str:
    return f"carehub_bench_api_{patients}p_{readings}r"


def _database_exists(admin_url: str, name: str) -> bool:
    with connect(admin_url, application_name="bench-api", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _marker(url: str) -> str | None:
    with connect(url, application_name="bench-api", autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('bench_api_marker')").fetchone() != (None,):
            row = conn.execute("SELECT version FROM bench_api_marker").fetchone()
            return str(row[0]) if row else None
    return None


def ensure_database(admin_url: str, readings: int, patients: int, *, rebuild: bool) -> str:
    name = database_name(readings, patients)
    url = with_database(admin_url, name)
    if _database_exists(admin_url, name):
        if not rebuild and _marker(url) == DATA_VERSION:
            say(f"reusing database {name} (marker {DATA_VERSION})")
            with connect(url, application_name="bench-api", autocommit=True) as conn:
                migrate(conn)  # a migration added since the build (an index) applies here
            return url
        say(f"dropping database {name} (marker differs or --rebuild)")
        drop_database(admin_url, name)
    create_database(admin_url, name)
    try:
        build(url, readings, patients)
    except BaseException:
        drop_database(admin_url, name)
        raise
    return url


def build(url: str, readings: int, patients: int) -> None:
    per_patient = -(-readings // (patients * len(METRICS)))  # measurements per patient, rounded up
    spacing_s = DAYS * 86400 // per_patient
    anchor = datetime.now(UTC).replace(microsecond=0)
    say(
        f"building: {patients:,} patients in {PRACTICES} practices, {per_patient} measurements each "
        f"(every {spacing_s / 3600:.1f} h over {DAYS} days) = {patients * per_patient * len(METRICS):,} reading rows"
    )
    started = time.perf_counter()
    with connect(url, application_name="bench-api", autocommit=True) as conn:
        migrate(conn)
        conn.execute(
            "SELECT carehub_ensure_reading_partitions(%s, %s)",
            (anchor - timedelta(days=DAYS + 31), anchor + timedelta(days=62)),
        )
        conn.execute(
            "INSERT INTO practices (id, name, time_zone)"
            " SELECT gen_random_uuid(), 'Bench practice ' || i, 'America/Chicago' FROM generate_series(0, %s - 1) i",
            (PRACTICES,),
        )
        conn.execute(
            "CREATE TABLE bench_patients AS"
            " SELECT n, (SELECT id FROM practices WHERE name = 'Bench practice ' || (n %% %s)) AS practice_id,"
            " gen_random_uuid() AS patient_id, gen_random_uuid() AS device_id"
            " FROM generate_series(0, %s - 1) n",
            (PRACTICES, patients),
        )
        conn.execute("ALTER TABLE bench_patients ADD PRIMARY KEY (n)")
        conn.execute(
            "INSERT INTO patients (id, practice_id, mrn, given_name, family_name, time_zone)"
            " SELECT patient_id, practice_id, 'BENCH-' || n, 'Given' || n, 'Family' || n, 'America/Chicago'"
            " FROM bench_patients"
        )
        conn.execute(
            "INSERT INTO devices (id, practice_id, serial, kind, connectivity)"
            " SELECT device_id, practice_id, 'BENCH-BP-' || n, 'bp_cuff', 'ble' FROM bench_patients"
        )
        metrics = ", ".join(f"({code}, {base}, '{unit}')" for code, base, unit in METRICS)
        done = 0
        for lo in range(0, patients, PATIENTS_PER_STATEMENT):
            hi = min(patients, lo + PATIENTS_PER_STATEMENT)
            conn.execute(
                "INSERT INTO readings (practice_id, patient_id, device_id, reading_id, metric, value, unit,"
                " measured_at, measured_at_source, received_at, from_device_memory)"
                " SELECT b.practice_id, b.patient_id, b.device_id, gen_random_uuid(), m.code,"
                "  m.base + ((j * 7 + b.n) %% 25), m.unit, t.at, 'device', t.at, false"
                " FROM bench_patients b"
                " CROSS JOIN generate_series(0, %s - 1) j"
                " CROSS JOIN LATERAL (SELECT %s::timestamptz - make_interval(secs => j * %s + b.n %% 3600) AS at) t"
                f" CROSS JOIN (VALUES {metrics}) m(code, base, unit)"
                " WHERE b.n >= %s AND b.n < %s",
                (per_patient, anchor, spacing_s, lo, hi),
            )
            done = hi
            elapsed = time.perf_counter() - started
            rows = done * per_patient * len(METRICS)
            say(
                f"  {done:,}/{patients:,} patients, {rows:,} rows, {elapsed:.0f} s"
                f" ({rows / elapsed:,.0f} rows/s, about {elapsed / done * (patients - done):.0f} s left)"
            )
        say("  alerts …")
        conn.execute(
            "INSERT INTO alerts (id, practice_id, subject_kind, subject, patient_id, category, rule_id, rule_version,"
            " severity, thresholds, observed, opened_at, last_evidence_at)"
            " SELECT gen_random_uuid(), b.practice_id, 'patient', b.patient_id::text, b.patient_id, 'clinical',"
            " 'BP-BENCH', 1, (ARRAY['info', 'warning', 'critical'])[1 + b.n %% 3],"
            " '{\"max\": 140}', '{\"value\": 150}',"
            " %s::timestamptz - make_interval(mins => b.n), %s::timestamptz - make_interval(mins => b.n)"
            " FROM bench_patients b WHERE b.n < %s",
            (anchor, anchor, ALERTS_PER_PRACTICE * PRACTICES),
        )
        say("  analyze …")
        conn.execute("ANALYZE")
        conn.execute("CREATE TABLE bench_api_marker (version text NOT NULL, built_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO bench_api_marker VALUES (%s, now())", (DATA_VERSION,))
    say(f"built in {time.perf_counter() - started:.0f} s")


def bench_user(url: str) -> tuple[str, UUID, list[UUID]]:
    """A clinician of practice 0 with a password made for this run; the patients of practice 0."""
    password = secrets.token_urlsafe(18)
    passwords = Passwords()
    with connect(url, application_name="bench-api", autocommit=True) as conn, conn.transaction():
        practice = conn.execute("SELECT id FROM practices WHERE name = 'Bench practice 0'").fetchone()
        assert practice is not None
        row = conn.execute("SELECT id FROM users WHERE email = %s", (BENCH_EMAIL,)).fetchone()
        if row is None:
            row = conn.execute(
                "INSERT INTO users (id, practice_id, email, display_name, role, credential)"
                " VALUES (gen_random_uuid(), %s, %s, 'Bench clinician', 'clinician', 'physician') RETURNING id",
                (practice[0], BENCH_EMAIL),
            ).fetchone()
            assert row is not None
        set_password(conn, row[0], passwords.hash(password), datetime.now(UTC))
        patients = [
            r[0] for r in conn.execute("SELECT patient_id FROM bench_patients WHERE practice_id = %s", practice)
        ]
    return password, row[0], patients


# ---------------------------------------------------------------------------------------- measuring


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples_s: list[float]) -> tuple[float, float]:
    return statistics.median(samples_s) * 1000, percentile(samples_s, 0.99) * 1000


def timed(fn: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


@dataclass(frozen=True)
class PatientQuery:
    label: str
    suffix: str  # after /patients/{id}/readings
    run: Callable[[Conn, UUID, datetime], object]  # the route's SQL for one patient


PATIENT_QUERIES = (
    PatientQuery(
        "30-day readings",
        "",
        lambda conn, pid, now: readings_repository.readings_between(
            conn, pid, now - timedelta(days=30), now, None, 1000
        ),
    ),
    PatientQuery(
        "daily summary",
        "/daily",
        lambda conn, pid, now: readings_repository.daily_between(
            conn, pid, (now - timedelta(days=30)).date(), now.date(), None
        ),
    ),
)


def route_transaction(pool: ConnectionPool[Conn], practice: UUID, user: UUID, query: PatientQuery, pid: UUID) -> None:
    """What the route does in its transaction (api/readings/router.py), without HTTP."""
    with practice_transaction(pool, practice, user) as conn:
        conn.execute("SELECT EXISTS (SELECT 1 FROM patients WHERE id = %s)", (pid,))
        query.run(conn, pid, datetime.now(UTC))
        conn.execute(
            "INSERT INTO audit_log (practice_id, user_id, at, action, patient_id, patient_ids, method, route,"
            " client_address) VALUES (%s, %s, now(), 'bench.read', %s, '{}', 'GET', %s, NULL)",
            (practice, user, pid, f"/patients/{{patient_id}}/readings{query.suffix}"),
        )


def measure_patient_queries(
    url: str, api: ApiProcess, token: str, user: UUID, patients: list[UUID], count: int
) -> bool:
    """Prints p50/p99 per contender; True when the API met the goal on every query."""
    rng = random.Random(8)
    say(f"(seed 8; {count} requests per contender, one client, random patients of practice 0)")
    met = True
    pool: ConnectionPool[Conn] = ConnectionPool(url, min_size=1, max_size=1, open=False)
    pool.open()
    with (
        pool,
        connect(url, application_name="bench-api", autocommit=True) as conn,
        httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client,
    ):
        row = conn.execute("SELECT practice_id FROM patients WHERE id = %s", (patients[0],)).fetchone()
        assert row is not None
        practice: UUID = row[0]
        for query in PATIENT_QUERIES:
            contenders: dict[str, Callable[[], object]] = {
                "(a) the SQL alone, psycopg": lambda q=query: q.run(conn, rng.choice(patients), datetime.now(UTC)),
                "(b) route transaction, psycopg": lambda q=query: route_transaction(
                    pool, practice, user, q, rng.choice(patients)
                ),
                "API over HTTP": lambda q=query: client.get(
                    f"/patients/{rng.choice(patients)}/readings{q.suffix}"
                ).raise_for_status(),
                "(c) GET /healthz, HTTP floor": lambda: client.get("/healthz").raise_for_status(),
            }
            results = {}
            for name, fn in contenders.items():
                timed(fn, 20)  # warm caches and connections
                results[name] = summary(timed(fn, count))
            a = results["(a) the SQL alone, psycopg"]
            say(f"\n{query.label}: p50 / p99 ms, and as multiples of (a)")
            for name, (p50, p99) in results.items():
                say(f"  {name:32s} {p50:7.2f} / {p99:7.2f}   ({p50 / a[0]:5.1f}x / {p99 / a[1]:5.1f}x)")
            p99_api = results["API over HTTP"][1]
            met = met and p99_api < GOAL_P99_MS
            say(f"  goal p99 < {GOAL_P99_MS} ms: {'met' if p99_api < GOAL_P99_MS else 'MISSED'}")
    return met


def throughput(api: ApiProcess, token: str, path: str, requests_per_client: int) -> tuple[float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    errors = [0]
    start = threading.Barrier(CONCURRENT_CLIENTS + 1)

    def client_loop() -> None:
        with httpx.Client(base_url=api.url, headers=headers, timeout=60) as client:
            client.get("/healthz")
            start.wait()
            for _ in range(requests_per_client):
                if client.get(path).status_code != 200:
                    errors[0] += 1

    threads = [threading.Thread(target=client_loop) for _ in range(CONCURRENT_CLIENTS)]
    for thread in threads:
        thread.start()
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    return CONCURRENT_CLIENTS * requests_per_client / elapsed, errors[0]


def measure_alerts(api: ApiProcess, token: str, requests_per_client: int) -> None:
    alerts, alert_errors = throughput(api, token, "/alerts", requests_per_client)
    floor, floor_errors = throughput(api, token, "/healthz", requests_per_client)
    say(
        f"\nalerts list at {CONCURRENT_CLIENTS} concurrent clients ({ALERTS_PER_PRACTICE} open alerts in the practice):"
    )
    say(f"  GET /alerts    {alerts:8.1f} requests/s ({alert_errors} errors)")
    say(f"  GET /healthz   {floor:8.1f} requests/s ({floor_errors} errors)   alerts/healthz = {alerts / floor:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500, help="requests per latency contender")
    parser.add_argument("--alert-requests", type=int, default=50, help="requests per concurrent client")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database even if its marker matches")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the database and stop")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CAREHUB_BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"),
    )
    args = parser.parse_args(argv)
    if args.patients < PRACTICES or args.readings < args.patients * len(METRICS):
        parser.error(f"need at least {PRACTICES} patients and {len(METRICS)} readings per patient")
    url = ensure_database(args.admin_url, args.readings, args.patients, rebuild=args.rebuild)
    if args.build_only:
        return 0
    password, user, patients = bench_user(url)
    # No broker here: the API's /readyz would say so; /healthz says it serves.
    api = ApiProcess.start(
        database_url=url,
        workdir=Path(tempfile.mkdtemp(prefix="carehub-bench-api-")),
        extra_env={
            "CAREHUB_API_ACCESS_TOKEN_TTL_S": "3600",
            "CAREHUB_API_LOGIN_RATE_PER_MINUTE": "1000",
            "CAREHUB_LOG_LEVEL": "WARNING",
        },
    )
    api.wait_ready(60, path="/healthz")
    try:
        login = httpx.post(f"{api.url}/auth/login", json={"email": BENCH_EMAIL, "password": password}, timeout=30)
        login.raise_for_status()
        token = login.json()["access_token"]
        measure_patient_queries(url, api, token, user, patients, args.requests)
        measure_alerts(api, token, args.alert_requests)
    finally:
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
