"""Settings of ``carehub notifier`` and ``carehub scheduler`` (``CAREHUB_`` environment variables)."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, SecretStr

from core.settings import CarehubSettings, DatabaseSettings, MqttSettings, ServiceSettings


def _default_worker_id() -> str:
    return socket.gethostname().split(".")[0][:40] or "worker"


class NotifierSettings(DatabaseSettings, ServiceSettings):
    notifier_poll_interval_s: float = Field(default=1.0, gt=0, description="Outbox poll interval when idle.")
    notifier_batch_rows: int = Field(default=50, ge=1, le=1000)
    notifier_max_attempts: int = Field(default=8, ge=1, le=100, description="Then the row is dead-lettered.")
    notifier_retry_base_s: float = Field(default=5.0, gt=0)
    notifier_retry_max_s: float = Field(default=900.0, gt=0)
    notifier_http_timeout_s: float = Field(default=10.0, gt=0)
    notifier_secret_key: SecretStr | None = Field(
        default=None, description="Fernet key that unseals webhook secrets (alerts/secrets.py); never in the repo."
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "alerts@carehub.invalid"
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none",
        description="'starttls' upgrades the connection before anything is sent (port 587), 'tls' is implicit "
        "TLS (port 465); both verify the server's certificate and name. 'none' only for a relay on localhost.",
    )
    smtp_ca_file: str | None = Field(default=None, description="CA bundle for the server's certificate.")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None


class SchedulerSettings(DatabaseSettings, MqttSettings, ServiceSettings):
    scheduler_worker_id: str = Field(default_factory=_default_worker_id, pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    scheduler_shared_group: str = Field(default="scheduler", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    scheduler_tick_s: float = Field(default=30.0, gt=0, description="How often time-driven rules are evaluated.")
    scheduler_escalate_after_s: float = Field(default=7200.0, gt=0, description="ALERT-4 (default 2 h).")
    scheduler_session_expiry_s: int = Field(default=3600, ge=0)


class AlertEvaluationSettings(CarehubSettings):
    """Read by ``carehub ingest``'s composition root next to its own settings."""

    alerts_evaluate: bool = Field(
        default=True,
        description="Evaluate reading-driven alert rules in the ingest transaction. Off only to measure "
        "its cost (bench/alerts.py): with it off, no clinical alert is ever raised.",
    )
