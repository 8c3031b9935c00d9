"""Gateway benchmarks. Run: ``.venv/bin/python bench/gateway.py`` (``--only outbox`` for one part).

- ``outbox``: readings written durably per second (one commit per reading, as indications arrive, and
  per RACP burst of 50), against a bare SQLite INSERT + COMMIT with the same durability measured in
  the same run (the floor: the fsync), and the add → ack cycle.
- ``home`` / ``fleet`` (need the virtual radio): one gateway with 7 simulated devices in one home, and
  50 gateways with 5 devices each on one radio, end to end through Mosquitto, ingest and PostgreSQL:
  readings/s, the median and p99 time from a device's notification to the row's commit, and the
  gateway's peak RSS (goal: under 60 MB for one hub with 7 devices).
- ``startup`` (needs only Mosquitto): the peak RSS of ``carehub gateway run`` once it is ready (MQTT
  connected, outbox open, first scan tried), on the BlueZ path a hub takes (no adapter here: the scan
  fails and is retried, as on a hub whose adapter is down) and with a simulated home of 7 devices whose
  whitelist is empty (radio and device models loaded, nothing to download), against a bare
  ``python -c "import bleak, aiomqtt, sqlite3"`` measured in the same run (the floor)."""

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

import asyncio  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

from carehub.demo_homes import RadioHome, RadioHomes  # noqa: E402
from carehub.local_services import IngestProcess, MosquittoBroker, find_mosquitto, free_port  # noqa: E402
from carehub.simulated_home import DeviceSpec, HomeSpec, register_home  # noqa: E402
from core.db import connect, create_database, drop_database, with_database  # noqa: E402
from core.migrate import migrate  # noqa: E402
from gateway.outbox import Outbox, OutboxReading  # noqa: E402
from provisioning import registry  # noqa: E402

FAST = {
    "gateway_scan_window_s": 1.0,
    "gateway_scan_pause_s": 0.0,
    "gateway_device_idle_s": 0.5,
    "gateway_reconnect_min_s": 0.2,
    "gateway_reconnect_max_s": 2.0,
}
"""Gateway timings for a benchmark: scan continuously, release a quiet device after 0.5 s."""

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


def home_spec(index: int, presets: tuple[str, ...], stored: int, glucose_stored: int) -> HomeSpec:
    devices = tuple(
        DeviceSpec(
            preset,
            f"B{index:03d}-{n}",
            f"C0:DE:{index >> 8:02X}:{index & 0xFF:02X}:01:{n + 1:02X}",
            stored=glucose_stored if preset == "contour" else stored,
            seed=index * 10 + n,
        )
        for n, preset in enumerate(presets)
    )
    return HomeSpec(devices=devices, seed=index)


SEVEN = (
    "and_ua651ble",
    "contour",
    "and_uc352ble",
    "fingertip_oximeter",
    "and_ut201ble",
    "and_ua651ble",
    "fingertip_oximeter",
)
FIVE = ("and_ua651ble", "contour", "and_uc352ble", "fingertip_oximeter", "and_ut201ble")


class Services:
    """A private Mosquitto, a migrated database per run and one ingest worker."""

    def __init__(self, admin_url: str, workdir: Path) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise SystemExit("mosquitto is needed (make bench-gateway installs it, or apt-get install mosquitto)")
        self.admin_url = admin_url
        self.workdir = workdir
        self.broker = MosquittoBroker(binary, workdir / "broker")
        self.broker.start()
        self.databases: list[str] = []

    def fresh(self) -> str:
        name = f"carehub_bench_gw_{secrets.token_hex(3)}"
        create_database(self.admin_url, name)
        self.databases.append(name)
        url = with_database(self.admin_url, name)
        with connect(url, application_name="bench", autocommit=True) as conn:
            migrate(conn)
        return url

    def ingest(self, url: str, root: str) -> IngestProcess:
        worker = IngestProcess.start(
            name=f"bench-{secrets.token_hex(2)}",
            database_url=url,
            mqtt_port=self.broker.port,
            workdir=self.workdir / "ingest",
            topic_root=root,
            shared_group=None,
        )
        worker.wait_ready(60)
        return worker

    def close(self) -> None:
        self.broker.stop()
        for name in self.databases:
            drop_database(self.admin_url, name)


