"""Replacement, loss, unenrollment and hub-swap flows against real PostgreSQL (without the broker):
the custody states, the assignment periods they leave behind and the credentials they revoke. The
readings side of these flows runs through the real pipeline in ``test_device_flows.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.hooks import StoredObservation, StoredReading
from provisioning import hub_credentials, inventory, registry, replacement, shipping
from provisioning.activation import first_device_readings
from provisioning.custody import CustodyAction, CustodyState, IllegalTransition
from provisioning.inventory import device_spec
from tests.provisioning.conftest import NOW, Clinic, Conn, rpm_ready_patient


def cuff(db: Conn, clinic: Clinic, serial: str, n: int) -> None:
    inventory.register_device(
        db,
        practice_id=clinic.practice_id,
        spec=device_spec(serial=serial, model=clinic.cuff_model, ble_address=f"A4:C1:38:0D:00:{n:02X}"),
    )


def periods(db: Conn, serial: str, table: str) -> list[tuple[datetime, datetime | None]]:
    assert table in ("device_patient_assignments", "device_hub_assignments")
    rows = db.execute(
        f"SELECT a.valid_from, a.valid_to FROM {table} a JOIN devices d ON d.id = a.device_id"
        " WHERE d.serial = %s ORDER BY a.valid_from",
        (serial,),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_unenroll_ends_assignments_and_requests_the_return(db: Conn, clinic: Clinic) -> None:
    registry.create_hub(db, practice_id=clinic.practice_id, hub_id="hub-f-1", serial="HF1")
    cuff(db, clinic, "BP-U1", 1)
    patient = rpm_ready_patient(db, clinic)
    shipping.assign_device(db, serial="BP-U1", patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id="hub-f-1")
    with pytest.raises(IllegalTransition, match="cannot unenroll a device that is assigned"):
        replacement.unenroll_device(db, serial="BP-U1", reason="patient_declined", at=NOW, actor_id=clinic.logistics)
    device = registry.device_by_serial(db, "BP-U1")
    # handed over in clinic: the first reading activates an assigned unit directly
    inventory.transition(db, device.id, CustodyAction.ACTIVATE, at=NOW + timedelta(hours=1), actor_id=None,
                         actor_kind="ingest", reason="first_reading", evidence={"reading_id": "r1"})  # fmt: skip
    end = NOW + timedelta(days=10)
    replacement.unenroll_device(db, serial="BP-U1", reason="goals_met", at=end, actor_id=clinic.logistics)
    assert inventory.get_device(db, "BP-U1").custody_state is CustodyState.RETURN_REQUESTED
    assert periods(db, "BP-U1", "device_patient_assignments") == [(NOW, end)]
    assert periods(db, "BP-U1", "device_hub_assignments") == [(NOW, end)]


def test_lost_in_transit_then_found(db: Conn, clinic: Clinic) -> None:
    cuff(db, clinic, "BP-L1", 2)
    patient = rpm_ready_patient(db, clinic)
    shipping.assign_device(db, serial="BP-L1", patient_id=patient, at=NOW, actor_id=clinic.logistics)
    device = registry.device_by_serial(db, "BP-L1")
    inventory.transition(db, device.id, CustodyAction.CREATE_LABEL, at=NOW, actor_id=clinic.logistics,
                         evidence={"carrier": "ups", "tracking_number": "1Z5R89390357567127"})  # fmt: skip
    inventory.transition(db, device.id, CustodyAction.CARRIER_SCAN, at=NOW, actor_id=None, actor_kind="carrier",
                         evidence={"carrier_event_id": "e1"})  # fmt: skip
    lost_at = NOW + timedelta(days=4)
    replacement.report_lost(db, serial="BP-L1", reason="lost_in_transit", at=lost_at, actor_id=clinic.logistics)
    row = inventory.get_device(db, "BP-L1")
    assert (row.custody_state, row.blocked_at, row.patient_id) == (CustodyState.LOST, lost_at, None)
    # the patient can be sent another cuff at once
    cuff(db, clinic, "BP-L2", 3)
    shipping.assign_device(db, serial="BP-L2", patient_id=patient, at=lost_at, actor_id=clinic.logistics)
    # the parcel turns up: returned and quarantined; still blocked until it is refurbished and restocked
    replacement.receive_return(db, serial="BP-L1", at=lost_at + timedelta(days=9), actor_id=clinic.logistics)
    assert inventory.get_device(db, "BP-L1").custody_state is CustodyState.QUARANTINE
    assert inventory.get_device(db, "BP-L1").blocked_at == lost_at
    for action in (CustodyAction.REFURBISH, CustodyAction.RESTOCK):
        inventory.transition(db, device.id, action, at=lost_at + timedelta(days=10), actor_id=clinic.logistics)
    assert inventory.get_device(db, "BP-L1").blocked_at is None


def test_hub_swap_moves_devices_and_revokes_the_old_hub(db: Conn, clinic: Clinic) -> None:
    for hub_id in ("hub-old-1", "hub-new-1"):
        registry.create_hub(db, practice_id=clinic.practice_id, hub_id=hub_id, serial=f"S-{hub_id}")
        hub_credentials.issue_hub_credentials(db, hub_id, at=NOW)
    cuff(db, clinic, "BP-H1", 4)
    patient = rpm_ready_patient(db, clinic)
    shipping.assign_device(
        db, serial="BP-H1", patient_id=patient, at=NOW, actor_id=clinic.logistics, hub_id="hub-old-1"
    )
    swap_at = NOW + timedelta(days=3)
    assert replacement.swap_hub(db, old_hub_id="hub-old-1", new_hub_id="hub-new-1", at=swap_at,
                                actor_id=clinic.logistics) == 1  # fmt: skip
    assert inventory.get_device(db, "BP-H1").hub_id == "hub-new-1"
    hubs = db.execute(
        "SELECT a.hub_id, a.valid_from, a.valid_to FROM device_hub_assignments a ORDER BY a.valid_from"
    ).fetchall()
    assert hubs == [("hub-old-1", NOW, swap_at), ("hub-new-1", swap_at, None)]
    assert [e.split(":")[0] for e in hub_credentials.current_password_entries(db)] == ["hub-new-1"]
    # both hubs' desired configs must be rebuilt
    assert {r[0] for r in db.execute("SELECT hub_id FROM hub_config_pending")} == {"hub-old-1", "hub-new-1"}


def _reading(device: str, minute: int, flags: tuple[str, ...] = ()) -> StoredReading:
    at = datetime(2026, 3, 1, 12, minute, tzinfo=UTC)
    return StoredReading(f"r-{device}-{minute}", "p", "pt", device, "hub", "S", "blood_pressure", at, "device_clock",
                         at, False, flags, (StoredObservation(150021, 120.0, None, "mm[Hg]"),))  # fmt: skip


def test_first_device_reading_is_the_earliest_measured_and_ignores_typed_values() -> None:
    readings = [
        _reading("d1", 30),
        _reading("d1", 10),
        _reading("d1", 5, ("manual_entry",)),
        _reading("d2", 40, ("manual_entry",)),
    ]
    first = first_device_readings(readings)
    assert {device: r.reading_id for device, r in first.items()} == {"d1": "r-d1-10"}
