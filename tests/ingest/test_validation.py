"""Pure validation of hub messages: every class of bad reading and bad message gets its reason,
good readings beside them survive, units are converted with the original kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import ReadingKind
from core.ids import parse_ulid
from core.topics import Topics
from ingest.validation import (
    AcceptedReading,
    ObservationRow,
    RejectedReading,
    RejectReason,
    ValidationLimits,
    parse_readings_message,
    validate_reading,
)

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
LIMITS = ValidationLimits()
TOPICS = Topics("carehub/v1")
TOPIC = "carehub/v1/hub/hub-0001/up/readings"


def bp(**overrides: Any) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "reading_id": "0193e0a8-5f1a-7c3d-9a2b-3c4d5e6f7a8b",
        "device_serial": "BP0001",
        "device_address": "a4:c1:38:12:34:56",
        "kind": "blood_pressure",
        "measured_at": "2026-12-03T14:01:47Z",
        "measured_at_source": "device_clock",
        "received_at": "2026-12-03T14:02:05Z",
        "observations": [
            {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": 128, "unit": "mm[Hg]"},
            {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": 82, "unit": "mm[Hg]"},
            {"code": "MDC_PULS_RATE_NON_INV", "value": 71, "unit": "/min"},
        ],
        "flags": ["irregular_pulse"],
    }
    reading.update(overrides)
    return reading


def judge(raw: object) -> AcceptedReading | RejectedReading:
    return validate_reading(raw, now=NOW, limits=LIMITS)


def rejected(raw: object) -> RejectedReading:
    outcome = judge(raw)
    assert isinstance(outcome, RejectedReading), outcome
    return outcome


def test_good_blood_pressure_reading_is_ready_to_stage() -> None:
    outcome = judge(bp())
    assert isinstance(outcome, AcceptedReading)
    raw = bp()
    assert outcome == AcceptedReading(
        reading_id_text="0193e0a8-5f1a-7c3d-9a2b-3c4d5e6f7a8b",
        reading_id="0193e0a8-5f1a-7c3d-9a2b-3c4d5e6f7a8b",
        device_serial="BP0001",
        kind=ReadingKind.BLOOD_PRESSURE,
        measured_at=datetime(2026, 12, 3, 14, 1, 47, tzinfo=UTC),
        measured_at_source="device_clock",
        received_at=datetime(2026, 12, 3, 14, 2, 5, tzinfo=UTC),
        from_device_memory=False,
        flags=["irregular_pulse"],
        observations=(
            ObservationRow(150021, 128.0, None, "mm[Hg]", None, None),
            ObservationRow(150022, 82.0, None, "mm[Hg]", None, None),
            ObservationRow(149546, 71.0, None, "/min", None, None),
        ),
        raw=raw,
    )


def test_weight_in_pounds_is_stored_in_kg_with_the_original_kept() -> None:
    outcome = judge(
        bp(kind="weight", observations=[{"code": "MDC_MASS_BODY_ACTUAL", "value": 200.0, "unit": "[lb_av]"}])
    )
    assert isinstance(outcome, AcceptedReading)
    (obs,) = outcome.observations
    assert obs.value == pytest.approx(90.718474)
    assert (obs.metric, obs.unit, obs.source_value, obs.source_unit) == (188736, "kg", 200.0, "[lb_av]")


def test_glucose_low_special_value_is_kept_without_a_number() -> None:
    outcome = judge(
        bp(
            kind="glucose",
            observations=[{"code": "MDC_CONC_GLU_CAPILLARY_PLASMA", "value": None, "unit": "mg/dL", "special": "-INF"}],
        )
    )
    assert isinstance(outcome, AcceptedReading)
    assert outcome.observations == (ObservationRow(160188, None, "-INF", "mg/dL", None, "mg/dL"),)


def test_ulid_and_unhyphenated_reading_ids_are_accepted_and_echoed_as_sent() -> None:
    outcome = judge(bp(reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"))
    assert isinstance(outcome, AcceptedReading)
    assert outcome.reading_id_text == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert outcome.reading_id == str(parse_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAV"))
    outcome = judge(bp(reading_id="0193E0A85F1A7C3D9A2B3C4D5E6F7A8B"))
    assert isinstance(outcome, AcceptedReading)
    assert outcome.reading_id == "0193e0a8-5f1a-7c3d-9a2b-3c4d5e6f7a8b"


def _obs(code: str, value: Any, unit: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "value": value, "unit": unit, **extra}


SYS, DIA = "MDC_PRESS_BLD_NONINV_SYS", "MDC_PRESS_BLD_NONINV_DIA"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not an object", RejectReason.INVALID_READING),
        (bp(reading_id=17), RejectReason.INVALID_READING),
        (bp(measured_at="2026-12-03T14:01:47"), RejectReason.INVALID_READING),  # no time zone
        (bp(measured_at_source="guess"), RejectReason.INVALID_READING),
        (bp(device_serial="has space"), RejectReason.INVALID_READING),
        (bp(observations=[]), RejectReason.INVALID_READING),
        (bp(observations=[_obs(SYS, "128", "mm[Hg]"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.INVALID_READING),
        (bp(observations=[_obs(SYS, True, "mm[Hg]"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.INVALID_READING),
        (bp(flags=["Not A Flag"]), RejectReason.INVALID_READING),
        (bp(reading_id="not-a-uuid-or-ulid"), RejectReason.INVALID_READING_ID),
        (bp(kind="blood_sugar"), RejectReason.UNKNOWN_KIND),
        (bp(observations=[_obs("MDC_MADE_UP", 1, "mm[Hg]")]), RejectReason.UNKNOWN_METRIC),
        (bp(observations=[_obs("MDC_TEMP_BODY", 37, "Cel")]), RejectReason.METRIC_NOT_ALLOWED_FOR_KIND),
        (bp(observations=[_obs(SYS, 120, "mm[Hg]"), _obs(SYS, 121, "mm[Hg]")]), RejectReason.DUPLICATE_METRIC),
        (bp(observations=[_obs(SYS, 120, "mmHg"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.INVALID_UNIT),
        (bp(observations=[_obs(SYS, 120, "kg"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.INVALID_UNIT),
        (bp(observations=[_obs(SYS, None, "mm[Hg]"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.MISSING_VALUE),
        (bp(observations=[_obs(SYS, 1, "mm[Hg]", special="NaN"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.MISSING_VALUE),
        (
            bp(observations=[_obs(SYS, None, "mm[Hg]", special="LO"), _obs(DIA, 80, "mm[Hg]")]),
            RejectReason.INVALID_SPECIAL_VALUE,
        ),
        (bp(observations=[_obs(SYS, 400, "mm[Hg]"), _obs(DIA, 80, "mm[Hg]")]), RejectReason.IMPLAUSIBLE_VALUE),
        (bp(observations=[_obs(SYS, 16, "mm[Hg]"), _obs(DIA, 10, "mm[Hg]")]), RejectReason.IMPLAUSIBLE_VALUE),
        (bp(observations=[_obs(SYS, 128, "mm[Hg]")]), RejectReason.MISSING_REQUIRED_METRIC),
        (bp(observations=[_obs(SYS, 80, "mm[Hg]"), _obs(DIA, 90, "mm[Hg]")]), RejectReason.INCONSISTENT_BLOOD_PRESSURE),
        (bp(measured_at="2026-12-03T15:05:01Z"), RejectReason.MEASURED_AT_IN_FUTURE),
        (bp(measured_at="2026-11-03T14:59:59Z"), RejectReason.MEASURED_AT_TOO_OLD),
    ],
)
def test_each_class_of_bad_reading_has_its_reason(raw: object, reason: RejectReason) -> None:
    outcome = rejected(raw)
    assert outcome.rejection.reason is reason
    assert outcome.rejection.detail


def test_rejection_details_never_echo_values() -> None:
    outcome = rejected(bp(observations=[_obs(SYS, "SECRET-VALUE-123", "mm[Hg]"), _obs(DIA, 80, "mm[Hg]")]))
    assert "SECRET-VALUE-123" not in outcome.rejection.detail


def test_clock_limits_are_inclusive_at_the_boundary() -> None:
    exactly_future = (NOW + LIMITS.max_future_skew).isoformat()
    exactly_old = (NOW - LIMITS.max_reading_age).isoformat()
    assert isinstance(judge(bp(measured_at=exactly_future)), AcceptedReading)
    assert isinstance(judge(bp(measured_at=exactly_old)), AcceptedReading)
    assert isinstance(judge(bp(measured_at=(NOW + timedelta(minutes=5, seconds=1)).isoformat())), RejectedReading)


def test_plausibility_is_judged_on_the_canonical_value() -> None:
    # 300 mmHg is the plausible maximum; 40 kPa = 300.02 mmHg is just beyond it.
    assert isinstance(judge(bp(observations=[_obs(SYS, 300, "mm[Hg]"), _obs(DIA, 80, "mm[Hg]")])), AcceptedReading)
    assert rejected(bp(observations=[_obs(SYS, 40, "kPa"), _obs(DIA, 10.7, "kPa")])).rejection.reason is (
        RejectReason.IMPLAUSIBLE_VALUE
    )


def message(*readings: object, **envelope: Any) -> bytes:
    body: dict[str, Any] = {"v": 1, "batch_id": "B-1", "readings": list(readings)}
    body.update(envelope)
    return json.dumps(body).encode()


def test_bad_readings_do_not_sink_their_batch() -> None:
    good = bp()
    bad = bp(reading_id="0193e0a8-5f1a-7c3d-9a2b-000000000002", kind="nope")
    parsed = parse_readings_message(TOPICS, TOPIC, message(good, bad), now=NOW, limits=LIMITS)
    assert parsed.error is None
    assert (parsed.hub_id, parsed.batch_id) == ("hub-0001", "B-1")
    assert [a.reading_id_text for a in parsed.accepted] == [good["reading_id"]]
    assert [(r.reading_id_text, r.rejection.reason) for r in parsed.rejected] == [
        ("0193e0a8-5f1a-7c3d-9a2b-000000000002", RejectReason.UNKNOWN_KIND)
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("carehub/v1/hub/hub-0001/up/status", message(bp()), RejectReason.INVALID_TOPIC),
        (TOPIC, b"\xff\xfe not json", RejectReason.MALFORMED_JSON),
        (TOPIC, b'{"batch_id": "B-1", "readings": [', RejectReason.MALFORMED_JSON),
        (TOPIC, b"[1, 2, 3]", RejectReason.INVALID_ENVELOPE),
        (TOPIC, message(), RejectReason.INVALID_ENVELOPE),
        (TOPIC, message(bp(), batch_id="has spaces"), RejectReason.INVALID_ENVELOPE),
        (TOPIC, message(bp(), v=2), RejectReason.INVALID_ENVELOPE),
        (TOPIC, message(*[bp()] * 501), RejectReason.TOO_MANY_READINGS),
        (TOPIC, b"{" + b" " * (256 * 1024) + b"}", RejectReason.MESSAGE_TOO_LARGE),
    ],
)
def test_each_class_of_bad_message_is_refused_whole(topic: str, payload: bytes, reason: RejectReason) -> None:
    parsed = parse_readings_message(TOPICS, topic, payload, now=NOW, limits=LIMITS)
    assert parsed.error is not None
    assert parsed.error.reason is reason
    assert parsed.accepted == ()


def test_a_refused_message_still_names_the_reading_ids_it_carried() -> None:
    parsed = parse_readings_message(TOPICS, TOPIC, message(bp(), v=9), now=NOW, limits=LIMITS)
    assert parsed.error is not None
    assert [r.reading_id_text for r in parsed.rejected] == [bp()["reading_id"]]


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_bytes_give_a_parsed_message_never_an_exception(payload: bytes) -> None:
    parsed = parse_readings_message(TOPICS, TOPIC, payload, now=NOW, limits=LIMITS)
    assert parsed.error is not None or parsed.accepted or parsed.rejected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=8,
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from([*list(bp().keys()), "x"]), json_values, max_size=10))
def test_any_json_reading_gives_an_outcome_never_an_exception(raw: dict[str, Any]) -> None:
    outcome = judge({**bp(), **raw})
    assert isinstance(outcome, AcceptedReading | RejectedReading)