def _enrol(url: str, specs: list[HomeSpec]) -> list[RadioHome]:
    homes = []
    with connect(url, application_name="bench", autocommit=True) as conn:
        practice = registry.create_practice(conn, name="Bench", time_zone="America/New_York")
        for index, spec in enumerate(specs):
            hub_id = f"hub-bench-{index:04d}"
            register_home(
                conn, spec, practice_id=practice, hub_id=hub_id, mrn=f"B{index}", assigned_from=T0 - timedelta(days=400)
            )
            homes.append(RadioHome(hub_id, spec, "unused"))
    return homes


def _rows(url: str) -> tuple[int, list[float]]:
    """Stored readings, and each reading's seconds from the hub receiving its frame to its commit."""
    with connect(url, application_name="bench", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT reading_id, min(extract(epoch FROM ingested_at - received_at)) FROM readings GROUP BY reading_id"
        ).fetchall()
    return len(rows), [float(lag) for _, lag in rows]


def _settled(history: list[tuple[float, int]], expected: int, quiet_s: float = 2.0) -> bool:
    """Every device's memory is in: the row count reached what the devices hold, or stopped
    growing for ``quiet_s`` near it (a record that is no reading, e.g. a control test, never lands)."""
    now, count = history[-1]
    if count >= expected:
        return True
    quiet = [n for t, n in history if now - t <= quiet_s]
    return count >= 0.9 * expected and history[0][0] < now - quiet_s and min(quiet) == count


def _gateways_idle(homes: RadioHomes) -> bool:
    """Every device had a good session and every outbox is empty (devices that keep advertising are
    visited again now and then, so some session is usually in progress)."""
    for gateway, home in zip(homes.gateways, homes.homes, strict=True):
        served = {serial for serial, _ in gateway.devices.reports}
        if served != {d.serial for d in home.spec.devices} or gateway.outbox.depth():
            return False
    return len(homes.gateways) == len(homes.homes)


def _expected_readings(specs: list[HomeSpec]) -> int:
    return sum(d.stored for spec in specs for d in spec.devices)


def run_homes(services: Services, label: str, specs: list[HomeSpec]) -> None:
    url = services.fresh()
    root = f"bench{secrets.token_hex(3)}/carehub/v1"
    homes = RadioHomes(_enrol(url, specs), settings_overrides=dict(FAST))
    worker = services.ingest(url, root)
    expected = _expected_readings(specs)

    async def scenario() -> float:
        stop = asyncio.Event()
        await homes.publish_desired(services.broker.port, "unused", root)
        task = asyncio.create_task(
            homes.run(port=services.broker.port, topic_root=root, workdir=services.workdir / label, stop=stop)
        )
        # The clock starts when every home is built and its gateway started, not while 50 radios with
        # their devices are still being assembled (tens of seconds that are the simulator's, not the hub's).
        await asyncio.wait((task, asyncio.ensure_future(homes.running.wait())), return_when=asyncio.FIRST_COMPLETED)
        started = time.perf_counter()
        deadline = started + 600
        history: list[tuple[float, int]] = []
        while time.perf_counter() < deadline and not task.done():
            stored = (await asyncio.to_thread(_rows, url))[0]
            history.append((time.perf_counter(), stored))
            if os.environ.get("BENCH_VERBOSE"):
                print(f"  … {stored}/{expected} after {time.perf_counter() - started:.1f} s")
            if _settled(history, expected) and _gateways_idle(homes):
                break
            await asyncio.sleep(0.2)
        # The clock stops at the last new row, not at the moment the settling was noticed.
        first_final = next(t for t, n in history if n == history[-1][1])
        elapsed = first_final - started
        stop.set()
        await asyncio.wait_for(task, 60)
        return elapsed

    try:
        elapsed = asyncio.run(scenario())
    finally:
        worker.stop()
    stored, lags = _rows(url)
    lags.sort()
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else float("nan")
    devices = sum(len(s.devices) for s in specs)
    print(f"{label}: {len(specs)} gateway(s), {devices} devices, {expected} stored readings on the devices")
    print(f"  stored {stored} readings in {elapsed:.1f} s: {stored / elapsed:,.0f} readings/s end to end")
    print(
        f"  frame received by the hub -> row committed: median {statistics.median(lags) * 1000:,.0f} ms, "
        f"p99 {p99 * 1000:,.0f} ms"
    )
    if stored != expected:
        with connect(url, application_name="bench", autocommit=True) as conn:
            dead = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
        print(f"  {expected - stored} device records are not stored readings; dead letters by reason: {dict(dead)}")


GATEWAY_COMMAND = [sys.executable, "-m", "carehub", "gateway"]


