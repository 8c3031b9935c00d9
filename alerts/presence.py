"""Hub presence (``up/status``) and telemetry (``up/events``) into ``hub_presence``,
``device_telemetry`` and ``dead_letters`` (DESIGN.md §3, ``core/hub_messages.py``).

The database side is plain functions over a connection (tested directly); :class:`PresenceConsumer`
is the MQTT 5 side: a shared subscription (``$share/<group>/…``) so scheduler replicas split the
messages, a persistent session with a stable client id, and each message acknowledged only after its
transaction committed (paho manual acks), so a crash redelivers rather than loses it.

Retained ``up/status`` messages are not delivered to shared subscriptions (MQTT 5 §4.8.2); presence
therefore lives in the database and the consumer only needs changes, which the persistent session
keeps for it while it is down."""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from alerts import operational, store, telemetry
from alerts.operational import RULE_VERSION
from alerts.rules import Severity
from core.dead_letters import store_hub_dead_letter
from core.hub_messages import HubEvents, HubEventType, HubStatus, InvalidHubMessage, parse_message
from core.topics import HubTopic, InvalidTopic, Topics

logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


def _dead_letter(
    conn: Conn,
    hub_id: str,
    topic: str,
    reason: str,
    detail: str,
    payload: bytes,
    at: datetime,
    practice_id: str | None = None,
    device_serial: str | None = None,
) -> None:
    store_hub_dead_letter(
        conn,
        hub_id=hub_id,
        topic=topic,
        reason=reason,
        detail=detail,
        payload=payload,
        received_at=at,
        practice_id=practice_id,
        device_serial=device_serial,
    )


def _practice_of_hub(conn: Conn, hub_id: str) -> str | None:
    row = conn.execute("SELECT practice_id::text FROM hubs WHERE id = %s", (hub_id,)).fetchone()
    return None if row is None else str(row[0])


def record_status(conn: Conn, hub_id: str, topic: str, payload: bytes, at: datetime) -> bool:
    """Store a status message unless it is stale (an older session's Will). Returns whether it applied."""
    try:
        status = parse_message(HubStatus, payload)
    except InvalidHubMessage as exc:
        _dead_letter(conn, hub_id, topic, "invalid_hub_status", str(exc), payload, at)
        return False
    practice_id = _practice_of_hub(conn, hub_id)
    if practice_id is None:
        _dead_letter(conn, hub_id, topic, "unknown_hub", "status from a hub not in the registry", payload, at)
        return False
    row = conn.execute("SELECT session, state FROM hub_presence WHERE hub_id = %s FOR UPDATE", (hub_id,)).fetchone()
    if not operational.accept_status(None if row is None else int(row[0]), status.session):
        logger.info("stale hub status ignored", extra={"hub_id": hub_id, "session": status.session})
        return False
    changed = row is None or row[1] != status.state.value
    conn.execute(
        """INSERT INTO hub_presence (hub_id, practice_id, state, session, last_seen_at, changed_at, outbox_depth, clock)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (hub_id) DO UPDATE SET state = excluded.state, session = excluded.session,
               last_seen_at = excluded.last_seen_at,
               changed_at = CASE WHEN %s THEN excluded.changed_at ELSE hub_presence.changed_at END,
               outbox_depth = excluded.outbox_depth, clock = excluded.clock""",
        (hub_id, practice_id, status.state.value, status.session, at, at, status.outbox_depth,
         status.clock.value if status.clock else None, changed),
    )  # fmt: skip
    return True


@dataclass
class EventCounts:
    telemetry: int = 0
    dead_letters: int = 0
    alerts: int = 0


