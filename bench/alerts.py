"""Alerts benchmark, all measured in one run on one private Mosquitto and one PostgreSQL server.

1. Throughput: the recorded hub stream of ``bench/ingest.py`` drained by one ``carehub ingest``
   worker with reading-driven alert evaluation off, then on (fresh database copies). Prints both and
   the cost of evaluation (goal: under 10 %).
2. Maximum single-reading rate: a backlog of single-reading messages of normal blood pressure (the
   kind the latency phase sends) drained by one worker with evaluation off, then on; messages/s.
3. Latency: one ingest worker (evaluation on) under a steady load of those messages at half the rate
   measured in (2), plus a stream of out-of-range readings (185/125), each from a different patient
   so each opens an alert. For each out-of-range reading: time from the MQTT publish being
   acknowledged by the broker to (a) the alert's commit, observed by a LISTEN on the alert channel,
   and (b) the server-sent event received by an HTTP client of ``alerts/http.py``'s stream on
   uvicorn. Prints median and p99 (goal: p99 publish-to-alert under 250 ms at half the maximum rate).

The normal readings are spread like a home's: each cuff's readings are ``NORMAL_SPACING`` apart in
measured time (a week holds ~56 of them, as a patient measuring twice, morning and evening, with
repeats), never hundreds of one cuff inside one 10-minute set window.

Usage: .venv/bin/python bench/alerts.py [--messages N] [--hubs N] [--seconds S] [--seed S]
           [--single-messages N] [--rate R [--latency-only]] [--ingest-env CAREHUB_NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import uvicorn
from fastapi import FastAPI
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.http import Actor, build_router
from alerts.store import STREAM_CHANNEL
from carehub.local_services import IngestProcess, free_port
from core.db import connect, create_database, drop_database, with_database

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loader import load_bench

ib = load_bench("ingest")
TOPIC_ROOT = ib.TOPIC_ROOT
say = ib.say


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bp(serial: str, at: datetime, sys_: float, dia: float) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "reading_id": str(uuid.uuid4()),
        "device_serial": serial,
        "kind": "blood_pressure",
        "measured_at": stamp,
        "measured_at_source": "device_clock",
        "received_at": stamp,
        "observations": [
            {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": sys_, "unit": "mm[Hg]"},
            {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": dia, "unit": "mm[Hg]"},
            {"code": "MDC_PULS_RATE_NON_INV", "value": 70, "unit": "/min"},
        ],
    }


NORMAL_SPACING = timedelta(hours=3)
"""Measured time between two normal readings of one cuff in the generated load."""


def normal_payloads(cuffs: list[tuple[str, str, str]], count: int, end: datetime) -> list[tuple[str, bytes]]:
    """``count`` single-reading messages of normal blood pressure (122/78), round robin over ``cuffs``
    (hub id, cuff serial, patient id), each cuff's readings :data:`NORMAL_SPACING` apart and in time
    order, the last round ending at ``end``; past 27 days' worth a new pass starts one second later
    (unique times: the database refuses a second row per device, metric and time)."""
    rounds_per_pass = int(timedelta(days=27) / NORMAL_SPACING)
    start = end - NORMAL_SPACING * min(rounds_per_pass, count // max(1, len(cuffs)))
    messages = []
    for k in range(count):
        hub, serial, _ = cuffs[k % len(cuffs)]
        n = k // len(cuffs)
        at = start + NORMAL_SPACING * (n % rounds_per_pass) + timedelta(seconds=n // rounds_per_pass)
        payload = json.dumps({"v": 1, "batch_id": uuid.uuid4().hex, "readings": [bp(serial, at, 122, 78)]})
        messages.append((f"{TOPIC_ROOT}/hub/{hub}/up/readings", payload.encode()))
    return messages


@dataclass
class Observed:
    published: dict[str, float] = field(default_factory=dict)  # patient id -> publish acknowledged (epoch s)
    committed: dict[str, float] = field(default_factory=dict)  # alert id -> NOTIFY received
    sse: dict[str, float] = field(default_factory=dict)  # patient id -> SSE event received
    lock: threading.Lock = field(default_factory=threading.Lock)
    sse_socket: socket.socket | None = None  # the SSE client's connection, shut down to end the stream


def end_sse(observed: Observed) -> None:
    """Shut the SSE client's socket down (``stop`` already set): its blocked read returns at once and
    the server sees the disconnect, so uvicorn stops without cancelling an open stream (the
    "graceful shutdown exceeded" CancelledError traceback at the end of a run)."""
    if observed.sse_socket is not None:
        with contextlib.suppress(OSError):
            observed.sse_socket.shutdown(socket.SHUT_RDWR)


def listen_commits(url: str, observed: Observed, stop: threading.Event) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {STREAM_CHANNEL}")
        while not stop.is_set():
            for notify in conn.notifies(timeout=0.2):
                change = json.loads(notify.payload)
                if change["change"] == "opened":
                    with observed.lock:
                        observed.committed.setdefault(change["alert_id"], time.time())


def read_sse(url: str, observed: Observed, connected: threading.Event, stop: threading.Event) -> None:
    try:
        with httpx.Client(timeout=httpx.Timeout(5, read=None)) as client, client.stream("GET", url) as response:
            observed.sse_socket = response.extensions["network_stream"].get_extra_info("socket")
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if data["change"] == "opened" and data["patient_id"]:
                        with observed.lock:
                            observed.sse.setdefault(data["patient_id"], time.time())
                if stop.is_set():
                    return
    except httpx.HTTPError:
        if not stop.is_set():
            raise  # the server going away at the end of the run is expected; before it, not


def homes_with_cuffs(url: str) -> list[tuple[str, str, str]]:
    """(hub id, cuff serial, patient id) of every seeded home with a blood-pressure cuff."""
    with connect(url, application_name="bench", autocommit=True) as conn:
        return [
            (str(hub), str(serial), str(patient))
            for hub, serial, patient in conn.execute(
                """SELECT a.hub_id, d.serial, p.patient_id::text FROM device_hub_assignments a
                     JOIN devices d ON d.id = a.device_id AND d.kind = 'bp_cuff'
                     JOIN device_patient_assignments p ON p.device_id = d.id ORDER BY 1"""
            )
        ]


def split_homes(cuffs: list[tuple[str, str, str]]) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Half the homes send the normal load; each of the others sends one 185/125 reading."""
    return cuffs[: len(cuffs) // 2], cuffs[len(cuffs) // 2 :]


def latency_run(port: int, url: str, practice_id: str, cuffs: list[tuple[str, str, str]], rate: float,
                seconds: float, workdir: Path, env: dict[str, str]
                ) -> tuple[list[float], list[float], int]:  # fmt: skip
    """cuffs: (hub id, cuff serial, patient id), see :func:`split_homes`."""
    normal, abnormal = split_homes(cuffs)
    load = normal_payloads(normal, int(rate * seconds) + 1, datetime.now(UTC) - timedelta(minutes=30))
    worker = IngestProcess.start(
        name=f"lat-{secrets.token_hex(2)}",
        database_url=url,
        mqtt_port=port,
        workdir=workdir,
        topic_root=TOPIC_ROOT,
        shared_group=f"lat{secrets.token_hex(2)}",
        extra_env=env,
    )
    worker.wait_ready()
    app = FastAPI()
    app.include_router(build_router(url, actor=lambda: Actor(user_id="bench", practice_id=practice_id)))
    api_port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning",
                                           timeout_graceful_shutdown=1))  # fmt: skip
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.05)
    observed, stop, connected = Observed(), threading.Event(), threading.Event()
    threads = [
        threading.Thread(target=listen_commits, args=(url, observed, stop), daemon=True),
        threading.Thread(
            target=read_sse, args=(f"http://127.0.0.1:{api_port}/alerts/stream", observed, connected, stop), daemon=True
        ),
    ]
    for t in threads:
        t.start()
    connected.wait(20)
    time.sleep(0.5)
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"lat-pub-{secrets.token_hex(2)}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    sent = 0
    spacing = seconds / max(1, len(abnormal))
    next_abnormal = 0
    try:
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed * rate)
            while sent < min(due, len(load)):
                client.publish(*load[sent], qos=1)
                sent += 1
            if next_abnormal < len(abnormal) and elapsed >= next_abnormal * spacing:
                hub, serial, patient = abnormal[next_abnormal]
                reading = bp(serial, datetime.now(UTC) - timedelta(seconds=5), 185, 125)
                payload = json.dumps({"v": 1, "batch_id": uuid.uuid4().hex, "readings": [reading]})
                info = client.publish(f"{TOPIC_ROOT}/hub/{hub}/up/readings", payload.encode(), qos=1)
                info.wait_for_publish(10)
                with observed.lock:
                    observed.published[patient] = time.time()
                next_abnormal += 1
            time.sleep(0.002)
        deadline = time.time() + 20
        while time.time() < deadline and len(observed.sse) < len(observed.published):
            time.sleep(0.1)
    finally:
        stop.set()
        end_sse(observed)
        threads[1].join(5)
        client.disconnect()
        client.loop_stop()
        server.should_exit = True
        say_batches(worker.metrics())
        worker.stop()
        serving.join(10)  # its stream's LISTEN connection ends before the database is dropped
    with connect(url, application_name="bench", autocommit=True) as conn:
        patient_of = dict(
            conn.execute("SELECT id::text, patient_id::text FROM alerts WHERE rule_id = 'BP-C1'").fetchall()
        )
    to_commit = [
        (t - observed.published[patient_of[a]]) * 1000
        for a, t in observed.committed.items()
        if patient_of.get(a) in observed.published
    ]
    to_sse = [(t - observed.published[p]) * 1000 for p, t in observed.sse.items() if p in observed.published]
    return to_commit, to_sse, len(observed.published)


