"""What every cellular vendor decoder shares: the record it returns and strict readers for JSON
values (reference/cellular-and-logistics.md §0).

A vendor decoder turns one webhook body into :class:`VendorRecord` values, each a reading or a
message that is *not* a reading (heartbeat, status, test). Measurement keys carehub does not know
are refused with :class:`UnknownVendorField` instead of dropped; envelope keys it does not use are
ignored, so a vendor adding metadata does not stop ingestion."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from core.domain import MeasuredAtSource, Observation, ReadingFlag, ReadingKind
from drivers.errors import DateOutOfRange, MalformedValue, UnknownVendorField
from drivers.normalised import Normalised


class MessageType(StrEnum):
    READING = "reading"
    HEARTBEAT = "heartbeat"
    """Proof of life (battery, signal) without a measurement: updates last-seen, never a reading."""
    STATUS = "status"
    """Device or order status, battery-only metrics: not a reading."""
    TEST = "test"
    """Vendor test traffic: decoded for diagnostics, excluded from clinical data and billing."""


@dataclass(frozen=True, slots=True)
class VendorRecord:
    """One reading or non-reading message from a vendor payload. ``measured_at`` is aware UTC.
    ``idempotency_key`` is the vendor-specific key of §1.9, stable across resends. ``extras`` holds
    vendor values carehub has no metric for, as sent."""

    vendor: str
    message: MessageType
    device_id: str
    idempotency_key: str
    kind: ReadingKind | None = None
    observations: tuple[Observation, ...] = ()
    measured_at: datetime | None = None
    measured_at_source: MeasuredAtSource | None = None
    flags: frozenset[ReadingFlag] = frozenset()
    device_captured: bool = True
    tz_offset_min: int | None = None
    vendor_received_at: datetime | None = None
    battery_pct: int | None = None
    battery_mv: int | None = None
    signal_dbm: int | None = None
    extras: tuple[tuple[str, Any], ...] = ()

    def normalise(self) -> Normalised:
        return Normalised(
            kind=self.kind,
            observations=self.observations,
            measured_at=self.measured_at,
            measured_at_source=self.measured_at_source,
            flags=self.flags,
            storable=self.message is MessageType.READING and bool(self.observations),
            device_captured=self.device_captured,
            battery_pct=self.battery_pct,
        )


@dataclass(frozen=True, slots=True)
class VendorPayload:
    """A decoded vendor webhook body."""

    vendor: str
    records: tuple[VendorRecord, ...]


def _refuse_constant(name: str) -> float:
    raise MalformedValue(f"JSON constant {name} is not a number carehub accepts")


def parse_json(body: bytes | str) -> Any:
    """The JSON document in ``body``; NaN/Infinity literals and invalid UTF-8 are refused."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedValue(f"body is not JSON: {type(exc).__name__}") from None


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MalformedValue(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def require(document: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in document or document[key] is None:
        raise MalformedValue(f"{what} has no {key!r}")
    return document[key]


def number(value: Any, what: str) -> float:
    """A finite JSON number, or a string holding one (Tenovi sends ``"128"``); never a bool."""
    if isinstance(value, bool):
        raise MalformedValue(f"{what} is a boolean, not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise MalformedValue(f"{what} {value[:32]!r} is not a number") from None
    if not isinstance(value, (int, float)):
        raise MalformedValue(f"{what} is {type(value).__name__}, not a number")
    try:
        result = float(value)
    except OverflowError:
        raise MalformedValue(f"{what} is too large") from None
    if not math.isfinite(result):
        raise MalformedValue(f"{what} is not finite")
    return result


def integer(value: Any, what: str) -> int:
    result = number(value, what)
    if not result.is_integer():
        raise MalformedValue(f"{what} {result} is not a whole number")
    return int(result)


def text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MalformedValue(f"{what} must be a string")
    return str(value)


def flag(value: Any, what: str) -> bool:
    """A JSON boolean or 0/1 (vendors use both)."""
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    raise MalformedValue(f"{what} must be true/false or 0/1")


def utc_from_epoch(seconds: float, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, ValueError, OSError):
        raise DateOutOfRange(f"{what} {seconds} is not a representable time") from None


def utc_from_iso(value: Any, what: str) -> datetime:
    """An ISO-8601 time; a value without an offset is taken as UTC (vendors document UTC)."""
    if not isinstance(value, str):
        raise MalformedValue(f"{what} must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedValue(f"{what} {value[:40]!r} is not ISO-8601") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise DateOutOfRange(f"{what} {value[:40]!r} leaves the calendar in UTC") from None


def refuse_unknown(keys: Iterable[str], known: Iterable[str], where: str) -> None:
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise UnknownVendorField(f"{where} has unknown measurement keys {unknown[:8]}")
