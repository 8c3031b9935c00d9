"""Carrier webhooks normalised to one event (EasyPost and Shippo field names of reference §3.4), the
pure mapping from a carrier status to custody actions, and the shipment guards."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning import inventory, registry, shipping
from provisioning.carrier_webhooks import WebhookSignatureInvalid, easypost_signature, verify_easypost_signature
from provisioning.custody import TRANSITIONS, CustodyAction, CustodyState
from provisioning.inventory import device_spec
from provisioning.shipping import (
    CarrierEvent,
    CarrierStatus,
    Direction,
    InvalidCarrierEvent,
    Place,
    ShippingError,
    custody_actions_for,
    from_easypost,
    from_shippo,
)
from provisioning.tracking_numbers import Carrier, InvalidTrackingNumber
from tests.provisioning.conftest import NOW, Clinic, Conn, rpm_ready_patient

# Shape of an EasyPost tracker.updated Event (docs.easypost.com, Tracker object), trimmed.
EASYPOST_EVENT = {
    "object": "Event",
    "id": "evt_1a2b3c",
    "description": "tracker.updated",
    "mode": "production",
    "previous_attributes": {"status": "in_transit"},
    "result": {
        "id": "trk_9f8e7d",
        "object": "Tracker",
        "tracking_code": "1Z5R89390357567127",
        "carrier": "UPS",
        "status": "delivered",
        "status_detail": "arrived_at_destination",
        "updated_at": "2026-03-04T18:00:00Z",
        "tracking_details": [
            {"message": "In transit", "status": "in_transit", "datetime": "2026-03-03T09:00:00Z"},
            {
                "message": "Delivered, front door",
                "status": "delivered",
                "datetime": "2026-03-04T16:12:00-06:00",
                "tracking_location": {"city": "SPRINGFIELD", "state": "IL", "country": "US", "zip": "62704"},
            },
        ],
    },
}

# Shape of a Shippo "Track Updated" webhook (docs.goshippo.com, Track object), trimmed.
SHIPPO_BODY = {
    "event": "track_updated",
    "data": {
        "carrier": "usps",
        "tracking_number": "9400111201080805483016",
        "tracking_status": {
            "object_id": "st_4471",
            "status": "TRANSIT",
            "status_details": "Arrived at USPS regional facility",
            "status_date": "2026-03-02T11:30:00Z",
            "substatus": {"code": "package_arrived_at_facility", "text": "", "action_required": False},
            "location": {"city": "Chicago", "state": "IL", "zip": "60601", "country": "US"},
        },
    },
}


def test_easypost_event_normalised() -> None:
    assert from_easypost(EASYPOST_EVENT) == CarrierEvent(
        source="easypost",
        event_id="evt_1a2b3c",
        carrier=Carrier.UPS,
        tracking_number="1Z5R89390357567127",
        status=CarrierStatus.DELIVERED,
        occurred_at=datetime(2026, 3, 4, 22, 12, tzinfo=UTC),
        status_detail="arrived_at_destination",
        message="Delivered, front door",
        place=Place("SPRINGFIELD", "IL", "62704", "US"),
    )


def test_shippo_event_normalised() -> None:
    assert from_shippo(SHIPPO_BODY) == CarrierEvent(
        source="shippo",
        event_id="st_4471",
        carrier=Carrier.USPS,
        tracking_number="9400111201080805483016",
        status=CarrierStatus.IN_TRANSIT,
        occurred_at=datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
        status_detail="package_arrived_at_facility",
        message="Arrived at USPS regional facility",
        place=Place("Chicago", "IL", "60601", "US"),
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"result": {"carrier": "DHL", "tracking_code": "x", "status": "delivered", "updated_at": "2026-01-01T00:00Z"}},
        {"id": "e", "result": {"carrier": "UPS", "tracking_code": "x", "status": "teleported", "updated_at": "x"}},
        {"id": "e", "result": {"carrier": "UPS", "tracking_code": "x", "status": "delivered",
                               "updated_at": "2026-01-01T00:00:00"}},
    ],
)  # fmt: skip
def test_bad_easypost_bodies_are_typed_errors(body: dict[str, object]) -> None:
    with pytest.raises(InvalidCarrierEvent):
        from_easypost(body)


def test_bad_shippo_status_is_a_typed_error() -> None:
    bad = {"data": {**SHIPPO_BODY["data"], "tracking_status": {"status": "LOST", "status_date": "2026-03-02T11:30Z"}}}  # type: ignore[dict-item]
    with pytest.raises(InvalidCarrierEvent):
        from_shippo(bad)


@pytest.mark.parametrize(
    ("direction", "status", "state", "expected"),
    [
        (Direction.OUTBOUND, CarrierStatus.PRE_TRANSIT, CustodyState.LABEL_CREATED, ()),
        (Direction.OUTBOUND, CarrierStatus.IN_TRANSIT, CustodyState.LABEL_CREATED, (CustodyAction.CARRIER_SCAN,)),
        (Direction.OUTBOUND, CarrierStatus.OUT_FOR_DELIVERY, CustodyState.IN_TRANSIT, ()),
        (Direction.OUTBOUND, CarrierStatus.DELIVERED, CustodyState.IN_TRANSIT, (CustodyAction.DELIVER,)),
        (Direction.OUTBOUND, CarrierStatus.DELIVERED, CustodyState.ACTIVATED, ()),
        (Direction.OUTBOUND, CarrierStatus.IN_TRANSIT, CustodyState.DELIVERED, ()),
        (Direction.OUTBOUND, CarrierStatus.FAILURE, CustodyState.IN_TRANSIT, (CustodyAction.DELIVERY_EXCEPTION,)),
        (Direction.OUTBOUND, CarrierStatus.IN_TRANSIT, CustodyState.DELIVERY_EXCEPTION, (CustodyAction.CARRIER_SCAN,)),
        (Direction.OUTBOUND, CarrierStatus.RETURN_TO_SENDER, CustodyState.IN_TRANSIT,
         (CustodyAction.RETURN_TO_SENDER,)),
        (Direction.OUTBOUND, CarrierStatus.CANCELLED, CustodyState.LABEL_CREATED, (CustodyAction.CANCEL,)),
        (Direction.OUTBOUND, CarrierStatus.UNKNOWN, CustodyState.IN_TRANSIT, ()),
        (Direction.RETURN, CarrierStatus.IN_TRANSIT, CustodyState.RETURN_REQUESTED, (CustodyAction.SHIP_RETURN,)),
        (Direction.RETURN, CarrierStatus.DELIVERED, CustodyState.RETURN_REQUESTED,
         (CustodyAction.SHIP_RETURN, CustodyAction.RECEIVE_RETURN)),
        (Direction.RETURN, CarrierStatus.DELIVERED, CustodyState.RETURN_IN_TRANSIT, (CustodyAction.RECEIVE_RETURN,)),
    ],
)  # fmt: skip
def test_custody_actions_for_vectors(
    direction: Direction, status: CarrierStatus, state: CustodyState, expected: tuple[CustodyAction, ...]
) -> None:
    assert custody_actions_for(direction, status, state) == expected


@given(st.sampled_from(Direction), st.sampled_from(CarrierStatus), st.sampled_from(CustodyState))
def test_carrier_events_only_ever_cause_legal_chains(
    direction: Direction, status: CarrierStatus, state: CustodyState
) -> None:
    for action in custody_actions_for(direction, status, state):
        state = TRANSITIONS[(state, action)]  # a KeyError here is an illegal move


def test_assignment_needs_rpm_enrollment_and_one_device_per_kind(db: Conn, clinic: Clinic) -> None:
    for n in (1, 2):
        inventory.register_device(
            db, practice_id=clinic.practice_id,
            spec=device_spec(serial=f"BP-{n}", model=clinic.cuff_model, ble_address=f"A4:C1:38:00:01:0{n}"),
        )  # fmt: skip
    not_enrolled = registry.create_patient(db, practice_id=clinic.practice_id, mrn="N", time_zone="UTC")
    with pytest.raises(ShippingError, match="not enrolled in RPM"):
        shipping.assign_device(db, serial="BP-1", patient_id=not_enrolled, at=NOW, actor_id=clinic.logistics)
    patient = rpm_ready_patient(db, clinic)
    shipping.assign_device(db, serial="BP-1", patient_id=patient, at=NOW, actor_id=clinic.logistics)
    with pytest.raises(ShippingError, match="already holds bp_cuff BP-1"):
        shipping.assign_device(db, serial="BP-2", patient_id=patient, at=NOW, actor_id=clinic.logistics)
    assert inventory.get_device(db, "BP-2").custody_state is CustodyState.IN_STOCK


def test_shipment_refuses_a_mistyped_tracking_number(db: Conn, clinic: Clinic) -> None:
    patient = rpm_ready_patient(db, clinic)
    inventory.register_device(
        db, practice_id=clinic.practice_id,
        spec=device_spec(serial="BP-1", model=clinic.cuff_model, ble_address="A4:C1:38:00:01:01"),
    )  # fmt: skip
    shipping.assign_device(db, serial="BP-1", patient_id=patient, at=NOW, actor_id=clinic.logistics)
    with pytest.raises(InvalidTrackingNumber):
        shipping.create_shipment(
            db, patient_id=patient, serials=["BP-1"], carrier=Carrier.UPS, tracking_number="1Z5R89390357567128",
            ship_date=NOW.date(), at=NOW, actor_id=clinic.logistics,
        )  # fmt: skip
    assert db.execute("SELECT count(*) FROM shipments").fetchone() == (0,)
    shipment = shipping.create_shipment(
        db, patient_id=patient, serials=["BP-1"], carrier=Carrier.UPS, tracking_number="1z5r 8939 0357 5671 27",
        ship_date=NOW.date(), at=NOW, actor_id=clinic.logistics,
    )  # fmt: skip
    row = db.execute("SELECT tracking_number, city, postal_code FROM shipments WHERE id = %s", (shipment,)).fetchone()
    assert row == ("1Z5R89390357567127", "Springfield", "62704")
    # a delivery exception, then a reship with a new label
    shipping.record_carrier_event(
        db, CarrierEvent("manual", "m-1", Carrier.UPS, "1Z5R89390357567127", CarrierStatus.FAILURE,
                         NOW + timedelta(days=1)),
    )  # fmt: skip
    assert inventory.get_device(db, "BP-1").custody_state is CustodyState.DELIVERY_EXCEPTION
    shipping.create_shipment(
        db, patient_id=patient, serials=["BP-1"], carrier=Carrier.FEDEX, tracking_number="986578788855",
        ship_date=(NOW + timedelta(days=2)).date(), at=NOW + timedelta(days=2), actor_id=clinic.logistics,
    )  # fmt: skip
    assert inventory.get_device(db, "BP-1").custody_state is CustodyState.LABEL_CREATED


def test_easypost_webhook_signature() -> None:
    body = json.dumps(EASYPOST_EVENT).encode()
    # Computed independently: HMAC-SHA256 over the raw body, key = NFKD("ﬁ-secret") = "fi-secret".
    expected = "hmac-sha256-hex=" + hmac.new(b"fi-secret", body, hashlib.sha256).hexdigest()
    assert easypost_signature("\ufb01-secret", body) == expected
    verify_easypost_signature("\ufb01-secret", body, expected)
    verify_easypost_signature("fi-secret", body, expected.upper().replace("HMAC-SHA256-HEX=", "hmac-sha256-hex="))
    for secret, payload, header in [
        ("other-secret", body, expected),
        ("fi-secret", body + b" ", expected),
        ("fi-secret", body, expected.removeprefix("hmac-sha256-hex=")),
        ("fi-secret", body, None),
        ("", body, expected),
    ]:
        with pytest.raises(WebhookSignatureInvalid):
            verify_easypost_signature(secret, payload, header)
