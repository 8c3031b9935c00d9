"""Readings from cellular devices (vendor webhooks) through the same ingest path as hub readings.

A vendor record (:class:`drivers.vendors.VendorRecord`) becomes the same reading document a hub
publishes and is judged by the same :func:`ingest.validation.validate_reading` (metric, unit,
plausible range, clock skew and age), planned and settled by :mod:`ingest.batch`, staged into the same
temporary tables as :mod:`ingest.writer` and inserted with ``ON CONFLICT DO NOTHING`` on the
``readings_once`` key; the same hooks (alert evaluation, activation) run on the newly stored rows.

What differs for a device without a hub:
- the device is found by IMEI or serial **within the practice whose credential authenticated the
  webhook** (a credential of practice A can never write a reading for practice B's device);
- there is no hub assignment to check: the device must instead be registered with
  ``devices.connectivity = 'cellular'`` (a BLE device's serial arriving by webhook is refused as
  ``device_not_cellular``); the patient still comes from the time-bounded device↔patient
  assignment valid at ``measured_at`` (reference §0.7), and ``readings.hub_id`` stays NULL;
- the reading id is a UUIDv5 of the vendor's idempotency key (reference §1.9), so a resend, however
  re-signed or re-wrapped, is the same reading and is never stored twice;
- dead letters are written with ``source = 'webhook'``.

Runs on a connection the caller owns, inside the caller's transaction. SQL here is built only from
constants."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

import psycopg

from core.domain import METRICS
from drivers.vendors import MessageType, VendorRecord
from ingest.batch import BatchResult, Delivery, Resolution, plan_batch, row_verdicts, settle_batch, stored_readings
from ingest.hooks import StoredReadingsHook
from ingest.validation import AcceptedReading, ParsedMessage, RejectedReading, ValidationLimits, validate_reading
from ingest.writer import _INSERT_DEAD_LETTER, _STAGING_DDL, _dead_letter_params, run_hooks, stage

WEBHOOK_READING_NAMESPACE = UUID("5d0c7a8e-2f0b-5b7e-9a41-7c1e3f0d6b52")
"""Fixed forever: changing it would give every resent vendor reading a new id."""

HUBLESS = ""
"""Stands for "no hub" inside :mod:`ingest.batch` (whose plans key on a hub id); never stored."""

DEVICE_NOT_CELLULAR = "device_not_cellular"
_NOT_ON_HUB = "device_not_assigned_to_hub"

_INSERT_WEBHOOK_DEAD_LETTER = _INSERT_DEAD_LETTER.replace("'mqtt'", "'webhook'")
assert _INSERT_WEBHOOK_DEAD_LETTER != _INSERT_DEAD_LETTER

# ingest.writer's statement, with the device looked up by IMEI or serial inside the authenticated
# practice, "on a hub" replaced by "is a cellular device", and hub_id NULL.
_RESOLVE_AND_INSERT_HUBLESS = """
WITH resolved AS MATERIALIZED (
    SELECT r.reading_no, r.reading_id, r.measured_at, r.measured_at_source, r.received_at,
           r.from_device_memory, r.flags, d.id AS device_id, d.practice_id, d.blocked_at IS NOT NULL AS blocked,
           EXISTS (SELECT 1 FROM device_kind_reading_kinds k
                    WHERE k.device_kind = d.kind AND k.reading_kind = r.kind) AS kind_ok,
           d.connectivity = 'cellular' AS cellular,
           (SELECT a.patient_id FROM device_patient_assignments a
             WHERE a.device_id = d.id
               AND a.valid_from <= r.measured_at
               AND (a.valid_to IS NULL OR r.measured_at < a.valid_to)
             ORDER BY a.valid_from DESC
             LIMIT 1) AS patient_id
      FROM ingest_staged_readings r
      LEFT JOIN LATERAL (
          SELECT x.id, x.practice_id, x.kind, x.connectivity, x.blocked_at
            FROM devices x
           WHERE x.practice_id = %(practice_id)s AND (x.imei = r.device_serial OR x.serial = r.device_serial)
           ORDER BY x.imei = r.device_serial DESC NULLS LAST
           LIMIT 1
      ) d ON true
),
inserted AS (
    INSERT INTO readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, special,
                          unit, source_value, source_unit, measured_at, measured_at_source, received_at,
                          from_device_memory, flags)
    SELECT r.practice_id, r.patient_id, r.device_id, NULL, r.reading_id::uuid, o.metric, o.value, o.special,
           o.unit, o.source_value, o.source_unit, r.measured_at, r.measured_at_source, r.received_at,
           r.from_device_memory, r.flags
      FROM ingest_staged_observations o
      JOIN resolved r ON r.reading_no = o.reading_no
     WHERE r.device_id IS NOT NULL AND NOT r.blocked AND r.kind_ok AND r.cellular AND r.patient_id IS NOT NULL
     ORDER BY r.device_id, o.metric, r.measured_at
    ON CONFLICT (device_id, metric, measured_at) DO NOTHING
    RETURNING reading_id, metric, measured_at
)
SELECT reading_no, device_id::text, kind_ok, coalesce(cellular, false), patient_id::text, practice_id::text,
       coalesce(blocked, false), NULL::text, NULL::integer, NULL::timestamptz
  FROM resolved
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, reading_id::text, metric, measured_at
  FROM inserted
