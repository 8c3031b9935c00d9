"""Pure assembly of one ingest batch: the staging rows to write, duplicates inside the batch, and
(after the database has judged the rows) the ack for each message and the dead letters to store.

No I/O here; :mod:`ingest.writer` runs the transaction and :mod:`ingest.service` moves messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from core.domain import ReadingKind
from ingest.hooks import StoredObservation, StoredReading
from ingest.validation import ParsedMessage, RejectReason, canonical_json, payload_digest
from ingest.wire import ReadingsAck, RejectedId

DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024
_KIND_TEXT: dict[ReadingKind, str] = {k: k.value for k in ReadingKind}  # Enum.value is a slow descriptor


class RowStatus(StrEnum):
    """The database's verdict on one staged observation row."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    UNKNOWN_DEVICE = RejectReason.UNKNOWN_DEVICE.value
    DEVICE_BLOCKED = RejectReason.DEVICE_BLOCKED.value
    DEVICE_NOT_ASSIGNED_TO_HUB = RejectReason.DEVICE_NOT_ASSIGNED_TO_HUB.value
    DEVICE_NOT_ASSIGNED_TO_PATIENT = RejectReason.DEVICE_NOT_ASSIGNED_TO_PATIENT.value
    KIND_NOT_SUPPORTED_BY_DEVICE = RejectReason.KIND_NOT_SUPPORTED_BY_DEVICE.value


class RowVerdict(NamedTuple):
    status: RowStatus
    practice_id: str | None


_STORED = RowVerdict(RowStatus.STORED, None)
_DUPLICATE = RowVerdict(RowStatus.DUPLICATE, None)


StagedReading = tuple[
    int,  # reading_no (position in the batch's staged readings)
    str,  # hub_id
    str,  # device_serial
    str,  # reading_id (canonical UUID text)
    str,  # kind
    datetime,  # measured_at
    str,  # measured_at_source
    datetime,  # received_at
    bool,  # from_device_memory
    list[str] | None,  # flags
]

StagedObservation = tuple[
    int,  # reading_no
    int,  # metric (MDC code)
    float | None,  # value
    str | None,  # special
    str,  # unit
    float | None,  # source_value
    str | None,  # source_unit
]

STAGED_READING_COLUMNS = (
    "reading_no, hub_id, device_serial, reading_id, kind, measured_at, measured_at_source, received_at, "
    "from_device_memory, flags"
)
STAGED_OBSERVATION_COLUMNS = "reading_no, metric, value, special, unit, source_value, source_unit"


# A reading's place in the batch: (message index, reading index within the message). A plain tuple:
# it is built and hashed for every reading, and a class's constructor runs in Python.
ReadingRef = tuple[int, int]


class Resolution(NamedTuple):
    """What the database found for one staged reading: its device (if the serial is known), whether
    that device may produce this kind of reading, whether it was on the publishing hub, the patient
    it was assigned to at measured_at, and the device's practice. Identifiers are UUID text."""

    device_id: str | None
    kind_ok: bool
    on_hub: bool
    patient_id: str | None
    practice_id: str | None
    blocked: bool = False  # reported lost or retired: everything it sends is quarantined

    @property
    def refusal(self) -> RowStatus | None:
        if self.device_id is None:
            return RowStatus.UNKNOWN_DEVICE
        if self.blocked:
            return RowStatus.DEVICE_BLOCKED
        if not self.kind_ok:
            return RowStatus.KIND_NOT_SUPPORTED_BY_DEVICE
        if not self.on_hub:
            return RowStatus.DEVICE_NOT_ASSIGNED_TO_HUB
        if self.patient_id is None:
            return RowStatus.DEVICE_NOT_ASSIGNED_TO_PATIENT
        return None


