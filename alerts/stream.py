"""The live alert stream for the dashboard: PostgreSQL LISTEN on :data:`alerts.store.STREAM_CHANNEL`
(notified inside the alert's transaction, so only committed changes are heard) turned into
server-sent events (HTML Living Standard §9.2, ``text/event-stream``).

Each event is ``event: alert`` with ``id:`` the alert event id (monotonic) and ``data:`` a JSON
summary of the alert: ids, rule, severity, status and the change. A comment line is sent every
``keepalive_s`` so proxies keep the connection open. Missed events after a disconnect are for the
client to fetch from the API's list endpoint (the stream is a notification, not the record)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql

from alerts.store import STREAM_CHANNEL

KEEPALIVE_S = 15.0


def format_event(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One SSE event; data is a single JSON line so it never needs multi-line framing."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'), default=str)}\n\n"


async def alert_events(database_url: str, practice_id: str, *, keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[str]:
    """SSE text for every committed alert change of one practice, until the consumer stops iterating."""
    async with (
        await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, application_name="carehub-alert-stream"
        ) as listener,
        await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, application_name="carehub-alert-stream-read"
        ) as reader,
    ):
        await listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(STREAM_CHANNEL)))
        yield ": connected\n\n"
        notifies = listener.notifies()
        while True:
            try:
                notify = await asyncio.wait_for(anext(notifies), timeout=keepalive_s)
            except TimeoutError:
                yield ": keepalive\n\n"
                continue
            change = json.loads(notify.payload)
            row = await (
                await reader.execute(
                    """SELECT a.id::text, a.practice_id::text, a.subject_kind, a.patient_id::text, a.device_id::text,
                              a.hub_id, a.category, a.rule_id, a.severity, a.status, a.opened_at,
                              (SELECT max(id) FROM alert_events e WHERE e.alert_id = a.id)
                         FROM alerts a WHERE a.id = %s AND a.practice_id = %s""",
                    (change["alert_id"], practice_id),
                )
            ).fetchone()
            if row is None:
                continue
            keys = ("alert_id", "practice_id", "subject_kind", "patient_id", "device_id", "hub_id", "category",
                    "rule_id", "severity", "status", "opened_at")  # fmt: skip
            data = dict(zip(keys, row[:11], strict=True))
            data["change"] = change["change"]
            data["published_at_ms"] = change.get("at_ms")
            yield format_event("alert", data, event_id=str(row[11]))
