"""Settings of the ``carehub gateway run`` process (environment variables with the ``CAREHUB_`` prefix).

The hub's identity is its MQTT username (DESIGN.md §3, §5): ``CAREHUB_MQTT_USERNAME`` is the hub id
unless ``CAREHUB_GATEWAY_HUB_ID`` says otherwise. The outbox lives under ``gateway_data_dir`` on the
hub's own disk."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field

from core.errors import ConfigurationError
from core.settings import MqttSettings, ServiceSettings


class OverflowPolicy(StrEnum):
    """What a full outbox does with a new reading (an ``outbox_overflow`` event is raised either way).

    ``refuse_new`` keeps every reading already held and refuses the new one; a device session then
    stops downloading without moving its RACP cursor, so stored records stay on the device for the
    next connection. ``drop_oldest`` deletes the oldest unacknowledged reading to make room: the
    newest data wins, as a clinician would want after a long outage."""

    REFUSE_NEW = "refuse_new"
    DROP_OLDEST = "drop_oldest"


class GatewaySettings(MqttSettings, ServiceSettings):
    gateway_hub_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{4,64}$", description="Defaults to the MQTT username."
    )
    gateway_data_dir: Path = Field(default=Path("/var/lib/carehub-gateway"))
    gateway_timezone: str = Field(
        default="UTC", description="IANA zone of the home: device clocks are set to and read as local time."
    )
    gateway_outbox_max_readings: int = Field(default=50_000, ge=10, description="Unacknowledged readings held.")
    gateway_outbox_high_water_ratio: float = Field(default=0.8, gt=0, le=1)
    gateway_outbox_overflow_policy: OverflowPolicy = OverflowPolicy.REFUSE_NEW
    gateway_outbox_history_days: float = Field(
        default=7.0, ge=0, description="Acknowledged readings kept for resend_since."
    )
    gateway_outbox_min_free_mb: float = Field(
        default=16.0, ge=0, description="/readyz fails when the outbox's disk has less free space than this."
    )
    gateway_events_max: int = Field(default=10_000, ge=10, description="Unsent events held (oldest dropped).")
    gateway_publish_max_batch: int = Field(default=50, ge=1, le=500)
    gateway_publish_window_batches: int = Field(
        default=4, ge=1, le=64, description="Unacknowledged batches in flight (paces QoS 1 publishing)."
    )
    gateway_ack_timeout_s: float = Field(default=30.0, gt=0)
    gateway_scan_window_s: float = Field(default=5.0, gt=0)
    gateway_scan_pause_s: float = Field(default=5.0, ge=0)
    gateway_connect_timeout_s: float = Field(default=20.0, gt=0)
    gateway_reconnect_min_s: float = Field(default=2.0, gt=0)
    gateway_reconnect_max_s: float = Field(default=300.0, gt=0)
    gateway_revisit_s: float = Field(
        default=30.0, gt=0, description="A device still advertising after a good session is left alone this long."
    )
    gateway_device_idle_s: float = Field(
        default=10.0, gt=0, description="A connected device that sends nothing for this long is released."
    )
    gateway_clock_set_threshold_s: float = Field(
        default=60.0, ge=0, description="Set a device clock only when it is off by more than this."
    )
    gateway_unknown_report_interval_s: float = Field(
        default=3600.0, gt=0, description="A non-whitelisted health device is reported at most this often."
    )
    gateway_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    gateway_firmware: str = Field(default="carehub-gateway", max_length=32)

    def hub_id(self) -> str:
        hub_id = self.gateway_hub_id or self.mqtt_username
        if not hub_id:
            raise ConfigurationError("set CAREHUB_GATEWAY_HUB_ID or CAREHUB_MQTT_USERNAME (the hub id)")
        return hub_id
