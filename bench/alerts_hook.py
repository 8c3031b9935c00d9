"""Alert evaluation's cost inside the ingest writer, without MQTT: the recorded hub stream of
``bench/ingest.py`` parsed once, then written by :class:`ingest.writer.ReadingWriter` in batches,
alternately without and with the ``alerts`` hook (fresh database copies, same run). Prints per mode
the best wall time of ``--rounds`` and the CPU seconds of this Python process and of its PostgreSQL
backend (CPU counts stay comparable when other work shares the machine; wall time does not), and the
hook's share of both. ``bench/alerts.py`` measures the same end to end through Mosquitto.

Usage: .venv/bin/python bench/alerts_hook.py [--messages N] [--batch N] [--rounds N] [--seed S] [--profile FILE]
           [--singles]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.hook import AlertEvaluation
from carehub.runtime import tune_gc_for_throughput
from core.db import create_database, drop_database, with_database
from core.topics import Topics
from ingest.batch import Delivery
from ingest.validation import ValidationLimits, parse_readings_message
from ingest.writer import ReadingWriter
from provisioning.activation import ActivationHook

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loader import load_bench

alerts_bench = load_bench("alerts")
ib = alerts_bench.ib
say = ib.say


def backend_cpu_s(pid: int) -> float:
    """utime + stime of a local PostgreSQL backend (Linux /proc; the server runs on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_all(url: str, parsed: list[Any], deliveries: list[Delivery], batch: int, evaluate: bool,
              profile: cProfile.Profile | None) -> tuple[float, float, float]:  # fmt: skip
    """(wall s, this process's CPU s, the backend's CPU s) to write the stream in ``batch``-message batches."""
    hooks: list[Any] = [ActivationHook()]
    if evaluate:
        hooks.append(AlertEvaluation(clock=lambda: datetime.now(UTC)))
    writer = ReadingWriter(url, hooks=hooks)
    try:
        row = writer._connection().execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = int(row[0])
        cpu0, backend0, t0 = time.process_time(), backend_cpu_s(pid), time.perf_counter()
        if profile is not None:
            profile.enable()
        for i in range(0, len(parsed), batch):
            writer.write(parsed[i : i + batch], deliveries[i : i + batch])
        if profile is not None:
            profile.disable()
        return time.perf_counter() - t0, time.process_time() - cpu0, backend_cpu_s(pid) - backend0
    finally:
        writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--hubs", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500, help="messages per transaction (ingest's default)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--profile", help="write a cProfile of the evaluation-on rounds to this file")
    parser.add_argument(
        "--singles",
        action="store_true",
        help="instead of the recorded hub stream, the latency load of bench/alerts.py: single normal BP readings",
    )
    ib.add_admin_url_argument(parser)
    args = parser.parse_args(argv)
    say(f"seed {args.seed}; {args.messages} messages from {args.hubs} hubs, {args.batch} per transaction")
    template = f"carehub_bench_hook_{secrets.token_hex(3)}"
    databases = [template]
    try:
        _, fleet = ib.seed_template(args.admin_url, template, args.hubs, "hook")
        now = datetime.now(UTC)
        if args.singles:
            cuffs = alerts_bench.split_homes(alerts_bench.homes_with_cuffs(with_database(args.admin_url, template)))[0]
            singles = alerts_bench.normal_payloads(cuffs, args.messages, now - timedelta(hours=1))
            stream = ib.Stream(singles, len(singles), 3 * len(singles), [])
        else:
            stream = ib.record_stream(fleet, args.messages, args.seed)
        limits = ValidationLimits()
        topics = Topics(ib.TOPIC_ROOT)
        parsed = [parse_readings_message(topics, t, p, now=now, limits=limits) for t, p in stream.messages]
        deliveries = [Delivery(t, p, now) for t, p in stream.messages]
        say(f"stream: {len(parsed)} messages, {stream.readings} readings")
        tune_gc_for_throughput()  # as carehub ingest runs
        profile = cProfile.Profile() if args.profile else None
        best: dict[bool, tuple[float, float, float]] = {}
        for _ in range(args.rounds):
            for evaluate in (False, True):
                name = f"{template}_{len(databases)}"
                create_database(args.admin_url, name, template=template)
                databases.append(name)
                run = write_all(with_database(args.admin_url, name), parsed, deliveries, args.batch, evaluate,
                                profile if evaluate else None)  # fmt: skip
                best[evaluate] = min(best.get(evaluate, run), run)
                say(f"  evaluation {'on ' if evaluate else 'off'}: {run[0]:.2f} s wall, {run[1]:.2f} s CPU here, "
                    f"{run[2]:.2f} s CPU in PostgreSQL")  # fmt: skip
        (off_wall, off_py, off_pg), (on_wall, on_py, on_pg) = best[False], best[True]
        n = stream.readings
        say("")
        say(f"writer throughput, evaluation off: {n / off_wall:>9,.0f} readings/s (best of {args.rounds})")
        say(f"writer throughput, evaluation on:  {n / on_wall:>9,.0f} readings/s; on/off = {off_wall / on_wall:.2f}")
        say(f"evaluation CPU per reading: {(on_py - off_py) / n * 1e6:.0f} us Python, "
            f"{(on_pg - off_pg) / n * 1e6:.0f} us PostgreSQL "
            f"(the writer without it: {off_py / n * 1e6:.0f} + {off_pg / n * 1e6:.0f} us)")  # fmt: skip
        say(f"CPU on/off = {(off_py + off_pg) / (on_py + on_pg):.2f} (goal for the whole ingest: >= 0.9)")
        if profile is not None:
            profile.dump_stats(args.profile)
            say(f"profile of the evaluation-on rounds: {args.profile}")
        return 0
    finally:
        for name in reversed(databases):
            drop_database(args.admin_url, name)


if __name__ == "__main__":
    sys.exit(main())
