"""Settings of the ``carehub ingest`` process (environment variables with the ``CAREHUB_`` prefix)."""

from __future__ import annotations

import socket

from pydantic import Field

from core.settings import CarehubSettings, DatabaseSettings, MqttSettings, ServiceSettings


def _default_worker_id() -> str:
    # A stable id per host: a restarted worker resumes its own persistent session instead of leaving
    # an orphaned one that keeps receiving a share of the load until it expires (DESIGN.md §9).
    return socket.gethostname().split(".")[0][:40] or "worker"


class ReadingTimeSettings(CarehubSettings):
    """How far from the server clock a reading's measured_at may be; shared by ``carehub ingest`` and
    the API's vendor webhooks (the same environment variables feed both)."""

    ingest_max_future_skew_s: float = Field(default=300.0, ge=0)
    ingest_max_reading_age_days: float = Field(default=30.0, gt=0)


class IngestSettings(ReadingTimeSettings, DatabaseSettings, MqttSettings, ServiceSettings):
    ingest_worker_id: str = Field(default_factory=_default_worker_id, pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    ingest_shared_group: str | None = Field(
        default="ingest",
        description="MQTT 5 shared-subscription group; empty for a plain subscription (one worker only).",
    )
    ingest_writers: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Writer threads, each with its own database connection: one commits a batch while the next "
        "is staged.",
    )
    ingest_batch_max_messages: int = Field(default=500, ge=1, le=10_000)
    ingest_batch_max_wait_s: float = Field(default=0.05, gt=0, le=10)
    ingest_batch_close_when_idle: bool = Field(
        default=True,
        description="Close a batch as soon as the inbox is empty when no other writer is in a transaction "
        "(nothing to overlap with, so waiting would only delay the readings and their alerts); off, a batch "
        "always waits up to ingest_batch_max_wait_s for more messages.",
    )
    ingest_receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Unacknowledged deliveries the broker may send us (MQTT 5 Receive Maximum); at least "
        "twice the batch so the next batch fills while one commits.",
    )
    ingest_ack_inflight_max: int = Field(
        default=500,
        ge=1,
        le=65535,
        description="Acks to hubs awaiting the broker's PUBACK at once (also capped by the broker's Receive Maximum).",
    )
    ingest_inbox_max_messages: int = Field(
        default=2000,
        ge=1,
        description="Messages received and not yet committed that one worker holds; beyond it, reading from the "
        "broker pauses (TCP backpressure). At least twice the batch.",
    )
    ingest_session_expiry_s: int = Field(default=3600, ge=0, description="How long the broker keeps our queue.")
    ingest_max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    ingest_max_readings_per_message: int = Field(default=500, ge=1)
    ingest_retry_min_s: float = Field(default=0.2, gt=0)
    ingest_retry_max_s: float = Field(default=10.0, gt=0)
    ingest_partition_check_interval_s: float = Field(default=3600.0, gt=0)
