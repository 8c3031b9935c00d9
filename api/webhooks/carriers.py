"""Carrier tracking webhooks on ``POST /webhooks/easypost`` and ``POST /webhooks/shippo``
(reference/cellular-and-logistics.md §3.4): an authenticated EasyPost ``Event`` or Shippo *Track Updated*
body becomes a carrier event on the practice's shipment
(:func:`provisioning.shipping.record_carrier_event`), which records it and moves the shipment's units
as custody allows (in transit, delivered, returned to sender...), in the envelope's transaction.

Answers are chosen so the carrier service neither retries what cannot succeed nor disables the
webhook: an event for a tracker carehub does not know (another parcel on the same account) and events
that are not about tracking are acknowledged and counted; a body that is not such an event is stored,
dead-lettered and answered 422. A repeated event is a duplicate and changes nothing (Shippo's tracking
webhooks are not idempotent: its events are keyed by the status's ``object_id``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import psycopg

from api.webhooks.processing import Outcome, dead_letter
from api.webhooks.repository import Envelope, mark_processed
from drivers.errors import DecodeError
from drivers.vendors.payload import parse_json
from provisioning import shipping
from provisioning.registry import UnknownRecord
from provisioning.shipping import CarrierEvent
from provisioning.tracking_numbers import InvalidTrackingNumber

logger = logging.getLogger(__name__)

CARRIERS = frozenset({"easypost", "shippo"})
"""Webhook sources that post carrier tracking events rather than readings."""


def process(conn: psycopg.Connection[Any], envelope: Envelope, *, now: datetime) -> Outcome:
    """Apply one envelope's carrier event in the caller's transaction and mark it processed at ``now``."""
    outcome = Outcome()
    _apply(conn, envelope, outcome)
    mark_processed(conn, envelope.id, outcome.as_json(), now)
    return outcome


def _count(outcome: Outcome, what: str) -> None:
    outcome.carrier_events[what] = outcome.carrier_events.get(what, 0) + 1


def _tracking_event(carrier: str, document: Any) -> Callable[[Mapping[str, Any]], CarrierEvent] | str | None:
    """The decoder for a tracking event; a reason when ``document`` is not this source's event at all;
    None for one of its other events (nothing carehub tracks)."""
    if carrier == "easypost":
        if not isinstance(document, dict) or document.get("object") != "Event":
            return "not an EasyPost Event object"
        description = document.get("description")
        tracker = isinstance(description, str) and description.startswith("tracker.")
        live = document.get("mode") != "test"  # test-mode trackers are the integrator's, never a parcel
        return shipping.from_easypost if tracker and live else None  # batch.*, shipment.*, refund.*...
    if not isinstance(document, dict):
        return "not a Shippo webhook object"
    event = document.get("event")  # absent when the body is the track object itself
    live = document.get("test") is not True  # Shippo's test webhooks (SHIPPO_* tracking numbers)
    return shipping.from_shippo if event in (None, "track_updated") and live else None  # transaction_created...


def _apply(conn: psycopg.Connection[Any], envelope: Envelope, outcome: Outcome) -> None:
    topic = f"webhooks/{envelope.vendor}"
    try:
        document = parse_json(envelope.body)
    except DecodeError as exc:
        outcome.undecodable_parts += 1
        dead_letter(conn, envelope, topic, "malformed_value", exc.reason, envelope.body)
        return
    decoder = _tracking_event(envelope.vendor, document)
    if isinstance(decoder, str):
        outcome.undecodable_parts += 1
        dead_letter(conn, envelope, topic, "invalid_carrier_event", decoder, envelope.body)
        return
    if decoder is None:
        outcome.decoded_parts += 1
        _count(outcome, "ignored")
        return
    try:
        event = decoder(document)
    except shipping.InvalidCarrierEvent as exc:
        outcome.undecodable_parts += 1
        dead_letter(conn, envelope, topic, "invalid_carrier_event", str(exc), envelope.body)
        return
    outcome.decoded_parts += 1
    try:
        applied = shipping.record_carrier_event(conn, event, practice_id=envelope.practice_id)
    except (UnknownRecord, InvalidTrackingNumber):
        _count(outcome, "no_shipment")
        logger.info("carrier event for no shipment of the practice", extra={"envelope_id": envelope.id})
        return
    _count(outcome, "duplicate" if applied.duplicate else "applied")
    if applied.moved:
        outcome.carrier_events["units_moved"] = outcome.carrier_events.get("units_moved", 0) + len(applied.moved)
