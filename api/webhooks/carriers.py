"""Carrier tracking webhooks on ``POST /webhooks/easypost`` (reference/cellular-and-logistics.md §3.4):
an authenticated EasyPost ``Event`` becomes a carrier event on the practice's shipment
(:func:`provisioning.shipping.record_carrier_event`), which records it and moves the shipment's units
as custody allows (in transit, delivered, returned to sender...), in the envelope's transaction.

Answers are chosen so EasyPost neither retries what cannot succeed nor disables the webhook: an event
for a tracker carehub does not know (another parcel on the same EasyPost account) and events that are
not about trackers are acknowledged and counted; a body that is not an EasyPost event is stored,
dead-lettered and answered 422. A repeated event is a duplicate and changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from api.webhooks.processing import Outcome, dead_letter
from api.webhooks.repository import Envelope, mark_processed
from drivers.errors import DecodeError
from drivers.vendors.payload import parse_json
from provisioning import shipping
from provisioning.registry import UnknownRecord
from provisioning.tracking_numbers import InvalidTrackingNumber

logger = logging.getLogger(__name__)

CARRIERS = frozenset({"easypost"})
"""Webhook sources that post carrier tracking events rather than readings."""


def process(conn: psycopg.Connection[Any], envelope: Envelope, *, now: datetime) -> Outcome:
    """Apply one envelope's carrier event in the caller's transaction and mark it processed at ``now``."""
    outcome = Outcome()
    _apply(conn, envelope, outcome)
    mark_processed(conn, envelope.id, outcome.as_json(), now)
    return outcome


def _count(outcome: Outcome, what: str) -> None:
    outcome.carrier_events[what] = outcome.carrier_events.get(what, 0) + 1


def _apply(conn: psycopg.Connection[Any], envelope: Envelope, outcome: Outcome) -> None:
    topic = f"webhooks/{envelope.vendor}"
    try:
        document = parse_json(envelope.body)
    except DecodeError as exc:
        outcome.undecodable_parts += 1
        dead_letter(conn, envelope, topic, "malformed_value", exc.reason, envelope.body)
        return
    if not isinstance(document, dict) or document.get("object") != "Event":
        outcome.undecodable_parts += 1
        dead_letter(conn, envelope, topic, "invalid_carrier_event", "not an EasyPost Event object", envelope.body)
        return
    description = document.get("description")
    if not (isinstance(description, str) and description.startswith("tracker.")):
        outcome.decoded_parts += 1
        _count(outcome, "ignored")  # batch.*, shipment.*, refund.*...: nothing carehub tracks
        return
    try:
        event = shipping.from_easypost(document)
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