def record_events(conn: Conn, hub_id: str, topic: str, payload: bytes, at: datetime) -> EventCounts:
    """Battery and clock into ``device_telemetry``; a rejected frame into ``dead_letters`` (the event
    JSON as payload); an outbox overflow raises the operational alert HUB-1 (readings at risk)."""
    counts = EventCounts()
    try:
        message = parse_message(HubEvents, payload)
    except InvalidHubMessage as exc:
        _dead_letter(conn, hub_id, topic, "invalid_hub_events", str(exc), payload, at)
        counts.dead_letters += 1
        return counts
    practice_id = _practice_of_hub(conn, hub_id)
    if practice_id is None:
        _dead_letter(conn, hub_id, topic, "unknown_hub", "events from a hub not in the registry", payload, at)
        counts.dead_letters += 1
        return counts
    conn.execute("UPDATE hub_presence SET last_seen_at = greatest(last_seen_at, %s) WHERE hub_id = %s", (at, hub_id))
    for event in message.events:
        event_json = event.model_dump_json(exclude_none=True).encode()
        if event.type is HubEventType.FRAME_REJECTED:
            detail = f"{event.characteristic or '?'}: {event.detail or 'rejected'}"
            _dead_letter(
                conn, hub_id, topic, "frame_rejected", detail, event_json, at, practice_id, event.device_serial
            )
            counts.dead_letters += 1
        elif event.type is HubEventType.OUTBOX_OVERFLOW:
            spec = store.AlertSpec(practice_id, "operational", "HUB-1", RULE_VERSION, Severity.CRITICAL,
                                   {"outbox": "full"}, {"count": event.count or 0}, hub_id=hub_id)  # fmt: skip
            store.raise_alert(conn, spec, at)
            counts.alerts += 1
        elif event.device_serial and (event.battery_pct is not None or event.clock_offset_s is not None):
            counts.telemetry += _telemetry(conn, practice_id, hub_id, event.device_serial, event.battery_pct,
                                           event.clock_offset_s, event.at)  # fmt: skip
    return counts


def _telemetry(
    conn: Conn,
    practice_id: str,
    hub_id: str,
    serial: str,
    battery_pct: int | None,
    clock_offset_s: float | None,
    at: datetime,
) -> int:
    device = conn.execute("SELECT id FROM devices WHERE serial = %s AND practice_id = %s", (serial, practice_id))
    row = device.fetchone()
    if row is None:
        return 0
    telemetry.record(conn, str(row[0]), practice_id, hub_id,
                     telemetry.Telemetry(at, battery_pct=battery_pct, clock_offset_s=clock_offset_s))  # fmt: skip
    return 1


class PresenceConsumer:
    """Subscribes to every hub's ``up/status`` and ``up/events`` through a shared subscription and
    hands messages to :meth:`process` on the caller's thread; acks after the caller commits."""

    def __init__(self, topics: Topics, *, host: str, port: int, client_id: str, group: str,
                 username: str | None, password: str | None, session_expiry_s: int) -> None:  # fmt: skip
        self._topics = topics
        self._group = group
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue(maxsize=1000)
        self._held: mqtt.MQTTMessage | None = None
        self.ready = threading.Event()
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
            manual_ack=True,
        )  # fmt: skip
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self.ready.set()
        self._client.reconnect_delay_set(1, 30)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s
        self._client.connect_async(host, port, clean_start=False, properties=props)

    def start(self) -> None:
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        for suffix in (HubTopic.STATUS, HubTopic.EVENTS):
            client.subscribe(self._topics.shared(self._group, self._topics.all_hubs(suffix)), qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(message)  # blocks the network thread when full: TCP backpressure

    def process(self, conn: Conn, now: datetime, timeout_s: float) -> int:
        """Handle the messages that arrived (waiting up to ``timeout_s`` for the first), one transaction
        each, acknowledging each after its commit."""
        handled = 0
        message = self._held
        self._held = None
        if message is None:
            try:
                message = self._inbox.get(timeout=timeout_s)
            except queue.Empty:
                return 0
        while True:
            try:
                self._handle(conn, message, now)
            except BaseException:
                self._held = message  # handled first on the next call (the database may be back)
                raise
            self._client.ack(message.mid, message.qos)
            handled += 1
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                return handled

    def _handle(self, conn: Conn, message: mqtt.MQTTMessage, now: datetime) -> None:
        topic, payload = message.topic, bytes(message.payload)
        with conn.transaction():
            for suffix in (HubTopic.STATUS, HubTopic.EVENTS):
                try:
                    hub_id = self._topics.hub_id_of(topic, suffix)
                except InvalidTopic:
                    continue
                if suffix is HubTopic.STATUS:
                    record_status(conn, hub_id, topic, payload, now)
                else:
                    record_events(conn, hub_id, topic, payload, now)
                return
            logger.warning("message on an unexpected topic", extra={"topic": json.dumps(topic[:200])})
