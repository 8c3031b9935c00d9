"""``carehub provisioning run``: publishes each hub's desired configuration from the outbox
(retained, QoS 1, marked published only after the broker's PUBACK) and records the configuration
version each hub reports on ``up/config/reported``.

One MQTT client and one database connection, both created in :meth:`ConfigService.run` and owned by
it. MQTT callbacks only enqueue; every database write happens on the service thread. A lost database
or broker is retried with jittered backoff; nothing is dropped (the outbox and the retained
``up/config/reported`` messages hold the state)."""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import CollectorRegistry, Counter, Gauge
from pydantic import Field

from core.db import DatabaseUnavailable, connect
from core.dead_letters import store_hub_dead_letter
from core.health import HealthServer
from core.hub_messages import InvalidHubMessage, ReportedConfig, parse_message
from core.settings import DatabaseSettings, MqttSettings, ServiceSettings
from core.topics import HubTopic, InvalidTopic, Topics
from ingest.service import backoff_s
from provisioning import hub_config
from provisioning.registry import Conn

logger = logging.getLogger(__name__)


class ProvisioningSettings(DatabaseSettings, MqttSettings, ServiceSettings):
    provisioning_client_id: str = Field(default="carehub-provisioning", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    provisioning_poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    provisioning_publish_timeout_s: float = Field(default=10.0, gt=0)
    provisioning_retry_max_s: float = Field(default=30.0, gt=0)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ConfigMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.published = Counter("carehub_provisioning_configs_published", "Desired configs published", registry=r)
        self.reported = Counter("carehub_provisioning_configs_reported", "Reported configs recorded", registry=r)
        self.invalid = Counter("carehub_provisioning_invalid_reports", "Unparsable up/config/reported", registry=r)
        self.failures = Counter(
            "carehub_provisioning_round_failures", "Rounds that failed and were retried", registry=r
        )
        self.mqtt_connected = Gauge("carehub_provisioning_mqtt_connected", "1 while connected", registry=r)


class ConfigService:
    def __init__(self, settings: ProvisioningSettings, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._settings = settings
        self._clock = clock
        self._topics = Topics(settings.mqtt_topic_root)
        self.metrics = ConfigMetrics()
        self._reports: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=10_000)
        self._connected = threading.Event()
        self._conn: Conn | None = None
        self._database_ok = False
        self._rng = random.Random()  # noqa: S311 - jitter, not security
        self.health: HealthServer | None = None

    # MQTT (network thread) ------------------------------------------------------------------------

    def _client(self) -> mqtt.Client:
        s = self._settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=s.provisioning_client_id, protocol=mqtt.MQTTv5
        )
        if s.mqtt_username:
            client.username_pw_set(s.mqtt_username, s.mqtt_password.get_secret_value() if s.mqtt_password else None)
        client.reconnect_delay_set(max(1, round(s.mqtt_reconnect_min_s)), round(s.mqtt_reconnect_max_s))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if rc.is_failure:
            logger.error("broker refused the connection", extra={"reason": str(rc)})
            return
        client.subscribe(self._topics.all_hubs(HubTopic.CONFIG_REPORTED), options=SubscribeOptions(qos=1))
        self._connected.set()
        self.metrics.mqtt_connected.set(1)
        logger.info("connected to broker", extra={"client_id": self._settings.provisioning_client_id})

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._connected.clear()
        self.metrics.mqtt_connected.set(0)
        logger.warning("disconnected from broker", extra={"reason": str(rc)})

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._reports.put_nowait((message.topic, bytes(message.payload)))
        except queue.Full:
            # Reported configs are retained: the latest comes back on the next subscribe.
            logger.warning("reported-config queue full; dropping one (it is retained)")

    # Service thread ---------------------------------------------------------------------------------

    def _database(self) -> Conn:
        if self._conn is None or self._conn.closed:
            s = self._settings
            self._conn = connect(
                s.database_url,
                application_name="carehub-provisioning",
                connect_timeout_s=s.db_connect_timeout_s,
                statement_timeout_s=s.db_statement_timeout_s,
                autocommit=True,
            )
        return self._conn

    def _record_reports(self, conn: Conn) -> None:
        while True:
            try:
                topic, payload = self._reports.get_nowait()
            except queue.Empty:
                return
            hub_id: str | None = None
            try:
                hub_id = self._topics.hub_id_of(topic, HubTopic.CONFIG_REPORTED)
                reported = parse_message(ReportedConfig, payload)
            except (InvalidTopic, InvalidHubMessage) as exc:
                # Kept, not dropped: a hub that reports garbage is a hub whose configuration is unknown.
                self.metrics.invalid.inc()
                logger.warning("invalid reported config dead-lettered", extra={"hub_id": hub_id, "error": str(exc)})
                store_hub_dead_letter(
                    conn,
                    hub_id=hub_id,
                    topic=topic,
                    reason="invalid_reported_config",
                    detail=str(exc),
                    payload=payload,
                    received_at=self._clock(),
                )
                continue
            if hub_config.record_reported(conn, hub_id, reported, self._clock()):
                self.metrics.reported.inc()
                logger.info("hub reported config", extra={"hub_id": hub_id, "version": reported.version})

    def _issue(self, conn: Conn) -> None:
        for hub_id, version in hub_config.materialise_pending(conn, self._clock()):
            logger.info("desired config issued", extra={"hub_id": hub_id, "version": version})

    def _publish(self, client: mqtt.Client, conn: Conn) -> None:
        for entry in hub_config.unpublished(conn):
            if not self._connected.is_set():
                return
            info = client.publish(
                self._topics.hub(entry.hub_id, HubTopic.CONFIG_DESIRED), entry.payload, qos=1, retain=True
            )
            info.wait_for_publish(self._settings.provisioning_publish_timeout_s)
            if not info.is_published():
                logger.warning(
                    "desired config not acknowledged by the broker; will retry", extra={"hub_id": entry.hub_id}
                )
                return
            hub_config.mark_published(conn, entry, self._clock())
            self.metrics.published.inc()
            logger.info("desired config published", extra={"hub_id": entry.hub_id, "version": entry.version})

    def run_round(self, client: mqtt.Client) -> None:
        conn = self._database()
        self._record_reports(conn)
        # Versions are issued even while the broker is away (config-status shows them); they are
        # published, newest per hub, once it is back.
        self._issue(conn)
        if self._connected.is_set():
            self._publish(client, conn)
        self._database_ok = True

    def run(self, stop: threading.Event) -> None:
        s = self._settings
        self.health = HealthServer(
            s.health_host,
            s.health_port,
            self.metrics.registry,
            {"mqtt": self._connected.is_set, "database": lambda: self._database_ok},
        )
        self.health.start()
        logger.info("provisioning config service starting", extra={"health_port": self.health.port})
        client = self._client()
        client.connect_async(s.mqtt_host, s.mqtt_port, keepalive=s.mqtt_keepalive_s)
        client.loop_start()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.run_round(client)
                    if failures:
                        logger.info("provisioning round recovered", extra={"after_failures": failures})
                    failures = 0
                    stop.wait(s.provisioning_poll_interval_s)
                except (DatabaseUnavailable, psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if failures == 0:
                        logger.warning("database unavailable; retrying", extra={"error": str(exc)[:500]})
                    failures = self._backoff(stop, failures)
                except Exception:  # a supervisor is the one place that catches everything: log, count, retry
                    logger.exception("provisioning round failed; retrying")
                    failures = self._backoff(stop, failures)
        finally:
            client.disconnect()
            client.loop_stop()
            if self._conn is not None:
                self._conn.close()
            self.health.stop()
            logger.info("provisioning config service stopped")

    def _backoff(self, stop: threading.Event, failures: int) -> int:
        self._database_ok = False
        self.metrics.failures.inc()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        stop.wait(backoff_s(failures, minimum=0.25, maximum=self._settings.provisioning_retry_max_s, rng=self._rng))
        return failures + 1