@dataclass
class BatchPlan:
    """Readings and observation rows to stage, which reading each row belongs to, and readings
    that repeat an earlier row of the same batch (the same hub, device, metric and time: a resend
    inside one batch). Row numbers index ``rows``; reading numbers index ``readings``."""

    readings: list[StagedReading] = field(default_factory=list)
    rows: list[StagedObservation] = field(default_factory=list)
    # reading -> its staged row numbers, or for an in-batch repeat the row numbers it repeats
    reading_rows: dict[ReadingRef, list[int]] = field(default_factory=dict)
    repeats: set[ReadingRef] = field(default_factory=set)
    # per staged reading (by reading number): its rows, which are staged one after the other
    row_spans: list[range] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    practice_id: str | None
    hub_id: str | None
    topic: str | None
    batch_id: str | None
    reading_id: str | None
    device_serial: str | None
    reason: str
    detail: str
    payload: bytes
    payload_size: int
    payload_sha256: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch produced: an ack per message (same order) and the dead letters."""

    acks: list[ReadingsAck]
    dead_letters: list[DeadLetter]
    accepted: int
    duplicates: int
    rejected: int
    rows_stored: int


def plan_batch(messages: Sequence[ParsedMessage]) -> BatchPlan:
    plan = BatchPlan()
    # (hub, serial, measured_at) -> {metric: first row}: one lookup per reading, and one per
    # observation only for a reading whose time was already seen in this batch (a resend)
    first_rows: dict[tuple[str, str, datetime], dict[int, int]] = {}
    readings, rows, row_spans = plan.readings, plan.rows, plan.row_spans
    for m_index, message in enumerate(messages):
        hub_id = message.hub_id
        if message.error is not None or hub_id is None:
            continue
        for r_index, reading in enumerate(message.accepted):
            ref = (m_index, r_index)
            reading_no = len(readings)
            measured_at = reading.measured_at
            serial = reading.device_serial
            key = (hub_id, serial, measured_at)
            seen = first_rows.get(key)
            first = len(rows)
            if seen is None:
                seen = first_rows[key] = {}
                for obs in reading.observations:
                    seen[obs.metric] = len(rows)
                    rows.append((reading_no, *obs))
                repeated_rows: list[int] = []
            else:
                repeated_rows = []
                for obs in reading.observations:
                    earlier = seen.get(obs.metric)
                    if earlier is not None:
                        repeated_rows.append(earlier)
                        continue
                    seen[obs.metric] = len(rows)
                    rows.append((reading_no, *obs))
            if len(rows) > first:
                row_spans.append(range(first, len(rows)))
                readings.append(
                    (
                        reading_no,
                        hub_id,
                        serial,
                        reading.reading_id,
                        _KIND_TEXT[reading.kind],
                        measured_at,
                        reading.measured_at_source,
                        reading.received_at,
                        reading.from_device_memory,
                        reading.flags,
                    )
                )
                plan.reading_rows[ref] = list(range(first, len(rows)))
            else:
                plan.reading_rows[ref] = repeated_rows
                plan.repeats.add(ref)
    return plan


def row_verdicts(
    plan: BatchPlan,
    resolutions: Mapping[int, Resolution],
    inserted: set[tuple[str, int, datetime]],
) -> dict[int, RowVerdict]:
    """Each staged row's verdict from its reading's resolution and the keys (reading id, metric,
    measured_at) the INSERT actually wrote: refused, stored, or already there (duplicate)."""
    refused: list[RowVerdict | None] = []  # per reading: its refusal, judged once for all its rows
    for reading_no in range(len(plan.readings)):
        resolution = resolutions[reading_no]
        refusal = resolution.refusal
        refused.append(None if refusal is None else RowVerdict(refusal, resolution.practice_id))
    verdicts: dict[int, RowVerdict] = {}
    all_rows = plan.rows
    for reading, span in zip(plan.readings, plan.row_spans, strict=True):
        verdict = refused[reading[0]]
        if verdict is not None:
            for row_no in span:
                verdicts[row_no] = verdict
            continue
        reading_id, measured_at = reading[3], reading[5]
        for row_no in span:
            verdicts[row_no] = _STORED if (reading_id, all_rows[row_no][1], measured_at) in inserted else _DUPLICATE
    return verdicts


def stored_readings(
    plan: BatchPlan,
    resolutions: Mapping[int, Resolution],
    verdicts: Mapping[int, RowVerdict],
) -> list[StoredReading]:
    """The readings this transaction newly stored, each with only its inserted observations (the
    rows whose verdict is STORED), in staging order (what :class:`ingest.hooks.StoredReadingsHook`
    is given)."""
    build = tuple.__new__  # a NamedTuple's own __new__ is a Python function; tuple.__new__ is not
    all_rows = plan.rows
    stored: list[StoredReading] = []
    for reading, span in zip(plan.readings, plan.row_spans, strict=True):
        # row[1:5] is (metric, value, special, unit)
        rows = [build(StoredObservation, all_rows[i][1:5]) for i in span if verdicts[i] is _STORED]
        if not rows:
            continue
        (reading_no, hub_id, serial, reading_id, kind, measured_at, source, received_at, from_memory, flags) = reading
        device_id, _kind_ok, _on_hub, patient_id, practice_id, _blocked = resolutions[reading_no]
        if device_id is None or patient_id is None or practice_id is None:
            # Rows are only inserted for fully resolved readings: a gap here is a defect, not an input.
            raise RuntimeError(f"stored reading {reading_id} has an incomplete resolution {resolutions[reading_no]}")
        fields = (reading_id, practice_id, patient_id, device_id, hub_id, serial, kind, measured_at, source)
        stored.append(build(StoredReading, (*fields, received_at, from_memory, tuple(flags or ()), tuple(rows))))
    return stored


def _truncate(payload: bytes) -> bytes:
    return payload[:DEAD_LETTER_PAYLOAD_LIMIT]


def _dead_letter(
    *,
    message: ParsedMessage,
    topic: str,
    received_at: datetime,
    reason: str,
    detail: str,
    payload: bytes,
    reading_id: str | None = None,
    device_serial: str | None = None,
    practice_id: str | None = None,
) -> DeadLetter:
    return DeadLetter(
        practice_id=practice_id,
        hub_id=message.hub_id,
        topic=topic,
        batch_id=message.batch_id,
        reading_id=reading_id,
        device_serial=device_serial,
        reason=reason,
        detail=detail,
        payload=_truncate(payload),
        payload_size=len(payload),
        payload_sha256=payload_digest(payload),
        received_at=received_at,
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a parsed message came from (what the dead-letter row records about it)."""

    topic: str
    payload: bytes
    received_at: datetime


