"""Pure assembly of one ingest batch: the staging rows to write, duplicates inside the batch, and
(after the database has judged the rows) the ack for each message and the dead letters to store.

No I/O here; :mod:`ingest.writer` runs the transaction and :mod:`ingest.service` moves messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from core.domain import METRICS
from ingest.validation import ParsedMessage, RejectReason, canonical_json, payload_digest
from ingest.wire import ReadingsAck, RejectedId

DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024


class RowStatus(StrEnum):
    """The database's verdict on one staged observation row."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    UNKNOWN_DEVICE = RejectReason.UNKNOWN_DEVICE.value
    DEVICE_NOT_ASSIGNED_TO_HUB = RejectReason.DEVICE_NOT_ASSIGNED_TO_HUB.value
    DEVICE_NOT_ASSIGNED_TO_PATIENT = RejectReason.DEVICE_NOT_ASSIGNED_TO_PATIENT.value
    KIND_NOT_SUPPORTED_BY_DEVICE = RejectReason.KIND_NOT_SUPPORTED_BY_DEVICE.value


@dataclass(frozen=True, slots=True)
class RowVerdict:
    status: RowStatus
    practice_id: UUID | None


StagingRow = tuple[
    int,  # row_no
    str,  # hub_id
    str,  # device_serial
    UUID,  # reading_id
    str,  # kind
    int,  # metric (MDC code)
    float | None,  # value
    str | None,  # special
    str,  # unit
    float | None,  # source_value
    str | None,  # source_unit
    datetime,  # measured_at
    str,  # measured_at_source
    datetime,  # received_at
    bool,  # from_device_memory
    list[str] | None,  # flags
]

STAGING_COLUMNS = (
    "row_no, hub_id, device_serial, reading_id, kind, metric, value, special, unit, source_value, "
    "source_unit, measured_at, measured_at_source, received_at, from_device_memory, flags"
)


@dataclass(frozen=True, slots=True)
class ReadingRef:
    message: int
    reading: int


@dataclass
class BatchPlan:
    """Rows to stage, which reading each row belongs to, and rows that repeat an earlier row of the
    same batch (the same hub, device, metric and time: a resend inside one batch)."""

    rows: list[StagingRow] = field(default_factory=list)
    row_owner: list[ReadingRef] = field(default_factory=list)
    # reading -> its staged row numbers, or for an in-batch repeat the row numbers it repeats
    reading_rows: dict[ReadingRef, list[int]] = field(default_factory=dict)
    repeats: set[ReadingRef] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    practice_id: UUID | None
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
    first_row: dict[tuple[str, str, int, datetime], int] = {}
    for m_index, message in enumerate(messages):
        if message.error is not None or message.hub_id is None:
            continue
        for r_index, accepted in enumerate(message.accepted):
            ref = ReadingRef(m_index, r_index)
            reading = accepted.reading
            flags = sorted(reading.flags) or None
            rows_of_reading: list[int] = []
            repeated_rows: list[int] = []
            for obs in reading.observations:
                code = METRICS[obs.metric].code
                key = (message.hub_id, reading.device_serial, code, reading.measured_at)
                earlier = first_row.get(key)
                if earlier is not None:
                    repeated_rows.append(earlier)
                    continue
                row_no = len(plan.rows)
                first_row[key] = row_no
                plan.rows.append(
                    (
                        row_no,
                        message.hub_id,
                        reading.device_serial,
                        reading.reading_id,
                        reading.kind.value,
                        code,
                        obs.value,
                        obs.special.value if obs.special is not None else None,
                        obs.unit.value,
                        obs.source_value,
                        obs.source_unit.value if obs.source_unit is not None else None,
                        reading.measured_at,
                        reading.measured_at_source.value,
                        reading.received_at,
                        reading.from_device_memory,
                        flags,
                    )
                )
                plan.row_owner.append(ref)
                rows_of_reading.append(row_no)
            if rows_of_reading:
                plan.reading_rows[ref] = rows_of_reading
            else:
                plan.reading_rows[ref] = repeated_rows
                plan.repeats.add(ref)
    return plan


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
    practice_id: UUID | None = None,
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
            ref = ReadingRef(m_index, r_index)
            row_verdicts = [verdicts[row] for row in plan.reading_rows[ref]]
            refusal = next((v for v in row_verdicts if v.status not in (RowStatus.STORED, RowStatus.DUPLICATE)), None)
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
                        device_serial=accepted.reading.device_serial,
                        practice_id=refusal.practice_id,
                    )
                )
            elif ref not in plan.repeats and any(v.status is RowStatus.STORED for v in row_verdicts):
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
        RowStatus.DEVICE_NOT_ASSIGNED_TO_HUB: "the device was not assigned to the publishing hub at measured_at",
        RowStatus.DEVICE_NOT_ASSIGNED_TO_PATIENT: "the device was not assigned to any patient at measured_at",
        RowStatus.KIND_NOT_SUPPORTED_BY_DEVICE: "the registered device kind cannot produce this reading kind",
    }.get(status, status.value)
