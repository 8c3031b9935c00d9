"""How one notification leaves carehub: a signed webhook or an email (``docs/alerts.md`` has the
webhook header contract). Pure helpers (signature, backoff, email text) plus the two senders."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from core.errors import CarehubError

SIGNATURE_HEADER = "X-Carehub-Signature"
TIMESTAMP_HEADER = "X-Carehub-Timestamp"
DELIVERY_HEADER = "X-Carehub-Delivery"
SIGNATURE_VERSION = "v1"


class DeliveryFailed(CarehubError):
    """The receiver did not accept the notification (advice: it is retried with backoff, then dead)."""


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed (compact, keys sorted, UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 over ``"<timestamp>." + body`` (binding the time defeats replays)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={mac}"


def verify(secret: str, timestamp: int, body: bytes, signature: str, *, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: constant-time compare and a replay window."""
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def retry_delay_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential backoff after ``attempts`` failed tries (1 → base, 2 → 2·base, …, capped)."""
    return float(min(max_s, base_s * 2 ** max(0, attempts - 1)))


def email_subject(payload: Mapping[str, Any]) -> str:
    """No patient identifier in a subject line: severity, rule and the alert's opaque id only."""
    return f"[carehub] {payload['severity']} alert {payload['rule_id']} ({payload['event']}) {payload['alert_id'][:8]}"


def email_text(payload: Mapping[str, Any]) -> str:
    lines = [
        f"A {payload['severity']} {payload['category']} alert was {payload['event']}.",
        f"Rule: {payload['rule_id']} (version {payload['rule_version']})",
        f"Observed: {json.dumps(payload['observed'], sort_keys=True)}",
        f"Thresholds: {json.dumps(payload['thresholds'], sort_keys=True)}",
        f"Late reading: {'yes' if payload['late'] else 'no'}",
        f"Alert id: {payload['alert_id']}",
        "",
        "Open the carehub dashboard to review and acknowledge it.",
    ]
    if payload["severity"] == "critical" and payload["category"] == "clinical":
        lines.insert(1, "Same-day review with a patient contact attempt is expected.")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Route:
    channel: str
    target: str
    secret: str | None


def send_webhook(client: httpx.Client, route: Route, payload: Mapping[str, Any], *, delivery_id: int, now: int) -> None:
    assert route.secret is not None
    body = body_bytes(payload)
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(now),
        SIGNATURE_HEADER: sign(route.secret, now, body),
        DELIVERY_HEADER: str(delivery_id),
    }
    try:
        response = client.post(route.target, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook: {type(exc).__name__}") from exc
    if not response.is_success:
        raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how email leaves: ``security`` is ``starttls`` (RFC 3207, refused if the server does
    not offer it), ``tls`` (implicit TLS, RFC 8314) or ``none``; the server's certificate and host name
    are verified against the system CAs or ``ca_file``. Credentials are sent only over TLS."""

    host: str
    port: int
    sender: str
    timeout_s: float
    security: str = "none"
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None

    def connect(self) -> smtplib.SMTP:
        if self.username is not None and self.security == "none":
            raise DeliveryFailed("smtp: refusing to send credentials without TLS (set CAREHUB_SMTP_SECURITY)")
        context = ssl.create_default_context(cafile=self.ca_file)
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)  # raises SMTPNotSupportedError when not offered
            if self.username is not None:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


def send_email(server: SmtpServer, route: Route, payload: Mapping[str, Any], *, delivery_id: int) -> None:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = route.target
    message["Subject"] = email_subject(payload)
    message["Message-ID"] = f"<carehub-{delivery_id}@{server.sender.rsplit('@', maxsplit=1)[-1]}>"
    message.set_content(email_text(payload))
    try:
        with server.connect() as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:  # ssl.SSLError is an OSError
        raise DeliveryFailed(f"smtp: {type(exc).__name__}: {exc}"[:300]) from exc
