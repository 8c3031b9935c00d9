"""Through the real pipeline: a hub publishes over Mosquitto, a `carehub ingest` worker process
stores the readings and evaluates the rules in its transaction, and the scheduler escalates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from alerts import service
from alerts.scheduler import Scheduler
from carehub.local_services import IngestProcess, MosquittoBroker
from tests.alerts.conftest import add_route
from tests.ingest.conftest import World, bp_reading, envelope
from tests.pipeline import HubClient, wait_until


@pytest.fixture
def ingest(database_url: str, broker: MosquittoBroker, topic_root: str, tmp_path: Path) -> Iterator[IngestProcess]:
    worker = IngestProcess.start(
        name="alerts-e2e", database_url=database_url, mqtt_port=broker.port, workdir=tmp_path, topic_root=topic_root
    )
    worker.wait_ready()
    yield worker
    worker.stop()


def bp_alerts(db: psycopg.Connection[Any], patient_id: UUID) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT id::text, rule_id, severity, status, (SELECT count(*) FROM alert_readings r WHERE r.alert_id = a.id) "
        "FROM alerts a WHERE patient_id = %s AND category = 'clinical'",
        (patient_id,),
    ).fetchall()


def test_185_over_125_opens_one_critical_alert_and_escalation_follows_acknowledgement(
    db: psycopg.Connection[Any],
    world: World,
    clinician: UUID,
    broker: MosquittoBroker,
    topic_root: str,
    ingest: IngestProcess,
) -> None:
    add_route(db, world.practice_id, "webhook", "https://practice.example/hooks", secret="x" * 32, purpose="on_call")
    hubs = [HubClient(broker.port, topic_root, home.hub_id) for home in world.homes]
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=6)
        for n, (hub, home) in enumerate(zip(hubs, world.homes, strict=True)):
            serial = f"BP000{n + 1}"
            hub.publish(envelope([bp_reading(serial, start, sys=185, dia=125)], batch_id=f"first-{n}"))
            hub.wait_ack(f"first-{n}")
            (alert,) = bp_alerts(db, home.patient_id)
            assert alert[1:] == ("BP-C1", "critical", "open", 1)
            for i in range(5):
                batch = f"more-{n}-{i}"
                hub.publish(envelope([bp_reading(serial, start + timedelta(minutes=i + 1), sys=190, dia=126)], batch))
                hub.wait_ack(batch)
            wait_until(lambda home=home: bp_alerts(db, home.patient_id)[0][4] == 6, 10, "six readings attached")
            assert len(bp_alerts(db, home.patient_id)) == 1
    finally:
        for hub in hubs:
            hub.close()
    acknowledged = bp_alerts(db, world.homes[0].patient_id)[0][0]
    unacknowledged = bp_alerts(db, world.homes[1].patient_id)[0][0]
    now = datetime.now(UTC)
    service.acknowledge(db, str(world.practice_id), acknowledged, by=str(clinician), at=now, note="calling")
    scheduler = Scheduler(escalate_after=timedelta(hours=2))
    for hours in (1, 2.5, 4, 8):
        scheduler.tick(db, now + timedelta(hours=hours))
    escalations = db.execute("SELECT alert_id::text FROM alert_events WHERE kind = 'escalated'").fetchall()
    assert escalations == [(unacknowledged,)]
    outbox = db.execute("SELECT alert_id::text, channel FROM notification_outbox").fetchall()
    assert outbox == [(unacknowledged, "webhook")]
