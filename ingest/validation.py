"""Pure validation of hub messages and readings: bytes and a clock in, validated readings (ready to
stage) or typed rejections out. No I/O; ``now`` is passed in.

A message that cannot be read as a batch (too large, not JSON, wrong shape, a topic outside the hub
tree) is rejected whole. Otherwise each reading is judged on its own: schema, known metric and kind,
a unit valid for the metric (converted to the canonical unit, original kept), a plausible value, the
observations a reading of its kind needs, and a measurement time neither in the future nor older
than ingest accepts (``reference/rpm-ccm-rules.md`` §C.4 DEV-6).

This runs for every reading at ingest rates, so the output is plain typed tuples rather than the
:mod:`core.domain` dataclasses (same vocabulary, a fraction of the cost), and a well-formed message
is validated in one pass: JSON parsing and schema checks of the whole envelope happen inside
msgspec (:func:`ingest.wire.decode_fast`), and the domain checks run on its structs. A message msgspec
refuses is validated again by the pydantic models, which name what is wrong; only a message with a
malformed reading is taken apart reading by reading."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID

from pydantic import ValidationError

from core.domain import (
    METRICS,
    REQUIRED_METRICS,
    MeasuredAtSource,
    Metric,
    MetricSpec,
    ReadingKind,
    SpecialValue,
    Unit,
)
from core.ids import InvalidIdentifier, parse_ulid
from core.topics import HubTopic, InvalidTopic, Topics
from core.units import to_canonical
from ingest.wire import (
    FastObservation,
    FastReading,
    FastReadingsEnvelope,
    ObservationIn,
    ReadingIn,
    ReadingsEnvelope,
    ValidReadingsEnvelope,
    decode_fast,
)

# Plain dict lookups: Enum(value) costs ten times more, and this runs for every observation.
_METRICS_BY_NAME: dict[str, MetricSpec] = {m.value: s for m, s in METRICS.items()}
_UNITS_BY_CODE: dict[str, Unit] = {u.value: u for u in Unit}
_KINDS_BY_NAME: dict[str, ReadingKind] = {k.value: k for k in ReadingKind}
_SPECIALS: frozenset[str] = frozenset(v.value for v in SpecialValue)
_REQUIRED_CODES: dict[ReadingKind, tuple[tuple[frozenset[int], str], ...]] = {
    kind: tuple(
        (frozenset(METRICS[m].code for m in any_of), " or ".join(sorted(m.value for m in any_of))) for any_of in groups
    )
    for kind, groups in REQUIRED_METRICS.items()
}
_SYS = METRICS[Metric.MDC_PRESS_BLD_NONINV_SYS].code
_DIA = METRICS[Metric.MDC_PRESS_BLD_NONINV_DIA].code
_UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


class RejectReason(StrEnum):
    """Why a message or a reading was dead-lettered. Stable codes: hubs, dashboards and runbooks
    key on them."""

    # the whole message
    MESSAGE_TOO_LARGE = "message_too_large"
    MALFORMED_JSON = "malformed_json"
    INVALID_ENVELOPE = "invalid_envelope"
    INVALID_TOPIC = "invalid_topic"
    TOO_MANY_READINGS = "too_many_readings"
    STORAGE_ERROR = "storage_error"
    # one reading, judged on its own
    INVALID_READING = "invalid_reading"
    INVALID_READING_ID = "invalid_reading_id"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_METRIC = "unknown_metric"
    METRIC_NOT_ALLOWED_FOR_KIND = "metric_not_allowed_for_kind"
    DUPLICATE_METRIC = "duplicate_metric"
    INVALID_UNIT = "invalid_unit"
    MISSING_VALUE = "missing_value"
    INVALID_SPECIAL_VALUE = "invalid_special_value"
    IMPLAUSIBLE_VALUE = "implausible_value"
    MISSING_REQUIRED_METRIC = "missing_required_metric"
    INCONSISTENT_BLOOD_PRESSURE = "inconsistent_blood_pressure"
    MEASURED_AT_IN_FUTURE = "measured_at_in_future"
    MEASURED_AT_TOO_OLD = "measured_at_too_old"
    # one reading, judged against the database in the ingest transaction
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_BLOCKED = "device_blocked"  # the unit was reported lost or retired (provisioning)
    DEVICE_NOT_ASSIGNED_TO_HUB = "device_not_assigned_to_hub"
    DEVICE_NOT_ASSIGNED_TO_PATIENT = "device_not_assigned_to_patient"
    KIND_NOT_SUPPORTED_BY_DEVICE = "kind_not_supported_by_device"


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    max_message_bytes: int = 256 * 1024
    max_readings_per_message: int = 500
    max_future_skew: timedelta = timedelta(minutes=5)
    max_reading_age: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str


class ObservationRow(NamedTuple):
    """One observation in the canonical unit of its metric (``metric`` is the MDC code);
    ``source_value``/``source_unit`` keep what the device sent when it was converted. Exactly one
    of ``value`` and ``special`` is set."""

    metric: int
    value: float | None
    special: str | None
    unit: str
    source_value: float | None
    source_unit: str | None


class AcceptedReading(NamedTuple):
    """A reading that passed validation. ``reading_id_text`` is the id exactly as the hub sent it
    (echoed in the ack); ``reading_id`` is the same id as canonical UUID text; ``raw`` is what gets
    dead-lettered should the database refuse it."""

    reading_id_text: str
    reading_id: str
    device_serial: str
    kind: ReadingKind
    measured_at: datetime
    measured_at_source: str
    received_at: datetime
    from_device_memory: bool
    flags: list[str] | None
    observations: tuple[ObservationRow, ...]
    raw: object


@dataclass(frozen=True, slots=True)
class RejectedReading:
    reading_id_text: str | None
    device_serial: str | None
    rejection: Rejection
    raw: object


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One ``up/readings`` message after validation. When ``error`` is set the message as a whole
    was refused and ``accepted`` is empty; ``rejected`` may still name readings whose ids could be
    read, so the hub learns their fate."""

    hub_id: str | None
    batch_id: str | None
    accepted: tuple[AcceptedReading, ...]
    rejected: tuple[RejectedReading, ...]
    error: Rejection | None = None


