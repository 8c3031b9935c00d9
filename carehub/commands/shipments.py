"""``carehub shipments …`` — create a labelled parcel for a patient's units, apply carrier events
(an EasyPost or Shippo webhook body saved to a file, or a status typed by staff), and list them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from carehub.operations import add_actor, add_at, add_json, aware_time, day, emit, handler, session
from provisioning import shipping
from provisioning.enrollment import patient_by_mrn
from provisioning.shipping import CarrierEvent, CarrierStatus, Direction
from provisioning.tracking_numbers import Carrier


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("shipments", help="shipments and carrier tracking events")
    actions = parser.add_subparsers(dest="shipments_action", metavar="ACTION", required=True)

    p = actions.add_parser("create", help="a labelled parcel with one or more units")
    add_actor(p)
    add_at(p)
    p.add_argument("mrn")
    p.add_argument("--device", action="append", required=True, metavar="SERIAL", dest="devices")
    p.add_argument("--carrier", required=True, choices=[c.value for c in Carrier])
    p.add_argument("--tracking", required=True)
    p.add_argument("--ship-date", type=day)
    p.add_argument("--return", action="store_true", dest="is_return", help="a return parcel (units awaiting return)")
    p.set_defaults(handler=handler(run_create))

    p = actions.add_parser("event", help="apply a carrier status event")
    add_actor(p)
    p.add_argument("--webhook", type=Path, help="a saved EasyPost Event or Shippo track webhook body (JSON)")
    p.add_argument("--source", choices=["easypost", "shippo"], default="easypost")
    p.add_argument("--carrier", choices=[c.value for c in Carrier])
    p.add_argument("--tracking")
    p.add_argument("--status", choices=[s.value for s in CarrierStatus])
    p.add_argument("--event-id", help="a unique id for a typed event (defaults to status@time)")
    p.add_argument("--at", type=aware_time)
    p.set_defaults(handler=handler(run_event))

    p = actions.add_parser("list", help="shipments of the actor's practice")
    add_actor(p)
    add_json(p)
    p.set_defaults(handler=handler(run_list))


def run_create(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        shipment = shipping.create_shipment(
            ctx.conn, patient_id=patient, serials=args.devices, carrier=Carrier(args.carrier),
            tracking_number=args.tracking, ship_date=args.ship_date or ctx.now.date(), at=ctx.now,
            actor_id=ctx.actor_id, direction=Direction.RETURN if args.is_return else Direction.OUTBOUND,
        )  # fmt: skip
    print(f"shipment {shipment} created")
    return 0


def _event(args: argparse.Namespace) -> CarrierEvent:
    if args.webhook is not None:
        body = json.loads(args.webhook.read_text(encoding="utf-8"))
        return shipping.from_shippo(body) if args.source == "shippo" else shipping.from_easypost(body)
    if not (args.carrier and args.tracking and args.status and args.at):
        raise SystemExit("give --webhook FILE, or --carrier, --tracking, --status and --at")
    status = CarrierStatus(args.status)
    event_id = args.event_id or f"{status.value}@{args.at.isoformat()}"
    return CarrierEvent("manual", event_id, Carrier(args.carrier), args.tracking, status, args.at)


def run_event(args: argparse.Namespace) -> int:
    event = _event(args)
    with session(args) as ctx:
        applied = shipping.record_carrier_event(ctx.conn, event)
    if applied.duplicate:
        print("event already recorded; nothing changed")
    else:
        moved = ", ".join(f"{serial} {action.value}" for serial, action in applied.moved) or "no custody change"
        print(f"event recorded: {moved}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        cur = ctx.conn.execute(
            "SELECT s.id, p.mrn, s.direction, s.carrier, s.tracking_number, s.ship_date, s.status, s.delivered_at,"
            " array(SELECT d.serial FROM shipment_devices sd JOIN devices d ON d.id = sd.device_id"
            " WHERE sd.shipment_id = s.id ORDER BY d.serial)"
            " FROM shipments s JOIN patients p ON p.id = s.patient_id WHERE s.practice_id = %s"
            " ORDER BY s.created_at",
            (ctx.practice_id,),
        )
        names = [c.name for c in cur.description or ()]
        names[-1] = "devices"
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    columns = ("mrn", "direction", "carrier", "tracking_number", "ship_date", "status", "delivered_at", "devices")
    emit(rows, columns, as_json=args.json)
    return 0
