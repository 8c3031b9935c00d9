"""Hooks in the ingest transaction, against a real PostgreSQL: a hook sees each newly stored reading
once (never a duplicate or a refused one), its writes commit with the readings, and when it fails
the readings roll back with it and the service isolates the one message it failed on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from core.topics import Topics
from ingest.batch import BatchResult, Delivery
from ingest.hooks import StoredReading
from ingest.validation import ValidationLimits, parse_readings_message
from ingest.writer import ReadingWriter, StorageRejected
from tests.ingest.conftest import World, bp_reading, envelope, weight_reading

TOPICS = Topics("carehub/v1")
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Recorder:
    """Keeps what it was given and writes one row per reading in the same transaction."""

    name: str = "recorder"
    calls: list[list[StoredReading]] = field(default_factory=list)

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[StoredReading]) -> None:
        self.calls.append(readings)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO hook_seen (reading_id, patient_id) VALUES (%s, %s)",
                [(r.reading_id, r.patient_id) for r in readings],
            )


@dataclass
class Refuses:
    """Fails on any reading from one device serial, as a defective rule would."""

    serial: str
    name: str = "refuses"

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[StoredReading]) -> None:
        if any(r.device_serial == self.serial for r in readings):
            raise ZeroDivisionError("rule arithmetic went wrong")


@pytest.fixture
def seen_table(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    db.execute("CREATE TABLE hook_seen (reading_id uuid PRIMARY KEY, patient_id uuid NOT NULL)")


def write(writer: ReadingWriter, hub_id: str, *payloads: bytes) -> BatchResult:
    topic = f"carehub/v1/hub/{hub_id}/up/readings"
    parsed = [parse_readings_message(TOPICS, topic, p, now=NOW, limits=ValidationLimits()) for p in payloads]
    return writer.write(parsed, [Delivery(topic, p, NOW) for p in payloads])


def test_hook_sees_new_readings_once_and_commits_with_them(
    database_url: str, world: World, db: psycopg.Connection[tuple[Any, ...]], seen_table: None
) -> None:
    recorder = Recorder()
    writer = ReadingWriter(database_url, hooks=[recorder])
    try:
        home = world.homes[0]
        at = NOW - timedelta(hours=2)
        cuff = bp_reading("BP0001", at, sys=185, dia=125)
        scale = weight_reading("SC0001", at, pounds=200.0)
        refused = bp_reading("NOSUCHDEVICE", at)
        first = write(writer, home.hub_id, envelope([cuff, scale, refused]))
        assert (first.accepted, first.rejected) == (2, 1)
        again = write(writer, home.hub_id, envelope([cuff, scale]))  # a resend: nothing new
        assert again.duplicates == 2
    finally:
        writer.close()
    (call,) = recorder.calls
    assert [r.reading_id for r in call] == [cuff["reading_id"], scale["reading_id"]]
    bp = call[0]
    assert (bp.patient_id, bp.practice_id, bp.device_id, bp.hub_id, bp.kind, bp.measured_at) == (
        str(home.patient_id),
        str(world.practice_id),
        str(home.cuff.id),
        home.hub_id,
        "blood_pressure",
        at,
    )
    assert sorted((o.metric, o.value, o.unit) for o in bp.observations) == [
        (149546, 70.0, "/min"),
        (150021, 185.0, "mm[Hg]"),
        (150022, 125.0, "mm[Hg]"),
    ]
    assert [(o.metric, o.unit) for o in call[1].observations] == [(188736, "kg")]
    assert call[1].observations[0].value == pytest.approx(90.718474)
    assert db.execute("SELECT count(*) FROM hook_seen").fetchone() == (2,)


def test_a_failing_hook_rolls_the_readings_back(
    database_url: str, world: World, db: psycopg.Connection[tuple[Any, ...]], seen_table: None
) -> None:
    writer = ReadingWriter(database_url, hooks=[Recorder(), Refuses("SC0001")])
    try:
        at = NOW - timedelta(hours=1)
        with pytest.raises(StorageRejected, match=r"hook refuses failed: ZeroDivisionError"):
            write(writer, "hub-0001", envelope([bp_reading("BP0001", at), weight_reading("SC0001", at)]))
        assert db.execute("SELECT count(*) FROM readings").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM hook_seen").fetchone() == (0,)
        # The connection is still usable and the next batch lands.
        assert write(writer, "hub-0001", envelope([bp_reading("BP0001", at)])).accepted == 1
    finally:
        writer.close()
    assert db.execute("SELECT count(*) FROM hook_seen").fetchone() == (1,)
