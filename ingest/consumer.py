"""The MQTT side of ingest: a paho-mqtt 2.x client with manual acknowledgement.

- MQTT 5 shared subscription ``$share/<group>/<root>/hub/+/up/readings`` at QoS 1, a persistent
  session (clean start off, bounded session expiry) under a stable client id per worker.
- ``manual_ack=True``: a message is acknowledged only when :meth:`ack` is called, after its database
  commit. Receive Maximum asks the broker to hold back while that many wait for an ack, but
  Mosquitto 2.0 does not apply it to shared subscriptions; the bounded inbox does the rest: when it
  is full the network thread waits, stops reading the socket, and TCP holds the broker back.
- Every (re)connection starts a new *generation*. After a reconnect the broker redelivers what was
  not acknowledged, possibly under the same packet ids, so a message from an earlier generation is
  never acknowledged on the new connection (its redelivery is acknowledged instead). The
  application-level ack to the hub is idempotent and always sent.

paho runs its network loop on its own thread; callbacks only enqueue and update state."""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.mqtt_client import BulkClient, shutdown_socket
from core.topics import HubTopic, Topics
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.validation import ParsedMessage

logger = logging.getLogger(__name__)


class InboundMessage(NamedTuple):  # one per message: a NamedTuple is built several times faster
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: datetime
    received_monotonic: float
    parsed: ParsedMessage


Parse = Callable[[str, bytes, datetime], ParsedMessage]


class MqttConsumer:
    def __init__(
        self,
        settings: IngestSettings,
        metrics: IngestMetrics,
        inbox: queue.Queue[InboundMessage],
        *,
        parse: Parse,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._parse = parse
        self._metrics = metrics
        self._inbox = inbox
        self._clock = clock
        self._monotonic = monotonic
        self._topics = Topics(settings.mqtt_topic_root)
        self._lock = threading.Lock()
        self._generation = 0
        self._connected = False
        self._subscribed = False
        self.client_id = f"carehub-ingest-{settings.ingest_worker_id}"
        v5 = settings.mqtt_protocol == "5"
        self._v5 = v5
        self._client = BulkClient(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self._client.username_pw_set(settings.mqtt_username, password)
        self._client.reconnect_delay_set(
            min_delay=max(1, round(settings.mqtt_reconnect_min_s)), max_delay=round(settings.mqtt_reconnect_max_s)
        )
        # Outgoing acks to hubs. paho's own in-flight window rescans every queued message on each
        # PUBACK (quadratic under load) and ignores the broker's Receive Maximum, so it is off and
        # the window is kept here: publishes beyond it wait in a deque that the PUBACK callback
        # drains. Neither thread ever blocks on the other (the writer must not wait for the network
        # thread, which may itself be waiting for room in the inbox).
        self._client.max_inflight_messages_set(0)
        self._client.max_queued_messages_set(0)
        self._outstanding = 0
        self._outstanding_limit = max(1, settings.ingest_ack_inflight_max)
        self._waiting: collections.deque[tuple[str, bytes]] = collections.deque()
        self._publish_lock = threading.Lock()
        self._client.on_publish = self._on_publish
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    @property
    def subscription(self) -> str:
        topic_filter = self._topics.all_hubs(HubTopic.READINGS)
        group = self._settings.ingest_shared_group
        if group and self._v5:
            return self._topics.shared(group, topic_filter)
        return topic_filter

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._connected and self._subscribed

    def start(self) -> None:
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.ingest_session_expiry_s
            properties.ReceiveMaximum = self._settings.ingest_receive_maximum
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=self._settings.mqtt_keepalive_s,
            clean_start=False if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Give the last acks a moment to reach the broker, then disconnect (the session stays)."""
        deadline = self._monotonic() + timeout_s
        while self.unsent and self._monotonic() < deadline and self.ready:
            threading.Event().wait(0.02)
        self._client.disconnect()
        self._client.loop_stop()

    def reconnect(self) -> None:
        """Break the connection; paho's own thread notices and reconnects with the persistent
        session, and the broker resends every message this worker has not acknowledged."""
        shutdown_socket(self._client)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 now, or as soon as the in-flight window has room; never blocks."""
        with self._publish_lock:
            if self._outstanding >= self._outstanding_limit:
                self._waiting.append((topic, payload))
                return
            self._outstanding += 1
        self._client.publish(topic, payload, qos=1)

    @property
    def unsent(self) -> int:
        """Acks published but not yet confirmed by the broker, or waiting for the window."""
        with self._publish_lock:
            return self._outstanding + len(self._waiting)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        with self._publish_lock:
            self._outstanding = max(0, self._outstanding - 1)
            if not self._waiting:
                return
            topic, payload = self._waiting.popleft()
            self._outstanding += 1
        client.publish(topic, payload, qos=1)

    def ack(self, message: InboundMessage) -> bool:
        """Acknowledge a delivery on the connection it arrived on; False if that connection is gone
        (the broker will redeliver it, and the redelivery is acknowledged instead)."""
        with self._lock:
            if not self._connected or message.generation != self._generation:
                return False
            self._client.ack(message.mid, message.qos)
            return True

    # paho callbacks (network thread) ------------------------------------------------------------

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection", extra={"reason": str(reason_code)})
            return
        server_maximum = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        if isinstance(server_maximum, int) and server_maximum > 0:
            with self._publish_lock:
                self._outstanding_limit = max(1, min(self._settings.ingest_ack_inflight_max, server_maximum))
        with self._lock:
            self._generation += 1
            self._connected = True
            self._subscribed = False
            generation = self._generation
        self._metrics.mqtt_connected.set(1)
        logger.info(
            "connected to broker",
            extra={
                "client_id": self.client_id,
                "session_present": bool(getattr(flags, "session_present", False)),
                "generation": generation,
            },
        )
        if self._v5:
            client.subscribe(self.subscription, options=SubscribeOptions(qos=1))
        else:
            client.subscribe(self.subscription, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode], properties: Any
    ) -> None:
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            logger.error("subscription refused", extra={"topic": self.subscription, "reason": str(failed[0])})
            return
        with self._lock:
            self._subscribed = True
        logger.info("subscribed", extra={"topic": self.subscription})

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: ReasonCode, properties: Any
    ) -> None:
        with self._lock:
            self._connected = False
            self._subscribed = False
            self._generation += 1
        self._metrics.mqtt_connected.set(0)
        logger.warning("disconnected from broker", extra={"reason": str(reason_code)})

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            generation = self._generation
        self._metrics.messages_received.inc()
        payload = bytes(message.payload)
        received_at = self._clock()
        # Validation (pure) runs here, on the network thread, so it overlaps with the writer's
        # database round trips instead of adding to them.
        self._inbox.put(
            InboundMessage(
                topic=message.topic,
                payload=payload,
                mid=message.mid,
                qos=message.qos,
                generation=generation,
                received_at=received_at,
                received_monotonic=self._monotonic(),
                parsed=self._parse(message.topic, payload, received_at),
            )
        )
