"""From a decoded frame to the reading the outbox stores: measurement time, its source, the
deduplication key and the ``up/readings`` JSON of one reading (:class:`ingest.wire.ReadingIn`).

Pure: the receive time, the home's time zone and what the device session learned about the
device clock are passed in.

Device time (``reference/ble-health-profiles.md`` §12). BLE time stamps are naive device-local wall
clock; they are read in the home's zone. At each connection the session reads the device clock
before writing it and keeps ``offset = hub UTC now − device clock as UTC``:

- no readable clock (offset unknown): the stamp is used as sent (``device_clock``) unless it is
  impossible (before 2010, or later than the receipt time plus :data:`FUTURE_TOLERANCE`), or the
  device flags its own clock as unset: then the receipt time is used (``hub_receipt``) with
  ``clock_not_set``;
- ``|offset|`` within the threshold: the stamp is used as sent (``device_clock``);
- otherwise the stamp was made by a wrong clock and is shifted by the offset
  (``device_clock_corrected``) — unless the hub wrote the clock during this connection and the stamp
  agrees with the receipt time within the threshold, i.e. it was made by the corrected clock.
  A corrected time that still lies in the future falls back to ``hub_receipt``.

Deduplication key: device serial, reading kind, the device's own stamp (before correction, so a
replayed record maps to the same key whatever offset was measured on that connection), user, RACP
sequence number and the values; a frame without a stamp uses the receipt time, so only an exact
repeat is suppressed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from core.domain import MeasuredAtSource, ReadingFlag
from drivers.normalised import Normalised
from gateway.outbox import OutboxReading

FUTURE_TOLERANCE: Final = timedelta(minutes=5)
EARLIEST_PLAUSIBLE: Final = datetime(2010, 1, 1, tzinfo=UTC)
MEMORY_MARGIN: Final = timedelta(seconds=90)
"""A stamp this much older than the connection start is a record from the device's memory."""


@dataclass(frozen=True, slots=True)
class ClockView:
    """What a device session knows about a device's clock on this connection."""

    zone: ZoneInfo
    offset: timedelta | None = None
    """hub UTC − device clock read as local time in ``zone``, measured before any write."""
    threshold: timedelta = timedelta(seconds=60)
    written: bool = False
    """The hub set the device clock during this connection."""


@dataclass(frozen=True, slots=True)
class ResolvedTime:
    measured_at: datetime
    source: MeasuredAtSource
    device_time_utc: datetime | None
    clock_not_set: bool = False


def device_time_as_utc(device_time: datetime, zone: ZoneInfo) -> datetime:
    if device_time.tzinfo is not None:
        return device_time.astimezone(UTC)
    return device_time.replace(tzinfo=zone).astimezone(UTC)


def resolve_time(
    device_time: datetime | None, *, received_at: datetime, clock: ClockView, flagged_unset: bool = False
) -> ResolvedTime:
    """The reading's UTC ``measured_at`` and where it came from (see the module docstring)."""
    if device_time is None:
        return ResolvedTime(received_at, MeasuredAtSource.HUB_RECEIPT, None)
    stamp = device_time_as_utc(device_time, clock.zone)
    latest = received_at + FUTURE_TOLERANCE
    if clock.offset is None:
        if flagged_unset or stamp < EARLIEST_PLAUSIBLE or stamp > latest:
            return ResolvedTime(received_at, MeasuredAtSource.HUB_RECEIPT, stamp, clock_not_set=True)
        return ResolvedTime(stamp, MeasuredAtSource.DEVICE_CLOCK, stamp)
    if abs(clock.offset) <= clock.threshold and not flagged_unset:
        if stamp > latest:
            return ResolvedTime(received_at, MeasuredAtSource.HUB_RECEIPT, stamp, clock_not_set=True)
        return ResolvedTime(stamp, MeasuredAtSource.DEVICE_CLOCK, stamp)
    if clock.written and abs(received_at - stamp) <= clock.threshold:
        return ResolvedTime(stamp, MeasuredAtSource.DEVICE_CLOCK, stamp)
    corrected = stamp + clock.offset
    if corrected > latest or corrected < EARLIEST_PLAUSIBLE:
        return ResolvedTime(received_at, MeasuredAtSource.HUB_RECEIPT, stamp, clock_not_set=True)
    return ResolvedTime(corrected, MeasuredAtSource.DEVICE_CLOCK_CORRECTED, stamp, clock_not_set=flagged_unset)


