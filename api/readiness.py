"""Readiness of the API's dependencies for ``GET /readyz``: the database (a query through the pool)
and the MQTT broker (a short connect + disconnect with the API's own broker identity).

A probe result is kept for ``cache_s`` seconds, so load balancers and orchestrators probing every
second do not open a broker connection each time; concurrent probes wait for the one check that is
running instead of starting their own."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from api.scope import Conn
from core.settings import MqttSettings

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 2.0
CACHE_S = 2.0


def database_ready(pool: ConnectionPool[Conn], timeout_s: float = CHECK_TIMEOUT_S) -> bool:
    try:
        with pool.connection(timeout=timeout_s) as conn:
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
    except Exception:  # any failure means "not ready"; the probe must answer, not crash
        logger.warning("readiness: database check failed", exc_info=True)
        return False
    return True


def broker_ready(settings: MqttSettings, timeout_s: float = CHECK_TIMEOUT_S) -> bool:
    """True when the broker accepts a connection with the configured credentials (CONNACK success)
    within ``timeout_s``; the connection is closed at once."""
    protocol = mqtt.MQTTv5 if settings.mqtt_protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"carehub-api-ready-{secrets.token_hex(4)}",
        protocol=protocol,
    )
    if settings.mqtt_username:
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        client.username_pw_set(settings.mqtt_username, password)
    client.connect_timeout = timeout_s
    outcome: dict[str, bool] = {}

    def on_connect(client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object) -> None:
        outcome["accepted"] = not reason.is_failure
        if not outcome["accepted"]:
            logger.warning("readiness: the broker refused the connection", extra={"reason": str(reason)})

    client.on_connect = on_connect
    deadline = time.monotonic() + timeout_s
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=max(5, round(timeout_s * 2)))
        while "accepted" not in outcome and time.monotonic() < deadline:
            client.loop(timeout=0.05)
        if outcome.get("accepted"):
            client.disconnect()
    except OSError as exc:
        logger.warning("readiness: broker unreachable", extra={"error": str(exc)})
        return False
    finally:
        sock = client.socket()
        if sock is not None:  # refused or timed out: nothing more to say to the broker
            sock.close()
    if "accepted" not in outcome:
        logger.warning("readiness: no CONNACK from the broker", extra={"timeout_s": timeout_s})
    return outcome.get("accepted", False)


class ReadinessOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool]


@dataclass(frozen=True, slots=True)
class Verdict:
    checks: dict[str, bool]

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


class Readiness:
    """The named checks, run together at most once per ``cache_s``."""

    def __init__(
        self,
        checks: dict[str, Callable[[], bool]],
        *,
        cache_s: float = CACHE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._checks = checks
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: tuple[float, Verdict] | None = None

    def verdict(self) -> Verdict:
        with self._lock:
            now = self._monotonic()
            if self._last is not None and now - self._last[0] < self._cache_s:
                return self._last[1]
            verdict = Verdict({name: check() for name, check in self._checks.items()})
            self._last = (self._monotonic(), verdict)
            return verdict
