"""Pure batch assembly: staging rows, repeats inside a batch, and acks and dead letters from the
database's row verdicts."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from core.topics import Topics
from ingest.batch import (
    DEAD_LETTER_PAYLOAD_LIMIT,
    Delivery,
    Resolution,
    RowStatus,
    RowVerdict,
    plan_batch,
    row_verdicts,
    settle_batch,
    stored_readings,
)
from ingest.hooks import StoredObservation, StoredReading
from ingest.validation import ParsedMessage, ValidationLimits, parse_readings_message

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
TOPICS = Topics("carehub/v1")


def reading(rid: str, serial: str = "SC1", at: str = "2026-12-03T14:00:00Z", kg: float = 80.0) -> dict[str, Any]:
    return {
        "reading_id": rid,
        "device_serial": serial,
        "kind": "weight",
        "measured_at": at,
        "measured_at_source": "device_clock",
        "received_at": at,
        "observations": [{"code": "MDC_MASS_BODY_ACTUAL", "value": kg, "unit": "kg"}],
    }


def parse(*readings: dict[str, Any], hub: str = "hub-0001", batch: str = "B1") -> tuple[ParsedMessage, Delivery]:
    topic = f"carehub/v1/hub/{hub}/up/readings"
    payload = json.dumps({"batch_id": batch, "readings": list(readings)}).encode()
    return (
        parse_readings_message(TOPICS, topic, payload, now=NOW, limits=ValidationLimits()),
        Delivery(topic, payload, NOW),
    )


RID = [str(uuid4()) for _ in range(6)]


def test_repeat_of_a_stored_reading_inside_one_batch_is_a_duplicate() -> None:
    m1, d1 = parse(reading(RID[0]), reading(RID[1], at="2026-12-03T14:05:00Z"), batch="B1")
    m2, d2 = parse(reading(RID[0]), batch="B2")  # the hub resent B1's first reading
    plan = plan_batch([m1, m2])
    assert len(plan.rows) == 2  # the repeat is not staged again
    verdicts = {0: RowVerdict(RowStatus.STORED, None), 1: RowVerdict(RowStatus.DUPLICATE, None)}
    result = settle_batch([m1, m2], [d1, d2], plan, verdicts)
    assert [(a.batch_id, a.accepted, a.duplicate, a.rejected) for a in result.acks] == [
        ("B1", [RID[0]], [RID[1]], []),
        ("B2", [], [RID[0]], []),
    ]
    assert (result.accepted, result.duplicates, result.rejected, result.rows_stored) == (1, 2, 0, 1)
    assert result.dead_letters == []


def test_repeat_of_a_refused_reading_is_refused_for_the_same_reason() -> None:
    m1, d1 = parse(reading(RID[0], serial="NOPE"), batch="B1")
    m2, d2 = parse(reading(RID[0], serial="NOPE"), batch="B2")
    plan = plan_batch([m1, m2])
    result = settle_batch([m1, m2], [d1, d2], plan, {0: RowVerdict(RowStatus.UNKNOWN_DEVICE, None)})
    assert [[(r.reading_id, r.reason) for r in a.rejected] for a in result.acks] == [
        [(RID[0], "unknown_device")],
        [(RID[0], "unknown_device")],
    ]
    assert {d.reason for d in result.dead_letters} == {"unknown_device"}
    # both dead letters carry the same payload: the database stores it once (dead_letters_once)
    assert len({d.payload_sha256 for d in result.dead_letters}) == 1


def test_same_device_and_time_from_two_hubs_is_staged_twice_for_the_database_to_judge() -> None:
    m1, d1 = parse(reading(RID[0]), hub="hub-0001")
    m2, d2 = parse(reading(RID[1]), hub="hub-0002")
    plan = plan_batch([m1, m2])
    assert [reading[1] for reading in plan.readings] == ["hub-0001", "hub-0002"]
    assert [row[0] for row in plan.rows] == [0, 1]
    verdicts = {
        0: RowVerdict(RowStatus.STORED, None),
        1: RowVerdict(RowStatus.DEVICE_NOT_ASSIGNED_TO_HUB, None),
    }
    result = settle_batch([m1, m2], [d1, d2], plan, verdicts)
    assert result.acks[0].accepted == [RID[0]]
    assert [(r.reading_id, r.reason) for r in result.acks[1].rejected] == [(RID[1], "device_not_assigned_to_hub")]


def test_every_reading_id_appears_in_exactly_one_ack_list() -> None:
    good, bad = reading(RID[2]), dict(reading(RID[3]), kind="nope")
    refused = reading(RID[4], serial="OTHER")
    m, d = parse(good, bad, refused)
    plan = plan_batch([m])
    verdicts = {0: RowVerdict(RowStatus.STORED, None), 1: RowVerdict(RowStatus.DEVICE_NOT_ASSIGNED_TO_PATIENT, None)}
    (ack,) = settle_batch([m], [d], plan, verdicts).acks
    listed = ack.accepted + ack.duplicate + [r.reading_id for r in ack.rejected]
    assert sorted(listed) == sorted([RID[2], RID[3], RID[4]])
    body = json.loads(ack.to_json())
    assert body == {
        "batch_id": "B1",
        "accepted": [RID[2]],
        "duplicate": [],
        "rejected": [
            {"reading_id": RID[3], "reason": "unknown_kind"},
            {"reading_id": RID[4], "reason": "device_not_assigned_to_patient"},
        ],
    }


def test_a_refused_message_is_dead_lettered_whole_with_its_digest() -> None:
    topic = "carehub/v1/hub/hub-0001/up/readings"
    payload = b'{"batch_id": "B9", "readings": "not a list"' + b" " * (DEAD_LETTER_PAYLOAD_LIMIT + 10) + b"}"
    parsed = parse_readings_message(TOPICS, topic, payload, now=NOW, limits=ValidationLimits())
    result = settle_batch([parsed], [Delivery(topic, payload, NOW)], plan_batch([parsed]), {})
    (letter,) = result.dead_letters
    assert letter.reason == "invalid_envelope"
    assert letter.batch_id == "B9"
    assert letter.payload == payload[:DEAD_LETTER_PAYLOAD_LIMIT]
    assert letter.payload_size == len(payload)
    assert letter.payload_sha256 == hashlib.sha256(payload).digest()
    assert result.acks[0].error == "invalid_envelope"


def test_row_verdicts_from_resolutions_and_inserted_keys() -> None:
    practice = str(uuid4())
    m, _ = parse(
        reading(RID[0], at="2026-12-03T14:00:00Z"),
        reading(RID[1], at="2026-12-03T14:01:00Z"),
        reading(RID[2], serial="GONE", at="2026-12-03T14:02:00Z"),
        reading(RID[3], at="2026-12-03T14:03:00Z"),
    )
    plan = plan_batch([m])
    ok = Resolution("d", True, True, "p", "x")
    resolutions = {
        0: ok,
        1: ok,
        2: Resolution(None, False, False, None, None),
        3: Resolution("d", True, True, None, practice),
    }
    at0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    verdicts = row_verdicts(plan, resolutions, {(RID[0], 188736, at0)})
    assert verdicts == {
        0: RowVerdict(RowStatus.STORED, None),
        1: RowVerdict(RowStatus.DUPLICATE, None),
        2: RowVerdict(RowStatus.UNKNOWN_DEVICE, None),
        3: RowVerdict(RowStatus.DEVICE_NOT_ASSIGNED_TO_PATIENT, practice),
    }


def test_resolution_refusals_follow_the_order_of_the_checks() -> None:
    assert Resolution(None, True, True, "pt", None).refusal is RowStatus.UNKNOWN_DEVICE
    assert Resolution("d", False, False, None, "p").refusal is RowStatus.KIND_NOT_SUPPORTED_BY_DEVICE
    assert Resolution("d", True, False, None, "p").refusal is RowStatus.DEVICE_NOT_ASSIGNED_TO_HUB
    assert Resolution("d", True, True, None, "p").refusal is RowStatus.DEVICE_NOT_ASSIGNED_TO_PATIENT
    assert Resolution("d", True, True, "pt", "p").refusal is None
    # a blocked (lost or retired) device is refused before anything else is checked
    assert Resolution("d", False, False, None, "p", blocked=True).refusal is RowStatus.DEVICE_BLOCKED
    assert Resolution("d", True, True, "pt", "p", blocked=True).refusal is RowStatus.DEVICE_BLOCKED


def test_stored_readings_carry_only_inserted_rows_and_resolved_identities() -> None:
    two_values = {
        **reading(RID[4], at="2026-12-03T14:10:00Z"),
        "observations": [
            {"code": "MDC_MASS_BODY_ACTUAL", "value": 80.0, "unit": "kg"},
            {"code": "MDC_LEN_BODY_ACTUAL", "value": 1.8, "unit": "m"},
        ],
    }
    m, _ = parse(reading(RID[0]), reading(RID[1], at="2026-12-03T14:05:00Z"), two_values)
    plan = plan_batch([m])
    ok = Resolution("dev", True, True, "pat", "prac")
    at0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    at2 = datetime(2026, 12, 3, 14, 10, tzinfo=UTC)
    # RID[1] was a duplicate; of RID[4] only the weight row was new.
    inserted = {(RID[0], 188736, at0), (RID[4], 188736, at2)}
    resolutions = {0: ok, 1: ok, 2: ok}
    stored = stored_readings(plan, resolutions, row_verdicts(plan, resolutions, inserted))
    assert stored == [
        StoredReading(
            reading_id=RID[0],
            practice_id="prac",
            patient_id="pat",
            device_id="dev",
            hub_id="hub-0001",
            device_serial="SC1",
            kind="weight",
            measured_at=at0,
            measured_at_source="device_clock",
            received_at=at0,
            from_device_memory=False,
            flags=(),
            observations=(StoredObservation(188736, 80.0, None, "kg"),),
        ),
        StoredReading(
            reading_id=RID[4],
            practice_id="prac",
            patient_id="pat",
            device_id="dev",
            hub_id="hub-0001",
            device_serial="SC1",
            kind="weight",
            measured_at=at2,
            measured_at_source="device_clock",
            received_at=at2,
            from_device_memory=False,
            flags=(),
            observations=(StoredObservation(188736, 80.0, None, "kg"),),
        ),
    ]
