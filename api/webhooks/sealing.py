"""HMAC signing secrets at rest: encrypted (Fernet: AES-128-CBC + HMAC-SHA256) under a key from the
environment (``CAREHUB_WEBHOOK_SECRET_KEY``), so a copy of the database alone cannot forge a vendor."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from core.errors import CarehubError, ConfigurationError


class SecretUnreadable(CarehubError):
    """A stored secret cannot be decrypted with the configured key (advice: the key was rotated or mistyped)."""


class SecretBox:
    def __init__(self, key: str | None) -> None:
        try:
            self._fernet = Fernet(key.encode()) if key else None
        except ValueError as exc:
            raise ConfigurationError("CAREHUB_WEBHOOK_SECRET_KEY is not a Fernet key (url-safe base64)") from exc

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    @property
    def configured(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> bytes:
        if self._fernet is None:
            raise ConfigurationError("CAREHUB_WEBHOOK_SECRET_KEY is required to store an HMAC secret")
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        if self._fernet is None:
            raise SecretUnreadable("CAREHUB_WEBHOOK_SECRET_KEY is not configured")
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken as exc:
            raise SecretUnreadable("a stored HMAC secret does not open with CAREHUB_WEBHOOK_SECRET_KEY") from exc
