"""``carehub alerts list|ack|resolve|snooze`` — the alert lifecycle for operators (the API calls the
same :mod:`alerts.service` functions)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts import service
from alerts.lifecycle import TransitionRefused
from core.db import connect
from core.settings import DatabaseSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("alerts", help="list, acknowledge, resolve or snooze alerts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="the practice's open and acknowledged alerts, most urgent first")
    listing.add_argument("--practice", required=True)
    listing.add_argument("--all", action="store_true", help="include resolved alerts")
    for name, text in (("ack", "acknowledge an open alert"), ("resolve", "resolve an alert")):
        action = actions.add_parser(name, help=text)
        action.add_argument("alert_id")
        action.add_argument("--practice", required=True)
        action.add_argument("--user", required=True, help="id of the staff user acting")
        action.add_argument("--note")
    snooze = actions.add_parser("snooze", help="hold escalation of an alert for a while")
    snooze.add_argument("alert_id")
    snooze.add_argument("--practice", required=True)
    snooze.add_argument("--user", required=True)
    snooze.add_argument("--minutes", type=int, required=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = DatabaseSettings()
    now = datetime.now(UTC)
    with connect(settings.database_url, application_name="carehub-alerts-cli", autocommit=True) as conn:
        try:
            if args.action == "list":
                statuses = ("open", "acknowledged", "resolved") if args.all else ("open", "acknowledged")
                for a in service.list_alerts(conn, args.practice, status=statuses):
                    print(
                        f"{a.id}  {a.severity:<8} {a.status:<12} {a.rule_id:<9} {a.subject_kind}:{a.subject}  "
                        f"opened {a.opened_at.isoformat()}  readings {a.readings}"
                    )
            elif args.action == "ack":
                service.acknowledge(conn, args.practice, args.alert_id, by=args.user, at=now, note=args.note)
            elif args.action == "resolve":
                service.resolve(conn, args.practice, args.alert_id, by=args.user, at=now, note=args.note)
            else:
                until = now + timedelta(minutes=args.minutes)
                service.snooze(conn, args.practice, args.alert_id, by=args.user, at=now, until=until)
        except TransitionRefused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    return 0
