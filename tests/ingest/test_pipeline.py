"""End to end on real services: hubs publish over a private Mosquitto, ``carehub ingest`` runs as
a child process, rows land in PostgreSQL, acks come back, and the counts match exactly."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from carehub.local_services import IngestProcess, MosquittoBroker
from firmware_sim.fleet import seed_fleet
from firmware_sim.hub_model import FaultMix
from firmware_sim.hub_sim import FleetStats, HubSimSettings, run_fleet
from provisioning import registry
from tests.ingest.conftest import World, bp_reading, envelope, weight_reading
from tests.pipeline import HubClient, wait_until

StartIngest = Callable[..., IngestProcess]


@pytest.fixture
def start_ingest(database_url: str, broker: MosquittoBroker, topic_root: str, tmp_path: Path) -> Iterator[StartIngest]:
    started: list[IngestProcess] = []

    def start(name: str = "w1", *, url: str | None = None, port: int | None = None, **env: str) -> IngestProcess:
        worker = IngestProcess.start(
            name=name,
            database_url=url or database_url,
            mqtt_port=port or broker.port,
            workdir=tmp_path / "ingest",
            topic_root=topic_root,
            extra_env={f"CAREHUB_{k.upper()}": v for k, v in env.items()},
        )
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def hub1(broker: MosquittoBroker, topic_root: str, world: World) -> Iterator[HubClient]:
    client = HubClient(broker.port, topic_root, "hub-0001")
    yield client
    client.close()


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def distinct_readings(db: psycopg.Connection[tuple[Any, ...]]) -> int:
    row = db.execute("SELECT count(DISTINCT reading_id) FROM readings").fetchone()
    return int(row[0]) if row else 0


def test_simulated_hubs_end_to_end_counts_match_exactly(
    database_url: str,
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    topic_root: str,
    start_ingest: StartIngest,
) -> None:
    practice = registry.create_practice(db, name="E2E", time_zone="America/Denver")
    fleet = seed_fleet(db, practice_id=practice, hubs=6, assigned_from=now_s() - timedelta(days=31))
    worker = start_ingest()
    settings = HubSimSettings(
        port=broker.port,
        topic_root=topic_root,
        readings_per_s=30,
        faults=FaultMix(bad_reading=0.05, replay_with_new_id=0.05, unknown_device=0.02),
        seed=20261203,
    )

    async def run() -> FleetStats:
        stop = asyncio.Event()
        stats = FleetStats()
        task = asyncio.create_task(run_fleet(fleet, settings, stop, stats=stats))
        await asyncio.sleep(4)
        stop.set()
        await task
        return stats

    stats = asyncio.run(run())
    assert stats.readings_published > 40
    assert stats.pending == 0, "every reading was acknowledged"
    assert stats.accepted + stats.duplicate + stats.rejected == stats.readings_published
    assert stats.duplicate > 0
    assert stats.rejected > 0
    assert distinct_readings(db) == stats.accepted
    assert db.execute("SELECT count(*) FROM dead_letters").fetchone() == (stats.rejected,)
    wait_until(lambda: worker.metric("carehub_ingest_readings_stored_total") == stats.accepted, 10, "metrics")
    assert worker.metric("carehub_ingest_readings_duplicate_total") == stats.duplicate
    assert worker.metric("carehub_ingest_dead_letters_total") == stats.rejected
    # the daily summary saw every stored row exactly once
    assert db.execute(
        "SELECT (SELECT count(*) FROM readings) = (SELECT sum(observations) FROM reading_daily)"
    ).fetchone() == (True,)


def test_same_batch_twice_and_resend_with_new_id(
    world: World, db: psycopg.Connection[tuple[Any, ...]], hub1: HubClient, start_ingest: StartIngest
) -> None:
    start_ingest()
    at = now_s() - timedelta(minutes=3)
    readings = [bp_reading("BP0001", at), weight_reading("SC0001", at)]
    payload = envelope(readings, batch_id="BATCH-1")
    hub1.publish(payload)
    first = hub1.wait_ack("BATCH-1")
    assert sorted(first["accepted"]) == sorted(r["reading_id"] for r in readings)
    hub1.publish(payload)
    wait_until(lambda: len(hub1.acks_for("BATCH-1")) == 2, what="second ack")
    second = hub1.acks_for("BATCH-1")[1]
    assert (second["accepted"], sorted(second["duplicate"])) == ([], sorted(r["reading_id"] for r in readings))
    replay = dict(readings[0], reading_id=str(uuid4()), from_device_memory=True)
    hub1.publish(envelope([replay], batch_id="BATCH-2"))
    assert hub1.wait_ack("BATCH-2")["duplicate"] == [replay["reading_id"]]
    assert db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone() == (4, 2)


def test_bad_readings_are_dead_lettered_and_the_rest_of_the_batch_lands(
    world: World, db: psycopg.Connection[tuple[Any, ...]], hub1: HubClient, start_ingest: StartIngest
) -> None:
    start_ingest()
    at = now_s() - timedelta(minutes=1)
    good = bp_reading("BP0001", at)
    bad = {
        "implausible_value": bp_reading("BP0001", at - timedelta(seconds=1), sys=420),
        "invalid_unit": {
            **weight_reading("SC0001", at),
            "observations": [{"code": "MDC_MASS_BODY_ACTUAL", "value": 80, "unit": "mmol/L"}],
        },
        "unknown_metric": {
            **weight_reading("SC0001", at - timedelta(seconds=2)),
            "observations": [{"code": "MDC_MASS_BODY_IDEAL", "value": 80, "unit": "kg"}],
        },
        "measured_at_in_future": bp_reading("BP0001", at + timedelta(hours=1)),
        "measured_at_too_old": bp_reading("BP0001", at - timedelta(days=31)),
        "unknown_device": bp_reading("BP9999", at),
        "device_not_assigned_to_hub": bp_reading("BP0002", at),  # hub-0002's cuff, published by hub-0001
        "invalid_reading": {**bp_reading("BP0001", at - timedelta(seconds=3)), "measured_at": "yesterday"},
    }
    hub1.publish(envelope([good, *bad.values()], batch_id="MIXED"))
    ack = hub1.wait_ack("MIXED")
    assert ack["accepted"] == [good["reading_id"]]
    assert {r["reading_id"]: r["reason"] for r in ack["rejected"]} == {
        reading["reading_id"]: reason for reason, reading in bad.items()
    }
    letters = dict(db.execute("SELECT reading_id, reason FROM dead_letters").fetchall())
    assert letters == {reading["reading_id"]: reason for reason, reading in bad.items()}
    assert distinct_readings(db) == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x00\x01 definitely not json", "malformed_json"),
        (b'{"batch_id": "SHAPE", "readings": {"not": "a list"}}', "invalid_envelope"),
        (b'{"batch_id": "BIG", "readings": [' + b'{"x": 1},' * 40000 + b'{"x": 1}]}', "message_too_large"),
    ],
)
def test_malformed_messages_are_dead_lettered_whole_and_acknowledged(
    world: World,
    db: psycopg.Connection[tuple[Any, ...]],
    hub1: HubClient,
    start_ingest: StartIngest,
    payload: bytes,
    reason: str,
) -> None:
    worker = start_ingest()
    hub1.publish(payload)
    wait_until(lambda: any(a.get("error") == reason for a in hub1.acks), what=f"an ack with error {reason}")
    row = db.execute("SELECT reason, payload_size, hub_id FROM dead_letters").fetchone()
    assert row == (reason, len(payload), "hub-0001")
    # acknowledged at MQTT level too: a fresh good message after it is processed normally
    at = now_s() - timedelta(seconds=5)
    hub1.publish(envelope([bp_reading("BP0001", at)], batch_id="AFTER"))
    assert len(hub1.wait_ack("AFTER")["accepted"]) == 1
    assert worker.metric("carehub_ingest_dead_letters_total") == 1


def test_two_workers_share_the_subscription_without_duplicates(
    world: World, db: psycopg.Connection[tuple[Any, ...]], hub1: HubClient, start_ingest: StartIngest
) -> None:
    w1, w2 = start_ingest("w1"), start_ingest("w2")
    base = now_s() - timedelta(hours=3)
    batches = []
    for i in range(120):
        batch_id = f"B{i:03d}"
        batches.append(batch_id)
        hub1.publish(envelope([bp_reading("BP0001", base + timedelta(seconds=i))], batch_id=batch_id))
    wait_until(lambda: all(hub1.acks_for(b) for b in batches), 60, "all acks")
    assert distinct_readings(db) == 120
    assert db.execute("SELECT count(*) FROM readings").fetchone() == (360,)
    received = [w.metric("carehub_ingest_messages_received_total") for w in (w1, w2)]
    assert sum(received) == 120
    assert min(received) > 0, f"both workers took a share: {received}"
    assert (
        w1.metric("carehub_ingest_readings_duplicate_total") + w2.metric("carehub_ingest_readings_duplicate_total") == 0
    )


def test_health_endpoints(start_ingest: StartIngest) -> None:
    worker = start_ingest()
    assert worker.ready()
    assert worker.metric("carehub_ingest_mqtt_connected") == 1
    assert worker.metric("carehub_ingest_database_up") == 1


def test_log_lines_are_json_and_carry_no_patient_data(
    world: World, db: psycopg.Connection[tuple[Any, ...]], hub1: HubClient, start_ingest: StartIngest
) -> None:
    import json

    worker = start_ingest(log_level="DEBUG")
    db.execute("UPDATE patients SET given_name = 'Zebulon', family_name = 'Quixote-Marsh'")
    marker = secrets.token_hex(6)
    reading = bp_reading("BP0001", now_s() - timedelta(minutes=2))
    hub1.publish(envelope([reading], batch_id=f"LOG{marker}"))
    hub1.wait_ack(f"LOG{marker}")
    worker.stop()
    lines = worker.log_path.read_text().splitlines()
    assert lines
    assert all(json.loads(line)["level"] for line in lines)
    text = "\n".join(lines)
    for secret in ("Zebulon", "Quixote", "MRN1", str(world.homes[0].patient_id)):
        assert secret not in text
