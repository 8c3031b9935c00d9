"""Exactly-once effect under failures, on real processes and services: ingest killed between
receiving and committing, the database unreachable or restarted during a batch, the broker
restarted, and a message the database refuses. In every case the stored rows equal the distinct
readings sent, and every reading is acknowledged to its hub."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from carehub.local_services import EmbeddedPostgres, IngestProcess, MosquittoBroker
from core.db import connect, create_database, with_database
from core.migrate import migrate
from tests.ingest.conftest import ASSIGNED_FROM, World, bp_reading, envelope
from tests.pipeline import HubClient, TcpProxy, wait_until

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
            extra_env={"CAREHUB_INGEST_RETRY_MAX_S": "1", **{f"CAREHUB_{k.upper()}": v for k, v in env.items()}},
        )
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def publish_series(hub: HubClient, count: int, *, start: datetime, prefix: str) -> list[str]:
    batch_ids = []
    for i in range(count):
        batch_id = f"{prefix}{i:03d}"
        hub.publish(envelope([bp_reading("BP0001", start + timedelta(seconds=i))], batch_id=batch_id))
        batch_ids.append(batch_id)
    return batch_ids


def readings_count(db: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int]:
    row = db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_ingest_killed_after_receiving_and_before_committing(
    world: World,
    database_url: str,
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    topic_root: str,
    start_ingest: StartIngest,
) -> None:
    hub = HubClient(broker.port, topic_root, "hub-0001")
    try:
        first = start_ingest("killme")
        # Hold the ingest transaction at its INSERT: received, validated, not committed.
        with connect(database_url, application_name="blocker") as blocker:
            blocker.execute("LOCK TABLE readings IN SHARE MODE")
            batch_ids = publish_series(
                hub, 20, start=datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1), prefix="K"
            )
            wait_until(lambda: first.metric("carehub_ingest_messages_received_total") == 20, what="all received")
            assert first.metric("carehub_ingest_readings_stored_total") == 0
            first.kill()
            blocker.rollback()
        assert readings_count(db) == (0, 0)
        assert hub.acks == []
        second = start_ingest("killme")  # same worker id: resumes the persistent session
        wait_until(lambda: all(hub.acks_for(b) for b in batch_ids), 60, "acks after restart")
        assert readings_count(db) == (60, 20)
        assert second.metric("carehub_ingest_readings_stored_total") == 20
    finally:
        hub.close()


def test_database_unreachable_during_a_batch(
    world: World,
    database_url: str,
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    topic_root: str,
    start_ingest: StartIngest,
) -> None:
    proxy = TcpProxy(database_url)
    hub = HubClient(broker.port, topic_root, "hub-0001")
    try:
        worker = start_ingest(url=proxy.url)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        before = publish_series(hub, 5, start=start, prefix="A")
        wait_until(lambda: all(hub.acks_for(b) for b in before), what="acks before the outage")
        proxy.cut()
        during = publish_series(hub, 15, start=start + timedelta(minutes=1), prefix="B")
        wait_until(lambda: worker.metric("carehub_ingest_storage_retries_total") >= 2, what="retries")
        assert worker.metric("carehub_ingest_database_up") == 0
        assert not worker.ready()
        assert all(not hub.acks_for(b) for b in during), "nothing is acknowledged while the database is away"
        proxy.restore()
        wait_until(lambda: all(hub.acks_for(b) for b in during), 60, "acks after the outage")
        assert readings_count(db) == (60, 20)
        assert db.execute("SELECT count(*) FROM dead_letters").fetchone() == (0,)
        wait_until(worker.ready, what="ready again")
    finally:
        hub.close()
        proxy.close()


def test_database_restarted_during_batches(
    broker: MosquittoBroker, topic_root: str, start_ingest: StartIngest, tmp_path: Path
) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    hub = None
    try:
        admin = server.start()
        create_database(admin, "carehub")
        url = with_database(admin, "carehub")
        with connect(url, application_name="t", autocommit=True) as conn:
            migrate(conn)
            _register_one_home(conn)
        worker = start_ingest(url=url)
        hub = HubClient(broker.port, topic_root, "hub-0001")
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4)
        batch_ids = publish_series(hub, 10, start=start, prefix="R")
        blocker = connect(url, application_name="blocker")
        blocker.execute("LOCK TABLE readings IN SHARE MODE")
        batch_ids += publish_series(hub, 10, start=start + timedelta(minutes=5), prefix="S")
        wait_until(lambda: worker.metric("carehub_ingest_messages_received_total") == 20, what="received")
        server.restart()  # terminates the blocker and ingest's transaction alike
        blocker.close()
        batch_ids += publish_series(hub, 10, start=start + timedelta(minutes=10), prefix="T")
        wait_until(lambda: all(hub.acks_for(b) for b in batch_ids), 90, "acks after the restart")
        with connect(url, application_name="t", autocommit=True) as conn:
            assert readings_count(conn) == (90, 30)
    finally:
        if hub is not None:
            hub.close()
        server.stop()


def _register_one_home(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    from core.domain import DeviceKind
    from provisioning import registry

    practice = registry.create_practice(conn, name="Restart", time_zone="UTC")
    patient = registry.create_patient(conn, practice_id=practice, mrn="R1", time_zone="UTC")
    registry.create_hub(conn, practice_id=practice, hub_id="hub-0001", serial="H1")
    cuff = registry.create_device(conn, practice_id=practice, serial="BP0001", kind=DeviceKind.BP_CUFF)
    registry.assign_device_to_patient(conn, device=cuff, patient_id=patient, valid_from=ASSIGNED_FROM)
    registry.assign_device_to_hub(conn, device=cuff, hub_id="hub-0001", valid_from=ASSIGNED_FROM)


def test_broker_restarted_with_readings_in_flight(
    world: World,
    database_url: str,
    db: psycopg.Connection[tuple[Any, ...]],
    private_broker: Callable[..., MosquittoBroker],
    topic_root: str,
    start_ingest: StartIngest,
) -> None:
    own = private_broker()
    worker = start_ingest(port=own.port)
    hub = HubClient(own.port, topic_root, "hub-0001")
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
        batch_ids = publish_series(hub, 10, start=start, prefix="X")
        with connect(database_url, application_name="blocker") as blocker:
            blocker.execute("LOCK TABLE readings IN SHARE MODE")
            batch_ids += publish_series(hub, 10, start=start + timedelta(minutes=1), prefix="Y")
            wait_until(lambda: worker.metric("carehub_ingest_messages_received_total") >= 20, what="received")
            own.restart()  # sessions and queued messages persist; in-flight deliveries are redelivered
            blocker.rollback()
        wait_until(worker.ready, 30, "ingest reconnected")
        batch_ids += publish_series(hub, 10, start=start + timedelta(minutes=2), prefix="Z")
        wait_until(lambda: all(hub.acks_for(b) for b in batch_ids), 60, "acks after the broker restart")
        assert readings_count(db) == (90, 30)
    finally:
        hub.close()


def test_a_message_the_database_refuses_is_dead_lettered_whole_and_the_rest_lands(
    world: World,
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    topic_root: str,
    start_ingest: StartIngest,
) -> None:
    # A poison input no retry can fix, simulated by a trigger that refuses one particular value.
    db.execute(
        """CREATE FUNCTION refuse_77() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.value = 77.7 THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$;
           CREATE TRIGGER refuse_77 BEFORE INSERT ON readings FOR EACH ROW EXECUTE FUNCTION refuse_77();"""
    )
    start_ingest(ingest_batch_max_wait_s="0.5", ingest_batch_close_when_idle="false")  # one batch: splitting is tested
    hub = HubClient(broker.port, topic_root, "hub-0001")
    try:
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
        tag = secrets.token_hex(3)
        hub.publish(envelope([bp_reading("BP0001", at)], batch_id=f"GOOD1{tag}"))
        hub.publish(envelope([bp_reading("BP0001", at + timedelta(seconds=1), pulse=77.7)], batch_id=f"POISON{tag}"))
        hub.publish(envelope([bp_reading("BP0001", at + timedelta(seconds=2))], batch_id=f"GOOD2{tag}"))
        poison = hub.wait_ack(f"POISON{tag}")
        assert poison["error"] == "storage_error"
        assert [r["reason"] for r in poison["rejected"]] == ["storage_error"]
        assert len(hub.wait_ack(f"GOOD1{tag}")["accepted"]) == 1
        assert len(hub.wait_ack(f"GOOD2{tag}")["accepted"]) == 1
        assert readings_count(db) == (6, 2)
        row = db.execute("SELECT reason, batch_id, detail FROM dead_letters").fetchone()
        assert row is not None
        assert row[:2] == ("storage_error", f"POISON{tag}")
        assert "refused by test trigger" in row[2]
    finally:
        hub.close()
