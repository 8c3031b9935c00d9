"""Simulated hubs on MQTT: each publishes its readings like a real hub (DESIGN.md §3) and keeps
every reading until ``down/readings/ack`` confirms it, resending after a timeout.

One asyncio loop runs many hubs, each with its own aiomqtt client: username and client id are the
hub id, a persistent session (acks queue while the hub is away), ``up/status`` online (retained)
with a session number, and the Last Will ``lost``. Hubs may drop off the network for a while
(``outage_per_hour``), pile readings up, and flush the backlog in batches on return, as real hubs do
after a Wi-Fi outage. Counting is by acknowledged publishes, never by attempts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import numpy as np
from paho.mqtt.client import MQTT_CLEAN_START_FIRST_ONLY
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.topics import HubTopic, Topics
from firmware_sim.hub_model import FaultMix, HubModel, SimHub, Wire

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HubSimSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    topic_root: str = "carehub/v1"
    protocol: str = "5"
    readings_per_s: float = 20.0
    """Fleet-wide rate of new readings (spread evenly over the hubs)."""
    max_batch: int = 50
    ack_timeout_s: float = 10.0
    outage_per_hour: float = 0.0
    """Chance per hub per hour of dropping off the network for ``outage_s``."""
    outage_s: float = 20.0
    faults: FaultMix = field(default_factory=FaultMix)
    seed: int = 1
    session_expiry_s: int = 3600


@dataclass
class FleetStats:
    published_ids: set[str] = field(default_factory=set)
    messages_published: int = 0
    resends: int = 0
    acks_received: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    outages: int = 0
    pending: int = 0

    @property
    def readings_published(self) -> int:
        return len(self.published_ids)

    def snapshot(self) -> dict[str, int]:
        return {
            "readings_published": self.readings_published,
            "messages_published": self.messages_published,
            "resends": self.resends,
            "acked_accepted": self.accepted,
            "acked_duplicate": self.duplicate,
            "acked_rejected": self.rejected,
            "pending": self.pending,
            "outages": self.outages,
        }


def utc_now() -> datetime:
    return datetime.now(UTC)


class SimulatedHub:
    def __init__(
        self,
        model: HubModel,
        settings: HubSimSettings,
        stats: FleetStats,
        *,
        hub_count: int = 1,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.model = model
        self._hub_count = hub_count
        self.hub: SimHub = model.hub
        self._settings = settings
        self._stats = stats
        self._clock = clock
        self._topics = Topics(settings.topic_root)
        self._rng = model.rng
        self._pending: dict[str, Wire] = {}  # unacknowledged readings, oldest first
        self._sent_at: dict[str, float] = {}  # reading id -> when it was last published
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _topic(self, suffix: HubTopic) -> str:
        return self._topics.hub(self.hub.hub_id, suffix)

    def _client(self) -> aiomqtt.Client:
        v5 = self._settings.protocol == "5"
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.session_expiry_s
        will = aiomqtt.Will(
            self._topic(HubTopic.STATUS),
            json.dumps({"state": "lost", "session": self.model.session}),
            qos=1,
            retain=True,
        )
        return aiomqtt.Client(
            self._settings.host,
            self._settings.port,
            identifier=self.hub.hub_id,
            username=self.hub.hub_id,
            password=self.hub.password,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else False,
            clean_start=False if v5 else MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            will=will,
            keepalive=30,
            max_queued_incoming_messages=1000,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Produce readings and keep a connection up until ``stop``; reconnect with backoff."""
        producer = asyncio.create_task(self._produce(stop), name=f"produce-{self.hub.hub_id}")
        attempt = 0
        try:
            while not stop.is_set():
                try:
                    await self._connected_session(stop)
                    attempt = 0
                except aiomqtt.MqttError as exc:
                    attempt += 1
                    delay = min(10.0, 0.2 * 2**attempt) * (0.5 + self._rng.random())
                    logger.debug("hub connection failed", extra={"hub_id": self.hub.hub_id, "error": str(exc)})
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
        finally:
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _connected_session(self, stop: asyncio.Event) -> None:
        self.model.session += 1
        async with self._client() as client:
            await client.publish(
                self._topic(HubTopic.STATUS),
                json.dumps({"state": "online", "session": self.model.session, "ts": self._clock().isoformat()}),
                qos=1,
                retain=True,
            )
            await client.subscribe(self._topic(HubTopic.READINGS_ACK), qos=1)
            # Everything unacknowledged is resent on a new connection (the old acks may be lost).
            self._sent_at.clear()
            self._wake.set()
            reader = asyncio.create_task(self._read_acks(client), name=f"acks-{self.hub.hub_id}")
            try:
                outage_at = self._next_outage()
                while not stop.is_set():
                    await self._publish_due(client)
                    timeout = min(1.0, max(0.01, outage_at - time.monotonic()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout)
                    self._wake.clear()
                    if reader.done():
                        reader.result()  # re-raise the connection error
                    if time.monotonic() >= outage_at:
                        self._stats.outages += 1
                        break
                else:
                    await self._drain(client, stop_deadline_s=5.0)
                    await client.publish(
                        self._topic(HubTopic.STATUS),
                        json.dumps({"state": "offline", "session": self.model.session}),
                        qos=1,
                        retain=True,
                    )
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader
        if not stop.is_set():  # an outage: stay away for a while, readings pile up meanwhile
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.outage_s)

    def _next_outage(self) -> float:
        rate = self._settings.outage_per_hour
        if rate <= 0:
            return float("inf")
        return time.monotonic() + float(self._rng.exponential(3600.0 / rate))

    async def _drain(self, client: aiomqtt.Client, stop_deadline_s: float) -> None:
        """On a graceful stop, give outstanding readings a moment to be acknowledged."""
        deadline = time.monotonic() + stop_deadline_s
        while self._pending and time.monotonic() < deadline:
            await self._publish_due(client)
            await asyncio.sleep(0.05)

    async def _publish_due(self, client: aiomqtt.Client) -> None:
        now = time.monotonic()
        due = [
            rid
            for rid in self._pending
            if rid not in self._sent_at or now - self._sent_at[rid] >= self._settings.ack_timeout_s
        ]
        for start in range(0, len(due), self._settings.max_batch):
            chunk = due[start : start + self._settings.max_batch]
            resend = any(rid in self._sent_at for rid in chunk)
            readings = [self._pending[rid] for rid in chunk]
            envelope = self.model.envelope(readings, self._clock())
            await client.publish(self._topic(HubTopic.READINGS), json.dumps(envelope), qos=1)
            sent = time.monotonic()
            for rid in chunk:
                self._sent_at[rid] = sent
                self._stats.published_ids.add(rid)
            self._stats.messages_published += 1
            self._stats.resends += int(resend)

    async def _read_acks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                ack = json.loads(message.payload)
            except json.JSONDecodeError:
                logger.warning("unreadable ack", extra={"hub_id": self.hub.hub_id})
                continue
            self._apply_ack(ack)

    def _apply_ack(self, ack: dict[str, Any]) -> None:
        self._stats.acks_received += 1
        for key in ("accepted", "duplicate"):
            for rid in ack.get(key, []):
                if self._pending.pop(rid, None) is not None:
                    self._sent_at.pop(rid, None)
                    self._stats.pending -= 1
                    if key == "accepted":
                        self._stats.accepted += 1
                    else:
                        self._stats.duplicate += 1
        for item in ack.get("rejected", []):
            rid = item.get("reading_id") if isinstance(item, dict) else None
            if rid is not None and self._pending.pop(rid, None) is not None:
                self._sent_at.pop(rid, None)
                self._stats.pending -= 1
                self._stats.rejected += 1

    async def _produce(self, stop: asyncio.Event) -> None:
        """New readings at this hub's share of the fleet rate, 1-3 per message as measured live."""
        per_hub_rate = self._settings.readings_per_s / max(1, self._hub_count)
        while not stop.is_set():
            count = int(self._rng.choice([1, 1, 1, 2, 2, 3]))
            wait = float(self._rng.exponential(count / per_hub_rate)) if per_hub_rate > 0 else 3600.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                return
            for reading in self.model.readings(self._clock(), count):
                self._pending[reading["reading_id"]] = reading
                self._stats.pending += 1
            self._wake.set()


async def run_fleet(
    hubs: Sequence[SimHub],
    settings: HubSimSettings,
    stop: asyncio.Event,
    *,
    stats: FleetStats | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FleetStats:
    """Run every hub until ``stop`` is set; returns the fleet's counters."""
    stats = stats or FleetStats()
    seeds = np.random.SeedSequence(settings.seed).spawn(len(hubs))
    simulated = []
    for hub, seed in zip(hubs, seeds, strict=True):
        model = HubModel(hub, np.random.default_rng(seed), settings.faults)
        simulated.append(SimulatedHub(model, settings, stats, hub_count=len(hubs), clock=clock))
    tasks = [asyncio.create_task(sim.run(stop), name=f"hub-{sim.hub.hub_id}") for sim in simulated]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    return stats
