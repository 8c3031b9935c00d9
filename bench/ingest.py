"""Ingest benchmark: one recorded stream of hub messages replayed to every contender on the same
private Mosquitto and the same PostgreSQL, in one run.

Contenders
  (a1) bare subscriber: receives and parses the messages (QoS 1), nothing else;
  (a2) bare COPY of the same observation rows into the readings table with its unique key;
       the ceiling (a) is the lower of a1 and a2;
  (b)  naive peer: a subscriber that inserts row by row with autocommit;
  (c)  carehub ingest (child processes) with one worker and with two.

Method: each contender's persistent session is created first, then the whole stream is published
into the broker while the contender is away, then the contender connects and drains it; the time
is from connecting to the last reading processed (for ingest processes, their measured start-up
time is subtracted). Each database contender gets a fresh copy of one seeded database.

Prints readings/s and rows/s for each, the ratios c/a and c/b, and each ingest process's peak RSS.
Usage: .venv/bin/python bench/ingest.py [--messages N] [--hubs N] [--naive-messages N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
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

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from carehub.local_services import IngestProcess, MosquittoBroker, find_mosquitto
from core.db import connect, create_database, drop_database, with_database
from core.migrate import migrate
from firmware_sim.fleet import seed_fleet
from firmware_sim.hub_model import FaultMix, HubModel, SimHub
from provisioning import registry

TOPIC_ROOT = "carehub/v1"


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------------------- stream


@dataclass
class Stream:
    messages: list[tuple[str, bytes]]
    readings: int
    rows: int
    distinct_rows: list[
        tuple[Any, ...]
    ]  # (serial, metric_code, value, unit, measured_at, reading_id) first occurrences


def record_stream(fleet: list[SimHub], n_messages: int, seed: int) -> Stream:
    """A realistic mix: ~90 % live messages of 1-3 readings, ~10 % backlog batches of 16-50 after an
    outage; a few percent replays with new ids, repeated messages and bad readings."""
    rng = np.random.default_rng(seed)
    faults = FaultMix(bad_reading=0.01, replay_with_new_id=0.02, unknown_device=0.005)
    models = [HubModel(h, np.random.default_rng(rng.integers(1 << 32)), faults) for h in fleet]
    now = datetime.now(UTC).replace(microsecond=0)
    latest = now - timedelta(minutes=10)
    # Each hub's simulated clock walks forward from 29 days ago; the step is sized so the expected
    # number of readings per hub (about 5 per message with the backlog mix) fits in 28 days.
    clocks = [now - timedelta(days=29) for _ in fleet]
    per_hub = max(1.0, n_messages / len(fleet) * 5.0)
    step = timedelta(days=28) / per_hub
    messages: list[tuple[str, bytes]] = []
    while len(messages) < n_messages:
        i = int(rng.integers(len(models)))
        model = models[i]
        backlog = rng.random() < 0.10
        count = int(rng.integers(16, 51)) if backlog else int(rng.choice([1, 1, 1, 2, 2, 3]))
        readings = []
        for _ in range(count):
            clocks[i] += step * float(rng.uniform(0.5, 1.5))
            if clocks[i] > latest:
                clocks[i] = now - timedelta(days=29)  # wrap: the unique keys still hold (new times)
                model.rewind()
            readings += model.readings(clocks[i], 1)
        if not readings:
            continue
        payload = json.dumps(model.envelope(readings, clocks[i])).encode()
        topic = f"{TOPIC_ROOT}/hub/{model.hub.hub_id}/up/readings"
        messages.append((topic, payload))
        if rng.random() < 0.01:  # the hub resends the same message (its ack was lost)
            messages.append((topic, payload))
    total_readings = 0
    total_rows = 0
    seen: set[tuple[str, str, str]] = set()
    distinct: list[tuple[Any, ...]] = []
    for _, payload in messages:
        for r in json.loads(payload)["readings"]:
            total_readings += 1
            total_rows += len(r["observations"])
            for o in r["observations"]:
                key = (r["device_serial"], o["code"], r["measured_at"])
                if key not in seen:
                    seen.add(key)
                    distinct.append(
                        (r["device_serial"], o["code"], o["value"], o["unit"], r["measured_at"], r["reading_id"])
                    )
    return Stream(messages, total_readings, total_rows, distinct)


# ------------------------------------------------------------------------------------ publishing


def _client(client_id: str, port: int, *, clean: bool = False, auto_ack: bool = True) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=not auto_ack,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    return client


def _connect(client: mqtt.Client, port: int, expiry_s: int = 3600) -> None:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    props.ReceiveMaximum = 1000
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    if not connected.wait(10):
        raise RuntimeError("could not connect to the broker")


def publish_all(port: int, messages: list[tuple[str, bytes]], window: int = 500) -> float:
    """Publish at QoS 1, paced to the in-flight window; returns messages/s acknowledged by the broker."""
    client = _client(f"bench-pub-{secrets.token_hex(3)}", port)
    slots = threading.Semaphore(window)
    done = threading.Event()
    acked = [0]

    def on_publish(*args: Any) -> None:
        acked[0] += 1
        slots.release()
        if acked[0] == len(messages):
            done.set()

    client.on_publish = on_publish
    _connect(client, port, expiry_s=0)
    started = time.perf_counter()
    for topic, payload in messages:
        slots.acquire()
        client.publish(topic, payload, qos=1)
    if not done.wait(300):
        raise RuntimeError(f"only {acked[0]} of {len(messages)} publishes were acknowledged")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return len(messages) / elapsed


def create_session(port: int, client_id: str, topic_filter: str) -> None:
    client = _client(client_id, port)
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    _connect(client, port)
    client.subscribe(topic_filter, qos=1)
    subscribed.wait(10)
    client.disconnect()
    client.loop_stop()


def end_session(port: int, client_id: str) -> None:
    """Discard a client's persistent session (clean start, session expiry 0)."""
    client = _client(client_id, port)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect("127.0.0.1", port, clean_start=True)
    client.loop_start()
    connected.wait(10)
    client.disconnect()
    client.loop_stop()


