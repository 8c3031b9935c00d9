"""``carehub billing explain|report|time`` — CY2026 RPM/CCM billing (see :mod:`billing`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from billing.case import result_document
from billing.engine import decide
from billing.explain import parse_case, to_case
from billing.fee_schedule import seeded_schedule
from billing.rules_2026 import rules_for
from billing.settings import BillingSettings
from core.errors import CarehubError

EXIT_INVALID_INPUT = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("billing", help="RPM/CCM billing: explain a case, monthly report, care time")
    actions = parser.add_subparsers(dest="billing_action", metavar="ACTION", required=True)
    explain = actions.add_parser(
        "explain",
        help="the codes one patient-month earns, and why others are not, from a JSON case (no database)",
    )
    explain.add_argument("--input", required=True, help="the case document (JSON); '-' reads standard input")
    explain.set_defaults(handler=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    settings = BillingSettings()
    try:
        case = to_case(parse_case(text))
        rules = settings.apply(rules_for(case.month.year))
        fees = seeded_schedule(case.month.year, settings.billing_conversion_factor)
    except CarehubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    json.dump(result_document(decide(case, rules, fees)), sys.stdout, indent=2)
    print()
    return 0