def peak_rss(services: Services, bluez_ready_mb: float | None) -> None:
    """The gateway process's peak RSS with one home of 7 devices, until all their records are in the
    database: first with the radio and devices in another process (``carehub gateway radio``, the
    gateway on ``--radio-socket``), so the gateway is measured alone; then with everything in one
    process (``--simulated-home``) against a same-run baseline, a process with the same imports
    running the same simulated home without a gateway."""
    spec = home_spec(0, SEVEN, stored=30, glucose_stored=200)
    spec_path = services.workdir / "rss-home.json"
    spec_path.write_text(spec.to_json())
    socket_dir = Path(tempfile.mkdtemp(prefix="radio-"))  # a Unix socket path is at most 107 bytes
    socket = socket_dir / "radio.sock"
    radio = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carehub",
            "gateway",
            "radio",
            "--simulated-home",
            str(spec_path),
            "--socket",
            str(socket),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not socket.exists() and radio.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        alone, _ = _rss_serving(services, spec, spec_path, "rss-remote", ["--radio-socket", str(socket)])
    finally:
        radio.send_signal(signal.SIGTERM)
        radio.wait(30)
    print(f"peak RSS of the gateway process with 7 devices, radio and devices in another process: {alone:.1f} MB")
    print("  (goal < 60 MB; the gateway talks to the radio process over a Unix socket instead of BlueZ's D-Bus)")
    together, seconds = _rss_serving(services, spec, spec_path, "rss-hub", ["--simulated-home", str(spec_path)])
    baseline = _simulator_alone_mb(spec_path, seconds=max(5.0, seconds))
    print(f"peak RSS with 7 devices, gateway and simulated home in one process: {together:.1f} MB")
    print(f"  the simulated home alone (same imports, radio and 7 devices advertising, no gateway): {baseline:.1f} MB")
    print(
        f"  the difference: {together - baseline:.1f} MB (the bumble state of the 7 links counts on the gateway's"
        " side, so this is an upper bound of what serving 7 devices adds)"
    )
    if bluez_ready_mb is not None:
        print(
            f"  cross-check: BlueZ path ready ({bluez_ready_mb:.1f} MB) + the difference ="
            f" {bluez_ready_mb + together - baseline:.1f} MB"
        )


