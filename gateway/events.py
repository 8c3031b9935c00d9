"""Hub events (``up/events``, :class:`core.hub_messages.HubEvents`): recorded durably in the outbox
file, published in batches when connected and deleted once the broker has acknowledged them (QoS 1).

A ``frame_rejected`` event carries a garbage frame's bytes so the cloud can dead-letter it: it must
survive a restart like a reading does. Events that only repeat what will be seen again (device seen,
not whitelisted) are rate-limited at their source (:mod:`gateway.scanner`)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.hub_messages import MAX_EVENTS_PER_MESSAGE, HubEvent, HubEvents, HubEventType
from core.ids import uuid7
from gateway.outbox import Outbox

logger = logging.getLogger(__name__)


@dataclass
class EventLog:
    outbox: Outbox
    now: Callable[[], datetime]
    published: int = 0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def new(self, type_: HubEventType, **fields: Any) -> HubEvent:
        at = self.now()
        event_id = uuid7(int(at.timestamp() * 1000), os.urandom(10)).hex
        return HubEvent(event_id=event_id, type=type_, at=at, **fields)

    async def record(self, type_: HubEventType, **fields: Any) -> HubEvent:
        """Store one event durably and wake the sender."""
        event = self.new(type_, **fields)
        dropped = await asyncio.to_thread(self.outbox.add_events, [(event.event_id, event.to_json())])
        if dropped:
            logger.warning("event store full: oldest events dropped", extra={"dropped": dropped})
        logger.info("hub event", extra={"event": type_.value, "device_serial": fields.get("device_serial")})
        self._wake.set()
        return event

    async def publish_pending(self, publish: Callable[[bytes], Awaitable[None]], session: int) -> int:
        sent = 0
        while True:
            pending = await asyncio.to_thread(self.outbox.events, MAX_EVENTS_PER_MESSAGE)
            if not pending:
                return sent
            events = [HubEvent.model_validate_json(p.body) for p in pending]
            await publish(HubEvents(session=session, events=events).to_json())
            await asyncio.to_thread(self.outbox.delete_events, [p.seq for p in pending])
            sent += len(pending)
            self.published += len(pending)

    async def run_connected(self, publish: Callable[[bytes], Awaitable[None]], session: int) -> None:
        """Publish stored events until cancelled."""
        while True:
            self._wake.clear()
            await self.publish_pending(publish, session)
            await self._wake.wait()
