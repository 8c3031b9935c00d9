"""Settings of the vendor webhooks (part of :class:`api.settings.ApiSettings` and of the
``carehub webhooks`` command; ``CAREHUB_`` environment variables)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr

from ingest.settings import ReadingTimeSettings
from ingest.validation import ValidationLimits


class WebhookSettings(ReadingTimeSettings):
    webhook_max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, le=16 * 1024 * 1024, description="Larger bodies are refused with 413."
    )
    webhook_replay_window_s: int = Field(
        default=300, ge=10, le=3600, description="Signed requests further than this from our clock are refused."
    )
    webhook_secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts the HMAC signing secrets stored in webhook_credentials "
        "(`carehub webhooks new-key`); without it, signed vendors are refused (fail closed).",
    )

    def reading_limits(self) -> ValidationLimits:
        return ValidationLimits(
            max_future_skew=timedelta(seconds=self.ingest_max_future_skew_s),
            max_reading_age=timedelta(days=self.ingest_max_reading_age_days),
        )