class PayloadReading(NamedTuple):
    """The ``position``-th reading (from 0) of a message that arrived well-formed (the fast path's ``raw``): its
    dead-letter form is rebuilt from the payload only when it is needed, which is rare."""

    payload: bytes
    position: int


def _reading_in_payload(ref: PayloadReading) -> object:
    """The reading as the pydantic path would have dead-lettered it (the validated model). The fast
    path accepted this payload, so the models accept it too; were they ever to disagree, the
    reading's JSON object is kept rather than losing the dead letter."""
    return _readings_in_payload(ref.payload)[ref.position]


@functools.lru_cache(maxsize=8)
def _readings_in_payload(payload: bytes) -> tuple[object, ...]:
    # Cached: a backlog message with several refused readings is parsed once for all of them.
    try:
        return tuple(ValidReadingsEnvelope.model_validate_json(payload).readings)
    except ValidationError:
        return tuple(json.loads(payload)["readings"])


def canonical_json(value: object) -> bytes:
    """Deterministic JSON for dead-letter payloads (sorted keys, no whitespace). A validated reading
    model is written as the fields it was sent with."""
    if isinstance(value, PayloadReading):
        value = _reading_in_payload(value)
    if isinstance(value, ReadingIn):
        value = value.model_dump(mode="json", exclude_unset=True)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def payload_digest(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


def canonical_reading_id(text: str) -> str | None:
    """The reading id as canonical UUID text (a ULID is the same 128 bits), or None if invalid."""
    if len(text) == 26:
        try:
            return str(parse_ulid(text))
        except InvalidIdentifier:
            return None
    if _UUID_TEXT.match(text):
        return text.lower() if len(text) == 36 else str(UUID(hex=text))
    return None


def _schema_detail(exc: ValidationError) -> str:
    # Field locations and messages only: pydantic's input echo could carry patient values.
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _reject(
    raw: object, reason: RejectReason, detail: str, model: ReadingIn | FastReading | None = None
) -> RejectedReading:
    reading_id: str | None = None
    serial: str | None = None
    if model is not None:
        reading_id, serial = model.reading_id, model.device_serial
    elif isinstance(raw, dict):
        rid, ser = raw.get("reading_id"), raw.get("device_serial")
        reading_id = rid if isinstance(rid, str) and 0 < len(rid) <= 40 else None
        serial = ser if isinstance(ser, str) and 0 < len(ser) <= 64 else None
    return RejectedReading(reading_id, serial, Rejection(reason, detail), raw)


class _UnitRule(NamedTuple):
    """Everything judging one (metric code, unit) pair needs, computed once: the per-observation
    work is then a dict lookup, a range check and at most one conversion."""

    spec: MetricSpec
    metric: int
    metric_name: str
    unit: Unit
    unit_text: str
    canonical: str
    converted: bool
    kinds: frozenset[ReadingKind]
    low: float
    high: float
    range_detail: str


_UNIT_RULES: dict[tuple[str, str], _UnitRule] = {
    (spec.metric.value, unit.value): _UnitRule(
        spec,
        spec.code,
        spec.metric.value,
        unit,
        unit.value,
        spec.canonical_unit.value,
        unit is not spec.canonical_unit,
        spec.reading_kinds,
        spec.plausible_min,
        spec.plausible_max,
        f"{spec.metric.value} outside the plausible range {spec.plausible_min:g}..{spec.plausible_max:g} "
        f"{spec.canonical_unit.value}",
    )
    for spec in METRICS.values()
    for unit in spec.accepted_units
}
_SOURCE_TEXT: dict[str, str] = {s.value: s.value for s in MeasuredAtSource}


def _observation(kind: ReadingKind, obs: ObservationIn | FastObservation) -> ObservationRow | Rejection:
    rule = _UNIT_RULES.get((obs.code, obs.unit))
    if rule is None:
        return _refuse_observation(kind, obs)  # an unknown metric, or a unit it does not accept
    if kind not in rule.kinds:
        return Rejection(
            RejectReason.METRIC_NOT_ALLOWED_FOR_KIND, f"{rule.metric_name} is not part of a {kind} reading"
        )
    special = obs.special
    if special is not None:
        if obs.value is not None:
            return Rejection(RejectReason.MISSING_VALUE, f"{rule.metric_name} has both a value and a special value")
        if special not in _SPECIALS:
            return Rejection(RejectReason.INVALID_SPECIAL_VALUE, f"special value {special[:16]!r} is unknown")
        return ObservationRow(rule.metric, None, special, rule.canonical, None, rule.unit_text)
    value = obs.value
    if value is None or not math.isfinite(value):
        return Rejection(RejectReason.MISSING_VALUE, f"{rule.metric_name} has no finite value")
    if rule.converted:
        value = to_canonical(rule.spec, value, rule.unit)
    if not rule.low <= value <= rule.high:
        return Rejection(RejectReason.IMPLAUSIBLE_VALUE, rule.range_detail)
    if rule.converted:
        return ObservationRow(rule.metric, value, None, rule.canonical, obs.value, rule.unit_text)
    return ObservationRow(rule.metric, value, None, rule.canonical, None, None)


def _refuse_observation(kind: ReadingKind, obs: ObservationIn | FastObservation) -> Rejection:
    """Why an observation whose (code, unit) pair is not in the table is refused, in the order the
    checks are documented: unknown metric, metric not part of the kind, unit unknown, unit wrong."""
    spec = _METRICS_BY_NAME.get(obs.code)
    if spec is None:
        return Rejection(RejectReason.UNKNOWN_METRIC, f"unknown metric code {obs.code[:64]!r}")
    if kind not in spec.reading_kinds:
        return Rejection(
            RejectReason.METRIC_NOT_ALLOWED_FOR_KIND, f"{spec.metric.value} is not part of a {kind} reading"
        )
    unit = _UNITS_BY_CODE.get(obs.unit)
    if unit is None:
        return Rejection(RejectReason.INVALID_UNIT, f"unit {obs.unit[:16]!r} is not a UCUM unit carehub accepts")
    return Rejection(RejectReason.INVALID_UNIT, f"unit {unit.value} is not valid for {spec.metric.value}")


def _check_required(kind: ReadingKind, rows: dict[int, ObservationRow]) -> Rejection | None:
    for codes, names in _REQUIRED_CODES[kind]:
        if codes.isdisjoint(rows):
            return Rejection(RejectReason.MISSING_REQUIRED_METRIC, f"a {kind} reading needs {names}")
    if kind is ReadingKind.BLOOD_PRESSURE:
        sys_value, dia_value = rows[_SYS].value, rows[_DIA].value
        if sys_value is not None and dia_value is not None and sys_value <= dia_value:
            return Rejection(RejectReason.INCONSISTENT_BLOOD_PRESSURE, "systolic is not above diastolic")
    return None


def validate_reading(raw: object, *, now: datetime, limits: ValidationLimits) -> AcceptedReading | RejectedReading:
    """Judge one reading of a batch on its own."""
    try:
        model = ReadingIn.model_validate(raw)
    except ValidationError as exc:
        return _reject(raw, RejectReason.INVALID_READING, _schema_detail(exc))
    return judge_reading(model, raw, now=now, limits=limits)


def judge_reading(
    model: ReadingIn | FastReading, raw: object, *, now: datetime, limits: ValidationLimits
) -> AcceptedReading | RejectedReading:
    """The domain checks of a reading whose shape is already valid; ``raw`` is what gets
    dead-lettered if the reading is refused (the JSON object, the validated model, or a PayloadReading)."""
    reading_id = canonical_reading_id(model.reading_id)
    if reading_id is None:
        return _reject(raw, RejectReason.INVALID_READING_ID, "reading id is neither a UUID nor a ULID", model)
    kind = _KINDS_BY_NAME.get(model.kind)
    if kind is None:
        return _reject(raw, RejectReason.UNKNOWN_KIND, f"unknown reading kind {model.kind!r}", model)
    rows: dict[int, ObservationRow] = {}
    for obs_in in model.observations:
        row = _observation(kind, obs_in)
        if isinstance(row, Rejection):
            return _reject(raw, row.reason, row.detail, model)
        if row.metric in rows:
            return _reject(raw, RejectReason.DUPLICATE_METRIC, f"{obs_in.code} appears twice", model)
        rows[row.metric] = row
    problem = _check_required(kind, rows)
    if problem is not None:
        return _reject(raw, problem.reason, problem.detail, model)
    if model.measured_at > now + limits.max_future_skew:
        return _reject(
            raw,
            RejectReason.MEASURED_AT_IN_FUTURE,
            f"measured_at is more than {limits.max_future_skew.total_seconds():g} s ahead of the server clock",
            model,
        )
    if model.measured_at < now - limits.max_reading_age:
        return _reject(
            raw,
            RejectReason.MEASURED_AT_TOO_OLD,
            f"measured_at is older than {limits.max_reading_age.days} days",
            model,
        )
    return AcceptedReading(
        model.reading_id,
        reading_id,
        model.device_serial,
        kind,
        model.measured_at,
        _SOURCE_TEXT[model.measured_at_source],
        model.received_at,
        model.from_device_memory,
        sorted(model.flags) or None,
        tuple(rows.values()),
        raw,
    )


def _judge_all(
    hub_id: str, batch_id: str, items: list[tuple[ReadingIn | None, object]], now: datetime, limits: ValidationLimits
) -> ParsedMessage:
    accepted: list[AcceptedReading] = []
    rejected: list[RejectedReading] = []
    for model, raw in items:
        outcome = (
            judge_reading(model, raw, now=now, limits=limits)
            if model is not None
            else validate_reading(raw, now=now, limits=limits)
        )
        if isinstance(outcome, AcceptedReading):
            accepted.append(outcome)
        else:
            rejected.append(outcome)
    return ParsedMessage(hub_id, batch_id, tuple(accepted), tuple(rejected))


def _judge_fast(
    hub_id: str, envelope: FastReadingsEnvelope, payload: bytes, now: datetime, limits: ValidationLimits
) -> ParsedMessage:
    """Judge each reading of a message the fast path decoded. The domain checks are the same code
    as on the pydantic path; a refused reading is dead-lettered from the payload (PayloadReading)."""
    accepted: list[AcceptedReading] = []
    rejected: list[RejectedReading] = []
    for index, model in enumerate(envelope.readings):
        outcome = judge_reading(model, PayloadReading(payload, index), now=now, limits=limits)
        if isinstance(outcome, AcceptedReading):
            accepted.append(outcome)
        else:
            rejected.append(outcome)
    return ParsedMessage(hub_id, envelope.batch_id, tuple(accepted), tuple(rejected))


def _ids_in(readings: object) -> tuple[RejectedReading, ...]:
    """Best effort: the reading ids of a refused message, so the ack can name them."""
    if not isinstance(readings, list):
        return ()
    found = []
    for item in readings[:1000]:
        if isinstance(item, dict):
            rid = item.get("reading_id")
            if isinstance(rid, str) and 0 < len(rid) <= 40:
                found.append(RejectedReading(rid, None, Rejection(RejectReason.INVALID_ENVELOPE, ""), item))
    return tuple(found)


def parse_readings_message(
    topics: Topics, topic: str, payload: bytes, *, now: datetime, limits: ValidationLimits, fast: bool = True
) -> ParsedMessage:
    """Validate one ``up/readings`` message: the envelope as a whole, then each reading alone.
    ``fast=False`` skips the msgspec decoder (the answer is the same; tests compare the two)."""
    try:
        hub_id = topics.hub_id_of(topic, HubTopic.READINGS)
    except InvalidTopic as exc:
        return ParsedMessage(None, None, (), (), Rejection(RejectReason.INVALID_TOPIC, str(exc)))
    if len(payload) > limits.max_message_bytes:
        return ParsedMessage(
            hub_id,
            None,
            (),
            (),
            Rejection(
                RejectReason.MESSAGE_TOO_LARGE,
                f"{len(payload)} bytes exceeds the limit of {limits.max_message_bytes}",
            ),
        )
    # Fast path: the usual message is well-formed, decoded in one pass by msgspec, every reading good.
    decoded = decode_fast(payload) if fast else None
    if decoded is not None and len(decoded.readings) <= limits.max_readings_per_message:
        return _judge_fast(hub_id, decoded, payload, now, limits)
    # The pydantic models decide the rest, with the same answer for what the fast path accepts.
    try:
        valid = ValidReadingsEnvelope.model_validate_json(payload)
    except ValidationError:
        pass
    else:
        if len(valid.readings) <= limits.max_readings_per_message:
            items: list[tuple[ReadingIn | None, object]] = [(m, m) for m in valid.readings]
            return _judge_all(hub_id, valid.batch_id, items, now, limits)
    # Slow path: find out what is wrong, and keep every reading that is fine.
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return ParsedMessage(hub_id, None, (), (), Rejection(RejectReason.MALFORMED_JSON, f"not JSON: {exc}"[:200]))
    raw_batch_id = document.get("batch_id") if isinstance(document, dict) else None
    try:
        envelope = ReadingsEnvelope.model_validate(document)
    except ValidationError as exc:
        batch_id = raw_batch_id if isinstance(raw_batch_id, str) and len(raw_batch_id) <= 64 else None
        readings = document.get("readings") if isinstance(document, dict) else None
        return ParsedMessage(
            hub_id, batch_id, (), _ids_in(readings), Rejection(RejectReason.INVALID_ENVELOPE, _schema_detail(exc))
        )
    if len(envelope.readings) > limits.max_readings_per_message:
        return ParsedMessage(
            hub_id,
            envelope.batch_id,
            (),
            _ids_in(envelope.readings),
            Rejection(
                RejectReason.TOO_MANY_READINGS,
                f"{len(envelope.readings)} readings exceeds the limit of {limits.max_readings_per_message}",
            ),
        )
    return _judge_all(hub_id, envelope.batch_id, [(None, raw) for raw in envelope.readings], now, limits)