def _rss_serving(
    services: Services, spec: HomeSpec, spec_path: Path, label: str, gateway_args: list[str]
) -> tuple[float, float]:
    """Run ``carehub gateway run`` with ``gateway_args`` until the home's records are stored; its
    VmHWM and how long that took."""
    url = services.fresh()
    root = f"bench{secrets.token_hex(3)}/carehub/v1"
    [home] = _enrol(url, [spec])
    worker = services.ingest(url, root)
    asyncio.run(RadioHomes([home]).publish_desired(services.broker.port, "unused", root))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
    env.update({f"CAREHUB_{k.upper()}": str(v) for k, v in FAST.items()})
    env.update(
        {
            "CAREHUB_MQTT_PORT": str(services.broker.port),
            "CAREHUB_MQTT_USERNAME": home.hub_id,
            "CAREHUB_MQTT_TOPIC_ROOT": root,
            "CAREHUB_GATEWAY_DATA_DIR": str(services.workdir / label),
            "CAREHUB_GATEWAY_TIMEZONE": spec.time_zone,
            "CAREHUB_HEALTH_PORT": str(free_port()),
            "CAREHUB_LOG_LEVEL": "WARNING",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "carehub", "gateway", "run", *gateway_args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    expected = _expected_readings([spec])
    history: list[tuple[float, int]] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            history.append((time.monotonic(), _rows(url)[0]))
            if _settled(history, expected):
                break
            time.sleep(0.5)
        rss = _vm_hwm_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        worker.stop()
    stored = history[-1][1] if history else 0
    if stored < 0.9 * expected:
        raise SystemExit(f"{label}: only {stored} of {expected} readings arrived; the RSS figure would mean nothing")
    return rss, history[-1][0] - history[0][0]


SIMULATOR_ALONE = """
import asyncio, sys, time
from pathlib import Path
import aiomqtt, bleak, carehub.cli, carehub.commands.gateway, gateway.agent  # loaded, not run
from carehub.simulated_home import HomeSpec, build_model, utc_now
from firmware_sim.radio import VirtualRadio

async def main(spec_path, seconds):
    home = HomeSpec.load(Path(spec_path))
    async with VirtualRadio() as radio:
        for d in home.devices:
            await radio.add_peripheral(build_model(home, d), address=d.address, clock=utc_now)
        await asyncio.sleep(seconds)

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
print(open('/proc/self/status').read())
"""
"""The same-run baseline of ``peak_rss``: the simulated home of the measured process, without a gateway."""


def _simulator_alone_mb(spec_path: Path, *, seconds: float) -> float:
    argv = [sys.executable, "-c", SIMULATOR_ALONE, str(spec_path), f"{seconds:.1f}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def startup_rss(workdir: Path) -> float:
    """Peak RSS of a gateway process up to readiness, with and without a simulated home; returns the
    BlueZ path's."""
    binary = find_mosquitto()
    if binary is None:
        raise SystemExit("mosquitto is needed (make bench-gateway installs it, or apt-get install mosquitto)")
    broker = MosquittoBroker(binary, workdir / "startup-broker")
    broker.start()
    try:
        figures: list[float] = []
        floor = _vm_hwm_mb_of([sys.executable, "-c", "import bleak, aiomqtt, sqlite3"])
        print(f"startup peak RSS, floor (python -c 'import bleak, aiomqtt, sqlite3'): {floor:.1f} MB")
        spec_path = workdir / "startup-home.json"
        spec_path.write_text(home_spec(0, SEVEN, stored=30, glucose_stored=200).to_json())
        for label, extra in (
            ("BlueZ path (a hub)", []),
            ("simulated home, 7 devices", ["--simulated-home", str(spec_path)]),
        ):
            rss = _gateway_ready_rss(broker.port, workdir / f"startup-{len(extra)}", extra)
            print(f"  gateway run, {label}: {rss:.1f} MB ({rss / floor:.2f}x the floor, +{rss - floor:.1f} MB)")
            figures.append(rss)
    finally:
        broker.stop()
    return figures[0]


def _gateway_ready_rss(port: int, data_dir: Path, extra: list[str]) -> float:
    health_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREHUB_")}
    env.update({f"CAREHUB_{k.upper()}": str(v) for k, v in FAST.items()})
    env.update(
        {
            "CAREHUB_MQTT_PORT": str(port),
            "CAREHUB_MQTT_USERNAME": f"hub-{secrets.token_hex(3)}",
            "CAREHUB_MQTT_TOPIC_ROOT": f"bench{secrets.token_hex(3)}/carehub/v1",
            "CAREHUB_GATEWAY_DATA_DIR": str(data_dir),
            "CAREHUB_HEALTH_PORT": str(health_port),
            "CAREHUB_LOG_LEVEL": "WARNING",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "carehub", "gateway", "run", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _ready(health_port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gateway run {extra} did not become ready (exit code {process.poll()})")
            time.sleep(0.2)
        time.sleep(2 * FAST["gateway_scan_window_s"])  # a scan or two tried: BlueZ fails here, the radio scans
        return _vm_hwm_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _ready(health_port: int) -> bool:
    """MQTT connected and the outbox writable: the BlueZ path has no adapter here, so its "radio"
    check stays false (503), as on a hub whose adapter is down."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/readyz", timeout=1) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    except OSError:
        return False
    checks = json.loads(body).get("checks", {})
    return bool(checks.get("mqtt") and checks.get("outbox"))


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _vm_hwm_mb_of(argv: list[str]) -> float:
    code = argv[-1] + "; print(open('/proc/self/status').read())"
    out = subprocess.run([*argv[:-1], code], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("outbox", "startup", "home", "fleet"), default=None)
    parser.add_argument("--outbox-readings", type=int, default=2000)
    parser.add_argument("--fleet-homes", type=int, default=50)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CAREHUB_BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"),
    )
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}", flush=True)
    if args.only in (None, "outbox"):
        bench_outbox(args.outbox_readings)
    bluez_ready_mb = None
    if args.only in (None, "startup"):
        bluez_ready_mb = startup_rss(Path(tempfile.mkdtemp(prefix="carehub-bench-gw-startup-")))
    if args.only in ("outbox", "startup"):
        return 0
    services = Services(args.admin_url, Path(tempfile.mkdtemp(prefix="carehub-bench-gw-")))
    try:
        if args.only in (None, "home"):
            run_homes(services, "home", [home_spec(0, SEVEN, stored=30, glucose_stored=200)])
            peak_rss(services, bluez_ready_mb)
        if args.only in (None, "fleet"):
            specs = [home_spec(i + 1, FIVE, stored=10, glucose_stored=30) for i in range(args.fleet_homes)]
            run_homes(services, "fleet", specs)
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
