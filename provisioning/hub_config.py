"""Desired and reported hub configuration (``down/config/desired``, ``up/config/reported``;
:class:`core.hub_messages.HubConfig` / :class:`~core.hub_messages.ReportedConfig`).

A committed change to a hub's device assignments is never left unpublished: a trigger on
``device_hub_assignments`` marks the hub in ``hub_config_pending`` in the same transaction; the
publisher (:mod:`provisioning.config_publisher`) turns each pending hub into the next version in
the ``hub_config_outbox`` (:func:`materialise_pending`), publishes it retained at QoS 1 and marks it
published after the broker's PUBACK (:func:`mark_published`). A crash anywhere leaves either a
pending mark or an unpublished outbox row, and the next round finishes the job. Versions only
increase; when a newer version exists before an older one went out, the older one is superseded.

The whitelist holds the devices assigned to the hub now or later (a scheduled assignment is
whitelisted early; ingest still checks the time), never a blocked unit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.domain import DeviceKind
from core.errors import CarehubError
from core.hub_messages import MAX_WHITELIST_ENTRIES, HubConfig, ReportedConfig, WhitelistEntry
from provisioning.registry import Conn

logger = logging.getLogger(__name__)

PENDING_BATCH = 100


class HubConfigError(CarehubError):
    """A hub's desired configuration cannot be built."""


def build_config(version: int, issued_at: datetime, entries: Sequence[WhitelistEntry]) -> HubConfig:
    if len(entries) > MAX_WHITELIST_ENTRIES:
        raise HubConfigError(f"{len(entries)} devices on one hub; a hub whitelists at most {MAX_WHITELIST_ENTRIES}")
    return HubConfig(version=version, issued_at=issued_at, whitelist=list(entries))


def whitelist(conn: Conn, hub_id: str, at: datetime) -> list[WhitelistEntry]:
    rows = conn.execute(
        """
        SELECT d.serial, d.kind, d.ble_address, a.id::text, coalesce(m.model, d.model)
          FROM device_hub_assignments a
          JOIN devices d ON d.id = a.device_id
          LEFT JOIN device_models m ON m.id = d.model_id
         WHERE a.hub_id = %s AND (a.valid_to IS NULL OR a.valid_to > %s) AND d.blocked_at IS NULL
         ORDER BY d.serial, a.valid_from
        """,
        (hub_id, at),
    ).fetchall()
    entries: dict[str, WhitelistEntry] = {}
    for serial, kind, address, assignment, model in rows:
        # the earliest current-or-future assignment of a device names it
        entries.setdefault(
            serial,
            WhitelistEntry(
                serial=serial,
                kind=DeviceKind(kind),
                address=address,
                assignment=assignment,
                model=model[:64] if model else None,
            ),
        )
    return list(entries.values())


def materialise_pending(conn: Conn, at: datetime) -> list[tuple[str, int]]:
    """Turn pending hubs into new outbox versions, in one transaction; returns (hub, version)."""
    issued: list[tuple[str, int]] = []
    with conn.transaction():
        pending = conn.execute(
            "SELECT hub_id FROM hub_config_pending ORDER BY hub_id LIMIT %s FOR UPDATE SKIP LOCKED", (PENDING_BATCH,)
        ).fetchall()
        for (hub_id,) in pending:
            conn.execute("INSERT INTO hub_config_state (hub_id) VALUES (%s) ON CONFLICT DO NOTHING", (hub_id,))
            row = conn.execute(
                "UPDATE hub_config_state SET desired_version = desired_version + 1 WHERE hub_id = %s"
                " RETURNING desired_version",
                (hub_id,),
            ).fetchone()
            version = int(row[0]) if row else 1
            try:
                config = build_config(version, at, whitelist(conn, hub_id, at))
            except HubConfigError:
                # One misconfigured hub must not hold back every other hub's configuration.
                logger.exception("desired config cannot be built; the hub stays pending", extra={"hub_id": hub_id})
                conn.execute(
                    "UPDATE hub_config_state SET desired_version = desired_version - 1 WHERE hub_id = %s", (hub_id,)
                )
                continue
            conn.execute(
                "UPDATE hub_config_outbox SET superseded = true WHERE hub_id = %s AND published_at IS NULL",
                (hub_id,),
            )
            conn.execute(
                "INSERT INTO hub_config_outbox (hub_id, version, payload) VALUES (%s, %s, %s)",
                (hub_id, version, config.to_json()),
            )
            conn.execute("DELETE FROM hub_config_pending WHERE hub_id = %s", (hub_id,))
            issued.append((hub_id, version))
    return issued


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    hub_id: str
    version: int
    payload: bytes


