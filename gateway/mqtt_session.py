"""The hub's MQTT session, supervised: connect, announce, listen, reconnect with jittered backoff
(``reference/cellular-and-logistics.md`` §4.2; DESIGN.md §3).

On every connect: the session number persisted in the outbox file goes up by one and is carried by
the Last Will (``up/status`` ``lost``, retained) and the ``online`` status; the hub subscribes to its
``down/config/desired`` (retained: the broker sends the current config at once), ``down/readings/ack``
and ``down/cmd``, reports the configuration it runs, and the publisher and event sender drain their
backlog oldest first. A persistent session (MQTT 5, ``clean_start`` false, a session expiry) lets
acks and commands queue at the broker while the hub is briefly away. On a graceful stop the hub
publishes ``offline`` and disconnects (no Will)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.hub_messages import HubEventType, HubState, HubStatus
from core.topics import HubTopic, Topics
from gateway.backoff import backoff_delay_s
from gateway.commands import CommandRunner
from gateway.config import ConfigKeeper, ConfigOutcome
from gateway.events import EventLog
from gateway.outbox import Outbox
from gateway.publisher import Publisher
from ingest.wire import ReadingsAck

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LinkConfig:
    hub_id: str
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    topic_root: str = "carehub/v1"
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    firmware: str = "carehub-gateway"


class HubLink:
    def __init__(
        self,
        config: LinkConfig,
        outbox: Outbox,
        publisher: Publisher,
        events: EventLog,
        keeper: ConfigKeeper,
        *,
        now: Callable[[], datetime],
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._outbox = outbox
        self._publisher = publisher
        self._events = events
        self._keeper = keeper
        self._now = now
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._topics = Topics(config.topic_root)
        self._client: aiomqtt.Client | None = None
        self.commands: CommandRunner | None = None
        self.session = 0
        self.connected = asyncio.Event()
        self.connects = 0

    def topic(self, suffix: HubTopic) -> str:
        return self._topics.hub(self.config.hub_id, suffix)

    def _make_client(self, session: int) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self.topic(HubTopic.STATUS),
            HubStatus(state=HubState.LOST, session=session).to_json(),
            qos=1,
            retain=True,
        )
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.config.session_expiry_s
        return aiomqtt.Client(
            self.config.host,
            self.config.port,
            identifier=self.config.hub_id,
            username=self.config.username,
            password=self.config.password,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            will=will,
            keepalive=self.config.keepalive_s,
            max_queued_incoming_messages=1000,
            timeout=30,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the session up until ``stop``; logs once when the link goes down and once when it is back."""
        attempt = 0
        while not stop.is_set():
            try:
                await self._session(stop)
                attempt = 0
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                if attempt == 0:
                    logger.warning("mqtt link down", extra={"hub_id": self.config.hub_id, "error": str(exc)})
                attempt += 1
                delay = backoff_delay_s(
                    attempt,
                    min_s=self.config.reconnect_min_s,
                    max_s=self.config.reconnect_max_s,
                    jitter=self._rng.random(),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _publish(self, suffix: HubTopic, payload: bytes, *, retain: bool = False) -> None:
        if self._client is None:
            raise aiomqtt.MqttError("not connected")
        await self._client.publish(self.topic(suffix), payload, qos=1, retain=retain)

    async def publish_status(self) -> None:
        status = HubStatus(
            state=HubState.ONLINE,
            session=self.session,
            ts=self._now(),
            fw=self.config.firmware,
            config_version=self._keeper.version,
            outbox_depth=await asyncio.to_thread(self._outbox.depth),
        )
        await self._publish(HubTopic.STATUS, status.to_json(), retain=True)

    async def publish_reported(self) -> None:
        await self._publish(HubTopic.CONFIG_REPORTED, self._keeper.reported().to_json(), retain=True)

    async def rebirth(self) -> None:
        await self.publish_status()
        await self.publish_reported()

    async def _session(self, stop: asyncio.Event) -> None:
        self.session = await asyncio.to_thread(self._outbox.next_session)
        client = self._make_client(self.session)
        async with client:
            self._client = client
            self.connects += 1
            try:
                await self.publish_status()
                await client.subscribe(
                    [(self.topic(t), 1) for t in (HubTopic.CONFIG_DESIRED, HubTopic.READINGS_ACK, HubTopic.COMMAND)]
                )
                await self.publish_reported()
                logger.info("mqtt session up", extra={"hub_id": self.config.hub_id, "session": self.session})
                self.connected.set()
                await self._serve(client, stop)
                if stop.is_set():
                    offline = HubStatus(state=HubState.OFFLINE, session=self.session, ts=self._now())
                    await self._publish(HubTopic.STATUS, offline.to_json(), retain=True)
            finally:
                self.connected.clear()
                self._client = None

    async def _serve(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        def publisher(suffix: HubTopic) -> Callable[[bytes], Coroutine[Any, Any, None]]:
            async def publish(payload: bytes) -> None:
                await client.publish(self.topic(suffix), payload, qos=1)

            return publish

        tasks = [
            asyncio.create_task(self._read(client), name="mqtt-read"),
            asyncio.create_task(
                self._publisher.run_connected(publisher(HubTopic.READINGS), self.session), name="mqtt-readings"
            ),
            asyncio.create_task(
                self._events.run_connected(publisher(HubTopic.EVENTS), self.session), name="mqtt-events"
            ),
            asyncio.create_task(stop.wait(), name="mqtt-stop"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.get_name() != "mqtt-stop":
                    task.result()  # re-raises the connection error that ended it
                    raise aiomqtt.MqttError(f"{task.get_name()} ended")
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = bytes(message.payload)
            topic = str(message.topic)
            if topic == self.topic(HubTopic.READINGS_ACK):
                try:
                    ack = ReadingsAck.from_json(bytes(payload))
                except ValueError:
                    logger.warning("unreadable readings ack", extra={"hub_id": self.config.hub_id})
                    continue
                await self._publisher.on_ack(ack)
            elif topic == self.topic(HubTopic.CONFIG_DESIRED):
                await self._apply_config(bytes(payload))
            elif topic == self.topic(HubTopic.COMMAND) and self.commands is not None:
                result = await self.commands.handle(bytes(payload))
                if result is not None:
                    await self._publish(HubTopic.COMMAND_RESULT, result.to_json())

    async def _apply_config(self, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained message: keep running the applied configuration
        decision = self._keeper.apply(payload)  # on the loop: listeners touch loop-owned state
        if decision.outcome is ConfigOutcome.REJECTED:
            logger.warning("desired config rejected", extra={"hub_id": self.config.hub_id, "error": decision.error})
            await self._events.record(HubEventType.CONFIG_REJECTED, detail=decision.error)
        elif decision.outcome is ConfigOutcome.APPLIED:
            logger.info("desired config applied", extra={"hub_id": self.config.hub_id, "version": self._keeper.version})
        await self.publish_reported()