def settle_batch(
    messages: Sequence[ParsedMessage],
    deliveries: Sequence[Delivery],
    plan: BatchPlan,
    verdicts: Mapping[int, RowVerdict],
) -> BatchResult:
    """Combine validation results and the database's row verdicts into acks and dead letters."""
    acks: list[ReadingsAck] = []
    dead: list[DeadLetter] = []
    accepted_n = duplicate_n = rejected_n = 0
    for m_index, (message, delivery) in enumerate(zip(messages, deliveries, strict=True)):
        accepted_ids: list[str] = []
        duplicate_ids: list[str] = []
        rejected_ids: list[RejectedId] = []
        if message.error is not None:
            reason = message.error.reason.value
            rejected_ids.extend(
                RejectedId(r.reading_id_text, reason) for r in message.rejected if r.reading_id_text is not None
            )
            rejected_n += len(message.rejected)
            dead.append(
                _dead_letter(
                    message=message,
                    topic=delivery.topic,
                    received_at=delivery.received_at,
                    reason=reason,
                    detail=message.error.detail,
                    payload=delivery.payload,
                )
            )
            acks.append(ReadingsAck(message.batch_id, rejected=rejected_ids, error=reason))
            continue
        for rejected in message.rejected:
            rejected_n += 1
            if rejected.reading_id_text is not None:
                rejected_ids.append(RejectedId(rejected.reading_id_text, rejected.rejection.reason.value))
            dead.append(
                _dead_letter(
                    message=message,
                    topic=delivery.topic,
                    received_at=delivery.received_at,
                    reason=rejected.rejection.reason.value,
                    detail=rejected.rejection.detail,
                    payload=canonical_json(rejected.raw),
                    reading_id=rejected.reading_id_text,
                    device_serial=rejected.device_serial,
                )
            )
        for r_index, accepted in enumerate(message.accepted):
            ref = (m_index, r_index)
            refusal: RowVerdict | None = None  # the first row verdict that is neither stored nor duplicate
            any_stored = False
            for row in plan.reading_rows[ref]:
                verdict = verdicts[row]
                if verdict.status is RowStatus.STORED:
                    any_stored = True
                elif verdict.status is not RowStatus.DUPLICATE:
                    refusal = verdict
                    break
            if refusal is not None:
                rejected_n += 1
                rejected_ids.append(RejectedId(accepted.reading_id_text, refusal.status.value))
                dead.append(
                    _dead_letter(
                        message=message,
                        topic=delivery.topic,
                        received_at=delivery.received_at,
                        reason=refusal.status.value,
                        detail=_refusal_detail(refusal.status),
                        payload=canonical_json(accepted.raw),
                        reading_id=accepted.reading_id_text,
                        device_serial=accepted.device_serial,
                        practice_id=refusal.practice_id,
                    )
                )
            elif any_stored and ref not in plan.repeats:
                accepted_n += 1
                accepted_ids.append(accepted.reading_id_text)
            else:
                duplicate_n += 1
                duplicate_ids.append(accepted.reading_id_text)
        acks.append(ReadingsAck(message.batch_id, accepted_ids, duplicate_ids, rejected_ids))
    stored_rows = sum(1 for v in verdicts.values() if v.status is RowStatus.STORED)
    return BatchResult(acks, dead, accepted_n, duplicate_n, rejected_n, stored_rows)


def _refusal_detail(status: RowStatus) -> str:
    return {
        RowStatus.UNKNOWN_DEVICE: "no device with this serial is registered",
        RowStatus.DEVICE_BLOCKED: "the device is blocked (reported lost or retired): its data is quarantined",
        RowStatus.DEVICE_NOT_ASSIGNED_TO_HUB: "the device was not assigned to the publishing hub at measured_at",
        RowStatus.DEVICE_NOT_ASSIGNED_TO_PATIENT: "the device was not assigned to any patient at measured_at",
        RowStatus.KIND_NOT_SUPPORTED_BY_DEVICE: "the registered device kind cannot produce this reading kind",
    }.get(status, status.value)
