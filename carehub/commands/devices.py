"""``carehub devices …`` — inventory and custody for logistics staff: models, CSV import, list and
show (with the custody history), assign, and the replacement, loss and return flows."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

from carehub.operations import add_actor, add_at, add_json, day, emit, handler, session
from core.domain import DeviceKind
from provisioning import csv_import, evidence, inventory, replacement, shipping
from provisioning.custody import CustodyAction, CustodyState, Engagement, engagement
from provisioning.enrollment import patient_by_mrn
from provisioning.inventory import Connectivity, FdaStatus
from provisioning.registry import device_by_serial
from provisioning.tracking_numbers import Carrier

DEVICE_COLUMNS = ("serial", "kind", "model", "custody_state", "engagement", "patient_mrn", "hub_id", "activated_at")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("devices", help="inventory and custody: import, assign, replace, return")
    actions = parser.add_subparsers(dest="devices_action", metavar="ACTION", required=True)

    p = actions.add_parser("add-model", help="register a device model (vendor, kind, connectivity, FDA status)")
    add_actor(p)
    p.add_argument("--vendor", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--kind", required=True, choices=[k.value for k in DeviceKind])
    p.add_argument("--connectivity", required=True, choices=[c.value for c in Connectivity])
    p.add_argument("--fda-status", required=True, choices=[f.value for f in FdaStatus])
    p.add_argument("--fda-reference", help="510(k) or De Novo number")
    p.set_defaults(handler=handler(run_add_model))

    p = actions.add_parser("import", help="import a CSV of units (all or nothing; every bad line is listed)")
    add_actor(p)
    p.add_argument("file", type=Path)
    p.set_defaults(handler=handler(run_import))

    p = actions.add_parser("list", help="units of the actor's practice")
    add_actor(p)
    add_json(p)
    p.add_argument("--state", choices=[s.value for s in CustodyState])
    p.set_defaults(handler=handler(run_list))

    p = actions.add_parser("show", help="one unit with its custody history")
    add_actor(p)
    add_json(p)
    p.add_argument("serial")
    p.set_defaults(handler=handler(run_show))

    _register_flows(actions)


def _register_flows(actions: Any) -> None:
    p = actions.add_parser("assign", help="assign a unit in stock to an RPM-enrolled patient (and hub)")
    add_actor(p)
    add_at(p)
    p.add_argument("serial")
    p.add_argument("--patient", required=True, metavar="MRN")
    p.add_argument("--hub", metavar="HUB_ID")
    p.set_defaults(handler=handler(run_assign))

    p = actions.add_parser("replace", help="advance exchange: ship NEW, the old unit's return is requested")
    add_actor(p)
    add_at(p)
    p.add_argument("old_serial")
    p.add_argument("new_serial")
    p.add_argument("--reason", required=True, help="reason code, e.g. implausible_values, battery_sealed")
    p.add_argument("--carrier", required=True, choices=[c.value for c in Carrier])
    p.add_argument("--tracking", required=True)
    p.add_argument("--ship-date", type=day)
    p.set_defaults(handler=handler(run_replace))

    for name, help_text in (
        ("lost", "report a unit lost: it is blocked and its later data quarantined"),
        ("unenroll", "the patient stops: assignments end, a return is requested"),
        ("receive", "a unit is back: returned, then quarantined until inspected"),
    ):
        p = actions.add_parser(name, help=help_text)
        add_actor(p)
        add_at(p)
        p.add_argument("serial")
        p.add_argument("--reason", required=name != "receive", default="received")
        p.set_defaults(handler=handler(run_flow), flow=name)

    p = actions.add_parser("setup", help="record 99453 set-up and education (the actor did it)")
    add_actor(p)
    add_at(p)
    p.add_argument("serial")
    p.add_argument("--modality", required=True, choices=["in_person", "video", "phone"])
    p.set_defaults(handler=handler(run_setup))

    p = actions.add_parser("transition", help="any other custody action (faulty, refurbish, restock, retire, cancel…)")
    add_actor(p)
    add_at(p)
    p.add_argument("serial")
    p.add_argument("action", choices=[a.value for a in CustodyAction])
    p.add_argument("--reason")
    p.add_argument("--evidence", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(handler=handler(run_transition))


def run_add_model(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        model = inventory.register_model(
            ctx.conn,
            vendor=args.vendor,
            model=args.model,
            kind=DeviceKind(args.kind),
            connectivity=Connectivity(args.connectivity),
            fda_status=FdaStatus(args.fda_status),
            fda_reference=args.fda_reference,
        )
    print(f"model {model.vendor} {model.model} registered ({model.id})")
    return 0


def run_import(args: argparse.Namespace) -> int:
    text = args.file.read_text(encoding="utf-8")
    with session(args) as ctx:
        count = csv_import.import_inventory_csv(ctx.conn, practice_id=ctx.practice_id, text=text)
    print(f"imported {count} device(s) into stock")
    return 0


def _device_dict(row: inventory.DeviceRow) -> dict[str, Any]:
    return dataclasses.asdict(row)


def _engagement(
    row: inventory.DeviceRow, last_reading: datetime | None, last_heartbeat: datetime | None, now: datetime
) -> Engagement:
    # Only a device that has sent heartbeats (a cellular device whose vendor has them) can be said to
    # have gone quiet itself; for the others silence is reported without blaming the device.
    return engagement(row.custody_state, last_reading_at=last_reading, last_heartbeat_at=last_heartbeat, now=now,
                      heartbeats_known=last_heartbeat is not None)  # fmt: skip


def run_list(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        state = CustodyState(args.state) if args.state else None
        devices = inventory.list_devices(ctx.conn, practice_id=ctx.practice_id, state=state)
        ids = [d.id for d in devices]
        last, beats = inventory.last_readings(ctx.conn, ids), inventory.last_heartbeats(ctx.conn, ids)
        rows = [
            _device_dict(r) | {"engagement": _engagement(r, last.get(r.id), beats.get(r.id), ctx.now)} for r in devices
        ]
    emit(rows, DEVICE_COLUMNS, as_json=args.json)
    return 0


def run_show(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        row = inventory.get_device(ctx.conn, args.serial)
        if row.practice_id != ctx.practice_id:
            raise inventory.InventoryError(f"device {args.serial} belongs to another practice")
        device = _device_dict(row)
        events = [dataclasses.asdict(e) for e in inventory.history(ctx.conn, row.id)]
    if args.json:
        emit([{**device, "history": events}], (), as_json=True)
        return 0
    emit([device], DEVICE_COLUMNS, as_json=False)
    print()
    for event in events:
        event["evidence"] = ",".join(f"{k}={v}" for k, v in sorted(event["evidence"].items()))
    emit(events, ("at", "action", "from_state", "to_state", "actor_kind", "reason", "evidence"), as_json=False)
    return 0


def _own_device(ctx: Any, serial: str) -> None:
    if device_by_serial(ctx.conn, serial).practice_id != ctx.practice_id:
        raise inventory.InventoryError(f"device {serial} belongs to another practice")


def run_assign(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        _own_device(ctx, args.serial)
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.patient)
        shipping.assign_device(
            ctx.conn, serial=args.serial, patient_id=patient, at=ctx.now, actor_id=ctx.actor_id, hub_id=args.hub
        )
    print(f"{args.serial} assigned")
    return 0


def run_replace(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        _own_device(ctx, args.old_serial)
        _own_device(ctx, args.new_serial)
        replacement.replace_device(
            ctx.conn,
            old_serial=args.old_serial,
            new_serial=args.new_serial,
            reason=args.reason,
            at=ctx.now,
            actor_id=ctx.actor_id,
            carrier=Carrier(args.carrier),
            tracking_number=args.tracking,
            ship_date=args.ship_date or ctx.now.date(),
        )
    print(f"{args.new_serial} shipped to replace {args.old_serial}; return of {args.old_serial} requested")
    return 0


def run_flow(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        _own_device(ctx, args.serial)
        if args.flow == "lost":
            replacement.report_lost(ctx.conn, serial=args.serial, reason=args.reason, at=ctx.now, actor_id=ctx.actor_id)
        elif args.flow == "unenroll":
            replacement.unenroll_device(
                ctx.conn, serial=args.serial, reason=args.reason, at=ctx.now, actor_id=ctx.actor_id
            )
        else:
            replacement.receive_return(
                ctx.conn, serial=args.serial, at=ctx.now, actor_id=ctx.actor_id, reason=args.reason
            )
        state = inventory.get_device(ctx.conn, args.serial).custody_state
    print(f"{args.serial} is now {state.value}")
    return 0


def run_setup(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        _own_device(ctx, args.serial)
        evidence.record_setup(
            ctx.conn, serial=args.serial, performed_by=ctx.actor_id, performed_at=ctx.now, modality=args.modality
        )
    print(f"set-up of {args.serial} recorded")
    return 0


def run_transition(args: argparse.Namespace) -> int:
    evidence = {}
    for item in args.evidence:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--evidence needs KEY=VALUE, got {item!r}")
        evidence[key] = value
    with session(args) as ctx:
        _own_device(ctx, args.serial)
        device = device_by_serial(ctx.conn, args.serial)
        event = inventory.transition(
            ctx.conn,
            device.id,
            CustodyAction(args.action),
            at=ctx.now,
            actor_id=ctx.actor_id,
            reason=args.reason,
            evidence=evidence,
        )
    print(f"{args.serial}: {event.from_state.value} -> {event.to_state.value}")
    return 0