def say_batches(metrics: dict[str, float]) -> None:
    """The ingest worker's batches over the latency phase: how many messages each took and how long
    from its first message received to its commit (the part of publish -> alert spent in ingest)."""
    batches = metrics.get("carehub_ingest_batch_messages_count", 0.0)
    if batches:
        messages = metrics.get("carehub_ingest_batch_messages_sum", 0.0) / batches
        waited = metrics.get("carehub_ingest_batch_latency_seconds_sum", 0.0) / batches * 1000
        say(
            f"  ingest: {batches:,.0f} batches, {messages:,.1f} messages each, "
            f"{waited:,.1f} ms from first received to commit (means)"
        )


seed_template = ib.seed_template


Runs = dict[str, Any]  # "off" / "on" -> bench/ingest.py's Result


def maxima(port: int, fresh: Callable[[], str], stream: Any, cuffs: list[tuple[str, str, str]], single_messages: int,
           tuning: dict[str, str], workdir: Path) -> tuple[Runs, Runs]:  # fmt: skip
    """Phases 1 and 2: the recorded stream, then the single-reading backlog, each drained with
    evaluation off and on."""
    runs, single_runs = {}, {}
    for label, flag in (("off", "false"), ("on", "true")):
        say(f"throughput, evaluation {label}…")
        runs[label] = ib.carehub_ingest(port, fresh(), stream, 1, workdir / f"ingest-{label}",
                                        extra_env={**tuning, "CAREHUB_ALERTS_EVALUATE": flag})  # fmt: skip
        say(f"  {runs[label].readings_per_s:,.0f} readings/s, {runs[label].cpu_us_per_reading:.0f} us CPU/reading")
    singles = normal_payloads(split_homes(cuffs)[0], single_messages, datetime.now(UTC) - timedelta(hours=1))
    single_stream = ib.Stream(singles, len(singles), 3 * len(singles), [])
    for label, flag in (("off", "false"), ("on", "true")):
        say(f"maximum rate of single-reading messages, evaluation {label} ({single_messages} messages)…")
        single_runs[label] = ib.carehub_ingest(port, fresh(), single_stream, 1, workdir / f"single-{label}",
                                               {**tuning, "CAREHUB_ALERTS_EVALUATE": flag})  # fmt: skip
        r = single_runs[label]
        say(f"  {r.readings_per_s:,.0f} msgs/s, {r.cpu_us_per_reading:.0f} us CPU/message")
    return runs, single_runs


