"""Alerts benchmark, all measured in one run on one private Mosquitto and one PostgreSQL server.

1. Throughput: the recorded hub stream of ``bench/ingest.py`` drained by one ``carehub ingest``
   worker with reading-driven alert evaluation off, then on (fresh database copies). Prints both and
   the cost of evaluation (goal: under 10 %).
2. Latency: one ingest worker (evaluation on) under a steady load of normal blood-pressure readings at
   half the rate measured in (1), plus a stream of out-of-range readings (185/125), each from a
   different patient so each opens an alert. For each out-of-range reading: time from the MQTT
   publish being acknowledged by the broker to (a) the alert's commit, observed by a LISTEN on the
   alert channel, and (b) the server-sent event received by an HTTP client of ``alerts/http.py``'s
   stream on uvicorn. Prints median and p99 (goal: p99 publish-to-alert under 250 ms).

Usage: .venv/bin/python bench/alerts.py [--messages N] [--hubs N] [--seconds S] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import threading
import time
import uuid
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


@dataclass
class Observed:
    published: dict[str, float] = field(default_factory=dict)  # patient id -> publish acknowledged (epoch s)
    committed: dict[str, float] = field(default_factory=dict)  # alert id -> NOTIFY received
    sse: dict[str, float] = field(default_factory=dict)  # patient id -> SSE event received
    lock: threading.Lock = field(default_factory=threading.Lock)


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
    with httpx.Client(timeout=httpx.Timeout(5, read=None)) as client, client.stream("GET", url) as response:
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


def latency_run(port: int, url: str, practice_id: str, cuffs: list[tuple[str, str, str]], rate: float,
                seconds: float, workdir: Path) -> tuple[list[float], list[float], int]:  # fmt: skip
    """cuffs: (hub id, cuff serial, patient id). Half the homes send the normal load; each of the
    others sends one 185/125 reading during the run."""
    normal, abnormal = cuffs[: len(cuffs) // 2], cuffs[len(cuffs) // 2 :]
    worker = IngestProcess.start(
        name=f"lat-{secrets.token_hex(2)}",
        database_url=url,
        mqtt_port=port,
        workdir=workdir,
        topic_root=TOPIC_ROOT,
        shared_group=f"lat{secrets.token_hex(2)}",
    )
    worker.wait_ready()
    app = FastAPI()
    app.include_router(build_router(url, actor=lambda: Actor(user_id="bench", practice_id=practice_id)))
    api_port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning",
                                           timeout_graceful_shutdown=1))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
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
    base = datetime.now(UTC) - timedelta(minutes=30)
    sent = 0
    spacing = seconds / max(1, len(abnormal))
    next_abnormal = 0
    try:
        while (elapsed := time.perf_counter() - start) < seconds:
            due = int(elapsed * rate)
            while sent < due:
                hub, serial, _ = normal[sent % len(normal)]
                at = base + timedelta(milliseconds=sent)
                payload = json.dumps({"v": 1, "batch_id": uuid.uuid4().hex, "readings": [bp(serial, at, 122, 78)]})
                client.publish(f"{TOPIC_ROOT}/hub/{hub}/up/readings", payload.encode(), qos=1)
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
        client.disconnect()
        client.loop_stop()
        server.should_exit = True
        worker.stop()
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


seed_template = ib.seed_template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=15000)
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument(
        "--rate", type=float, default=None, help="steady load in msgs/s (default: half the measured 'on' rate)"
    )
    ib.add_admin_url_argument(parser)
    args = parser.parse_args(argv)
    say(f"seed {args.seed}; {args.messages} messages from {args.hubs} hubs")
    workdir, broker = ib.start_broker("carehub-bench-alerts-")
    template = f"carehub_bench_alerts_{secrets.token_hex(3)}"
    databases = [template]
    try:
        practice, fleet = seed_template(args.admin_url, template, args.hubs, "alerts")
        with connect(with_database(args.admin_url, template), application_name="bench", autocommit=True) as conn:
            cuffs = conn.execute(
                """SELECT a.hub_id, d.serial, p.patient_id::text FROM device_hub_assignments a
                     JOIN devices d ON d.id = a.device_id AND d.kind = 'bp_cuff'
                     JOIN device_patient_assignments p ON p.device_id = d.id ORDER BY 1"""
            ).fetchall()
        stream = ib.record_stream(fleet, args.messages, args.seed)
        say(f"stream: {len(stream.messages)} messages, {stream.readings} readings; {len(cuffs)} homes with a cuff")

        def fresh() -> str:
            name = f"{template}_{len(databases)}"
            create_database(args.admin_url, name, template=template)
            databases.append(name)
            return with_database(args.admin_url, name)

        runs = {}
        for label, flag in (("off", "false"), ("on", "true")):
            say(f"throughput, evaluation {label}…")
            runs[label] = ib.carehub_ingest(broker.port, fresh(), stream, 1, workdir / f"ingest-{label}",
                                            extra_env={"CAREHUB_ALERTS_EVALUATE": flag})  # fmt: skip
            say(f"  {runs[label].readings_per_s:,.0f} readings/s")
        off, on = runs["off"].readings_per_s, runs["on"].readings_per_s
        rate = args.rate if args.rate is not None else on / 2
        say(f"latency under a steady load of {rate:,.0f} msgs/s of single readings for {args.seconds:g} s…")
        url = fresh()
        to_commit, to_sse, published = latency_run(broker.port, url, str(practice), cuffs, rate, args.seconds,
                                                   workdir / "ingest-latency")  # fmt: skip
        say("")
        say(f"ingest throughput, evaluation off: {off:>10,.0f} readings/s")
        say(f"ingest throughput, evaluation on:  {on:>10,.0f} readings/s")
        say(f"evaluation cost: {(1 - on / off):.1%} of throughput (goal < 10 %); on/off = {on / off:.2f}")
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
