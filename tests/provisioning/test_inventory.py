"""Inventory against real PostgreSQL: models and units, custody transitions recorded as append-only
events, and the all-or-nothing CSV import that names every bad line."""

from __future__ import annotations

import random
from datetime import timedelta
from uuid import UUID

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import DeviceKind
from provisioning import csv_import, inventory
from provisioning.csv_import import ImportRefused, RowError, parse_inventory_csv
from provisioning.custody import (
    BLOCKED_STATES,
    REQUIRED_EVIDENCE,
    CustodyAction,
    CustodyState,
    IllegalTransition,
    allowed_actions,
    replay,
)
from provisioning.inventory import Connectivity, DeviceModel, FdaStatus, InventoryError, device_spec
from tests.provisioning.conftest import NOW, Clinic, Conn, rpm_ready_patient

GOOD_CSV = """serial,vendor,model,ble_address,imei,firmware,lot
BP-1001,A&D,UA-651BLE,a4:c1:38:00:10:01,,1.2.0,L2401
BP-1002,a&d,ua-651ble,A4C138001002,,1.2.0,L2401
SC-2001,BodyTrace,BT105,,490154203237518,3.1,L77
"""


def test_csv_import_registers_every_row_in_stock(db: Conn, clinic: Clinic) -> None:
    assert csv_import.import_inventory_csv(db, practice_id=clinic.practice_id, text=GOOD_CSV) == 3
    rows = inventory.list_devices(db, practice_id=clinic.practice_id)
    assert [(r.serial, r.kind, r.ble_address, r.imei, r.custody_state, r.lot) for r in rows] == [
        ("BP-1001", "bp_cuff", "A4:C1:38:00:10:01", None, CustodyState.IN_STOCK, "L2401"),
        ("BP-1002", "bp_cuff", "A4:C1:38:00:10:02", None, CustodyState.IN_STOCK, "L2401"),
        ("SC-2001", "scale", None, "490154203237518", CustodyState.IN_STOCK, "L77"),
    ]


def test_last_heartbeats_only_for_devices_that_sent_one(db: Conn, clinic: Clinic) -> None:
    csv_import.import_inventory_csv(db, practice_id=clinic.practice_id, text=GOOD_CSV)
    ids = {r.serial: r.id for r in inventory.list_devices(db, practice_id=clinic.practice_id)}
    for serial, heartbeat in (("SC-2001", NOW - timedelta(hours=5)), ("BP-1001", None)):
        db.execute(
            "INSERT INTO device_telemetry (device_id, practice_id, battery_pct, battery_at, last_heartbeat_at,"
            " last_event_at) VALUES (%s, %s, 80, %s, %s, %s)",
            (ids[serial], clinic.practice_id, NOW, heartbeat, NOW),
        )
    assert inventory.last_heartbeats(db, list(ids.values())) == {ids["SC-2001"]: NOW - timedelta(hours=5)}


def test_csv_with_errors_imports_nothing_and_names_every_bad_line(db: Conn, clinic: Clinic) -> None:
    csv_import.import_inventory_csv(
        db,
        practice_id=clinic.practice_id,
        text="serial,vendor,model,ble_address\nOLD-1,A&D,UA-651BLE,A4:C1:38:00:00:99\n",
    )
    text = """serial,vendor,model,ble_address,imei
BP-3001,A&D,UA-651BLE,A4:C1:38:00:30:01,
BP-3002,A&D,UA-651BLE,,
SC-3003,BodyTrace,BT105,,490154203237519
BP-3001,A&D,UA-651BLE,A4:C1:38:00:30:04,
XX-1,Omron,HEM-9200T,,
bad serial!,A&D,UA-651BLE,A4:C1:38:00:30:06,
OLD-1,A&D,UA-651BLE,A4:C1:38:00:30:07,
"""
    with pytest.raises(ImportRefused) as refused:
        csv_import.import_inventory_csv(db, practice_id=clinic.practice_id, text=text)
    lines = [(e.line, e.message.split(":")[0].split(" ")[0]) for e in refused.value.errors]
    assert [line for line, _ in lines] == [3, 4, 5, 6, 7, 8]
    messages = {e.line: e.message for e in refused.value.errors}
    assert "BLE address is required" in messages[3]
    assert "check digit" in messages[4]
    assert "repeats line 2" in messages[5]
    assert "unknown model" in messages[6]
    assert "serial" in messages[7]
    assert "already in inventory" in messages[8]
    assert [r.serial for r in inventory.list_devices(db, practice_id=clinic.practice_id)] == ["OLD-1"]


def test_csv_header_problems(clinic: Clinic) -> None:
    models = {("a&d", "ua-651ble"): clinic.cuff_model}
    assert parse_inventory_csv("serial,model\nX,Y\n", models).errors == [RowError(1, "missing column(s): vendor")]
    assert parse_inventory_csv("serial,vendor,model,color\n", models).errors == [
        RowError(1, "unknown column(s): color")
    ]
    assert parse_inventory_csv("serial,vendor,model\n", models).errors == [RowError(1, "the file has no device rows")]


def test_device_spec_guards_connectivity(clinic: Clinic) -> None:
    with pytest.raises(InventoryError, match="IMEI is required"):
        device_spec(serial="C1", model=clinic.cell_model)
    with pytest.raises(InventoryError, match="no BLE address"):
        device_spec(serial="C1", model=clinic.cell_model, imei="490154203237518", ble_address="A4:C1:38:00:00:01")