@dataclass(frozen=True, slots=True)
class DeviceRef:
    serial: str
    address: str | None


def dedup_key(
    device: DeviceRef,
    normalised: Normalised,
    *,
    stamp: datetime | None,
    received_at: datetime,
    sequence: int | None,
) -> str:
    parts: list[Any] = [
        device.serial,
        normalised.kind.value if normalised.kind else None,
        (stamp or received_at).isoformat(),
        normalised.user_id,
        sequence,
        [(o.metric.value, o.value, o.special.value if o.special else None) for o in normalised.observations],
    ]
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()[:32]


def _observation_json(normalised: Normalised) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for obs in normalised.observations:
        # The device's own number and unit when it converted: ingest converts once and keeps both.
        unit = obs.source_unit or obs.unit
        item: dict[str, Any] = {"code": obs.metric.value, "unit": unit.value}
        if obs.special is not None:
            item["special"] = obs.special.value
        else:
            item["value"] = float(obs.source_value if obs.source_value is not None else obs.value)  # type: ignore[arg-type]
        out.append(item)
    return out


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_reading(
    normalised: Normalised,
    *,
    device: DeviceRef,
    reading_id: str,
    received_at: datetime,
    connected_at: datetime,
    clock: ClockView,
    racp_sequence: int | None = None,
    battery_pct: int | None = None,
    moves_cursor: bool = True,
    from_memory: bool = False,
) -> OutboxReading | None:
    """The outbox reading for a storable frame; None for frames that are not readings.
    ``racp_sequence`` is part of the deduplication key; it moves the device's RACP cursor only with
    ``moves_cursor`` (not for the newest-record probe that precedes a download). ``from_memory``:
    the frame is part of a RACP report."""
    if not normalised.storable or normalised.kind is None or not normalised.observations:
        return None
    unset = ReadingFlag.CLOCK_NOT_SET in normalised.flags
    resolved = resolve_time(normalised.measured_at, received_at=received_at, clock=clock, flagged_unset=unset)
    flags = set(normalised.flags)
    if resolved.clock_not_set:
        flags.add(ReadingFlag.CLOCK_NOT_SET)
    # A RACP report is memory by definition; anything else is memory when it predates the connection.
    from_memory = from_memory or resolved.measured_at < connected_at - MEMORY_MARGIN
    body: dict[str, Any] = {
        "reading_id": reading_id,
        "device_serial": device.serial,
        "kind": normalised.kind.value,
        "measured_at": _iso(resolved.measured_at),
        "measured_at_source": resolved.source.value,
        "received_at": _iso(received_at),
        "from_device_memory": from_memory,
        "observations": _observation_json(normalised),
    }
    if device.address:
        body["device_address"] = device.address
    if flags:
        body["flags"] = sorted(f.value for f in flags)
    if normalised.user_id is not None:
        body["user_index"] = normalised.user_id
    battery = normalised.battery_pct if normalised.battery_pct is not None else battery_pct
    if battery is not None:
        body["battery_pct"] = battery
    key = dedup_key(device, normalised, stamp=resolved.device_time_utc, received_at=received_at, sequence=racp_sequence)
    return OutboxReading(
        reading_id=reading_id,
        dedup_key=key,
        device_serial=device.serial,
        measured_at=resolved.measured_at,
        body=json.dumps(body, separators=(",", ":")).encode(),
        racp_sequence=racp_sequence if moves_cursor else None,
    )
