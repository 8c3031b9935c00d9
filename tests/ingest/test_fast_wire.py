"""The msgspec fast path (ingest.wire.decode_fast) against the pydantic models it stands in for:
on every class of valid and invalid input, parse_readings_message gives the same verdicts, the
same reasons and details, the same values and the same dead-letter payloads with and without it.
The msgspec-specific edge cases (``$`` before a newline, sub-microsecond times, numbers of the
wrong kind, non-finite literals) are pinned by name."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.validation import ParsedMessage, PayloadReading, canonical_json, parse_readings_message
from ingest.wire import decode_fast, has_sub_microsecond_time
from tests.ingest.test_validation import LIMITS, NOW, TOPIC, TOPICS, bp, message


def weight(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "weight",
        "device_serial": "SC0001",
        "observations": [{"code": "MDC_MASS_BODY_ACTUAL", "value": 200.4, "unit": "[lb_av]"}],
    }
    return bp(**{**fields, **overrides})


def comparable(parsed: ParsedMessage) -> tuple[Any, ...]:
    """Everything a parsed message carries, with each raw reading as the dead-letter bytes it becomes
    and each time with its UTC offset (datetime equality alone ignores the offset)."""

    def when(t: datetime) -> tuple[datetime, Any]:
        return (t, t.utcoffset())

    accepted = [
        (*a[:5], when(a.measured_at), a.measured_at_source, when(a.received_at), *a[8:10], canonical_json(a.raw))
        for a in parsed.accepted
    ]
    rejected = [(r.reading_id_text, r.device_serial, r.rejection, canonical_json(r.raw)) for r in parsed.rejected]
    return (parsed.hub_id, parsed.batch_id, parsed.error, accepted, rejected)


def both_paths(payload: bytes) -> tuple[ParsedMessage, ParsedMessage]:
    fast = parse_readings_message(TOPICS, TOPIC, payload, now=NOW, limits=LIMITS)
    slow = parse_readings_message(TOPICS, TOPIC, payload, now=NOW, limits=LIMITS, fast=False)
    assert comparable(fast) == comparable(slow)
    return fast, slow


VALID = [
    pytest.param(message(bp()), id="blood pressure"),
    pytest.param(message(weight()), id="weight in pounds, converted"),
    pytest.param(message(bp(reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAV")), id="ULID id"),
    pytest.param(message(bp(reading_id="0193E0A85F1A7C3D9A2B3C4D5E6F7A8B")), id="unhyphenated UUID"),
    pytest.param(message(bp(measured_at="2026-12-03T14:01:47.123456+01:00")), id="offset and microseconds"),
    pytest.param(message(bp(measured_at="2026-12-03t14:01:47z")), id="lower-case separators"),
    pytest.param(message(bp(measured_at="2026-12-03 14:01:47Z")), id="space separator"),
    pytest.param(message(bp(measured_at="2026-12-03T14:01:47-00:00")), id="minus zero offset"),
    pytest.param(message(bp(user_index=255, battery_pct=0, from_device_memory=True, x=[1])), id="optional fields"),
    pytest.param(message(bp(), bp(reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAW", kind="nope")), id="one bad reading"),
    pytest.param(message(bp(), sent_at="2026-12-03T14:02:05Z", extra={"new": "field"}), id="unknown keys"),
    pytest.param(b'{"batch_id":"B-1","batch_id":"B-2","readings":[' + json.dumps(bp()).encode() + b"]}", id="dup key"),
]


@pytest.mark.parametrize("payload", VALID)
def test_the_fast_path_reads_valid_messages_exactly_as_the_models_do(payload: bytes) -> None:
    assert decode_fast(payload) is not None
    fast, _ = both_paths(payload)
    assert fast.error is None
    assert fast.accepted


def _obs(value: Any) -> list[dict[str, Any]]:
    return [
        {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": value, "unit": "mm[Hg]"},
        {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": 80, "unit": "mm[Hg]"},
    ]


# Each of these is refused by the fast path or by the domain checks; the sub-microsecond times are
# readings pydantic accepts (truncating) and the fast path leaves to it.
EDGE_READINGS = [
    pytest.param(bp(device_serial="BP0001\n"), id="serial with a trailing newline"),
    pytest.param(bp(device_address="a4:c1:38:12:34:56\n"), id="address with a trailing newline"),
    pytest.param(bp(flags=["irregular_pulse\n"]), id="flag with a trailing newline"),
    pytest.param(bp(measured_at="2026-12-03T14:01:47.1234567Z"), id="seven fractional digits"),
    pytest.param(bp(measured_at="2026-12-03T14:01:47.9999999Z"), id="seven nines"),
    pytest.param(bp(measured_at="2026-12-03T14:01:47"), id="no time zone"),
    pytest.param(bp(measured_at="2026-12-03T14:01Z"), id="no seconds"),
    pytest.param(bp(measured_at="2026-12-03T14:01:47,5Z"), id="decimal comma"),
    pytest.param(bp(measured_at="2026-12-03T24:00:00Z"), id="hour 24"),
    pytest.param(bp(measured_at=1764770507), id="epoch seconds"),
    pytest.param(bp(user_index=1.0), id="integral float for an int"),
    pytest.param(bp(user_index=True), id="bool for an int"),
    pytest.param(bp(user_index=256), id="int above its range"),
    pytest.param(bp(battery_pct=-1), id="int below its range"),
    pytest.param(bp(from_device_memory=1), id="int for a bool"),
    pytest.param(bp(from_device_memory=None), id="null for a defaulted bool"),
    pytest.param(bp(flags=None), id="null flags"),
    pytest.param(bp(observations=_obs(True)), id="bool for a float"),
    pytest.param(bp(observations=_obs("128")), id="string for a float"),
    pytest.param(bp(observations=_obs(10**30)), id="huge int for a float"),
    pytest.param(bp(reading_id=""), id="empty id"),
    pytest.param(bp(reading_id="\u00e9" * 41), id="id over 40 characters"),
    pytest.param(bp(reading_id="\u00e9" * 40), id="40 non-ASCII characters"),
    pytest.param(bp(kind="k" * 33), id="kind too long"),
    pytest.param(bp(measured_at_source="guess"), id="unknown source"),
    pytest.param(bp(observations=[]), id="no observations"),
    pytest.param(bp(observations=_obs(120) * 9), id="too many observations"),
    pytest.param(bp(observations=[{"code": "MDC_PRESS_BLD_NONINV_SYS", "unit": "mm[Hg]"}]), id="value left out"),
    pytest.param({k: v for k, v in bp().items() if k != "received_at"}, id="missing field"),
    pytest.param("not an object", id="not an object"),
    pytest.param(bp(kind="blood_sugar"), id="unknown kind"),
    pytest.param(bp(reading_id="not-a-uuid-or-ulid"), id="bad id"),
    pytest.param(bp(observations=_obs(400)), id="implausible"),
    pytest.param(bp(observations=_obs(None)), id="missing value"),
    pytest.param(bp(measured_at="2026-12-03T15:05:01Z"), id="future"),
    pytest.param(bp(measured_at="2026-11-03T14:59:59Z"), id="too old"),
    pytest.param(weight(observations=[{"code": "MDC_MASS_BODY_ACTUAL", "value": 70, "unit": "mm[Hg]"}]), id="unit"),
    pytest.param(weight(observations=[{"code": "MDC_MASS_BODY_ACTUAL", "value": 70, "unit": "lbs"}]), id="non-UCUM"),
    pytest.param(bp(observations=[{"code": "MDC_TEMP_BODY", "value": 37, "unit": "Cel"}]), id="metric not for kind"),
    pytest.param(bp(observations=[{"code": "MDC_MADE_UP", "value": 1, "unit": "Cel"}]), id="unknown metric"),
]


@pytest.mark.parametrize("reading", EDGE_READINGS)
def test_an_edge_case_reading_gets_the_same_verdict_reason_and_dead_letter_on_both_paths(reading: object) -> None:
    fast, _ = both_paths(message(bp(reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAV"), reading))
    assert fast.error is None
    assert fast.accepted[0].reading_id_text == "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert len(fast.accepted) + len(fast.rejected) == 2


INVALID_MESSAGES = [
    pytest.param(message(bp(), batch_id="B-1\n"), id="batch id with a trailing newline"),
    pytest.param(message(bp(), v=1.0), id="float version"),
    pytest.param(message(bp(), v=2), id="version 2"),
    pytest.param(message(bp(), session=-1), id="negative session"),
    pytest.param(message(bp(), seq=True), id="bool seq"),
    pytest.param(message(bp(), sent_at="2026-12-03T14:02:05"), id="naive sent_at"),
    pytest.param(message(), id="no readings"),
    pytest.param(message(*[bp()] * 501), id="too many readings"),
    pytest.param(message(bp(), readings=None), id="null readings"),
    pytest.param(message(bp(observations=_obs(float("nan")))), id="NaN literal"),
    pytest.param(message(bp(observations=_obs(float("inf")))), id="Infinity literal"),
    pytest.param(message(bp()).replace(b"128", b"1e400"), id="overflowing float literal"),
    pytest.param(b"[1, 2, 3]", id="an array"),
    pytest.param(b'{"batch_id": "B-1", "readings": [', id="truncated"),
    pytest.param(b"\xff\xfe not json", id="not UTF-8"),
    pytest.param(message(bp()) + b" trailing", id="trailing garbage"),
    pytest.param(b'{"batch_id": "B-\\ud800", "readings": []}', id="lone surrogate"),
]


@pytest.mark.parametrize("payload", INVALID_MESSAGES)
def test_a_bad_message_gets_the_same_verdict_and_reason_on_both_paths(payload: bytes) -> None:
    both_paths(payload)


def test_a_refused_reading_is_dead_lettered_as_the_models_read_it() -> None:
    payload = message(bp(), bp(reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAW", kind="nope", user_index=7))
    fast, _ = both_paths(payload)
    (refused,) = fast.rejected
    assert refused.raw == PayloadReading(payload, 1)
    assert json.loads(canonical_json(refused.raw)) == bp(
        reading_id="01ARZ3NDEKTSV4RRFFQ69G5FAW", kind="nope", user_index=7, observations=_obs_as_floats()
    )


def _obs_as_floats() -> list[dict[str, Any]]:
    return [{**o, "value": float(o["value"])} for o in bp()["observations"]]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=8,
)
observation_keys = st.sampled_from(["code", "value", "unit", "special", "y"])


@settings(max_examples=400)
@given(
    st.dictionaries(st.sampled_from([*list(bp().keys()), "user_index", "battery_pct", "x"]), json_values, max_size=4),
    st.dictionaries(observation_keys, json_values, max_size=3),
)
def test_any_mutated_reading_gets_the_same_answer_on_both_paths(
    reading: dict[str, Any], observation: dict[str, Any]
) -> None:
    raw = {**bp(), **reading}
    if observation and isinstance(raw.get("observations"), list) and raw["observations"]:
        first = raw["observations"][0]
        raw["observations"] = [{**first, **observation}, *raw["observations"][1:]] if isinstance(first, dict) else []
    both_paths(message(raw))


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(["v", "batch_id", "session", "seq", "sent_at", "z"]), json_values, max_size=3))
def test_any_mutated_envelope_gets_the_same_answer_on_both_paths(envelope: dict[str, Any]) -> None:
    both_paths(message(bp(), **envelope))


def test_a_value_with_many_decimals_stays_on_the_fast_path() -> None:
    # Only a time with more than six fractional digits is left to pydantic, not any long decimal.
    observations = [
        {"code": "MDC_PRESS_BLD_NONINV_SYS", "value": 12.123456789, "unit": "kPa"},
        {"code": "MDC_PRESS_BLD_NONINV_DIA", "value": 10.5, "unit": "kPa"},
    ]
    payload = json.dumps({"batch_id": "B-1", "readings": [bp(observations=observations)]}, separators=(",", ":"))
    assert decode_fast(payload.encode()) is not None
    both_paths(payload.encode())


_FULL_TIME_PATTERN = re.compile(rb"[0-9]{2}:[0-9]{2}:[0-9]{2}[.,][0-9]{7}")


@settings(max_examples=2000)
@given(st.binary(max_size=48) | st.text(alphabet='0123456789:.,Tz"', max_size=48).map(str.encode))
def test_the_quick_time_check_finds_exactly_what_the_full_pattern_finds(payload: bytes) -> None:
    # has_sub_microsecond_time starts its search at a literal ":" (seven times cheaper per payload)
    # and must send to pydantic exactly the payloads the hh:mm:ss.fffffff pattern would.
    assert has_sub_microsecond_time(payload) is (_FULL_TIME_PATTERN.search(payload) is not None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"2026-12-03T10:00:00.1234567Z"', True),
        ('"12:34:56,1234567"', True),
        ('"2026-12-03T10:00:00.123456Z"', False),
        ('"value":12.1234567', False),
        ('"x:00:00.1234567"', False),
        ('"a":00.1234567,"t":"10:00:00.12345678"', True),
    ],
)
def test_sub_microsecond_times_by_example(text: str, expected: bool) -> None:
    assert has_sub_microsecond_time(text.encode()) is expected