def test_transitions_are_recorded_and_replay_to_the_current_state(db: Conn, clinic: Clinic) -> None:
    patient = rpm_ready_patient(db, clinic)
    spec = device_spec(serial="BP-7", model=clinic.cuff_model, ble_address="A4:C1:38:00:00:07")
    device = inventory.register_device(db, practice_id=clinic.practice_id, spec=spec)
    steps = [
        (CustodyAction.ASSIGN, {"patient_id": str(patient)}),
        (CustodyAction.CREATE_LABEL, {"carrier": "ups", "tracking_number": "1Z5R89390357567127"}),
        (CustodyAction.CARRIER_SCAN, {"carrier_event_id": "trk-1"}),
        (CustodyAction.DELIVER, {"carrier_event_id": "trk-2"}),
    ]
    for n, (action, evidence) in enumerate(steps):
        inventory.transition(
            db, device.id, action, at=NOW + timedelta(hours=n), actor_id=clinic.logistics, evidence=evidence
        )
    with pytest.raises(IllegalTransition, match="cannot restock a device that is delivered"):
        inventory.transition(db, device.id, CustodyAction.RESTOCK, at=NOW, actor_id=clinic.logistics)
    row = inventory.get_device(db, "BP-7")
    assert row.custody_state is CustodyState.DELIVERED
    assert row.delivered_at == NOW + timedelta(hours=3)
    events = inventory.history(db, device.id)
    assert [(e.action, e.actor_id, dict(e.evidence)) for e in events] == [
        (action, clinic.logistics, evidence) for action, evidence in steps
    ]
    assert replay(CustodyState.IN_STOCK, events) is CustodyState.DELIVERED


def test_custody_events_are_append_only(db: Conn, clinic: Clinic) -> None:
    spec = device_spec(serial="BP-8", model=clinic.cuff_model, ble_address="A4:C1:38:00:00:08")
    device = inventory.register_device(db, practice_id=clinic.practice_id, spec=spec)
    inventory.transition(db, device.id, CustodyAction.RETIRE, at=NOW, actor_id=clinic.logistics, reason="damaged")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("UPDATE device_custody_events SET reason = 'other' WHERE device_id = %s", (device.id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("DELETE FROM device_custody_events WHERE device_id = %s", (device.id,))
    assert inventory.get_device(db, "BP-8").blocked_at == NOW


def test_an_actor_from_another_practice_is_refused(db: Conn, clinic: Clinic) -> None:
    from provisioning import registry

    other = registry.create_practice(db, name="Other", time_zone="UTC")
    stranger = registry.create_user(db, practice_id=other, email="x@other.example", display_name="X", role="logistics")
    spec = device_spec(serial="BP-9", model=clinic.cuff_model, ble_address="A4:C1:38:00:00:09")
    device = inventory.register_device(db, practice_id=clinic.practice_id, spec=spec)
    with pytest.raises(InventoryError, match="staff of the device's practice"):
        inventory.transition(db, device.id, CustodyAction.RETIRE, at=NOW, actor_id=stranger, reason="damaged")
    assert inventory.get_device(db, "BP-9").custody_state is CustodyState.IN_STOCK


@given(st.text(max_size=300))
def test_any_csv_text_yields_rows_or_line_numbered_errors(text: str) -> None:
    model = DeviceModel(UUID(int=1), "A&D", "UA-651BLE", DeviceKind.BP_CUFF, Connectivity.BLE, FdaStatus.EXEMPT)
    plan = parse_inventory_csv("serial,vendor,model,ble_address\n" + text, {("a&d", "ua-651ble"): model})
    assert plan.specs or plan.errors
    assert all(error.line >= 1 for error in plan.errors)


def test_random_walk_through_the_database_keeps_row_history_and_block_consistent(db: Conn, clinic: Clinic) -> None:
    seed = 20261204
    print(f"seed {seed}")
    rng = random.Random(seed)
    spec = device_spec(serial="BP-WALK", model=clinic.cuff_model, ble_address="A4:C1:38:00:0A:01")
    device = inventory.register_device(db, practice_id=clinic.practice_id, spec=spec)
    state = CustodyState.IN_STOCK
    for step in range(300):
        # retirement is terminal and would end the walk; it is exercised on its own above
        action = rng.choice([a for a in sorted(allowed_actions(state)) if a is not CustodyAction.RETIRE])
        evidence = {key: f"{key}-{step}" for key in REQUIRED_EVIDENCE.get(action, frozenset())}
        at = NOW + timedelta(minutes=step)
        event = inventory.transition(
            db, device.id, action, at=at, actor_id=clinic.logistics, reason="walk_step", evidence=evidence
        )
        state = event.to_state
        row = inventory.get_device(db, "BP-WALK")
        assert row.custody_state is state
        if state in BLOCKED_STATES:
            assert row.blocked_at is not None
        if state is CustodyState.IN_STOCK:
            assert (row.blocked_at, row.delivered_at, row.activated_at) == (None, None, None)
        if action is CustodyAction.DELIVER:
            assert row.delivered_at == at
        if action is CustodyAction.ACTIVATE:
            assert row.activated_at == at
    history = inventory.history(db, device.id)
    assert len(history) == 300
    assert replay(CustodyState.IN_STOCK, history) is state
