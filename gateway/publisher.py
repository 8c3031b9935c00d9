"""Drains the outbox to ``up/readings``: oldest first, in batches, a bounded window of batches in
flight, and nothing deleted until ``down/readings/ack`` confirms it (DESIGN.md §2, §3).

A batch whose ack has not arrived after ``ack_timeout_s`` is published again (its still-pending
readings, under a new batch id, with the same reading ids); a new MQTT connection resends
everything unacknowledged, because acks of the old connection may be lost. Duplicates are the
cloud's to drop: QoS 1 and resends make them normal.

The window (``window_batches``) paces QoS 1 publishing to what the broker and ingest absorb instead of
flooding the client's in-flight queue after a long outage (DESIGN.md §9)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.ids import uuid7
from gateway.outbox import Outbox, PendingReading
from ingest.wire import ReadingsAck

logger = logging.getLogger(__name__)

Publish = Callable[[bytes], Awaitable[None]]


@dataclass(slots=True)
class _Batch:
    batch_id: str
    reading_ids: set[str]
    sent_at: float


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    max_batch: int = 50
    window_batches: int = 4
    ack_timeout_s: float = 30.0


def expired_batches(batches: dict[str, _Batch], now: float, timeout_s: float) -> list[str]:
    """Batch ids whose ack is overdue, oldest first."""
    overdue = [b for b in batches.values() if now - b.sent_at >= timeout_s]
    return [b.batch_id for b in sorted(overdue, key=lambda b: b.sent_at)]


@dataclass
class PublisherStats:
    batches_published: int = 0
    readings_published: int = 0
    resent_batches: int = 0
    acks: int = 0
    acknowledged: int = 0


@dataclass
class Publisher:
    outbox: Outbox
    config: PublisherConfig
    monotonic: Callable[[], float]
    now: Callable[[], datetime]
    stats: PublisherStats = field(default_factory=PublisherStats)
    _batches: dict[str, _Batch] = field(default_factory=dict)
    _batch_of: dict[str, str] = field(default_factory=dict)
    _cursor: int = 0
    _seq: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def kick(self) -> None:
        """New readings are in the outbox (or the cloud asked for a resend)."""
        self._wake.set()

    def forget_in_flight(self) -> None:
        """A new connection: everything unacknowledged goes out again from the start."""
        self._batches.clear()
        self._batch_of.clear()
        self._cursor = 0
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._batch_of)

    async def on_ack(self, ack: ReadingsAck) -> int:
        """Delete what ``ack`` settles from the outbox; returns how many readings that was."""
        ids = ack.settled_ids()
        self.stats.acks += 1
        if ack.error is not None:
            logger.warning("the cloud could not process a batch", extra={"batch_id": ack.batch_id, "error": ack.error})
        done = await asyncio.to_thread(self.outbox.acknowledge, ids, now=self.now())
        self.stats.acknowledged += done
        for rid in ids:
            batch_id = self._batch_of.pop(rid, None)
            if batch_id is None:
                continue
            batch = self._batches.get(batch_id)
            if batch is not None:
                batch.reading_ids.discard(rid)
                if not batch.reading_ids:
                    del self._batches[batch_id]
        self._wake.set()
        return done

    def _batch_id(self) -> str:
        return uuid7(int(self.now().timestamp() * 1000), os.urandom(10)).hex

    def _envelope(self, batch_id: str, session: int, readings: list[PendingReading]) -> bytes:
        self._seq += 1
        sent_at = self.now().astimezone(UTC).isoformat().replace("+00:00", "Z")
        head = {"v": 1, "batch_id": batch_id, "session": session, "seq": self._seq, "sent_at": sent_at}
        # The stored reading bodies are already JSON: splice them in rather than parse and re-dump.
        return (
            json.dumps(head, separators=(",", ":"))[:-1].encode()
            + b',"readings":['
            + b",".join(r.body for r in readings)
            + b"]}"
        )

    async def _send(self, publish: Publish, session: int, readings: list[PendingReading]) -> None:
        batch_id = self._batch_id()
        payload = self._envelope(batch_id, session, readings)
        # Recorded before publishing: an ack can arrive before publish() returns.
        batch = _Batch(batch_id, {r.reading_id for r in readings}, self.monotonic())
        self._batches[batch_id] = batch
        for r in readings:
            old = self._batch_of.get(r.reading_id)
            if old is not None and old in self._batches:
                self._batches[old].reading_ids.discard(r.reading_id)
                if not self._batches[old].reading_ids:
                    del self._batches[old]
            self._batch_of[r.reading_id] = batch_id
        await publish(payload)
        self.stats.batches_published += 1
        self.stats.readings_published += len(readings)

    async def publish_due(self, publish: Publish, session: int) -> None:
        """One round: resend overdue batches, then fill the window with the oldest unsent readings."""
        for batch_id in expired_batches(self._batches, self.monotonic(), self.config.ack_timeout_s):
            batch = self._batches.pop(batch_id, None)
            if batch is None:
                continue
            again = await asyncio.to_thread(self.outbox.pending_ids, batch.reading_ids)
            for rid in batch.reading_ids:
                self._batch_of.pop(rid, None)
            if again:
                self.stats.resent_batches += 1
                logger.info("resending an unacknowledged batch", extra={"batch_id": batch_id, "readings": len(again)})
                await self._send(publish, session, again)
        while len(self._batches) < self.config.window_batches:
            fresh = await asyncio.to_thread(self.outbox.pending, after_seq=self._cursor, limit=self.config.max_batch)
            fresh = [r for r in fresh if r.reading_id not in self._batch_of]
            if not fresh:
                return
            self._cursor = fresh[-1].seq
            await self._send(publish, session, fresh)

    def _next_deadline_s(self) -> float:
        if not self._batches:
            return self.config.ack_timeout_s
        oldest = min(b.sent_at for b in self._batches.values())
        return max(0.01, oldest + self.config.ack_timeout_s - self.monotonic())

    async def run_connected(self, publish: Publish, session: int) -> None:
        """Publish until cancelled (the connection owner cancels it when the link drops)."""
        self.forget_in_flight()
        while True:
            self._wake.clear()
            await self.publish_due(publish, session)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_deadline_s())
