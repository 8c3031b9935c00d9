"""The ingest transaction against a real PostgreSQL: rows, duplicates, refusals by device, hub and
patient assignment at measured_at, dead letters, and concurrent writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from core.topics import Topics
from ingest.batch import BatchResult, Delivery
from ingest.validation import ValidationLimits, parse_readings_message
from ingest.writer import ReadingWriter
from provisioning import registry
from tests.ingest.conftest import ASSIGNED_FROM, World, bp_reading, envelope, weight_reading

TOPICS = Topics("carehub/v1")
NOW = datetime.now(UTC)


def write(writer: ReadingWriter, hub_id: str, *payloads: bytes) -> BatchResult:
    topic = f"carehub/v1/hub/{hub_id}/up/readings"
    parsed = [parse_readings_message(TOPICS, topic, p, now=NOW, limits=ValidationLimits()) for p in payloads]
    return writer.write(parsed, [Delivery(topic, p, NOW) for p in payloads])


@pytest.fixture
def writer(database_url: str) -> Any:
    w = ReadingWriter(database_url)
    yield w
    w.close()


def test_rows_land_in_canonical_units_with_originals_and_summary(
    writer: ReadingWriter, world: World, db: psycopg.Connection[tuple[Any, ...]]
) -> None:
    home = world.homes[0]
    at = NOW.replace(microsecond=0) - timedelta(hours=1)
    result = write(writer, home.hub_id, envelope([bp_reading("BP0001", at), weight_reading("SC0001", at, 200.0)]))
    assert (result.accepted, result.duplicates, result.rejected, result.rows_stored) == (2, 0, 0, 4)
    rows = db.execute(
        "SELECT metric, value, unit, source_value, source_unit, patient_id, hub_id, measured_at"
        " FROM readings ORDER BY metric"
    ).fetchall()
    assert rows == [
        (149546, 70.0, "/min", None, None, home.patient_id, "hub-0001", at),
        (150021, 128.0, "mm[Hg]", None, None, home.patient_id, "hub-0001", at),
        (150022, 82.0, "mm[Hg]", None, None, home.patient_id, "hub-0001", at),
        (188736, pytest.approx(90.718474), "kg", 200.0, "[lb_av]", home.patient_id, "hub-0001", at),
    ]
    summary = db.execute("SELECT metric, observations FROM reading_daily ORDER BY metric").fetchall()
    assert summary == [(149546, 1), (150021, 1), (150022, 1), (188736, 1)]


def test_same_batch_twice_and_resend_with_new_id_store_nothing_more(
    writer: ReadingWriter, world: World, db: psycopg.Connection[tuple[Any, ...]]
) -> None:
    at = NOW.replace(microsecond=0) - timedelta(minutes=30)
    original = bp_reading("BP0001", at)
    payload = envelope([original], batch_id="B1")
    assert write(writer, "hub-0001", payload).accepted == 1
    again = write(writer, "hub-0001", payload)
    assert (again.accepted, again.duplicates) == (0, 1)
    replay = dict(original, reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAV", from_device_memory=True)
    replayed = write(writer, "hub-0001", envelope([replay]))
    assert (replayed.accepted, replayed.duplicates) == (0, 1)
    assert replayed.acks[0].duplicate == ["01ARZ3NDEKTSV4RRFFQ69G5FAV"]
    assert db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone() == (3, 1)
    assert db.execute("SELECT sum(observations) FROM reading_daily").fetchone() == (3,)


def test_refusals_by_device_hub_patient_and_kind(
    writer: ReadingWriter, world: World, db: psycopg.Connection[tuple[Any, ...]]
) -> None:
    at = NOW.replace(microsecond=0) - timedelta(minutes=10)
    glucose_from_cuff = {
        **bp_reading("BP0001", at + timedelta(seconds=9)),
        "kind": "glucose",
        "observations": [{"code": "MDC_CONC_GLU_CAPILLARY_PLASMA", "value": 110, "unit": "mg/dL"}],
    }
    readings = [
        bp_reading("BP0001", at),  # fine
        bp_reading("NOSUCHDEVICE", at),  # unknown device
        bp_reading("BP0002", at),  # hub-0002's cuff published by hub-0001
        bp_reading("BP0001", ASSIGNED_FROM - timedelta(seconds=1)),  # before the assignments began
        glucose_from_cuff,
    ]
    result = write(writer, "hub-0001", envelope(readings))
    (ack,) = result.acks
    assert ack.accepted == [readings[0]["reading_id"]]
    assert [(r.reading_id, r.reason) for r in ack.rejected] == [
        (readings[1]["reading_id"], "unknown_device"),
        (readings[2]["reading_id"], "device_not_assigned_to_hub"),
        (readings[3]["reading_id"], "device_not_assigned_to_hub"),
        (readings[4]["reading_id"], "kind_not_supported_by_device"),
    ]
    dead = db.execute("SELECT reason, reading_id, practice_id, hub_id FROM dead_letters ORDER BY id").fetchall()
    assert dead == [
        ("unknown_device", readings[1]["reading_id"], None, "hub-0001"),
        ("device_not_assigned_to_hub", readings[2]["reading_id"], world.practice_id, "hub-0001"),
        ("device_not_assigned_to_hub", readings[3]["reading_id"], world.practice_id, "hub-0001"),
        ("kind_not_supported_by_device", readings[4]["reading_id"], world.practice_id, "hub-0001"),
    ]
    assert db.execute("SELECT count(DISTINCT reading_id) FROM readings").fetchone() == (1,)


def test_patient_assignment_is_half_open_and_readings_follow_it(
    writer: ReadingWriter, world: World, db: psycopg.Connection[tuple[Any, ...]]
) -> None:
    home = world.homes[0]
    handover = NOW.replace(microsecond=0) - timedelta(days=2)
    db.execute("UPDATE device_patient_assignments SET valid_to = %s WHERE device_id = %s", (handover, home.scale.id))
    unassigned = write(writer, home.hub_id, envelope([weight_reading("SC0001", handover)]))
    assert [r.reason for r in unassigned.acks[0].rejected] == ["device_not_assigned_to_patient"]
    new_patient = registry.create_patient(db, practice_id=world.practice_id, mrn="MRN9", time_zone="UTC")
    registry.assign_device_to_patient(db, device=home.scale, patient_id=new_patient, valid_from=handover)
    before = weight_reading("SC0001", handover - timedelta(seconds=1))
    at_handover = weight_reading("SC0001", handover)
    result = write(writer, home.hub_id, envelope([before, at_handover]))
    assert result.accepted == 2
    owners = db.execute("SELECT measured_at, patient_id FROM readings ORDER BY measured_at").fetchall()
    assert owners == [(handover - timedelta(seconds=1), home.patient_id), (handover, new_patient)]


def test_the_same_bad_input_is_dead_lettered_once(
    writer: ReadingWriter, world: World, db: psycopg.Connection[tuple[Any, ...]]
) -> None:
    bad = bp_reading("NOSUCHDEVICE", NOW.replace(microsecond=0))
    write(writer, "hub-0001", envelope([bad], batch_id="B1"))
    write(writer, "hub-0001", envelope([bad], batch_id="B2"))
    write(writer, "hub-0001", b"not json at all")
    write(writer, "hub-0001", b"not json at all")
    assert db.execute("SELECT reason, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1").fetchall() == [
        ("malformed_json", 1),
        ("unknown_device", 1),
    ]


def test_concurrent_writers_of_overlapping_batches_store_each_row_once(
    database_url: str, world: World, db: psycopg.Connection[tuple[Any, ...]]
) -> None:
    start = NOW.replace(microsecond=0) - timedelta(hours=5)
    readings = [bp_reading("BP0001", start + timedelta(seconds=i)) for i in range(300)]
    payloads = [envelope(readings[i : i + 30]) for i in range(0, 300, 30)]
    results: list[BatchResult] = []
    errors: list[BaseException] = []

    def run(order: list[bytes]) -> None:
        w = ReadingWriter(database_url)
        try:
            for payload in order:
                results.append(write(w, "hub-0001", payload))
        except BaseException as exc:
            errors.append(exc)
        finally:
            w.close()

    threads = [threading.Thread(target=run, args=(o,)) for o in (payloads, payloads[::-1], payloads[3:] + payloads[:3])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.accepted for r in results) == 300
    assert sum(r.duplicates for r in results) == 600
    assert db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone() == (900, 300)
    assert db.execute("SELECT sum(observations) FROM reading_daily").fetchone() == (900,)
