"""The scheduler and the presence consumer against real PostgreSQL and Mosquitto: expiring
confirmations, ALERT-4 escalation (once, and never after an acknowledgement), DEV/ADH rules from the
tables, stale Wills, rejected frames, and two schedulers at once firing each alert once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts import presence, service, store
from alerts.presence import PresenceConsumer
from alerts.scheduler import Scheduler
from carehub.local_services import MosquittoBroker
from core.db import connect
from core.topics import Topics
from tests.alerts.conftest import add_route, bp_c1
from tests.ingest.conftest import ASSIGNED_FROM, World
from tests.pipeline import wait_until

NOW = datetime.now(UTC).replace(microsecond=0)
TWO_HOURS = timedelta(hours=2)


def open_critical(db: psycopg.Connection[Any], world: World, at: datetime, home: int = 0) -> str:
    spec = bp_c1(world, home)
    with db.transaction():
        return store.raise_alert(db, spec, at).alert_id


def events(db: psycopg.Connection[Any], kind: str) -> int:
    row = db.execute("SELECT count(*) FROM alert_events WHERE kind = %s", (kind,)).fetchone()
    return int(row[0]) if row else 0


def test_unacknowledged_critical_escalates_once_and_acknowledged_does_not(
    db: psycopg.Connection[Any], world: World, clinician: UUID
) -> None:
    on_call = add_route(db, world.practice_id, "email", "oncall@example.org", purpose="on_call")
    ignored = open_critical(db, world, NOW - TWO_HOURS, home=0)
    handled = open_critical(db, world, NOW - TWO_HOURS, home=1)
    service.acknowledge(db, str(world.practice_id), handled, by=str(clinician), at=NOW - H1, note=None)
    scheduler = Scheduler(escalate_after=TWO_HOURS)
    scheduler.tick(db, NOW - timedelta(seconds=1))
    assert events(db, "escalated") == 0
    first = scheduler.tick(db, NOW)
    again = scheduler.tick(db, NOW + timedelta(hours=5))
    assert (first.escalated, again.escalated) == (1, 0)
    rows = db.execute("SELECT alert_id::text, route_id FROM notification_outbox").fetchall()
    assert rows == [(ignored, on_call)]


H1 = timedelta(hours=1)


def test_a_snoozed_alert_escalates_only_after_its_snooze(
    db: psycopg.Connection[Any], world: World, clinician: UUID
) -> None:
    alert = open_critical(db, world, NOW - TWO_HOURS)
    service.snooze(db, str(world.practice_id), alert, by=str(clinician), at=NOW - H1, until=NOW + H1)
    scheduler = Scheduler(escalate_after=TWO_HOURS)
    assert scheduler.tick(db, NOW).escalated == 0
    assert scheduler.tick(db, NOW + H1).escalated == 1


def test_an_expired_confirmation_fires_on_the_single_set(db: psycopg.Connection[Any], world: World) -> None:
    patient = str(world.homes[0].patient_id)
    db.execute(
        """INSERT INTO alert_pending (practice_id, patient_id, rule_id, rule_version, severity, thresholds, observed,
               reading_ids, late, first_at, confirm_by)
           VALUES (%s, %s, 'BP-W1', 1, 'warning', '{"sys_ge": 160}', '{"sys_mean": 165}',
                   ARRAY['0190f000-0000-7000-8000-000000000001']::uuid[], false, %s, %s)""",
        (world.practice_id, patient, NOW - timedelta(minutes=30), NOW),
    )
    scheduler = Scheduler(escalate_after=TWO_HOURS)
    assert scheduler.tick(db, NOW - timedelta(seconds=1)).confirmed == 0
    assert scheduler.tick(db, NOW).confirmed == 1
    row = db.execute("SELECT rule_id, severity, (SELECT count(*) FROM alert_readings) FROM alerts").fetchone()
    assert row == ("BP-W1", "warning", 1)
    assert db.execute("SELECT count(*) FROM alert_pending").fetchone() == (0,)


STATUS_TOPIC = "carehub/v1/hub/{}/up/status"


def status(state: str, session: int) -> bytes:
    return json.dumps({"v": 1, "state": state, "session": session}).encode()


def test_hub_lost_raises_dev_3_then_clears_when_back(db: psycopg.Connection[Any], world: World) -> None:
    hub = world.homes[0].hub_id
    topic = STATUS_TOPIC.format(hub)
    with db.transaction():
        assert presence.record_status(db, hub, topic, status("online", 7), NOW - timedelta(hours=30))
        assert presence.record_status(db, hub, topic, status("lost", 7), NOW - timedelta(hours=25))
        # The Will of session 6 arriving late must not change anything.
        assert not presence.record_status(db, hub, topic, status("lost", 6), NOW - timedelta(hours=24))
    scheduler = Scheduler(escalate_after=TWO_HOURS)
    scheduler.tick(db, NOW)
    hub_alerts = "SELECT rule_id, subject, status, resolve_note FROM alerts WHERE subject_kind = 'hub'"
    assert db.execute(hub_alerts).fetchall() == [("DEV-3", hub, "open", None)]
    with db.transaction():
        presence.record_status(db, hub, topic, status("online", 8), NOW)
    scheduler.tick(db, NOW + timedelta(minutes=1))
    assert db.execute(hub_alerts).fetchall() == [("DEV-3", hub, "resolved", "condition cleared")]


def hub_events(*events: dict[str, Any]) -> bytes:
    return json.dumps({"v": 1, "session": 1, "events": list(events)}).encode()


def test_events_store_battery_and_dead_letter_rejected_frames(db: psycopg.Connection[Any], world: World) -> None:
    hub = world.homes[0].hub_id
    topic = f"carehub/v1/hub/{hub}/up/events"
    at = NOW.isoformat()
    frame = {
        "event_id": "0190f000-0000-7000-8000-0000000000aa",
        "type": "frame_rejected",
        "at": at,
        "device_serial": "BP0001",
        "characteristic": "2a35",
        "frame_hex": "1e00",
        "detail": "TruncatedFrame: 2 bytes",
    }
    battery = {"event_id": "0190f000-0000-7000-8000-0000000000ab", "type": "device_battery", "at": at,
               "device_serial": "BP0001", "battery_pct": 9}  # fmt: skip
    with db.transaction():
        counts = presence.record_events(db, hub, topic, hub_events(frame, battery), NOW)
        presence.record_events(db, hub, topic, hub_events(frame), NOW)  # a redelivery
    assert (counts.dead_letters, counts.telemetry) == (1, 1)
    (row,) = db.execute("SELECT reason, payload, device_serial FROM dead_letters").fetchall()
    assert (row[0], row[2]) == ("frame_rejected", "BP0001")
    assert json.loads(row[1])["frame_hex"] == "1e00"
    Scheduler(escalate_after=TWO_HOURS).tick(db, NOW)
    query = "SELECT rule_id, severity, category, device_id FROM alerts WHERE category = 'operational'"
    rows = db.execute(query).fetchall()
    assert rows == [("DEV-2", "critical", "operational", world.homes[0].cuff.id)]


def test_adherence_alerts_for_patients_without_readings(db: psycopg.Connection[Any], world: World) -> None:
    # The world's devices were assigned 20 days ago and nobody measured since: ADH-2 for both patients.
    Scheduler(escalate_after=TWO_HOURS).tick(db, NOW)
    rows = db.execute("SELECT rule_id, patient_id FROM alerts WHERE category = 'adherence' ORDER BY 2").fetchall()
    assert sorted(rows) == sorted([("ADH-2", h.patient_id) for h in world.homes])
    assert NOW - timedelta(days=8) > ASSIGNED_FROM


def test_two_schedulers_at_once_fire_each_alert_once(
    database_url: str, db: psycopg.Connection[Any], world: World
) -> None:
    add_route(db, world.practice_id, "email", "oncall@example.org", purpose="on_call", min_severity="info")
    add_route(db, world.practice_id, "email", "team@example.org", min_severity="info")
    for home in range(2):
        open_critical(db, world, NOW - timedelta(hours=3), home=home)
    hub = world.homes[0].hub_id
    with db.transaction():
        presence.record_status(db, hub, STATUS_TOPIC.format(hub), status("lost", 1), NOW - timedelta(hours=80))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            with connect(database_url, application_name="scheduler-replica", autocommit=True) as conn:
                scheduler = Scheduler(escalate_after=TWO_HOURS)
                for minute in range(5):
                    barrier.wait(timeout=30)
                    scheduler.tick(conn, NOW + timedelta(minutes=minute))
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert events(db, "escalated") == 2
    opened = db.execute("SELECT rule_id, count(*) FROM alerts GROUP BY 1 ORDER BY 1").fetchall()
    assert opened == [("ADH-2", 2), ("BP-C1", 2), ("DEV-4", 1)]
    assert events(db, "opened") == 5
    per_event = db.execute("SELECT count(*) FROM notification_outbox GROUP BY event_id, route_id HAVING count(*) > 1")
    assert per_event.fetchall() == []


@pytest.fixture
def consumers(broker: MosquittoBroker, topic_root: str) -> Iterator[list[PresenceConsumer]]:
    started = [
        PresenceConsumer(
            Topics(topic_root),
            host="127.0.0.1",
            port=broker.port,
            client_id=f"sched-{topic_root}-{n}",
            group="scheduler",
            username=None,
            password=None,
            session_expiry_s=60,
        )
        for n in range(2)
    ]
    for c in started:
        c.start()
    for c in started:
        assert c.ready.wait(10)
    yield started
    for c in started:
        c.stop()


def test_presence_over_mqtt_with_two_consumers_sharing_the_work(
    db: psycopg.Connection[Any], world: World, broker: MosquittoBroker, topic_root: str,
    consumers: list[PresenceConsumer], database_url: str,
) -> None:  # fmt: skip
    hub = world.homes[0].hub_id
    publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=hub, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    try:
        for session in range(1, 11):
            info = publisher.publish(f"{topic_root}/hub/{hub}/up/status", status("online", session), qos=1)
            info.wait_for_publish(10)
        handled = [0, 0]
        with (
            connect(database_url, application_name="c0", autocommit=True) as c0,
            connect(database_url, application_name="c1", autocommit=True) as c1,
        ):
            conns = [c0, c1]

            def drained() -> bool:
                for i, consumer in enumerate(consumers):
                    handled[i] += consumer.process(conns[i], NOW, 0.05)
                return sum(handled) == 10

            wait_until(drained, 30, "ten status messages")
        assert min(handled) > 0, f"the shared subscription split the work: {handled}"
        assert db.execute("SELECT state, session FROM hub_presence").fetchone() == ("online", 10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def test_adh_3_when_the_device_period_can_no_longer_reach_16_days(db: psycopg.Connection[Any], world: World) -> None:
    home = world.homes[0]
    for days_ago in (20, 19):
        db.execute(
            """INSERT INTO readings (practice_id, patient_id, device_id, reading_id, metric, value, unit, measured_at,
                   measured_at_source, received_at, from_device_memory)
               VALUES (%s, %s, %s, gen_random_uuid(), 188736, 80, 'kg', %s, 'device_clock', %s, false)""",
            (world.practice_id, home.patient_id, home.scale.id, NOW - timedelta(days=days_ago), NOW),
        )
    Scheduler(escalate_after=TWO_HOURS).tick(db, NOW)
    rows = db.execute("SELECT patient_id, rule_id, observed->>'data_days' FROM alerts WHERE category = 'adherence'")
    assert sorted(rows.fetchall(), key=str) == sorted(
        [(home.patient_id, "ADH-2", None), (home.patient_id, "ADH-3", "2"), (world.homes[1].patient_id, "ADH-2", None)],
        key=str,
    )
