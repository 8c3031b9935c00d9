"""``carehub alerts list|ack|resolve|snooze|override|overrides|approve-defaults|defaults|route-secret|
new-secret-key`` — the alert lifecycle, per-patient threshold overrides, the approval of the default
rule set and sealed webhook secrets, for operators (the API calls the same :mod:`alerts.service`
functions)."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts import service
from alerts.lifecycle import TransitionRefused
from alerts.rules import RULESET_VERSION
from alerts.secrets import new_key
from alerts.settings import NotifierSettings
from core.db import connect


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
    override = actions.add_parser(
        "override", help="set a patient's thresholds for one rule (OVR-1: physician, QHP or nurse; audited)"
    )
    override.add_argument("--practice", required=True)
    override.add_argument("--patient", required=True)
    override.add_argument("--user", required=True, help="id of the clinician setting it (the author)")
    override.add_argument("--rule", required=True, help="rule id, e.g. BP-C1")
    override.add_argument(
        "--set", dest="params", action="append", required=True, type=_threshold, metavar="NAME=VALUE",
        help="a threshold of the rule, e.g. sys_ge=190 (repeatable)",
    )  # fmt: skip
    override.add_argument("--reason", required=True)
    override.add_argument("--expires", type=datetime.fromisoformat, help="ISO time with a zone")
    overrides = actions.add_parser("overrides", help="every version of a patient's threshold overrides")
    overrides.add_argument("--practice", required=True)
    overrides.add_argument("--patient", required=True)
    approve = actions.add_parser(
        "approve-defaults", help="record the medical director's approval of the default rule set (OVR-4)"
    )
    approve.add_argument("--practice", required=True)
    approve.add_argument("--user", required=True, help="id of the approving physician")
    approve.add_argument("--note")
    defaults = actions.add_parser("defaults", help="the default rule set and whether the practice approved it")
    defaults.add_argument("--practice", required=True)
    route_secret = actions.add_parser(
        "route-secret", help="store a webhook route's signing secret (read from stdin) sealed, never in clear"
    )
    route_secret.add_argument("route_id")
    route_secret.add_argument("--practice", required=True)
    actions.add_parser("new-secret-key", help="print a new key for CAREHUB_NOTIFIER_SECRET_KEY")
    parser.set_defaults(handler=run)


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name or not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}")
    return name, number


def run(args: argparse.Namespace) -> int:
    if args.action == "new-secret-key":
        print(new_key())
        return 0
    settings = NotifierSettings()
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
            elif args.action == "override":
                version = service.set_override(
                    conn, args.practice, args.rule, dict(args.params), patient_id=args.patient,
                    author_id=args.user, reason=args.reason, at=now, expires_at=args.expires,
                )  # fmt: skip
                print(f"{args.rule} override version {version}")
            elif args.action == "overrides":
                for o in service.list_overrides(conn, args.practice, args.patient):
                    state = "superseded" if o.superseded_at else "active"
                    print(
                        f"{o.rule_id:<9} v{o.version} {state:<10} {o.params} (was {o.previous_params}) "
                        f"by {o.author_id} at {o.created_at.isoformat()}: {o.reason}"
                    )
            elif args.action == "approve-defaults":
                approval = service.approve_defaults(conn, args.practice, by=args.user, at=now, note=args.note)
                print(f"rule set version {approval.ruleset_version} approved")
            elif args.action == "defaults":
                approved = service.defaults_approval(conn, args.practice)
                print(
                    f"rule set version {RULESET_VERSION}: "
                    + (f"approved by {approved.approved_by} at {approved.approved_at.isoformat()}" if approved
                       else "NOT approved by the practice's medical director yet (OVR-4)")
                )  # fmt: skip
                for rule_id, rule in service.default_ruleset().items():
                    print(f"{rule_id:<9} v{rule['version']} {rule['severity']:<8} {rule['thresholds']}")
            elif args.action == "route-secret":
                if settings.notifier_secret_key is None:
                    print("refused: CAREHUB_NOTIFIER_SECRET_KEY is not set", file=sys.stderr)
                    return 2
                key = settings.notifier_secret_key.get_secret_value()
                service.seal_route_secret(conn, args.practice, args.route_id, sys.stdin.readline().strip(), key=key)
            elif args.action == "resolve":
                service.resolve(conn, args.practice, args.alert_id, by=args.user, at=now, note=args.note)
            else:
                until = now + timedelta(minutes=args.minutes)
                service.snooze(conn, args.practice, args.alert_id, by=args.user, at=now, until=until)
        except TransitionRefused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    return 0
