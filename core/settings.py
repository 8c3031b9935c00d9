"""Settings pieces shared by carehub processes.

Each process has one pydantic-settings class (for example ``ingest.settings.IngestSettings``) that
combines these pieces; it is built once in the entry point from environment variables with the
``CAREHUB_`` prefix and passed down. Libraries never read the environment. Field names carry their
units. No secret has a default outside demo mode."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.topics import DEFAULT_TOPIC_ROOT

ENV_PREFIX = "CAREHUB_"


class CarehubSettings(BaseSettings):
    """Base: environment prefix, unknown variables ignored (one environment feeds many processes)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)


class DatabaseSettings(CarehubSettings):
    database_url: str = Field(
        default="postgresql://postgres@localhost:5432/carehub",
        description="libpq connection string or URL of the carehub database.",
    )
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_s: float = Field(default=30.0, gt=0)
    db_storage: Literal["auto", "timescaledb", "postgres"] = Field(
        default="auto",
        description="Readings storage: TimescaleDB hypertable when the extension exists ('auto'), or "
        "native range partitions with a maintained daily summary.",
    )
    auto_migrate: bool = Field(default=False, description="Apply pending migrations at service start.")


class MqttSettings(CarehubSettings):
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_protocol: Literal["5", "3.1.1"] = Field(
        default="5", description="MQTT 5 for shared subscriptions; 3.1.1 only for brokers without v5."
    )
    mqtt_topic_root: str = DEFAULT_TOPIC_ROOT
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600)
    mqtt_reconnect_min_s: float = Field(default=0.5, gt=0)
    mqtt_reconnect_max_s: float = Field(default=30.0, gt=0)


class ServiceSettings(CarehubSettings):
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port (logged).")
