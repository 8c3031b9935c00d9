"""Work done inside the ingest transaction when readings are stored (an :mod:`ingest.hooks` hook):

- **Activation**: a unit's first accepted device reading moves it to ``activated`` and records
  ``activated_at`` = that reading's ``measured_at`` with the reading id as evidence (99453 evidence:
  set-up happened and the device transmits). Delivery (a carrier scan) is a different date.
- **Replacement close-out**: when the replacement in an open :mod:`provisioning.replacement` has its
  first reading, the old unit's patient and hub assignments end at that reading's ``measured_at``:
  readings the old unit took before still count for the patient however late they upload, later
  ones do not (``reference/cellular-and-logistics.md`` §3.2).

Patient-typed values (``manual_entry``) are not device transmissions (RPM-DEV-2) and activate
nothing. The hook only sees newly stored readings, so a redelivered batch does nothing twice; it
runs in the writer's transaction, so activation commits or rolls back with the readings."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from core.domain import ReadingFlag
from ingest.hooks import StoredReading
from provisioning import inventory
from provisioning.custody import TRANSITIONS, CustodyAction, CustodyError

logger = logging.getLogger(__name__)

ACTIVATABLE_STATES = tuple(sorted(s.value for (s, a) in TRANSITIONS if a is CustodyAction.ACTIVATE))


def first_device_readings(readings: list[StoredReading]) -> dict[str, StoredReading]:
    """Per device id, its earliest-measured stored reading that a device transmitted by itself."""
    first: dict[str, StoredReading] = {}
    for reading in readings:
        if ReadingFlag.MANUAL_ENTRY.value in reading.flags:
            continue
        best = first.get(reading.device_id)
        if best is None or (reading.measured_at, reading.reading_id) < (best.measured_at, best.reading_id):
            first[reading.device_id] = reading
    return first


class ActivationHook:
    """Registered in ``carehub.commands.ingest.stored_readings_hooks``."""

    name = "provisioning_activation"

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[StoredReading]) -> None:
        first = first_device_readings(readings)
        if not first:
            return
        device_ids = list(first)
        # One probe per batch: which of these devices are waiting for a first reading, and which are
        # replacements whose old unit is still assigned.
        rows = conn.execute(
            """
            SELECT d.id::text, d.custody_state = ANY(%(states)s) AND d.activated_at IS NULL, r.id, r.old_device_id
              FROM devices d
              LEFT JOIN device_replacements r ON r.new_device_id = d.id AND r.closed_at IS NULL
             WHERE d.id = ANY(%(ids)s::uuid[])
               AND ((d.custody_state = ANY(%(states)s) AND d.activated_at IS NULL) OR r.id IS NOT NULL)
             ORDER BY d.id  -- rows are then locked in one global order: concurrent workers cannot deadlock
            """,
            {"states": list(ACTIVATABLE_STATES), "ids": device_ids},
        ).fetchall()
        for device_id, activatable, replacement_id, old_device_id in rows:
            reading = first[device_id]
            if activatable:
                activate(conn, UUID(device_id), reading)
            if replacement_id is not None:
                close_replacement(conn, replacement_id, old_device_id, reading.measured_at, reading.reading_id)


def activate(conn: psycopg.Connection[Any], device_id: UUID, reading: StoredReading) -> None:
    try:
        inventory.transition(
            conn,
            device_id,
            CustodyAction.ACTIVATE,
            at=reading.measured_at,
            actor_id=None,
            actor_kind="ingest",
            reason="first_reading",
            # a cellular device's reading (vendor webhook) has no hub
            evidence={"reading_id": reading.reading_id, "hub_id": reading.hub_id or "none"},
        )
    except CustodyError as exc:
        # Staff moved the unit between the probe and the lock (say, reported it lost). The reading
        # is stored either way; failing here would dead-letter the whole message.
        logger.warning(
            "device not activated: its custody changed concurrently",
            extra={"device_serial": reading.device_serial, "error": str(exc)},
        )
        return
    logger.info(
        "device activated by its first reading",
        extra={"device_serial": reading.device_serial, "hub_id": reading.hub_id},
    )


def close_replacement(
    conn: psycopg.Connection[Any], replacement_id: Any, old_device_id: Any, at: datetime, reading_id: str
) -> None:
    """End the old unit's assignments at the replacement's first reading and close the replacement."""
    conn.execute(
        "UPDATE device_patient_assignments SET valid_to = %(at)s"
        " WHERE device_id = %(old)s AND valid_from < %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)",
        {"at": at, "old": old_device_id},
    )
    conn.execute(
        "UPDATE device_hub_assignments SET valid_to = %(at)s"
        " WHERE device_id = %(old)s AND valid_from < %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)",
        {"at": at, "old": old_device_id},
    )
    conn.execute(
        "UPDATE device_replacements SET closed_at = %s, closed_by_reading = %s WHERE id = %s",
        (at, reading_id, replacement_id),
    )
    state = conn.execute("SELECT custody_state FROM devices WHERE id = %s", (old_device_id,)).fetchone()
    logger.info(
        "replacement closed at the new device's first reading",
        extra={"replacement_id": str(replacement_id), "old_state": state[0] if state else None},
    )