def drain_session(
    port: int, client_id: str, on_message: Any, done: threading.Event, timeout_s: float, what: str
) -> float:
    """Reconnect to a preloaded persistent session, wait until ``done``, then discard the session;
    returns the seconds from connect to done."""
    client = _client(client_id, port)
    client.on_message = on_message
    started = time.perf_counter()
    _connect(client, port)
    if not done.wait(timeout_s):
        raise RuntimeError(f"{what} did not receive every message in {timeout_s:g} s")
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    end_session(port, client_id)
    return elapsed


# ------------------------------------------------------------------------------------ contenders


@dataclass
class Result:
    name: str
    elapsed_s: float
    readings: int
    rows: int
    rss_mb: float | None = None
    cpu_s: float | None = None  # CPU time the contender's own process(es) used while measured
    db_cpu_s: float | None = None  # CPU time its PostgreSQL backends used while measured

    @property
    def cpu_us_per_reading(self) -> float | None:
        return None if self.cpu_s is None else self.cpu_s / self.readings * 1e6

    @property
    def db_cpu_us_per_reading(self) -> float | None:
        return None if self.db_cpu_s is None else self.db_cpu_s / self.readings * 1e6

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed_s


def bare_subscriber(port: int, stream: Stream) -> Result:
    client_id = f"bench-bare-{secrets.token_hex(3)}"
    topic_filter = f"{TOPIC_ROOT}/hub/+/up/readings"
    create_session(port, client_id, topic_filter)
    publish_all(port, stream.messages)
    count = [0, 0]
    done = threading.Event()

    def on_message(client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        count[1] += len(json.loads(message.payload)["readings"])
        count[0] += 1
        if count[0] == len(stream.messages):
            done.set()

    elapsed = drain_session(port, client_id, on_message, done, 600, "bare subscriber")
    return Result("a1 bare subscriber (receive + parse)", elapsed, count[1], stream.rows)


def _device_ids(url: str) -> dict[str, tuple[Any, Any, Any]]:
    with connect(url, application_name="bench", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT d.serial, d.id, d.practice_id, a.patient_id FROM devices d"
            " JOIN device_patient_assignments a ON a.device_id = d.id"
        ).fetchall()
    return {serial: (device_id, practice_id, patient_id) for serial, device_id, practice_id, patient_id in rows}


MDC = {
    "MDC_PRESS_BLD_NONINV_SYS": 150021,
    "MDC_PRESS_BLD_NONINV_DIA": 150022,
    "MDC_PRESS_BLD_NONINV_MEAN": 150023,
    "MDC_PULS_RATE_NON_INV": 149546,
    "MDC_PULS_OXIM_PULS_RATE": 149530,
    "MDC_PULS_OXIM_SAT_O2": 150456,
    "MDC_MASS_BODY_ACTUAL": 188736,
    "MDC_CONC_GLU_CAPILLARY_PLASMA": 160188,
    "MDC_TEMP_BODY": 150364,
}


def bare_copy(url: str, stream: Stream) -> Result:
    ids = _device_ids(url)
    rows = []
    for serial, code, value, unit, measured_at, reading_id in stream.distinct_rows:
        if (
            serial in ids
            and code in MDC
            and isinstance(value, int | float)
            and unit in ("mm[Hg]", "/min", "%", "kg", "mg/dL", "Cel")
        ):
            device_id, practice_id, patient_id = ids[serial]
            rows.append(
                (
                    practice_id,
                    patient_id,
                    device_id,
                    UUID(reading_id),
                    MDC[code],
                    float(value),
                    unit,
                    datetime.fromisoformat(measured_at),
                    "device_clock",
                    datetime.fromisoformat(measured_at),
                    False,
                )
            )
    with connect(url, application_name="bench-copy") as conn:
        backend = [conn.info.backend_pid]
        db_cpu_before = backend_cpu_seconds(backend)
        started = time.perf_counter()
        for start in range(0, len(rows), 1000):
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY readings (practice_id, patient_id, device_id, reading_id, metric, value, unit, measured_at,"
                    " measured_at_source, received_at, from_device_memory) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(
                    [
                        "uuid",
                        "uuid",
                        "uuid",
                        "uuid",
                        "int4",
                        "float8",
                        "text",
                        "timestamptz",
                        "text",
                        "timestamptz",
                        "bool",
                    ]
                )
                for row in rows[start : start + 1000]:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
        db_cpu = cpu_between(db_cpu_before, backend_cpu_seconds(backend))
    per_reading = stream.rows / stream.readings
    return Result("a2 bare COPY (unique key)", elapsed, round(len(rows) / per_reading), len(rows), db_cpu_s=db_cpu)


NAIVE_INSERT = """
INSERT INTO readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, unit, measured_at,
                      measured_at_source, received_at, from_device_memory)
SELECT d.practice_id, a.patient_id, d.id, %s, %s, %s, %s, %s, %s, %s, %s, false
  FROM devices d JOIN device_patient_assignments a ON a.device_id = d.id
 WHERE d.serial = %s
ON CONFLICT DO NOTHING
"""


def naive_subscriber(port: int, url: str, stream: Stream, n_messages: int) -> Result:
    messages = stream.messages[:n_messages]
    client_id = f"bench-naive-{secrets.token_hex(3)}"
    create_session(port, client_id, f"{TOPIC_ROOT}/hub/+/up/readings")
    publish_all(port, messages)
    conn = connect(url, application_name="bench-naive", autocommit=True)
    backend = [conn.info.backend_pid]
    db_cpu_before = backend_cpu_seconds(backend)
    count = [0, 0, 0]
    done = threading.Event()

    def on_message(client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        hub_id = message.topic.split("/")[3]
        for r in json.loads(message.payload)["readings"]:
            count[1] += 1
            for o in r["observations"]:
                count[2] += 1
                try:
                    conn.execute(
                        NAIVE_INSERT,
                        (
                            hub_id,
                            r["reading_id"],
                            MDC.get(o["code"], 0),
                            o["value"],
                            o["unit"],
                            r["measured_at"],
                            r["measured_at_source"],
                            r["received_at"],
                            r["device_serial"],
                        ),
                    )
                except Exception:
                    continue
        count[0] += 1
        if count[0] == len(messages):
            done.set()

    elapsed = drain_session(port, client_id, on_message, done, 900, "naive subscriber")
    db_cpu = cpu_between(db_cpu_before, backend_cpu_seconds(backend))
    conn.close()
    return Result("b  naive subscriber (row by row, autocommit)", elapsed, count[1], count[2], db_cpu_s=db_cpu)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# Issue 2's figure is ingest itself, so c1 and c2 run without the alert-evaluation hook; c1e is the
# production default (alert rules evaluated in the ingest transaction) for comparison.
INGEST_ALONE = {"CAREHUB_ALERTS_EVALUATE": "false"}
WITH_ALERTS = {"CAREHUB_ALERTS_EVALUATE": "true"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(pids: list[int]) -> float | None:
    """CPU time of PostgreSQL backends so far, when the server runs on this machine and its
    processes are readable (None otherwise: the column stays empty)."""
    try:
        return sum(cpu_seconds(pid) for pid in pids)
    except OSError:
        return None


def backend_pids(url: str, application_prefix: str) -> list[int]:
    """The server processes of the connections whose application_name starts with the prefix."""
    with connect(url, application_name="bench-probe", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE starts_with(application_name, %s)", (application_prefix,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def cpu_between(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def carehub_ingest(
    port: int, url: str, stream: Stream, workers: int, workdir: Path, extra_env: dict[str, str] | None = None
) -> Result:
    names = [f"bench-{workers}-{i}-{secrets.token_hex(2)}" for i in range(workers)]
    # Its own shared group: the broker keeps routing a share to every member session that has not
    # expired, including the previous contender's (DESIGN.md §9).
    group = f"bench{workers}{secrets.token_hex(2)}"

    def spawn(name: str) -> IngestProcess:
        return IngestProcess.start(
            name=name,
            database_url=url,
            mqtt_port=port,
            workdir=workdir,
            topic_root=TOPIC_ROOT,
            shared_group=group,
            extra_env=extra_env,
        )

    # create the persistent sessions, then let the broker queue the whole stream for them
    for name in names:
        worker = spawn(name)
        worker.wait_ready()
        worker.stop()
    publish_all(port, stream.messages)
    t0 = time.perf_counter()
    running = [spawn(name) for name in names]
    target = stream.readings

    def processed() -> float:
        total = 0.0
        for w in running:
            m = w.metrics()  # one scrape per worker per poll: the benchmark must not load ingest
            total += sum(
                m.get(k, 0.0)
                for k in (
                    "carehub_ingest_readings_stored_total",
                    "carehub_ingest_readings_duplicate_total",
                    "carehub_ingest_dead_letters_total",
                )
            )
        return total

    # Throughput is measured from the first poll that sees 1% of the stream processed to the end,
    # so process start-up (interpreter, imports, connections) is not counted against ingest.
    first: tuple[float, float] | None = None
    cpu_at_first = 0.0
    backends: list[int] = []
    db_cpu_at_first: float | None = None
    last_report = time.perf_counter()
    while (done := processed()) < target:
        now = time.perf_counter()
        if first is None and done >= target * 0.01:
            first = (now, done)
            cpu_at_first = sum(cpu_seconds(w.process.pid) for w in running)
            backends = [pid for name in names for pid in backend_pids(url, f"carehub-ingest-{name}-")]
            db_cpu_at_first = backend_cpu_seconds(backends)
        if now - last_report > 2:
            say(f"    … {done:,.0f} of {target:,} readings processed")
            last_report = now
        if any(not w.alive for w in running):
            raise RuntimeError("an ingest worker died:\n" + "\n".join(w.log_tail() for w in running))
        if now - t0 > 900:
            raise RuntimeError(f"ingest processed {done} of {target}")
        time.sleep(0.05)
    end = time.perf_counter()
    if first is None:
        raise RuntimeError("the stream is too short to measure: it was processed between two polls")
    measured = target - first[1]
    elapsed = (end - first[0]) * target / measured  # the same rate, scaled to the whole stream
    rows = int(sum(w.metric("carehub_ingest_rows_stored_total") for w in running))
    rss = [peak_rss_mb(w.process.pid) for w in running]
    # CPU per reading is what a loaded machine changes least: it says where ingest stands even
    # when other processes take the cores (elapsed time then grows, CPU time hardly does).
    cpu = (sum(cpu_seconds(w.process.pid) for w in running) - cpu_at_first) * target / measured
    db_cpu = cpu_between(db_cpu_at_first, backend_cpu_seconds(backends))
    db_cpu = None if db_cpu is None else db_cpu * target / measured
    for w in running:
        w.stop()
    for name in names:
        end_session(port, f"carehub-ingest-{name}")
    peak = max((r for r in rss if r is not None), default=None)
    alerts = "alert evaluation on" if (extra_env or {}).get("CAREHUB_ALERTS_EVALUATE") == "true" else "ingest alone"
    label = f"c  carehub ingest, {workers} worker{'s' if workers > 1 else ''} ({alerts})"
    return Result(label, elapsed, target, rows, peak, cpu, db_cpu)


# ---------------------------------------------------------------------------------------- main


def add_admin_url_argument(parser: argparse.ArgumentParser) -> None:
    """``--admin-url``: the PostgreSQL server the benchmark creates its databases on."""
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CAREHUB_BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"),
    )


def start_broker(prefix: str) -> tuple[Path, MosquittoBroker]:
    """A private Mosquitto in a fresh work directory: (work directory, started broker)."""
    binary = find_mosquitto()
    if binary is None:
        raise SystemExit("mosquitto is needed (make bench installs it, or apt-get install mosquitto)")
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    broker = MosquittoBroker(binary, workdir / "broker")
    broker.start()
    return workdir, broker


def seed_template(admin_url: str, name: str, hubs: int, tag: str) -> tuple[Any, list[SimHub]]:
    """A migrated database with one practice and ``hubs`` simulated homes: (practice id, fleet)."""
    create_database(admin_url, name)
    with connect(with_database(admin_url, name), application_name="bench", autocommit=True) as conn:
        migrate(conn)
        practice = registry.create_practice(conn, name="Bench", time_zone="America/New_York")
        fleet = seed_fleet(
            conn,
            practice_id=practice,
            hubs=hubs,
            devices_per_hub=4,
            assigned_from=datetime.now(UTC) - timedelta(days=31),
            tag=tag,
        )
    return practice, fleet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=30000)
    parser.add_argument("--naive-messages", type=int, default=4000)
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument(
        "--ingest-env",
        action="append",
        default=[],
        metavar="CAREHUB_NAME=VALUE",
        help="extra setting for the ingest workers (repeatable), e.g. CAREHUB_INGEST_WRITERS=3",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated subset of a1,a2,b,c1,c2,c1e to run (ratios need a1, a2 and b); default all",
    )
    add_admin_url_argument(parser)
    args = parser.parse_args(argv)
    say(f"seed {args.seed}; {args.messages} messages from {args.hubs} hubs")
    workdir, broker = start_broker("carehub-bench-")
    template = f"carehub_bench_{secrets.token_hex(3)}"
    databases = [template]
    try:
        say("seeding the template database…")
        _, fleet = seed_template(args.admin_url, template, args.hubs, "bench")
        say("recording the stream…")
        stream = record_stream(fleet, args.messages, args.seed)
        sizes = [len(json.loads(p)["readings"]) for _, p in stream.messages]
        say(
            f"stream: {len(stream.messages)} messages, {stream.readings} readings, {stream.rows} rows; "
            f"{sum(1 for s in sizes if s <= 3) / len(sizes):.0%} of messages carry 1-3 readings, "
            f"{sum(1 for s in sizes if s >= 16)} backlog batches of 16-50"
        )

        def fresh() -> str:
            name = f"{template}_{len(databases)}"
            create_database(args.admin_url, name, template=template)
            databases.append(name)
            return with_database(args.admin_url, name)

        tuning = dict(item.split("=", 1) for item in args.ingest_env)
        alone, with_alerts = {**INGEST_ALONE, **tuning}, {**WITH_ALERTS, **tuning}
        results: dict[str, Result] = {}
        steps: list[tuple[str, Callable[[], Result]]] = [
            ("a1", lambda: bare_subscriber(broker.port, stream)),
            ("a2", lambda: bare_copy(fresh(), stream)),
            ("b", lambda: naive_subscriber(broker.port, fresh(), stream, args.naive_messages)),
            ("c1", lambda: carehub_ingest(broker.port, fresh(), stream, 1, workdir / "ingest", alone)),
            ("c2", lambda: carehub_ingest(broker.port, fresh(), stream, 2, workdir / "ingest", alone)),
            ("c1e", lambda: carehub_ingest(broker.port, fresh(), stream, 1, workdir / "ingest", with_alerts)),
        ]
        only = {k.strip() for k in args.only.split(",") if k.strip()}
        for key, step in steps:
            if only and key not in only:
                continue
            say(f"running {key}…")
            results[key] = step()
            r = results[key]
            say(f"  {r.name}: {r.readings_per_s:,.0f} readings/s, {r.rows_per_s:,.0f} rows/s ({r.elapsed_s:.2f} s)")
        say("")
        say(
            f"{'contender':<58} {'readings/s':>11} {'rows/s':>10} {'peak RSS':>9} {'CPU/reading':>12}"
            f" {'DB CPU/reading':>15}"
        )
        for r in results.values():
            rss = f"{r.rss_mb:.0f} MB" if r.rss_mb else ""
            cpu = f"{r.cpu_us_per_reading:.1f} us" if r.cpu_us_per_reading is not None else ""
            db_cpu = f"{r.db_cpu_us_per_reading:.1f} us" if r.db_cpu_us_per_reading is not None else ""
            say(f"{r.name:<58} {r.readings_per_s:>11,.0f} {r.rows_per_s:>10,.0f} {rss:>9} {cpu:>12} {db_cpu:>15}")
        say(
            "CPU/reading: the ingest process(es); DB CPU/reading: the contender's PostgreSQL backends "
            "(this machine has "
            f"{os.cpu_count()} cores for the broker, the database and the contender together)"
        )
        say("")
        if not {"a1", "a2", "b"} <= results.keys():
            return 0
        ceiling = min(results["a1"].readings_per_s, results["a2"].readings_per_s)
        for key in ("c1", "c2", "c1e"):
            if key not in results:
                continue
            c = results[key]
            say(
                f"{c.name}: c/a = {c.readings_per_s / ceiling:.2f} (goal >= 0.6), "
                f"c/b = {c.readings_per_s / results['b'].readings_per_s:.1f} (goal >= 20)"
            )
        return 0
    finally:
        broker.stop()
        for name in reversed(databases):
            drop_database(args.admin_url, name)


if __name__ == "__main__":
    sys.exit(main())
