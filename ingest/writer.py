"""The ingest transaction: one batch of validated messages in, one commit out.

Per batch: COPY every observation row into a per-connection temporary staging table, then one
statement resolves each row's device, checks the device kind, the hub assignment and the patient
assignment valid at ``measured_at``, inserts the eligible rows with ``ON CONFLICT DO NOTHING`` (the
``readings_once`` key makes a second row for the same device, metric and time impossible) and
returns every staged row's verdict. Dead letters for refused readings are written in the same
transaction, so a committed batch always has both its rows and its dead letters.

SQL here is built only from constants in this module, never from input."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from core.db import DatabaseUnavailable, connect
from core.errors import CarehubError
from ingest.batch import (
    STAGING_COLUMNS,
    BatchResult,
    DeadLetter,
    Delivery,
    RowStatus,
    RowVerdict,
    plan_batch,
    settle_batch,
)
from ingest.validation import ParsedMessage

logger = logging.getLogger(__name__)

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS ingest_staging (
    row_no              integer NOT NULL,
    hub_id              text NOT NULL,
    device_serial       text NOT NULL,
    reading_id          uuid NOT NULL,
    kind                text NOT NULL,
    metric              integer NOT NULL,
    value               double precision,
    special             text,
    unit                text NOT NULL,
    source_value        double precision,
    source_unit         text,
    measured_at         timestamptz NOT NULL,
    measured_at_source  text NOT NULL,
    received_at         timestamptz NOT NULL,
    from_device_memory  boolean NOT NULL,
    flags               text[]
) ON COMMIT DELETE ROWS
"""

_COPY_STAGING = f"COPY ingest_staging ({STAGING_COLUMNS}) FROM STDIN"

# The CASE order is the order of the checks: an unknown device before a wrong kind before a wrong
# hub before a missing patient; only a row that passes all of them can be stored or be a duplicate.
_CLASSIFY_AND_INSERT = """
WITH staged AS (
    SELECT st.*, d.id AS device_id, d.practice_id,
           EXISTS (SELECT 1 FROM device_kind_reading_kinds k
                    WHERE k.device_kind = d.kind AND k.reading_kind = st.kind) AS kind_ok,
           EXISTS (SELECT 1 FROM device_hub_assignments a
                    WHERE a.device_id = d.id AND a.hub_id = st.hub_id
                      AND a.valid_from <= st.measured_at
                      AND (a.valid_to IS NULL OR st.measured_at < a.valid_to)) AS on_hub,
           (SELECT a.patient_id FROM device_patient_assignments a
             WHERE a.device_id = d.id
               AND a.valid_from <= st.measured_at
               AND (a.valid_to IS NULL OR st.measured_at < a.valid_to)
             LIMIT 1) AS patient_id
      FROM ingest_staging st
      LEFT JOIN devices d ON d.serial = st.device_serial
),
inserted AS (
    INSERT INTO readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, special,
                          unit, source_value, source_unit, measured_at, measured_at_source, received_at,
                          from_device_memory, flags)
    SELECT practice_id, patient_id, device_id, hub_id, reading_id, metric, value, special,
           unit, source_value, source_unit, measured_at, measured_at_source, received_at,
           from_device_memory, flags
      FROM staged
     WHERE device_id IS NOT NULL AND kind_ok AND on_hub AND patient_id IS NOT NULL
     -- one global order of unique-key insertions, so concurrent workers cannot deadlock
     ORDER BY device_id, metric, measured_at
    ON CONFLICT (device_id, metric, measured_at) DO NOTHING
    RETURNING device_id, metric, measured_at
)
SELECT s.row_no,
       CASE WHEN s.device_id IS NULL THEN 'unknown_device'
            WHEN NOT s.kind_ok THEN 'kind_not_supported_by_device'
            WHEN NOT s.on_hub THEN 'device_not_assigned_to_hub'
            WHEN s.patient_id IS NULL THEN 'device_not_assigned_to_patient'
            WHEN i.device_id IS NOT NULL THEN 'stored'
            ELSE 'duplicate'
       END AS status,
       s.practice_id
  FROM staged s
  LEFT JOIN inserted i
    ON i.device_id = s.device_id AND i.metric = s.metric AND i.measured_at = s.measured_at
"""

_INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (practice_id, source, hub_id, topic, batch_id, reading_id, device_serial, reason,
                          detail, payload, payload_size, payload_sha256, received_at)
VALUES (%s, 'mqtt', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT DO NOTHING
"""


class StorageUnavailable(CarehubError):
    """The database could not be reached or the transaction was interrupted; retry the same batch."""


class StorageRejected(CarehubError):
    """The database refused the batch for a reason that retrying will not fix (a poison input)."""


def _dead_letter_params(d: DeadLetter) -> tuple[Any, ...]:
    return (
        d.practice_id,
        d.hub_id,
        d.topic,
        d.batch_id,
        d.reading_id,
        d.device_serial,
        d.reason,
        d.detail,
        d.payload,
        d.payload_size,
        d.payload_sha256,
        d.received_at,
    )


class ReadingWriter:
    """Owns one database connection (reconnecting after a failure) and writes batches on it."""

    def __init__(
        self,
        conninfo: str,
        *,
        application_name: str = "carehub-ingest",
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 30.0,
    ) -> None:
        self._conninfo = conninfo
        self._application_name = application_name
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_s = statement_timeout_s
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            try:
                conn = connect(
                    self._conninfo,
                    application_name=self._application_name,
                    connect_timeout_s=self._connect_timeout_s,
                    statement_timeout_s=self._statement_timeout_s,
                    autocommit=True,
                )
            except DatabaseUnavailable as exc:
                raise StorageUnavailable(str(exc)) from exc
            conn.execute(_STAGING_DDL)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ping(self) -> bool:
        try:
            self._connection().execute("SELECT 1")
        except (StorageUnavailable, psycopg.Error):
            self.close()
            return False
        return True

    def _run(self, work: str, fn: Any) -> Any:
        """Run ``fn(conn)`` in a transaction, converting psycopg errors into the two outcomes that
        matter to the caller: retry (StorageUnavailable) or isolate the input (StorageRejected)."""
        conn = self._connection()
        try:
            with conn.transaction():
                return fn(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # Connection lost, server shutting down, statement timeout, serialization failure or
            # deadlock: all transient. Drop the connection so the next attempt starts clean.
            self.close()
            raise StorageUnavailable(f"{work}: {type(exc).__name__}: {exc}".strip()) from exc
        except psycopg.Error as exc:
            raise StorageRejected(f"{work}: {type(exc).__name__}: {exc}".strip()) from exc

    def write(self, messages: Sequence[ParsedMessage], deliveries: Sequence[Delivery]) -> BatchResult:
        """Write one batch in one transaction and return its acks and counts."""
        plan = plan_batch(messages)

        def transaction(conn: psycopg.Connection[tuple[Any, ...]]) -> BatchResult:
            verdicts: dict[int, RowVerdict] = {}
            if plan.rows:
                with conn.cursor() as cur:
                    with cur.copy(_COPY_STAGING) as copy:
                        for row in plan.rows:
                            copy.write_row(row)
                    for row_no, status, practice_id in cur.execute(_CLASSIFY_AND_INSERT):
                        verdicts[row_no] = RowVerdict(RowStatus(status), practice_id)
            result = settle_batch(messages, deliveries, plan, verdicts)
            if result.dead_letters:
                with conn.cursor() as cur:
                    cur.executemany(_INSERT_DEAD_LETTER, [_dead_letter_params(d) for d in result.dead_letters])
            return result

        result: BatchResult = self._run("writing a readings batch", transaction)
        return result

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store dead letters on their own (a message the database refused as a whole)."""

        def transaction(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
            with conn.cursor() as cur:
                cur.executemany(_INSERT_DEAD_LETTER, [_dead_letter_params(d) for d in letters])

        self._run("writing dead letters", transaction)

    def ensure_partitions(self, now: datetime, *, back: timedelta, ahead: timedelta) -> int:
        """Make sure reading partitions exist from ``now - back`` to ``now + ahead``."""

        def transaction(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
            row = conn.execute("SELECT carehub_ensure_reading_partitions(%s, %s)", (now - back, now + ahead)).fetchone()
            return int(row[0]) if row else 0

        created: int = self._run("creating reading partitions", transaction)
        return created
