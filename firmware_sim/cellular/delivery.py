"""What a simulated vendor sends and what it means.

A :class:`VendorDelivery` is one HTTP request as it reaches carehub's webhook (method, path, headers,
raw body bytes: signatures and idempotency are computed on raw bytes, reference §0 rules 1-2). Its
``intended`` tuple says, per message in the body, what a correct normaliser must make of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.domain import MeasuredAtSource, Observation, ReadingFlag, ReadingKind


class MessageKind(StrEnum):
    READING = "reading"
    HEARTBEAT = "heartbeat"
    """No measurement: updates last-seen, battery and signal only (BodyTrace ``values: {}``)."""
    DEVICE_STATUS = "device_status"
    """Battery or signal news (Tenovi ``battery_percentage``): not a vital sign, never billed."""
    TEST = "test"
    """Vendor test traffic (MioConnect ``isTest``): never clinical data, never billed."""
    NOTIFICATION = "notification"
    """A hint without values (Withings): the data must be fetched, and the fetch authenticates it."""


@dataclass(frozen=True, slots=True)
class IntendedVendorMessage:
    vendor: str
    kind: MessageKind
    device_id: str
    """The identity logistics knows the device by: the full 15-digit IMEI (BodyTrace), the
    ``hwi_device_id`` (Tenovi, never the gateway's ``hardware_uuid``), the serial (MioConnect)."""
    reading_kind: ReadingKind | None = None
    observations: tuple[Observation, ...] = ()
    flags: frozenset[ReadingFlag] = frozenset()
    measured_at: datetime | None = None
    """The measurement time the payload states, timezone-aware UTC."""
    measured_at_source: MeasuredAtSource | None = None
    true_measured_at: datetime | None = None
    """When the simulated patient really measured (differs from ``measured_at`` when the vendor estimated it)."""
    tz_offset_min: int | None = None
    billable: bool = False
    """Counts toward RPM days with data: device-captured readings only (no manual, test or heartbeat)."""
    battery_pct: int | None = None


@dataclass(frozen=True, slots=True)
class VendorDelivery:
    vendor: str
    path: str
    body: bytes
    intended: tuple[IntendedVendorMessage, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "POST"

    def json(self) -> Any:
        return json.loads(self.body)


def json_body(document: object) -> bytes:
    """Compact UTF-8 JSON, as vendor clouds send it."""
    return json.dumps(document, separators=(",", ":")).encode()