def report_maxima(runs: Runs, single_runs: Runs, rate: float) -> None:
    off, on = runs["off"].readings_per_s, runs["on"].readings_per_s
    say(f"ingest throughput, evaluation off: {off:>10,.0f} readings/s")
    say(f"ingest throughput, evaluation on:  {on:>10,.0f} readings/s")
    say(f"evaluation cost: {(1 - on / off):.1%} of throughput (goal < 10 %); on/off = {on / off:.2f}")
    single_off, single_on = single_runs["off"].readings_per_s, single_runs["on"].readings_per_s
    say(f"maximum single-reading messages/s, evaluation off / on: {single_off:,.0f} / {single_on:,.0f} "
        f"(on/off = {single_on / single_off:.2f}); latency load: {rate:,.0f} msgs/s "
        f"({rate / single_on:.0%} of it)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=15000)
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument(
        "--single-messages",
        type=int,
        default=8000,
        help="single-reading messages drained to measure their maximum rate (evaluation on)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="steady load in msgs/s (default: half the measured maximum single-reading message rate)",
    )
    parser.add_argument(
        "--latency-only", action="store_true", help="only the latency phase, at --rate (no maxima measured)"
    )
    parser.add_argument(
        "--ingest-env",
        action="append",
        default=[],
        metavar="CAREHUB_NAME=VALUE",
        help="extra setting for every ingest worker of the run (repeatable), "
        "e.g. CAREHUB_INGEST_BATCH_MAX_WAIT_S=0.005",
    )
    ib.add_admin_url_argument(parser)
    args = parser.parse_args(argv)
    say(f"seed {args.seed}; {args.messages} messages from {args.hubs} hubs")
    workdir, broker = ib.start_broker("carehub-bench-alerts-")
    template = f"carehub_bench_alerts_{secrets.token_hex(3)}"
    databases = [template]
    try:
        practice, fleet = seed_template(args.admin_url, template, args.hubs, "alerts")
        cuffs = homes_with_cuffs(with_database(args.admin_url, template))
        stream = ib.record_stream(fleet, args.messages, args.seed)
        say(f"stream: {len(stream.messages)} messages, {stream.readings} readings; {len(cuffs)} homes with a cuff")

        def fresh() -> str:
            name = f"{template}_{len(databases)}"
            create_database(args.admin_url, name, template=template)
            databases.append(name)
            return with_database(args.admin_url, name)

        tuning = dict(item.split("=", 1) for item in args.ingest_env)
        evaluate_on = {"CAREHUB_ALERTS_EVALUATE": "true", **tuning}
        if args.latency_only:
            if args.rate is None:
                raise SystemExit("--latency-only needs --rate")
            rate, results = args.rate, None
        else:
            results = maxima(broker.port, fresh, stream, cuffs, args.single_messages, tuning, workdir)
            rate = args.rate if args.rate is not None else results[1]["on"].readings_per_s / 2
        say(f"latency under a steady load of {rate:,.0f} msgs/s of single readings for {args.seconds:g} s…")
        url = fresh()
        to_commit, to_sse, published = latency_run(broker.port, url, str(practice), cuffs, rate, args.seconds,
                                                   workdir / "ingest-latency", evaluate_on)  # fmt: skip
        say("")
        if results is not None:
            report_maxima(*results, rate)
        for name, values in (("publish -> alert committed", to_commit), ("publish -> SSE event", to_sse)):
            if values:
                say(f"{name}: median {statistics.median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms "
                    f"({len(values)} of {published} alerts)")  # fmt: skip
            else:
                say(f"{name}: no alerts observed ({published} published)")
        say("goal: p99 publish -> alert under 250 ms at half the maximum ingest rate")
        return 0
    finally:
        broker.stop()
        for name in reversed(databases):
            drop_database(args.admin_url, name)


if __name__ == "__main__":
    sys.exit(main())
