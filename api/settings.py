"""Settings of ``carehub api`` (``CAREHUB_`` environment variables; API fields carry ``api_``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from api.webhooks.settings import WebhookSettings
from billing.settings import BillingSettings
from core.errors import ConfigurationError
from core.settings import MqttSettings, ServiceSettings

DEMO_JWT_SECRET = "carehub-demo-only-not-a-secret-0123456789abcdef"  # noqa: S105 - refused outside demo mode
_MIN_SECRET_BYTES = 32


class ApiSettings(BillingSettings, MqttSettings, ServiceSettings, WebhookSettings):
    """The billing thresholds (``CAREHUB_BILLING_*``) are the ones ``carehub billing report`` reads, so
    the report route and the command agree; the broker settings (``CAREHUB_MQTT_*``) are the API's own
    broker identity, which ``/readyz`` connects with to check the broker."""

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_demo_mode: bool = Field(default=False, description="Allows the built-in signing key (demo and tests only).")
    api_jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 key for access tokens, at least 32 bytes; required outside demo mode."
    )
    api_access_token_ttl_s: int = Field(default=900, ge=30, le=3600)
    api_refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=300)
    api_login_max_failures: int = Field(default=5, ge=1, le=100, description="Failed logins before a lockout.")
    api_login_lockout_s: int = Field(default=900, ge=1)
    api_login_rate_per_minute: int = Field(
        default=10, ge=1, description="Login attempts per client address per minute (per API process)."
    )
    api_pool_min_size: int = Field(default=2, ge=1)
    api_pool_max_size: int = Field(default=10, ge=1)
    api_readiness_cache_s: float = Field(
        default=2.0, ge=0, description="How long /readyz reuses its last database and broker check."
    )

    @model_validator(mode="after")
    def _signing_key(self) -> Self:
        if self.api_jwt_secret is None and not self.api_demo_mode:
            raise ValueError("CAREHUB_API_JWT_SECRET is required (or CAREHUB_API_DEMO_MODE=true for a demo)")
        if self.api_jwt_secret is not None and len(self.api_jwt_secret.get_secret_value()) < _MIN_SECRET_BYTES:
            raise ValueError(f"CAREHUB_API_JWT_SECRET must be at least {_MIN_SECRET_BYTES} bytes")
        return self

    def signing_key(self) -> bytes:
        if self.api_jwt_secret is not None:
            return self.api_jwt_secret.get_secret_value().encode()
        if not self.api_demo_mode:
            raise ConfigurationError("no API signing key configured")
        return DEMO_JWT_SECRET.encode()
