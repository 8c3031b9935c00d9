"""``carehub notifier``'s work: deliver due outbox rows, record the outcome per alert and route.

Each pass claims due rows with ``FOR UPDATE SKIP LOCKED`` and keeps them locked while it sends, so
several notifier replicas never send the same row twice; a row is marked delivered in the same
transaction that held it. A failure schedules the next attempt with exponential backoff; after
``max_attempts`` the row is ``dead`` (kept with its last error for operators). A receiver may still
see a message twice if the notifier dies between the receiver's 2xx and the commit: the
``X-Carehub-Delivery`` header is the idempotency key for that case."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import psycopg

from alerts.delivery import DeliveryFailed, Route, SmtpServer, retry_delay_s, send_email, send_webhook
from alerts.secrets import SecretUnavailable, unseal
from alerts.settings import NotifierSettings

logger = logging.getLogger(__name__)


@dataclass
class PassResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0


class Notifier:
    def __init__(self, settings: NotifierSettings, http: httpx.Client) -> None:
        self._settings = settings
        self._http = http

    def deliver_due(self, conn: psycopg.Connection[Any], now: datetime) -> PassResult:
        """One pass over due rows (at most ``notifier_batch_rows``), in one transaction."""
        result = PassResult()
        s = self._settings
        with conn.transaction():
            rows = conn.execute(
                """SELECT o.id, o.alert_id::text, o.attempts, o.payload, r.channel, r.target, r.secret
                     FROM notification_outbox o JOIN notification_routes r ON r.id = o.route_id
                    WHERE o.status = 'pending' AND o.next_attempt_at <= %s
                    ORDER BY o.next_attempt_at
                    LIMIT %s
                    FOR UPDATE OF o SKIP LOCKED""",
                (now, s.notifier_batch_rows),
            ).fetchall()
            for row_id, alert_id, attempts, payload, channel, target, secret in rows:
                route = Route(channel, target, secret)
                try:
                    self._send(route, payload, row_id, now)
                except DeliveryFailed as exc:
                    tried = attempts + 1
                    dead = tried >= s.notifier_max_attempts
                    delay = timedelta(seconds=retry_delay_s(tried, s.notifier_retry_base_s, s.notifier_retry_max_s))
                    conn.execute(
                        "UPDATE notification_outbox SET attempts = %s, last_error = %s, status = %s, "
                        "next_attempt_at = %s WHERE id = %s",
                        (tried, str(exc)[:500], "dead" if dead else "pending", now + delay, row_id),
                    )
                    logger.warning(
                        "notification failed",
                        extra={
                            "outbox_id": row_id,
                            "alert_id": alert_id,
                            "channel": channel,
                            "attempt": tried,
                            "dead": dead,
                            "error": str(exc)[:200],
                        },
                    )
                    if dead:
                        result.dead += 1
                    else:
                        result.retried += 1
                    continue
                conn.execute(
                    "UPDATE notification_outbox SET attempts = attempts + 1, status = 'delivered', delivered_at = %s, "
                    "last_error = NULL WHERE id = %s",
                    (now, row_id),
                )
                result.delivered += 1
        return result

    def _send(self, route: Route, payload: dict[str, Any], delivery_id: int, now: datetime) -> None:
        s = self._settings
        if route.channel == "webhook":
            key = s.notifier_secret_key.get_secret_value() if s.notifier_secret_key is not None else None
            try:
                secret = unseal(key, route.secret or "")
            except SecretUnavailable as exc:
                raise DeliveryFailed(f"webhook: {exc}") from exc
            unsealed = Route(route.channel, route.target, secret)
            send_webhook(self._http, unsealed, payload, delivery_id=delivery_id, now=int(now.timestamp()))
        else:
            server = SmtpServer(
                s.smtp_host,
                s.smtp_port,
                s.smtp_from,
                s.smtp_timeout_s,
                security=s.smtp_security,
                ca_file=s.smtp_ca_file,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password is not None else None,
            )
            send_email(server, route, payload, delivery_id=delivery_id)
