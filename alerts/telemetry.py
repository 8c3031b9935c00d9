"""The latest telemetry of each device, one row per device in ``device_telemetry``: battery, clock
offset, radio signal and proof of life. Hubs report it for their BLE devices in ``up/events``
(:mod:`alerts.presence`); cellular devices through their vendor's webhooks
(:mod:`api.webhooks.processing`). The scheduler's device rules read it (DEV-1 and DEV-2 battery,
DEV-4 silence, DEV-5 clock), and so does the engagement of a deployed device.

Each value keeps the newest by its own time: an event redelivered or arriving out of order never
overwrites a newer one, and a later message without a battery level keeps the last known level."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Telemetry:
    """What one message said about one device, at ``at`` (when the device sent it)."""

    at: datetime
    battery_pct: int | None = None
    battery_mv: int | None = None
    battery_estimated: bool = False
    """``battery_pct`` was estimated from ``battery_mv`` (:func:`estimated_battery_pct`)."""
    clock_offset_s: float | None = None
    signal_dbm: int | None = None
    heartbeat: bool = False
    """A vendor heartbeat: proof of life without a measurement."""


def estimated_battery_pct(battery_mv: int, empty_mv: int, full_mv: int) -> int:
    """A battery percentage from a voltage, linear over the device's working range and clamped to
    0–100; rounded down, so a low battery is never reported higher than the voltage shows (a
    BodyTrace scale at 4,960 mV of its 4,700–6,000 mV range is at 20 %, DEV-1's bound; 4,959 mV is 19 %).
    """
    if full_mv <= empty_mv:
        raise ValueError(f"working range {empty_mv}–{full_mv} mV is empty")
    share = (battery_mv - empty_mv) / (full_mv - empty_mv)
    return max(0, min(100, math.floor(share * 100 + 1e-9)))


_UPSERT = """
INSERT INTO device_telemetry AS t (device_id, practice_id, hub_id, battery_pct, battery_mv, battery_estimated,
                                   battery_at, clock_offset_s, clock_at, signal_dbm, signal_at,
                                   last_heartbeat_at, last_event_at)
VALUES (%(d)s, %(p)s, %(h)s, %(b)s, %(mv)s, %(est)s,
        CASE WHEN %(b)s::int IS NULL AND %(mv)s::int IS NULL THEN NULL ELSE %(at)s::timestamptz END,
        %(c)s, CASE WHEN %(c)s::float8 IS NULL THEN NULL ELSE %(at)s::timestamptz END,
        %(s)s, CASE WHEN %(s)s::int IS NULL THEN NULL ELSE %(at)s::timestamptz END,
        CASE WHEN %(hb)s THEN %(at)s::timestamptz END, %(at)s)
ON CONFLICT (device_id) DO UPDATE SET
    hub_id = CASE WHEN excluded.last_event_at >= t.last_event_at THEN excluded.hub_id ELSE t.hub_id END,
    battery_pct = CASE WHEN excluded.battery_at >= coalesce(t.battery_at, '-infinity')
                       THEN excluded.battery_pct ELSE t.battery_pct END,
    battery_mv = CASE WHEN excluded.battery_at >= coalesce(t.battery_at, '-infinity')
                      THEN excluded.battery_mv ELSE t.battery_mv END,
    battery_estimated = CASE WHEN excluded.battery_at >= coalesce(t.battery_at, '-infinity')
                             THEN excluded.battery_estimated ELSE t.battery_estimated END,
    battery_at = greatest(t.battery_at, excluded.battery_at),
    clock_offset_s = CASE WHEN excluded.clock_at >= coalesce(t.clock_at, '-infinity')
                          THEN excluded.clock_offset_s ELSE t.clock_offset_s END,
    clock_at = greatest(t.clock_at, excluded.clock_at),
    signal_dbm = CASE WHEN excluded.signal_at >= coalesce(t.signal_at, '-infinity')
                      THEN excluded.signal_dbm ELSE t.signal_dbm END,
    signal_at = greatest(t.signal_at, excluded.signal_at),
    last_heartbeat_at = greatest(t.last_heartbeat_at, excluded.last_heartbeat_at),
    last_event_at = greatest(t.last_event_at, excluded.last_event_at)
"""


def record(conn: Conn, device_id: str, practice_id: str, hub_id: str | None, telemetry: Telemetry) -> None:
    """Merge one message's telemetry into the device's row (``hub_id`` None for a cellular device)."""
    t = telemetry
    conn.execute(
        _UPSERT,
        {
            "d": device_id,
            "p": practice_id,
            "h": hub_id,
            "b": t.battery_pct,
            "mv": t.battery_mv,
            "est": t.battery_estimated,
            "c": t.clock_offset_s,
            "s": t.signal_dbm,
            "hb": t.heartbeat,
            "at": t.at,
        },
    )
