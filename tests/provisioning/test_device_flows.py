"""Device logistics through the real pipeline: a hub publishes over Mosquitto, ``carehub ingest``
runs as a child process with the provisioning hook, rows land in PostgreSQL.

- assign → ship → carrier scans → delivered → the first reading activates the unit;
- a faulty cuff is replaced: the old cuff's late uploads still count, the new cuff's first reading
  ends the old assignment, and what the old cuff measures afterwards does not count;
- a lost unit's later readings are quarantined with the reason ``device_blocked``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from carehub.local_services import MosquittoBroker
from provisioning import inventory, registry, replacement, shipping
from provisioning.custody import CustodyAction, CustodyState, replay
from provisioning.inventory import device_spec
from provisioning.shipping import CarrierEvent, CarrierStatus
from provisioning.tracking_numbers import Carrier
from tests.ingest.conftest import bp_reading, envelope
from tests.ingest.test_pipeline import StartIngest, start_ingest  # noqa: F401 - fixture
from tests.pipeline import HubClient
from tests.provisioning.conftest import Clinic, Conn, rpm_ready_patient

HUB = "hub-prov-01"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
UPS_1 = "1Z5R89390357567127"
USPS_1 = "9400111201080805483016"


@pytest.fixture
def hub(broker: MosquittoBroker, topic_root: str, db: Conn, clinic: Clinic) -> Iterator[HubClient]:
    registry.create_hub(db, practice_id=clinic.practice_id, hub_id=HUB, serial="HUB-SERIAL-01")
    client = HubClient(broker.port, topic_root, HUB)
    yield client
    client.close()


def add_cuff(db: Conn, clinic: Clinic, serial: str, address: str) -> None:
    inventory.register_device(
        db,
        practice_id=clinic.practice_id,
        spec=device_spec(serial=serial, model=clinic.cuff_model, ble_address=address),
    )


def carrier(status: CarrierStatus, at: datetime, event_id: str, number: str = UPS_1) -> CarrierEvent:
    return CarrierEvent("easypost", event_id, Carrier.UPS if number == UPS_1 else Carrier.USPS, number, status, at)


def ship_and_deliver(db: Conn, clinic: Clinic, patient: UUID, serial: str) -> None:
    shipping.assign_device(db, serial=serial, patient_id=patient, at=T0, actor_id=clinic.logistics, hub_id=HUB)
    shipping.create_shipment(
        db, patient_id=patient, serials=[serial], carrier=Carrier.UPS, tracking_number=UPS_1,
        ship_date=T0.date(), at=T0 + timedelta(hours=1), actor_id=clinic.logistics,
    )  # fmt: skip
    shipping.record_carrier_event(db, carrier(CarrierStatus.PRE_TRANSIT, T0 + timedelta(hours=2), "ev-0"))
    shipping.record_carrier_event(db, carrier(CarrierStatus.IN_TRANSIT, T0 + timedelta(hours=5), "ev-1"))
    shipping.record_carrier_event(db, carrier(CarrierStatus.OUT_FOR_DELIVERY, T0 + timedelta(hours=20), "ev-2"))
    shipping.record_carrier_event(db, carrier(CarrierStatus.DELIVERED, T0 + timedelta(hours=24), "ev-3"))


def delivered_with_one_reading(
    db: Conn, clinic: Clinic, hub: HubClient, ingest: StartIngest, serial: str, address: str
) -> UUID:
    """An RPM patient whose cuff was delivered and sent one accepted reading; ingest running."""
    patient = rpm_ready_patient(db, clinic)
    add_cuff(db, clinic, serial, address)
    ship_and_deliver(db, clinic, patient, serial)
    ingest()
    hub.publish(envelope([bp_reading(serial, T0 + timedelta(days=1, hours=2))], batch_id=f"{serial}-first"))
    assert hub.wait_ack(f"{serial}-first")["accepted"]
    return patient


def readings_by_device(db: Conn, patient: UUID) -> dict[str, int]:
    rows = db.execute(
        "SELECT d.serial, count(DISTINCT r.reading_id) FROM readings r JOIN devices d ON d.id = r.device_id"
        " WHERE r.patient_id = %s GROUP BY d.serial ORDER BY d.serial",
        (patient,),
    ).fetchall()
    return dict(rows)


def test_stock_to_home_first_reading_activates(
    db: Conn,
    clinic: Clinic,
    hub: HubClient,
    start_ingest: StartIngest,  # noqa: F811
) -> None:
    patient = rpm_ready_patient(db, clinic)
    add_cuff(db, clinic, "BP-A1", "A4:C1:38:0A:00:01")
    ship_and_deliver(db, clinic, patient, "BP-A1")
    # a duplicate webhook and a late, out-of-order scan change nothing
    again = shipping.record_carrier_event(db, carrier(CarrierStatus.DELIVERED, T0 + timedelta(hours=24), "ev-3"))
    assert again.duplicate
    late = shipping.record_carrier_event(db, carrier(CarrierStatus.IN_TRANSIT, T0 + timedelta(hours=6), "ev-late"))
    assert late.moved == ()
    assert inventory.get_device(db, "BP-A1").custody_state is CustodyState.DELIVERED

    start_ingest()
    first_at = T0 + timedelta(days=2)
    first = bp_reading("BP-A1", first_at)
    hub.publish(envelope([bp_reading("BP-A1", first_at + timedelta(hours=1)), first], batch_id="B1"))
    assert len(hub.wait_ack("B1")["accepted"]) == 2

    row = inventory.get_device(db, "BP-A1")
    assert row.custody_state is CustodyState.ACTIVATED
    assert row.delivered_at == T0 + timedelta(hours=24)
    assert row.activated_at == first_at
    events = inventory.history(db, row.id)
    assert [(e.action, e.actor_kind) for e in events] == [
        (CustodyAction.ASSIGN, "user"),
        (CustodyAction.CREATE_LABEL, "user"),
        (CustodyAction.CARRIER_SCAN, "carrier"),
        (CustodyAction.DELIVER, "carrier"),
        (CustodyAction.ACTIVATE, "ingest"),
    ]
    assert events[-1].evidence["reading_id"] == first["reading_id"]
    assert events[3].evidence["carrier_event_id"] == "ev-3"
    assert replay(CustodyState.IN_STOCK, events) is CustodyState.ACTIVATED
    # a second reading later does not activate again
    hub.publish(envelope([bp_reading("BP-A1", first_at + timedelta(days=1))], batch_id="B2"))
    hub.wait_ack("B2")
    assert len(inventory.history(db, row.id)) == 5
    shipment = db.execute("SELECT status, delivered_event FROM shipments").fetchone()
    assert shipment == ("delivered", "ev-3")


def test_faulty_cuff_replacement_decides_which_readings_count(
    db: Conn,
    clinic: Clinic,
    hub: HubClient,
    start_ingest: StartIngest,  # noqa: F811
) -> None:
    add_cuff(db, clinic, "BP-NEW", "A4:C1:38:0B:00:02")
    patient = delivered_with_one_reading(db, clinic, hub, start_ingest, "BP-OLD", "A4:C1:38:0B:00:01")

    swap_at = T0 + timedelta(days=2)
    replacement.replace_device(
        db, old_serial="BP-OLD", new_serial="BP-NEW", reason="implausible_values", at=swap_at,
        actor_id=clinic.logistics, carrier=Carrier.USPS, tracking_number=USPS_1, ship_date=swap_at.date(),
    )  # fmt: skip
    assert inventory.get_device(db, "BP-OLD").custody_state is CustodyState.RETURN_REQUESTED
    shipping.record_carrier_event(db, carrier(CarrierStatus.DELIVERED, swap_at + timedelta(days=1), "u-1", USPS_1))

    # the old cuff still uploads a reading it took before the new one arrived: it counts
    late = bp_reading("BP-OLD", swap_at + timedelta(hours=20), reading_id=None)
    hub.publish(envelope([late], batch_id="OLD-LATE"))
    assert hub.wait_ack("OLD-LATE")["accepted"] == [late["reading_id"]]

    new_first_at = swap_at + timedelta(days=1, hours=3)
    hub.publish(envelope([bp_reading("BP-NEW", new_first_at)], batch_id="NEW-1"))
    assert hub.wait_ack("NEW-1")["accepted"]
    assert inventory.get_device(db, "BP-NEW").custody_state is CustodyState.ACTIVATED

    # after the replacement's first reading, the old cuff no longer counts for the patient
    after = bp_reading("BP-OLD", new_first_at + timedelta(hours=1))
    before = bp_reading("BP-OLD", new_first_at - timedelta(hours=1))
    hub.publish(envelope([after, before], batch_id="OLD-2"))
    ack = hub.wait_ack("OLD-2")
    assert ack["accepted"] == [before["reading_id"]]
    assert [r["reading_id"] for r in ack["rejected"]] == [after["reading_id"]]
    assert readings_by_device(db, patient) == {"BP-NEW": 1, "BP-OLD": 3}
    closed = db.execute(
        "SELECT a.valid_to FROM device_patient_assignments a JOIN devices d ON d.id = a.device_id"
        " WHERE d.serial = 'BP-OLD'"
    ).fetchone()
    assert closed == (new_first_at,)
    assert db.execute("SELECT closed_at FROM device_replacements").fetchone() == (new_first_at,)

    # back to stock through return, quarantine and refurbishment
    old = registry.device_by_serial(db, "BP-OLD")
    replacement.receive_return(db, serial="BP-OLD", at=new_first_at + timedelta(days=3), actor_id=clinic.logistics)
    for action in (CustodyAction.REFURBISH, CustodyAction.RESTOCK):
        inventory.transition(db, old.id, action, at=new_first_at + timedelta(days=4), actor_id=clinic.logistics)
    row = inventory.get_device(db, "BP-OLD")
    assert (row.custody_state, row.patient_id, row.hub_id) == (CustodyState.IN_STOCK, None, None)
    assert replay(CustodyState.IN_STOCK, inventory.history(db, old.id)) is CustodyState.IN_STOCK


def test_lost_device_readings_are_quarantined(
    db: Conn,
    clinic: Clinic,
    hub: HubClient,
    start_ingest: StartIngest,  # noqa: F811
) -> None:
    patient = delivered_with_one_reading(db, clinic, hub, start_ingest, "BP-LOST", "A4:C1:38:0C:00:01")

    lost_at = T0 + timedelta(days=3)
    replacement.report_lost(db, serial="BP-LOST", reason="lost_at_home", at=lost_at, actor_id=clinic.logistics)
    # anything it sends now is quarantined, even a reading measured before the loss
    earlier = bp_reading("BP-LOST", lost_at - timedelta(hours=2))
    later = bp_reading("BP-LOST", lost_at + timedelta(hours=2))
    hub.publish(envelope([earlier, later], batch_id="L2"))
    ack = hub.wait_ack("L2")
    assert ack["accepted"] == []
    assert sorted((r["reading_id"], r["reason"]) for r in ack["rejected"]) == sorted(
        [(earlier["reading_id"], "device_blocked"), (later["reading_id"], "device_blocked")]
    )
    letters = db.execute("SELECT reason, detail, device_serial FROM dead_letters ORDER BY reading_id").fetchall()
    assert {(reason, serial) for reason, _, serial in letters} == {("device_blocked", "BP-LOST")}
    assert all("lost" in detail for _, detail, _ in letters)
    assert readings_by_device(db, patient) == {"BP-LOST": 1}
    row = inventory.get_device(db, "BP-LOST")
    assert (row.custody_state, row.blocked_at, row.patient_id) == (CustodyState.LOST, lost_at, None)