"""


def vendor_reading_id(idempotency_key: str) -> str:
    """The reading id of a vendor record: the same key (a resend) always gives the same id."""
    return str(uuid5(WEBHOOK_READING_NAMESPACE, idempotency_key))


def reading_document(record: VendorRecord, received_at: datetime) -> dict[str, Any]:
    """The record as the reading document hubs publish (``docs/wire-formats/mqtt.md``), in canonical
    units; the vendor's own value and unit are put back after validation (:func:`judge_records`)."""
    return {
        "reading_id": vendor_reading_id(record.idempotency_key),
        "device_serial": record.device_id,
        "kind": record.kind.value if record.kind is not None else None,
        "measured_at": record.measured_at,
        "measured_at_source": record.measured_at_source.value if record.measured_at_source is not None else None,
        "received_at": received_at,
        "from_device_memory": False,
        "observations": [
            {"code": o.metric.value, "unit": o.unit.value}
            | ({"special": o.special.value} if o.special is not None else {"value": float(o.value or 0.0)})
            for o in record.observations
        ],
        "flags": sorted(f.value for f in record.flags),
    }


def _with_vendor_source(accepted: AcceptedReading, record: VendorRecord) -> AcceptedReading:
    originals = {
        METRICS[o.metric].code: (o.source_value, o.source_unit.value)
        for o in record.observations
        if o.source_unit is not None
    }
    if not originals:
        return accepted
    rows = tuple(
        row._replace(source_value=originals[row.metric][0], source_unit=originals[row.metric][1])
        if row.metric in originals
        else row
        for row in accepted.observations
    )
    return accepted._replace(observations=rows)


def is_reading(record: VendorRecord) -> bool:
    """Heartbeats, status and test traffic are never readings (reference §0.6)."""
    return record.message is MessageType.READING and bool(record.observations)


def judge_records(
    records: Sequence[VendorRecord], *, batch_id: str, received_at: datetime, now: datetime, limits: ValidationLimits
) -> ParsedMessage:
    """Validate the reading records of one webhook body as one hub-less message."""
    accepted: list[AcceptedReading] = []
    rejected: list[RejectedReading] = []
    for record in records:
        if not is_reading(record):
            continue
        outcome = validate_reading(reading_document(record, received_at), now=now, limits=limits)
        if isinstance(outcome, AcceptedReading):
            accepted.append(_with_vendor_source(outcome, record))
        else:
            rejected.append(outcome)
    return ParsedMessage(HUBLESS, batch_id, tuple(accepted), tuple(rejected))


def write_cellular(
    conn: psycopg.Connection[Any],
    message: ParsedMessage,
    delivery: Delivery,
    *,
    practice_id: str,
    hooks: Sequence[StoredReadingsHook] = (),
) -> BatchResult:
    """Store one validated hub-less message in the caller's transaction: readings, hooks, dead letters."""
    plan = plan_batch([message])
    resolutions: dict[int, Resolution] = {}
    inserted: set[tuple[str, int, datetime]] = set()
    if plan.rows:
        conn.execute(_STAGING_DDL)
        with conn.cursor() as cur:
            stage(cur, plan)
            cur.execute(_RESOLVE_AND_INSERT_HUBLESS, {"practice_id": practice_id})
            for reading_no, device_id, kind_ok, cellular, patient_id, practice, blocked, rid, metric, at in cur:
                if reading_no is None:
                    inserted.add((rid, metric, at))
                else:
                    resolutions[reading_no] = Resolution(
                        device_id, bool(kind_ok), bool(cellular), patient_id, practice, bool(blocked)
                    )
    verdicts = row_verdicts(plan, resolutions, inserted)
    if inserted and hooks:
        stored = [r._replace(hub_id=None) for r in stored_readings(plan, resolutions, verdicts)]
        run_hooks(hooks, conn, stored)
    result = settle_batch([message], [delivery], plan, verdicts)
    letters = [
        dataclasses.replace(
            d,
            hub_id=None,
            reason=DEVICE_NOT_CELLULAR if d.reason == _NOT_ON_HUB else d.reason,
            detail="the device is not registered as a cellular device" if d.reason == _NOT_ON_HUB else d.detail,
        )
        for d in result.dead_letters
    ]
    if letters:
        with conn.cursor() as cur:
            cur.executemany(_INSERT_WEBHOOK_DEAD_LETTER, [_dead_letter_params(d) for d in letters])
    return dataclasses.replace(result, dead_letters=letters)
