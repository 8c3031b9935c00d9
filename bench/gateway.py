"""Gateway benchmarks. Run: ``.venv/bin/python bench/gateway.py`` (``--only outbox`` for one part).

- ``outbox``: readings written durably per second (one commit per reading, as indications arrive, and
  per RACP burst of 50), against a bare SQLite INSERT + COMMIT with the same durability measured in
  the same run (the floor: the fsync), and the add → ack cycle.
- ``home`` / ``fleet`` (need the virtual radio): one gateway with 7 simulated devices in one home, and
  50 gateways with 5 devices each on one radio, end to end through Mosquitto, ingest and PostgreSQL:
  readings/s, the median and p99 time from a device's notification to the row's commit, and the
  gateway's peak RSS (goal: under 60 MB for one hub with 7 devices)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# This script is named after the package it measures: keep its own directory from shadowing it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from gateway.outbox import Outbox, OutboxReading  # noqa: E402

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BODY = json.dumps(
    {
        "reading_id": "x" * 36,
        "device_serial": "BP-0001",
        "kind": "blood_pressure",
        "measured_at": "2026-03-01T08:00:00Z",
        "measured_at_source": "device_clock",
        "received_at": "2026-03-01T08:00:05Z",
        "from_device_memory": False,
        "observations": [
            {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": 128.0, "unit": "mm[Hg]"},
            {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": 82.0, "unit": "mm[Hg]"},
            {"code": "MDC_PULS_RATE_NON_INV", "value": 70.0, "unit": "/min"},
        ],
    }
).encode()


def _readings(n: int, start: int = 0) -> list[OutboxReading]:
    out = []
    for i in range(start, start + n):
        rid = str(uuid.uuid4())
        out.append(OutboxReading(rid, rid, "BP-0001", T0 + timedelta(seconds=i), BODY))
    return out


def _floor(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, body BLOB)")
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t (k, body) VALUES (?, ?)", (str(i), BODY))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


def bench_outbox(n: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        floor = _floor(root / "floor.db", n)
        outbox = Outbox.open(root / "outbox.db", max_readings=10 * n)
        single = _readings(n)
        start = time.perf_counter()
        for reading in single:
            outbox.add([reading], now=T0)
        one_by_one = n / (time.perf_counter() - start)
        bursts = _readings(n, start=n)
        start = time.perf_counter()
        for i in range(0, n, 50):
            outbox.add(bursts[i : i + 50], now=T0)
        burst = n / (time.perf_counter() - start)
        start = time.perf_counter()
        pending = outbox.pending(limit=2 * n)
        for i in range(0, len(pending), 50):
            outbox.acknowledge([p.reading_id for p in pending[i : i + 50]], now=T0)
        acked = len(pending) / (time.perf_counter() - start)
        outbox.close()
    print(f"outbox ({n} readings, WAL, synchronous=FULL, on {directory})")
    print(f"  {'bare INSERT+COMMIT per row (floor)':<44}{floor:>10,.0f} rows/s")
    print(f"  {'outbox.add, one reading per commit':<44}{one_by_one:>10,.0f} readings/s  {one_by_one / floor:>5.2f}x")
    print(f"  {'outbox.add, RACP bursts of 50':<44}{burst:>10,.0f} readings/s  {burst / floor:>5.2f}x floor")
    print(f"  {'pending + acknowledge, acks of 50':<44}{acked:>10,.0f} readings/s  {acked / floor:>5.2f}x floor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("outbox", "home", "fleet"), default=None)
    parser.add_argument("--outbox-readings", type=int, default=2000)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}", flush=True)
    if args.only in (None, "outbox"):
        bench_outbox(args.outbox_readings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
