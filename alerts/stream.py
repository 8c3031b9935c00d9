"""The live alert stream for the dashboard: PostgreSQL LISTEN on :data:`alerts.store.STREAM_CHANNEL`
(notified inside the alert's transaction, so only committed changes are heard) turned into
server-sent events (HTML Living Standard §9.2, ``text/event-stream``).

Each event is ``event: alert`` with ``id:`` the alert event id (monotonic) and ``data:`` a JSON
summary of the alert: ids, rule, severity, status and the change. A comment line is sent every
``keepalive_s`` so proxies keep the connection open.

Resume: a client that reconnects with ``Last-Event-ID`` (browsers' ``EventSource`` send it by
themselves) first gets every alert event of its practice after that id from ``alert_events``, in id
order and marked ``"replayed": true`` (with the alert's current severity and status), then the live
stream. LISTEN starts before the replay is read, so nothing committed in between is lost, and a live
notice for an event already replayed is not sent twice. After more than :data:`REPLAY_MAX_EVENTS`
missed events the client is told to reload (``event: reset``) instead of being flooded."""

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


REPLAY_MAX_EVENTS = 1000

_SUMMARY = """a.id::text, a.practice_id::text, a.subject_kind, a.patient_id::text, a.device_id::text, a.hub_id,
              a.category, a.rule_id, a.severity, a.status, a.opened_at"""
_KEYS = ("alert_id", "practice_id", "subject_kind", "patient_id", "device_id", "hub_id", "category", "rule_id",
         "severity", "status", "opened_at")  # fmt: skip


async def alert_events(
    database_url: str, practice_id: str, *, keepalive_s: float = KEEPALIVE_S, last_event_id: int | None = None
) -> AsyncIterator[str]:
    """SSE text for every committed alert change of one practice, until the consumer stops iterating;
    with ``last_event_id``, the practice's alert events after it first (see the module docstring)."""
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
        replayed: set[int] = set()
        if last_event_id is not None:
            rows = await (
                await reader.execute(
                    f"""SELECT e.id, e.kind, {_SUMMARY}
                          FROM alert_events e JOIN alerts a ON a.id = e.alert_id
                         WHERE e.practice_id = %s AND e.id > %s
                         ORDER BY e.id LIMIT %s""",
                    (practice_id, last_event_id, REPLAY_MAX_EVENTS + 1),
                )
            ).fetchall()
            if len(rows) > REPLAY_MAX_EVENTS:
                yield format_event("reset", {"reason": "too many missed alert events: reload the alert list"})
                rows = []
            for event_id, kind, *summary in rows:
                data = dict(zip(_KEYS, summary, strict=True)) | {"change": kind, "replayed": True}
                replayed.add(event_id)
                yield format_event("alert", data, event_id=str(event_id))
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
                    f"""SELECT {_SUMMARY}, (SELECT max(id) FROM alert_events e WHERE e.alert_id = a.id)
                         FROM alerts a WHERE a.id = %s AND a.practice_id = %s""",
                    (change["alert_id"], practice_id),
                )
            ).fetchone()
            if row is None or row[11] in replayed:
                continue
            data = dict(zip(_KEYS, row[:11], strict=True))
            data["change"] = change["change"]
            data["published_at_ms"] = change.get("at_ms")
            yield format_event("alert", data, event_id=str(row[11]))
