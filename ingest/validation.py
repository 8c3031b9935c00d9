"""Pure validation of hub messages and readings: bytes and a clock in, domain readings or typed
rejections out. No I/O; ``now`` is passed in.

A message that cannot be read as a batch (too large, not JSON, wrong shape, a topic outside the hub
tree) is rejected whole. Otherwise each reading is judged on its own: schema, known metric and kind,
a unit valid for the metric (converted to the canonical unit, original kept), a plausible value, the
observations a reading of its kind needs, and a measurement time neither in the future nor older
than ingest accepts (``reference/rpm-ccm-rules.md`` §C.4 DEV-6)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from core.domain import (
    METRICS,
    REQUIRED_METRICS,
    Metric,
    Observation,
    Reading,
    ReadingKind,
    SpecialValue,
    Unit,
)
from core.errors import InvalidDomainValue
from core.ids import InvalidIdentifier, parse_reading_id
from core.topics import HubTopic, InvalidTopic, Topics
from core.units import UnitNotAccepted, to_canonical
from ingest.wire import ReadingIn, ReadingsEnvelope


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


@dataclass(frozen=True, slots=True)
class AcceptedReading:
    """A reading that passed validation; ``reading_id_text`` is the id exactly as the hub sent it,
    echoed in the ack so the hub can match it."""

    reading_id_text: str
    reading: Reading
    raw: Mapping[str, Any]


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


def canonical_json(value: object) -> bytes:
    """Deterministic JSON for dead-letter payloads (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def payload_digest(payload: bytes) -> bytes:
    return hashlib.sha256(payload).digest()


def _schema_detail(exc: ValidationError) -> str:
    # Field locations and messages only: pydantic's input echo could carry patient values.
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _reject(raw: object, reason: RejectReason, detail: str, model: ReadingIn | None = None) -> RejectedReading:
    reading_id: str | None = None
    serial: str | None = None
    if model is not None:
        reading_id, serial = model.reading_id, model.device_serial
    elif isinstance(raw, Mapping):
        rid, ser = raw.get("reading_id"), raw.get("device_serial")
        reading_id = rid if isinstance(rid, str) and 0 < len(rid) <= 40 else None
        serial = ser if isinstance(ser, str) and 0 < len(ser) <= 64 else None
    return RejectedReading(reading_id, serial, Rejection(reason, detail), raw)


def _observation(kind: ReadingKind, obs: Any) -> Observation | Rejection:
    try:
        metric = Metric(obs.code)
    except ValueError:
        return Rejection(RejectReason.UNKNOWN_METRIC, f"unknown metric code {obs.code[:64]!r}")
    spec = METRICS[metric]
    if kind not in spec.reading_kinds:
        return Rejection(RejectReason.METRIC_NOT_ALLOWED_FOR_KIND, f"{metric.value} is not part of a {kind} reading")
    try:
        unit = Unit(obs.unit)
    except ValueError:
        return Rejection(RejectReason.INVALID_UNIT, f"unit {obs.unit[:16]!r} is not a UCUM unit carehub accepts")
    if unit not in spec.accepted_units:
        return Rejection(RejectReason.INVALID_UNIT, f"unit {unit.value} is not valid for {metric.value}")
    if obs.special is not None:
        if obs.value is not None:
            return Rejection(RejectReason.MISSING_VALUE, f"{metric.value} has both a value and a special value")
        try:
            special = SpecialValue(obs.special)
        except ValueError:
            return Rejection(RejectReason.INVALID_SPECIAL_VALUE, f"special value {obs.special[:16]!r} is unknown")
        return Observation(metric=metric, value=None, unit=spec.canonical_unit, special=special, source_unit=unit)
    if obs.value is None or not math.isfinite(obs.value):
        return Rejection(RejectReason.MISSING_VALUE, f"{metric.value} has no finite value")
    try:
        value = to_canonical(spec, obs.value, unit)
    except UnitNotAccepted as exc:
        return Rejection(RejectReason.INVALID_UNIT, str(exc))
    if not spec.plausible_min <= value <= spec.plausible_max:
        return Rejection(
            RejectReason.IMPLAUSIBLE_VALUE,
            f"{metric.value} outside the plausible range {spec.plausible_min:g}..{spec.plausible_max:g} "
            f"{spec.canonical_unit.value}",
        )
    converted = unit != spec.canonical_unit
    return Observation(
        metric=metric,
        value=value,
        unit=spec.canonical_unit,
        source_value=obs.value if converted else None,
        source_unit=unit if converted else None,
    )


def _check_required(kind: ReadingKind, observations: Mapping[Metric, Observation]) -> Rejection | None:
    for any_of in REQUIRED_METRICS[kind]:
        if not any_of.intersection(observations):
            names = " or ".join(sorted(m.value for m in any_of))
            return Rejection(RejectReason.MISSING_REQUIRED_METRIC, f"a {kind} reading needs {names}")
    if kind is ReadingKind.BLOOD_PRESSURE:
        sys_obs = observations[Metric.MDC_PRESS_BLD_NONINV_SYS]
        dia_obs = observations[Metric.MDC_PRESS_BLD_NONINV_DIA]
        if sys_obs.value is not None and dia_obs.value is not None and sys_obs.value <= dia_obs.value:
            return Rejection(RejectReason.INCONSISTENT_BLOOD_PRESSURE, "systolic is not above diastolic")
    return None


def validate_reading(raw: object, *, now: datetime, limits: ValidationLimits) -> AcceptedReading | RejectedReading:
    """Judge one reading of a batch on its own."""
    try:
        model = ReadingIn.model_validate(raw)
    except ValidationError as exc:
        return _reject(raw, RejectReason.INVALID_READING, _schema_detail(exc))
    if not isinstance(raw, Mapping):  # pragma: no cover - the model validated, so raw was an object
        return _reject(raw, RejectReason.INVALID_READING, "a reading is a JSON object")
    try:
        reading_uuid = parse_reading_id(model.reading_id)
    except InvalidIdentifier as exc:
        return _reject(raw, RejectReason.INVALID_READING_ID, str(exc), model)
    try:
        kind = ReadingKind(model.kind)
    except ValueError:
        return _reject(raw, RejectReason.UNKNOWN_KIND, f"unknown reading kind {model.kind!r}", model)
    observations: dict[Metric, Observation] = {}
    for obs_in in model.observations:
        obs = _observation(kind, obs_in)
        if isinstance(obs, Rejection):
            return _reject(raw, obs.reason, obs.detail, model)
        if obs.metric in observations:
            return _reject(raw, RejectReason.DUPLICATE_METRIC, f"{obs.metric.value} appears twice", model)
        observations[obs.metric] = obs
    problem = _check_required(kind, observations)
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
    try:
        reading = Reading(
            reading_id=reading_uuid,
            device_serial=model.device_serial,
            device_address=model.device_address.upper() if model.device_address else None,
            kind=kind,
            measured_at=model.measured_at,
            measured_at_source=model.measured_at_source,
            received_at=model.received_at,
            observations=tuple(observations.values()),
            flags=frozenset(model.flags),
            from_device_memory=model.from_device_memory,
            user_index=model.user_index,
            battery_pct=model.battery_pct,
        )
    except InvalidDomainValue as exc:  # pragma: no cover - the checks above establish the invariants
        return _reject(raw, RejectReason.INVALID_READING, str(exc), model)
    return AcceptedReading(model.reading_id, reading, raw)


def _ids_in(readings: object) -> tuple[RejectedReading, ...]:
    """Best effort: the reading ids of a refused message, so the ack can name them."""
    if not isinstance(readings, list):
        return ()
    found = []
    for item in readings[:1000]:
        if isinstance(item, Mapping):
            rid = item.get("reading_id")
            if isinstance(rid, str) and 0 < len(rid) <= 40:
                found.append(RejectedReading(rid, None, Rejection(RejectReason.INVALID_ENVELOPE, ""), item))
    return tuple(found)


def parse_readings_message(
    topics: Topics, topic: str, payload: bytes, *, now: datetime, limits: ValidationLimits
) -> ParsedMessage:
    """Validate one ``up/readings`` message: the envelope as a whole, then each reading alone."""
    try:
        hub_id: str | None = topics.hub_id_of(topic, HubTopic.READINGS)
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
            hub_id,
            batch_id,
            (),
            _ids_in(readings),
            Rejection(RejectReason.INVALID_ENVELOPE, _schema_detail(exc)),
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
    accepted: list[AcceptedReading] = []
    rejected: list[RejectedReading] = []
    for raw in envelope.readings:
        outcome = validate_reading(raw, now=now, limits=limits)
        if isinstance(outcome, AcceptedReading):
            accepted.append(outcome)
        else:
            rejected.append(outcome)
    return ParsedMessage(hub_id, envelope.batch_id, tuple(accepted), tuple(rejected))
