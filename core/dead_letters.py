"""Storing a hub message the cloud could not use in ``dead_letters`` (table in migration 0001).

Ingest writes its own dead letters in bulk inside the readings transaction (:mod:`ingest.writer`);
this is the one-row form for the other consumers of hub topics (presence and events in alerts/,
reported configuration in provisioning/), so a bad control-plane message is kept with its reason
instead of being logged and dropped. The same bad input arriving again adds no second row."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import psycopg

PAYLOAD_LIMIT_BYTES = 64 * 1024
DETAIL_LIMIT_CHARS = 2000


def store_hub_dead_letter(
    conn: psycopg.Connection[Any],
    *,
    hub_id: str | None,
    topic: str,
    reason: str,
    detail: str,
    payload: bytes,
    received_at: datetime,
    practice_id: str | None = None,
    device_serial: str | None = None,
) -> None:
    """One dead letter for an MQTT message (payload truncated past 64 KiB; full size and SHA-256 kept)."""
    store_dead_letter(conn, source="mqtt", hub_id=hub_id, topic=topic, reason=reason, detail=detail,
                      payload=payload, received_at=received_at, practice_id=practice_id,
                      device_serial=device_serial)  # fmt: skip


def store_dead_letter(
    conn: psycopg.Connection[Any],
    *,
    source: str,
    hub_id: str | None,
    topic: str,
    reason: str,
    detail: str,
    payload: bytes,
    received_at: datetime,
    practice_id: str | None = None,
    device_serial: str | None = None,
    batch_id: str | None = None,
) -> None:
    """One dead letter from ``source`` ('mqtt' or 'webhook'), as :func:`store_hub_dead_letter`."""
    conn.execute(
        """INSERT INTO dead_letters (practice_id, source, hub_id, topic, batch_id, device_serial, reason, detail,
               payload, payload_size, payload_sha256, received_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
        (practice_id, source, hub_id, topic[:1000], batch_id, device_serial, reason, detail[:DETAIL_LIMIT_CHARS],
         payload[:PAYLOAD_LIMIT_BYTES], len(payload), hashlib.sha256(payload).digest(), received_at),
    )  # fmt: skip