def unpublished(conn: Conn, limit: int = 500) -> list[OutboxEntry]:
    rows = conn.execute(
        "SELECT hub_id, version, payload FROM hub_config_outbox WHERE published_at IS NULL AND NOT superseded"
        " ORDER BY hub_id, version LIMIT %s",
        (limit,),
    ).fetchall()
    return [OutboxEntry(r[0], r[1], bytes(r[2])) for r in rows]


def mark_published(conn: Conn, entry: OutboxEntry, at: datetime) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE hub_config_outbox SET published_at = %s WHERE hub_id = %s AND version = %s",
            (at, entry.hub_id, entry.version),
        )
        conn.execute(
            "UPDATE hub_config_state SET published_version = greatest(published_version, %s) WHERE hub_id = %s",
            (entry.version, entry.hub_id),
        )


def record_reported(conn: Conn, hub_id: str, reported: ReportedConfig, at: datetime) -> bool:
    """Store what the hub says it runs; False for a hub carehub does not know."""
    with conn.transaction():
        known = conn.execute("SELECT 1 FROM hubs WHERE id = %s", (hub_id,)).fetchone()
        if known is None:
            return False
        conn.execute(
            """
            INSERT INTO hub_config_state (hub_id, reported_version, reported_applied_at, reported_errors, reported_at)
            VALUES (%(hub)s, %(version)s, %(applied)s, %(errors)s, %(at)s)
            ON CONFLICT (hub_id) DO UPDATE SET reported_version = EXCLUDED.reported_version,
                reported_applied_at = EXCLUDED.reported_applied_at, reported_errors = EXCLUDED.reported_errors,
                reported_at = EXCLUDED.reported_at
            """,
            {
                "hub": hub_id,
                "version": reported.version,
                "applied": reported.applied_at,
                "errors": list(reported.errors),
                "at": at,
            },
        )
    return True


@dataclass(frozen=True, slots=True)
class HubConfigStatus:
    hub_id: str
    desired_version: int
    published_version: int
    reported_version: int | None
    reported_at: datetime | None
    reported_errors: tuple[str, ...]

    @property
    def in_sync(self) -> bool:
        return self.reported_version == self.desired_version and not self.reported_errors


def request_reissue(conn: Conn, hub_id: str, at: datetime) -> None:
    """Have the publisher issue the hub's desired configuration again as the next version (a hub
    that lost its retained message, a replaced SD card): the same pending mark an assignment change
    leaves, so the usual round materialises and publishes it."""
    conn.execute(
        "INSERT INTO hub_config_pending (hub_id, changed_at) VALUES (%s, %s)"
        " ON CONFLICT (hub_id) DO UPDATE SET changed_at = excluded.changed_at",
        (hub_id, at),
    )


def config_status(conn: Conn, hub_id: str | None = None) -> list[HubConfigStatus]:
    rows = conn.execute(
        "SELECT hub_id, desired_version, published_version, reported_version, reported_at, reported_errors"
        " FROM hub_config_state WHERE %(hub)s::text IS NULL OR hub_id = %(hub)s ORDER BY hub_id",
        {"hub": hub_id},
    ).fetchall()
    return [HubConfigStatus(r[0], r[1], r[2], r[3], r[4], tuple(r[5])) for r in rows]
