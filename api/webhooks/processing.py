"""An authenticated envelope → readings, through the ingest path (:mod:`ingest.cellular`), in one
transaction with its dead letters and the envelope's outcome.

The body is split into independent parts before decoding (a Tenovi array into its measurements, by
the §1.9 key; a Withings list into its measure groups), so one part the decoder refuses is
dead-lettered with its reason while the other parts still land. Undecodable parts and refused readings
go to ``dead_letters`` with ``source = 'webhook'``; heartbeats, status and test messages are counted in
the outcome and never stored as readings (reference §0.6). Battery, signal and proof of life of every
record but test traffic go to ``device_telemetry`` (:mod:`api.webhooks.telemetry`)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from api.webhooks import telemetry
from api.webhooks.repository import Envelope, mark_processed
from core.dead_letters import store_dead_letter
from drivers.errors import DecodeError
from drivers.vendors import VENDORS, VendorRecord
from drivers.vendors.payload import parse_json
from ingest.batch import Delivery
from ingest.cellular import is_reading, judge_records, vendor_reading_id, write_cellular
from ingest.hooks import StoredReadingsHook
from ingest.validation import ValidationLimits

logger = logging.getLogger(__name__)

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class Outcome:
    """What one envelope produced (stored on the envelope, summarised in the response)."""

    decoded_parts: int = 0
    undecodable_parts: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    not_readings: dict[str, int] = field(default_factory=dict)
    telemetry: int = 0
    """Records whose battery, signal or proof of life went into ``device_telemetry``."""
    telemetry_error: str | None = None
    """Why the database refused this envelope's telemetry (its readings still landed)."""
    carrier_events: dict[str, int] = field(default_factory=dict)
    """Carrier tracking webhooks (:mod:`api.webhooks.carriers`): applied, duplicate, no_shipment, ignored..."""
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def undecodable(self) -> bool:
        """Nothing in the body could be decoded (the response says 422)."""
        return self.decoded_parts == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "decoded_parts": self.decoded_parts,
            "undecodable_parts": self.undecodable_parts,
            "readings_stored": self.readings_stored,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "not_readings": self.not_readings,
            "telemetry": self.telemetry,
            "telemetry_error": self.telemetry_error,
            "carrier_events": self.carrier_events,
            "records": self.records,
        }


def reason_of(exc: DecodeError) -> str:
    """``UnknownVendorField`` → ``unknown_vendor_field`` (a dead-letter reason)."""
    return _SNAKE.sub("_", type(exc).__name__).lower()


def split_parts(vendor: str, document: Any) -> list[Any]:
    """The independent parts of a parsed body, each decodable on its own."""
    if vendor == "withings":
        if isinstance(document, dict) and isinstance(document.get("measuregrps"), list):
            document = document["measuregrps"]
        return list(document) if isinstance(document, list) and document else [document]
    if vendor == "tenovi" and isinstance(document, list) and document:
        groups: dict[str, list[Any]] = {}
        for element in document:
            key = _tenovi_key(element)
            groups.setdefault(key, []).append(element)
        return list(groups.values())
    return [document]


def _tenovi_key(element: Any) -> str:
    if not isinstance(element, dict):
        return f"invalid:{id(element)}"
    params = element.get("filter_params")
    index = params.get("measurement_index", "") if isinstance(params, dict) else ""
    return json.dumps([element.get("hwi_device_id"), element.get("timestamp"), index], default=str)


def _canonical(part: Any) -> bytes:
    return json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode()


def decode_parts(conn: psycopg.Connection[Any], envelope: Envelope, outcome: Outcome) -> list[VendorRecord]:
    """Every record the body's parts decode to; each part that does not decode is dead-lettered."""
    topic = f"webhooks/{envelope.vendor}"
    decoder = VENDORS[envelope.vendor]
    try:
        document = parse_json(envelope.body)
    except DecodeError as exc:
        outcome.undecodable_parts += 1
        dead_letter(conn, envelope, topic, reason_of(exc), exc.reason, envelope.body)
        return []
    records: list[VendorRecord] = []
    for part in split_parts(envelope.vendor, document):
        try:
            records.extend(decoder(part).records)
        except DecodeError as exc:
            outcome.undecodable_parts += 1
            dead_letter(conn, envelope, topic, reason_of(exc), exc.reason, _canonical(part))
        except RecursionError:
            outcome.undecodable_parts += 1
            dead_letter(conn, envelope, topic, "malformed_value", "nested too deeply", envelope.body)
        else:
            outcome.decoded_parts += 1
    return records


def dead_letter(
    conn: psycopg.Connection[Any], envelope: Envelope, topic: str, reason: str, detail: str, payload: bytes
) -> None:
    store_dead_letter(
        conn,
        source="webhook",
        hub_id=None,
        topic=topic,
        reason=reason,
        detail=detail,
        payload=payload,
        received_at=envelope.received_at,
        practice_id=str(envelope.practice_id),
        batch_id=f"envelope:{envelope.id}",
    )


def process(
    conn: psycopg.Connection[Any],
    envelope: Envelope,
    *,
    now: datetime,
    limits: ValidationLimits,
    hooks: Sequence[StoredReadingsHook],
) -> Outcome:
    """Normalise and store one envelope in the caller's transaction, and mark it processed at ``now``."""
    outcome = Outcome()
    records = decode_parts(conn, envelope, outcome)
    message = judge_records(
        records,
        batch_id=f"envelope:{envelope.id}",
        received_at=envelope.received_at,
        # judged against when we received it, not when it is (re)processed: a reading that was in
        # time when it arrived stays in time however long the envelope waited for the sweeper
        now=envelope.received_at,
        limits=limits,
    )
    delivery = Delivery(f"webhooks/{envelope.vendor}", envelope.body, envelope.received_at)
    result = write_cellular(conn, message, delivery, practice_id=str(envelope.practice_id), hooks=hooks)
    outcome.readings_stored, outcome.duplicates, outcome.rejected = result.accepted, result.duplicates, result.rejected
    try:
        with conn.transaction():  # a savepoint: telemetry the database refuses never costs the readings
            outcome.telemetry = telemetry.record_all(
                conn, envelope.vendor, str(envelope.practice_id), records, envelope.received_at
            )
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        outcome.telemetry_error = f"{type(exc).__name__}: {exc}"[:500]
        logger.warning(
            "device telemetry refused; readings kept", extra={"envelope_id": envelope.id, "error": type(exc).__name__}
        )
    ack = result.acks[0]
    status = dict.fromkeys(ack.accepted, "stored") | dict.fromkeys(ack.duplicate, "duplicate")
    status |= {r.reading_id: r.reason for r in ack.rejected}
    for record in records:
        if not is_reading(record):
            outcome.not_readings[record.message.value] = outcome.not_readings.get(record.message.value, 0) + 1
            continue
        reading_id = vendor_reading_id(record.idempotency_key)
        outcome.records.append(
            {
                "key": record.idempotency_key,
                "reading_id": reading_id,
                "status": status.get(reading_id, "rejected"),
                "measured_at_source": record.measured_at_source,
                "tz_offset_min": record.tz_offset_min,
                "vendor_received_at": record.vendor_received_at,
            }
        )
    mark_processed(conn, envelope.id, outcome.as_json(), now)
    return outcome
