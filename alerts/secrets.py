"""Webhook signing secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256, the
``cryptography`` package) under a key the notifier gets from its settings
(``CAREHUB_NOTIFIER_SECRET_KEY``), so a copy of the database (a backup, a read replica, the API role)
never holds a practice's signing key in clear.

A stored value is ``fernet:`` + the token. The database refuses a new or changed webhook route whose
secret is not sealed (migration 0202); a route stored in clear before that is refused at delivery with
the reason, until an operator seals it (``carehub alerts route-secret``)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

SEALED_PREFIX = "fernet:"


class SecretUnavailable(Exception):
    """A stored webhook secret cannot be used: stored in clear, sealed under another key, or no key
    is configured (advice: set CAREHUB_NOTIFIER_SECRET_KEY, or re-seal the route's secret)."""


def new_key() -> str:
    """A fresh key for ``CAREHUB_NOTIFIER_SECRET_KEY`` (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def seal(key: str, secret: str) -> str:
    return SEALED_PREFIX + Fernet(key.encode()).encrypt(secret.encode()).decode()


def unseal(key: str | None, stored: str) -> str:
    if not stored.startswith(SEALED_PREFIX):
        raise SecretUnavailable("the route's secret is stored in clear: seal it with carehub alerts route-secret")
    if key is None:
        raise SecretUnavailable("the route's secret is sealed but CAREHUB_NOTIFIER_SECRET_KEY is not set")
    try:
        return Fernet(key.encode()).decrypt(stored[len(SEALED_PREFIX) :].encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnavailable("the route's secret was sealed under another key") from exc
