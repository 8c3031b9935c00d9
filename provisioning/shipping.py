"""Assignment and shipping: assign units to an enrolled patient, create a shipment (tracking number
checked with the carrier's check digit), and apply carrier status events in the normalised form of
``reference/cellular-and-logistics.md`` §3.4 (EasyPost ``Tracker``/``Event`` and Shippo track
webhooks map onto one :class:`CarrierEvent`).

Carrier events are idempotent (the same carrier event id twice is one row; Shippo says its webhooks
are not) and tolerate arriving out of order: an event moves a unit only when the machine allows it
from the unit's current state (a late ``in_transit`` after ``delivered`` is recorded, not applied).
A carrier ``delivered`` sets ``delivered_at``; the first device reading sets ``activated_at``
(:mod:`provisioning.activation`): two different dates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from psycopg import errors as pg_errors

from core.errors import CarehubError
from core.hub_messages import MAX_WHITELIST_ENTRIES
from provisioning import inventory
from provisioning.custody import TRANSITIONS, CustodyAction, CustodyState
from provisioning.eligibility import Program
from provisioning.enrollment import Address, enrolled_on, patient_address
from provisioning.registry import (
    Conn,
    DeviceRecord,
    RegistryError,
    UnknownRecord,
    assign_device_to_hub,
    assign_device_to_patient,
    device_by_serial,
    new_id,
)
from provisioning.tracking_numbers import Carrier, normalise_tracking_number


class ShippingError(RegistryError):
    """A shipping step was refused."""


class CarrierStatus(StrEnum):
    """EasyPost's tracker statuses (Shippo's map onto them, see :data:`SHIPPO_STATUS`)."""

    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    RETURN_TO_SENDER = "return_to_sender"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    ERROR = "error"
    UNKNOWN = "unknown"


SHIPPO_STATUS: Mapping[str, CarrierStatus] = {
    "PRE_TRANSIT": CarrierStatus.PRE_TRANSIT,
    "TRANSIT": CarrierStatus.IN_TRANSIT,
    "DELIVERED": CarrierStatus.DELIVERED,
    "RETURNED": CarrierStatus.RETURN_TO_SENDER,
    "FAILURE": CarrierStatus.FAILURE,
    "UNKNOWN": CarrierStatus.UNKNOWN,
}


class Direction(StrEnum):
    OUTBOUND = "outbound"
    RETURN = "return"


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    source: str  # 'easypost' | 'shippo' | 'manual'
    event_id: str
    carrier: Carrier
    tracking_number: str
    status: CarrierStatus
    occurred_at: datetime
    status_detail: str | None = None
    message: str | None = None
    place: Place | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """Where a scan happened (the carrier's ``tracking_location`` / ``location``)."""

    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None

    @classmethod
    def from_carrier(cls, location: Mapping[str, Any] | None) -> Place | None:
        if not location:
            return None
        return cls(location.get("city"), location.get("state"), location.get("zip"), location.get("country"))


class InvalidCarrierEvent(CarehubError):
    """A carrier webhook body does not have the fields §3.4 describes."""


def _carrier(name: str) -> Carrier:
    folded = name.strip().casefold()
    for carrier in Carrier:
        if folded.startswith(carrier.value):
            return carrier
    raise InvalidCarrierEvent(f"unsupported carrier {name[:30]!r}")


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise InvalidCarrierEvent("carrier event time has no offset")
    return parsed


def from_easypost(event: Mapping[str, Any]) -> CarrierEvent:
    """An EasyPost webhook ``Event`` (``tracker.created``/``tracker.updated``) with its ``result`` Tracker;
    the newest ``tracking_details`` entry gives the time and place."""
    try:
        tracker = event["result"]
        details = tracker.get("tracking_details") or []
        latest = details[-1] if details else {}
        return CarrierEvent(
            source="easypost",
            event_id=str(event["id"]),
            carrier=_carrier(str(tracker["carrier"])),
            tracking_number=str(tracker["tracking_code"]),
            status=CarrierStatus(tracker["status"]),
            occurred_at=_time(str(latest.get("datetime") or tracker["updated_at"])),
            status_detail=tracker.get("status_detail"),
            message=(latest.get("message") or None),
            place=Place.from_carrier(latest.get("tracking_location")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCarrierEvent(f"not an EasyPost tracker event: {type(exc).__name__}: {exc}") from exc


def from_shippo(body: Mapping[str, Any]) -> CarrierEvent:
    """A Shippo *Track Updated* webhook body (the track object, possibly under ``data``). Shippo
    sends no event id, so the status's ``object_id`` (or status + date) identifies it."""
    try:
        track = body.get("data") or body
        status = track["tracking_status"]
        event_id = status.get("object_id") or f"{status['status']}@{status['status_date']}"
        return CarrierEvent(
            source="shippo",
            event_id=str(event_id),
            carrier=_carrier(str(track["carrier"])),
            tracking_number=str(track["tracking_number"]),
            status=SHIPPO_STATUS[status["status"]],
            occurred_at=_time(str(status["status_date"])),
            status_detail=(status.get("substatus") or {}).get("code"),
            message=status.get("status_details"),
            place=Place.from_carrier(status.get("location")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidCarrierEvent(f"not a Shippo track event: {type(exc).__name__}: {exc}") from exc


_OUTBOUND_ACTIONS: Mapping[CarrierStatus, tuple[CustodyAction, ...]] = {
    CarrierStatus.IN_TRANSIT: (CustodyAction.CARRIER_SCAN,),
    CarrierStatus.OUT_FOR_DELIVERY: (CustodyAction.CARRIER_SCAN,),
    CarrierStatus.AVAILABLE_FOR_PICKUP: (CustodyAction.CARRIER_SCAN,),
    CarrierStatus.DELIVERED: (CustodyAction.DELIVER,),
    CarrierStatus.RETURN_TO_SENDER: (CustodyAction.RETURN_TO_SENDER,),
    CarrierStatus.FAILURE: (CustodyAction.DELIVERY_EXCEPTION,),
    CarrierStatus.ERROR: (CustodyAction.DELIVERY_EXCEPTION,),
    CarrierStatus.CANCELLED: (CustodyAction.CANCEL,),
}
_RETURN_ACTIONS: Mapping[CarrierStatus, tuple[CustodyAction, ...]] = {
    CarrierStatus.IN_TRANSIT: (CustodyAction.SHIP_RETURN,),
    CarrierStatus.OUT_FOR_DELIVERY: (CustodyAction.SHIP_RETURN,),
    CarrierStatus.DELIVERED: (CustodyAction.SHIP_RETURN, CustodyAction.RECEIVE_RETURN),
}


def custody_actions_for(direction: Direction, status: CarrierStatus, state: CustodyState) -> tuple[CustodyAction, ...]:
    """The custody actions a carrier status causes for a unit in ``state``: only those legal in
    sequence from it (a stale or repeated status causes none). ``unknown`` never moves a unit:
    EasyPost marks stale trackers unknown, which staff triage, not the machine."""
    wanted = (_OUTBOUND_ACTIONS if direction is Direction.OUTBOUND else _RETURN_ACTIONS).get(status, ())
    actions: list[CustodyAction] = []
    for action in wanted:
        target = TRANSITIONS.get((state, action))
        if target is None:
            continue
        actions.append(action)
        state = target
    return tuple(actions)


def astuple_place(place: Place | None) -> tuple[str | None, str | None, str | None, str | None]:
    if place is None:
        return (None, None, None, None)
    return (place.city, place.state, place.postal_code, place.country)


@dataclass(frozen=True, slots=True)
class Assignment:
    device: DeviceRecord
    patient_assignment_id: UUID
    hub_assignment_id: UUID | None


def assign_device(
    conn: Conn,
    *,
    serial: str,
    patient_id: UUID,
    at: datetime,
    actor_id: UUID,
    hub_id: str | None = None,
) -> Assignment:
    """Assign a unit in stock to a patient enrolled in RPM on ``at`` (and to the patient's hub).
    The patient assignment starts at ``at``: readings measured before it never count for them."""
    with conn.transaction():
        device = device_by_serial(conn, serial)
        if not enrolled_on(conn, patient_id, Program.RPM, at.date()):
            raise ShippingError("the patient is not enrolled in RPM on that date: enroll before assigning a device")
        same_kind = conn.execute(
            "SELECT d.serial FROM device_patient_assignments a JOIN devices d ON d.id = a.device_id"
            " WHERE a.patient_id = %s AND a.valid_to IS NULL AND d.kind = %s"
            " AND NOT EXISTS (SELECT 1 FROM device_replacements r"
            " WHERE r.old_device_id = d.id AND r.closed_at IS NULL)",
            (patient_id, device.kind.value),
        ).fetchone()
        if same_kind is not None:
            raise ShippingError(
                f"the patient already holds {device.kind.value} {same_kind[0]}: replace it instead of adding one"
            )
        inventory.transition(
            conn, device.id, CustodyAction.ASSIGN, at=at, actor_id=actor_id, evidence={"patient_id": str(patient_id)}
        )
        if hub_id is not None:
            on_hub = conn.execute(
                "SELECT count(*) FROM device_hub_assignments WHERE hub_id = %s AND (valid_to IS NULL OR valid_to > %s)",
                (hub_id, at),
            ).fetchone()
            if on_hub is not None and on_hub[0] >= MAX_WHITELIST_ENTRIES:
                raise ShippingError(f"hub {hub_id} already has {on_hub[0]} devices (at most {MAX_WHITELIST_ENTRIES})")
        patient_assignment = assign_device_to_patient(conn, device=device, patient_id=patient_id, valid_from=at)
        hub_assignment = assign_device_to_hub(conn, device=device, hub_id=hub_id, valid_from=at) if hub_id else None
    return Assignment(device, patient_assignment, hub_assignment)


def create_shipment(
    conn: Conn,
    *,
    patient_id: UUID,
    serials: Sequence[str],
    carrier: Carrier,
    tracking_number: str,
    ship_date: date,
    at: datetime,
    actor_id: UUID,
    direction: Direction = Direction.OUTBOUND,
    address: Address | None = None,
) -> UUID:
    """A labelled parcel with its units. Outbound units move to ``label_created`` (or back to it on a
    reship after a delivery exception); a return parcel's units must be awaiting return."""
    number = normalise_tracking_number(carrier, tracking_number)
    ship_to = address or patient_address(conn, patient_id)
    if ship_to is None:
        raise ShippingError("the patient has no address on file and none was given")
    if not serials:
        raise ShippingError("a shipment carries at least one device")
    shipment_id = new_id()
    with conn.transaction():
        row = conn.execute("SELECT practice_id FROM patients WHERE id = %s", (patient_id,)).fetchone()
        if row is None:
            raise UnknownRecord(f"no patient {patient_id}")
        practice_id = row[0]
        try:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO shipments (id, practice_id, patient_id, direction, carrier, tracking_number,"
                    " ship_date, address_line1, address_line2, city, state, postal_code, created_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        shipment_id, practice_id, patient_id, direction.value, carrier.value, number, ship_date,
                        ship_to.line1, ship_to.line2, ship_to.city, ship_to.state, ship_to.postal_code, actor_id,
                    ),
                )  # fmt: skip
        except pg_errors.UniqueViolation as exc:
            # carriers recycle numbers, but not on one day: the same label twice is a mistake
            raise ShippingError(
                f"a {carrier.value.upper()} shipment {number} shipped on {ship_date.isoformat()} exists already"
            ) from exc
        evidence = {"carrier": carrier.value, "tracking_number": number, "shipment_id": str(shipment_id)}
        for serial in serials:
            device = device_by_serial(conn, serial)
            if device.practice_id != practice_id:
                raise ShippingError(f"device {serial} belongs to another practice")
            conn.execute(
                "INSERT INTO shipment_devices (practice_id, shipment_id, device_id) VALUES (%s, %s, %s)",
                (practice_id, shipment_id, device.id),
            )
            if direction is Direction.OUTBOUND:
                state = inventory.get_device(conn, serial).custody_state
                action = (
                    CustodyAction.RESHIP if state is CustodyState.DELIVERY_EXCEPTION else CustodyAction.CREATE_LABEL
                )
                inventory.transition(
                    conn, device.id, action, at=at, actor_id=actor_id, evidence=evidence,
                    reason="reship" if action is CustodyAction.RESHIP else None,
                )  # fmt: skip
            elif inventory.get_device(conn, serial).custody_state is not CustodyState.RETURN_REQUESTED:
                raise ShippingError(f"device {serial} is not awaiting return")
    return shipment_id


@dataclass(frozen=True, slots=True)
class AppliedEvent:
    shipment_id: UUID | None
    duplicate: bool
    moved: tuple[tuple[str, CustodyAction], ...]


def record_carrier_event(conn: Conn, event: CarrierEvent, *, practice_id: UUID | None = None) -> AppliedEvent:
    """Store a carrier event against its shipment (the latest shipped on or before it) and move
    the shipment's units as the status allows. A repeated event changes nothing. ``practice_id``
    limits the search to one practice's shipments (a webhook authenticated for that practice)."""
    number = normalise_tracking_number(event.carrier, event.tracking_number)
    with conn.transaction():
        row = conn.execute(
            "SELECT id, practice_id, direction FROM shipments WHERE carrier = %s AND tracking_number = %s"
            " AND ship_date <= %s::date + 1 AND (%s::uuid IS NULL OR practice_id = %s::uuid)"
            " ORDER BY ship_date DESC LIMIT 1 FOR UPDATE",
            (event.carrier.value, number, event.occurred_at, practice_id, practice_id),
        ).fetchone()
        if row is None:
            raise UnknownRecord(f"no {event.carrier.value.upper()} shipment with tracking number {number}")
        return _apply_event(conn, row[0], row[1], Direction(row[2]), number, event, actor_id=None)


class ShipmentConflict(ShippingError):
    """The shipment's units cannot move as asked from the state they are in."""


# What staff may record by hand for a parcel of each direction (the carrier normally reports it).
MANUAL_STATUSES: Mapping[Direction, frozenset[CarrierStatus]] = {
    Direction.OUTBOUND: frozenset({CarrierStatus.DELIVERED, CarrierStatus.RETURN_TO_SENDER}),
    Direction.RETURN: frozenset({CarrierStatus.DELIVERED}),
}


def mark_shipment(
    conn: Conn, shipment_id: UUID, status: CarrierStatus, *, at: datetime, actor_id: UUID
) -> AppliedEvent:
    """Record a status a person observed (a parcel handed over in clinic, a return dropped at the
    desk) as a ``manual`` carrier event. Unlike a carrier's event, which is kept even when stale,
    a person's is refused (:class:`ShipmentConflict`) unless it moves every unit of the parcel."""
    with conn.transaction():
        row = conn.execute(
            "SELECT practice_id, direction, carrier, tracking_number FROM shipments WHERE id = %s FOR UPDATE",
            (shipment_id,),
        ).fetchone()
        if row is None:
            raise UnknownRecord(f"no shipment {shipment_id}")
        practice_id, direction, carrier, number = row[0], Direction(row[1]), Carrier(row[2]), row[3]
        if status not in MANUAL_STATUSES[direction]:
            raise ShipmentConflict(f"a {direction.value} shipment cannot be marked {status.value}")
        for serial, state in conn.execute(
            "SELECT d.serial, d.custody_state FROM shipment_devices s JOIN devices d ON d.id = s.device_id"
            " WHERE s.shipment_id = %s ORDER BY d.serial",
            (shipment_id,),
        ).fetchall():
            if not custody_actions_for(direction, status, CustodyState(state)):
                raise ShipmentConflict(f"device {serial} is {state}: it cannot be marked {status.value}")
        event = CarrierEvent(
            source="manual",
            event_id=f"manual-{new_id()}",
            carrier=carrier,
            tracking_number=number,
            status=status,
            occurred_at=at,
            message="recorded by staff",
        )
        return _apply_event(conn, shipment_id, practice_id, direction, number, event, actor_id=actor_id)


def _apply_event(
    conn: Conn,
    shipment_id: UUID,
    practice_id: UUID,
    direction: Direction,
    number: str,
    event: CarrierEvent,
    *,
    actor_id: UUID | None,
) -> AppliedEvent:
    inserted = conn.execute(
        "INSERT INTO shipment_events (practice_id, shipment_id, source, carrier_event_id, status, status_detail,"
        " message, occurred_at, city, state, postal_code, country)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
        (
            practice_id, shipment_id, event.source, event.event_id, event.status.value, event.status_detail,
            event.message, event.occurred_at, *(astuple_place(event.place)),
        ),
    ).fetchone()  # fmt: skip
    if inserted is None:
        return AppliedEvent(shipment_id, True, ())
    latest = conn.execute(
        "SELECT status FROM shipment_events WHERE shipment_id = %s ORDER BY occurred_at DESC, id DESC LIMIT 1",
        (shipment_id,),
    ).fetchone()
    conn.execute(
        "UPDATE shipments SET status = %s,"
        " delivered_at = CASE WHEN %s = 'delivered' AND delivered_at IS NULL THEN %s ELSE delivered_at END,"
        " delivered_event = CASE WHEN %s = 'delivered' AND delivered_at IS NULL THEN %s ELSE delivered_event END"
        " WHERE id = %s",
        (latest[0] if latest else event.status.value, event.status.value, event.occurred_at,
         event.status.value, event.event_id, shipment_id),
    )  # fmt: skip
    evidence = {"carrier_event_id": event.event_id, "tracking_number": number, "source": event.source}
    actor_kind = "carrier" if actor_id is None else "user"
    moved: list[tuple[str, CustodyAction]] = []
    for device_id, serial, state in conn.execute(
        "SELECT d.id, d.serial, d.custody_state FROM shipment_devices s JOIN devices d ON d.id = s.device_id"
        " WHERE s.shipment_id = %s ORDER BY d.serial",
        (shipment_id,),
    ).fetchall():
        for action in custody_actions_for(direction, event.status, CustodyState(state)):
            inventory.transition(
                conn, device_id, action, at=event.occurred_at, actor_id=actor_id, actor_kind=actor_kind,
                reason=f"{event.source if actor_id else 'carrier'}_{event.status.value}", evidence=evidence,
            )  # fmt: skip
            moved.append((serial, action))
    return AppliedEvent(shipment_id, False, tuple(moved))
