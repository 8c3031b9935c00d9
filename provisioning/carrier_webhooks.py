"""Authenticating carrier tracking webhooks before their bodies are trusted
(``reference/cellular-and-logistics.md`` §3.4). EasyPost signs the raw body with HMAC-SHA256 and
sends ``X-Hmac-Signature: hmac-sha256-hex=<hex>``; the webhook secret is NFKD-normalised first.
Verification runs over the raw bytes as received (never a re-serialised JSON) with a constant-time
comparison. ``POST /webhooks/easypost`` (:mod:`api.webhooks.authentication`, scheme ``easypost_hmac``,
and :mod:`api.webhooks.carriers`) calls :func:`verify_easypost_signature`, then
:func:`provisioning.shipping.from_easypost` and :func:`provisioning.shipping.record_carrier_event`."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

from core.errors import CarehubError

EASYPOST_SIGNATURE_HEADER = "X-Hmac-Signature"
_EASYPOST_PREFIX = "hmac-sha256-hex="


class WebhookSignatureInvalid(CarehubError):
    """The webhook's signature is missing, malformed or does not match its body."""


def easypost_signature(secret: str, body: bytes) -> str:
    """The header value EasyPost sends for ``body`` signed with ``secret``."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return _EASYPOST_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_easypost_signature(secret: str, body: bytes, header: str | None) -> None:
    if not secret:
        raise WebhookSignatureInvalid("no webhook secret is configured")
    if header is None or not header.startswith(_EASYPOST_PREFIX):
        raise WebhookSignatureInvalid(f"missing or malformed {EASYPOST_SIGNATURE_HEADER} header")
    expected = easypost_signature(secret, body)
    if not hmac.compare_digest(expected.encode(), header.strip().lower().encode()):
        raise WebhookSignatureInvalid("signature does not match the body")
