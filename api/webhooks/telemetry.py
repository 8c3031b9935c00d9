"""What a cellular vendor's messages say about its devices, into ``device_telemetry``
(:mod:`alerts.telemetry`): battery (a percentage, or a voltage carehub turns into an estimated
percentage), radio signal, and proof of life. Heartbeats (BodyTrace ``values: {}``) are the messages
that tell "the patient stopped measuring" (heartbeats still arriving) from "the device died" (nothing
at all), reference/cellular-and-logistics.md §3.1; readings and status messages prove life too.

Only devices registered as cellular in the envelope's practice and not blocked are touched; test
traffic never is. Values outside what a device can report (a percentage above 100, a non-positive
voltage, a signal above 0 dBm) are left out rather than stored, so telemetry never makes the
envelope's transaction fail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from alerts import telemetry
from alerts.telemetry import Telemetry, estimated_battery_pct
from drivers.vendors import BATTERY_RANGES_MV, MessageType, VendorRecord

SIGNAL_DBM_RANGE = (-200, 0)


def of_record(vendor: str, record: VendorRecord, received_at: datetime) -> Telemetry | None:
    """The telemetry in one record (None for test traffic). Its time is the latest the record knows
    (the vendor received it, the device sent or measured it), else when carehub received it, and never
    after that (a device clock running ahead must not postpone the silence rules)."""
    if record.message is MessageType.TEST:
        return None
    known = [t for t in (record.vendor_received_at, record.measured_at) if t is not None]
    at = min(max(known), received_at) if known else received_at
    pct = record.battery_pct if record.battery_pct is not None and 0 <= record.battery_pct <= 100 else None
    mv = record.battery_mv if record.battery_mv is not None and record.battery_mv > 0 else None
    estimated = False
    if pct is None and mv is not None and vendor in BATTERY_RANGES_MV:
        pct, estimated = estimated_battery_pct(mv, *BATTERY_RANGES_MV[vendor]), True
    low, high = SIGNAL_DBM_RANGE
    signal = record.signal_dbm if record.signal_dbm is not None and low <= record.signal_dbm <= high else None
    return Telemetry(
        at,
        battery_pct=pct,
        battery_mv=mv,
        battery_estimated=estimated,
        signal_dbm=signal,
        heartbeat=record.message is MessageType.HEARTBEAT,
    )


_DEVICES = """
SELECT DISTINCT ON (k.key) k.key, x.id::text
  FROM unnest(%s::text[]) AS k(key)
  JOIN devices x ON x.practice_id = %s AND x.connectivity = 'cellular' AND x.blocked_at IS NULL
                AND (x.imei = k.key OR x.serial = k.key)
 ORDER BY k.key, x.imei = k.key DESC NULLS LAST
"""


def record_all(
    conn: psycopg.Connection[Any], vendor: str, practice_id: str, records: Sequence[VendorRecord], received_at: datetime
) -> int:
    """Merge every record's telemetry into its device's row; returns how many records did."""
    found = [(r.device_id, t) for r in records if (t := of_record(vendor, r, received_at)) is not None]
    if not found:
        return 0
    devices = dict(conn.execute(_DEVICES, (sorted({key for key, _ in found}), practice_id)).fetchall())
    written = 0
    for key, t in found:
        device_id = devices.get(key)
        if device_id is not None:
            telemetry.record(conn, device_id, practice_id, None, t)
            written += 1
    return written
