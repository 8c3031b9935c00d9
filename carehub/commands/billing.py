"""``carehub billing explain|report|time|fees`` — CY2026 RPM/CCM billing (see :mod:`billing`).

The clock is read here, in the composition root, and passed into billing as ``at`` / ``as_of``."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from billing import care_time, repository
from billing.care_time import Activity, CareTimeEntry
from billing.case import Program, result_document
from billing.engine import decide
from billing.explain import parse_case, to_case
from billing.fee_schedule import ConversionFactorKind, parse_fee_csv, seeded_schedule
from billing.periods import month_bounds
from billing.report import build_report, to_csv, to_json
from billing.rules_2026 import rules_for
from billing.settings import BillingSettings
from core.db import connect
from core.errors import CarehubError

EXIT_FAILED = 1
EXIT_INVALID_INPUT = 2
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _month(text: str) -> date:
    match = _MONTH_RE.match(text)
    if not match:
        raise argparse.ArgumentTypeError("month must be YYYY-MM, e.g. 2026-11")
    return date(int(match[1]), int(match[2]), 1)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("a time needs an offset or Z, e.g. 2026-11-03T15:00:00Z")
    return value


def _yes_no(text: str) -> bool:
    if text not in ("yes", "no"):
        raise argparse.ArgumentTypeError("answer yes or no")
    return text == "yes"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("billing", help="RPM/CCM billing: explain a case, monthly report, care time")
    actions = parser.add_subparsers(dest="billing_action", metavar="ACTION", required=True)

    explain = actions.add_parser(
        "explain", help="the codes one patient-month earns, and why others are not, from a JSON case (no database)"
    )
    explain.add_argument("--input", required=True, help="the case document (JSON); '-' reads standard input")
    explain.set_defaults(handler=run_explain)

    report = actions.add_parser("report", help="the monthly practice report: claim lines, evidence, summary")
    report.add_argument("--practice", required=True, type=UUID)
    report.add_argument("--month", required=True, type=_month, help="YYYY-MM")
    report.add_argument("--format", choices=("csv", "json"), default="json")
    report.add_argument("--as-of", type=date.fromisoformat, help="'this period' for the at-risk list (default today)")
    report.set_defaults(handler=run_report)

    _register_time(actions.add_parser("time", help="care time: start/stop a timer, add, edit, void, history"))

    _register_records(actions)

    fees = actions.add_parser("fees", help="fee schedule: load a year's RVUs and conversion factors")
    fee_actions = fees.add_subparsers(dest="fees_action", metavar="ACTION", required=True)
    load = fee_actions.add_parser("load", help="replace a year's RVUs from a 'code,rvu' CSV file")
    load.add_argument("--year", required=True, type=int)
    load.add_argument("--file", required=True, type=Path)
    load.add_argument("--non-qp-cf", required=True, type=Decimal, help="conversion factor, non-qualifying APM")
    load.add_argument("--qp-cf", required=True, type=Decimal, help="conversion factor, qualifying APM participants")
    load.add_argument("--source", required=True, help="the CMS file name, e.g. PPRRVU2026_Oct_nonQPP")
    load.set_defaults(handler=run_fees_load)


def _register_time(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="time_action", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--patient", required=True, type=UUID)
        p.add_argument("--performer", required=True, type=UUID, help="the user who did the work")
        p.add_argument("--program", required=True, choices=[p.value for p in Program])
        p.add_argument("--activity", required=True, choices=[a.value for a in Activity])
        p.add_argument("--interactive", required=True, type=_yes_no, help="yes: a real-time call with the patient")
        p.add_argument("--note")

    start = actions.add_parser("start", help="start a timer now")
    common(start)
    start.set_defaults(handler=run_time_start)
    stop = actions.add_parser("stop", help="stop a running timer now")
    stop.add_argument("--entry", required=True, type=UUID)
    stop.add_argument("--by", required=True, type=UUID)
    stop.set_defaults(handler=run_time_stop)
    add = actions.add_parser("add", help="a manual entry: a start and minutes or an end")
    common(add)
    add.add_argument("--start", required=True, type=_instant)
    span = add.add_mutually_exclusive_group(required=True)
    span.add_argument("--minutes", type=int)
    span.add_argument("--end", type=_instant)
    add.add_argument("--entered-by", type=UUID, help="who typed it, when not the performer")
    add.set_defaults(handler=run_time_add)
    edit = actions.add_parser("edit", help="correct an entry (kept in its history)")
    edit.add_argument("--entry", required=True, type=UUID)
    edit.add_argument("--by", required=True, type=UUID)
    edit.add_argument("--reason", required=True)
    edit.add_argument("--start", type=_instant)
    edit.add_argument("--end", type=_instant)
    edit.add_argument("--program", choices=[p.value for p in Program])
    edit.add_argument("--activity", choices=[a.value for a in Activity])
    edit.add_argument("--interactive", type=_yes_no)
    edit.add_argument("--note")
    edit.set_defaults(handler=run_time_edit)
    void = actions.add_parser("void", help="withdraw an entry (kept in its history)")
    void.add_argument("--entry", required=True, type=UUID)
    void.add_argument("--by", required=True, type=UUID)
    void.add_argument("--reason", required=True)
    void.set_defaults(handler=run_time_void)
    listing = actions.add_parser("list", help="a patient's entries started in a month (UTC bounds, a day wider)")
    listing.add_argument("--patient", required=True, type=UUID)
    listing.add_argument("--month", required=True, type=_month)
    listing.set_defaults(handler=run_time_list)
    hist = actions.add_parser("history", help="every version of an entry: who, when, why")
    hist.add_argument("--entry", required=True, type=UUID)
    hist.set_defaults(handler=run_time_history)


def _register_records(actions: Any) -> None:
    plan = actions.add_parser("care-plan", help="record a CCM care plan (CCM-ELIG-2)")
    plan.add_argument("--patient", required=True, type=UUID)
    plan.add_argument("--established-on", required=True, type=date.fromisoformat)
    plan.add_argument("--shared-with-patient-on", type=date.fromisoformat)
    plan.add_argument("--by", required=True, type=UUID)
    plan.set_defaults(handler=run_care_plan)
    complexity = actions.add_parser("complex-ccm", help="attest complex CCM for a month (CCM-TIME-3)")
    complexity.add_argument("--patient", required=True, type=UUID)
    complexity.add_argument("--month", required=True, type=_month)
    complexity.add_argument("--mdm", required=True, choices=("moderate", "high"))
    complexity.add_argument("--care-plan-change", required=True, choices=("established", "substantially_revised"))
    complexity.add_argument("--by", required=True, type=UUID)
    complexity.set_defaults(handler=run_complex_ccm)
    submitted = actions.add_parser("submitted", help="record a code the practice submitted (99453 once per episode)")
    submitted.add_argument("--patient", required=True, type=UUID)
    submitted.add_argument("--code", required=True)
    submitted.add_argument("--units", type=int, default=1)
    submitted.add_argument("--date-of-service", required=True, type=date.fromisoformat)
    submitted.add_argument("--by", required=True, type=UUID)
    submitted.set_defaults(handler=run_submitted)


def run_care_plan(args: argparse.Namespace) -> int:
    def work(conn: repository.Conn) -> int:
        plan = repository.record_care_plan(
            conn,
            patient_id=args.patient,
            established_on=args.established_on,
            shared_with_patient_on=args.shared_with_patient_on,
            recorded_by=args.by,
            at=utc_now(),
        )
        print(json.dumps({"care_plan_id": str(plan)}))
        return 0

    return _with_db(work)


def run_complex_ccm(args: argparse.Namespace) -> int:
    def work(conn: repository.Conn) -> int:
        repository.attest_ccm_complexity(
            conn,
            patient_id=args.patient,
            month=args.month,
            mdm=args.mdm,
            care_plan_change=args.care_plan_change,
            by=args.by,
            at=utc_now(),
        )
        return 0

    return _with_db(work)


def run_submitted(args: argparse.Namespace) -> int:
    def work(conn: repository.Conn) -> int:
        repository.record_submitted(
            conn,
            patient_id=args.patient,
            code=args.code,
            units=args.units,
            date_of_service=args.date_of_service,
            by=args.by,
            at=utc_now(),
        )
        return 0

    return _with_db(work)


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


def _with_db(work: Callable[[repository.Conn], int]) -> int:
    settings = BillingSettings()
    try:
        with connect(
            settings.database_url,
            application_name="carehub-billing",
            autocommit=True,
            connect_timeout_s=settings.db_connect_timeout_s,
        ) as conn:
            return work(conn)
    except CarehubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


def run_report(args: argparse.Namespace) -> int:
    settings = BillingSettings()
    as_of: date = args.as_of or utc_now().date()

    def work(conn: repository.Conn) -> int:
        report = build_report(
            conn,
            practice_id=args.practice,
            month=args.month,
            as_of=as_of,
            rules=settings.apply(rules_for(args.month.year)),
            fees=repository.fee_schedule(conn, args.month.year, settings.billing_conversion_factor),
            enrollments=repository.DatabaseEnrollments(conn),
        )
        if args.format == "csv":
            sys.stdout.write(to_csv(report))
        else:
            json.dump(to_json(report), sys.stdout, indent=2)
            print()
        return 0

    return _with_db(work)


def _print_entry(entry: CareTimeEntry) -> None:
    print(
        json.dumps(
            {
                "id": str(entry.id),
                "patient_id": str(entry.patient_id),
                "performer_id": str(entry.performer_id),
                "program": entry.program,
                "performer_role": entry.performer_role,
                "activity": entry.activity,
                "interactive": entry.interactive,
                "source": entry.source,
                "started_at": entry.started_at.isoformat(),
                "ended_at": entry.ended_at.isoformat() if entry.ended_at else None,
                "version": entry.version,
                "voided": entry.voided_at is not None,
            }
        )
    )


def _time_command(action: Callable[[repository.Conn], CareTimeEntry]) -> int:
    def work(conn: repository.Conn) -> int:
        _print_entry(action(conn))
        return 0

    return _with_db(work)


def _new_entry_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "patient_id": args.patient,
        "performer_id": args.performer,
        "program": Program(args.program),
        "activity": Activity(args.activity),
        "interactive": args.interactive,
        "note": args.note,
    }


def run_time_start(args: argparse.Namespace) -> int:
    return _time_command(lambda conn: care_time.start_timer(conn, **_new_entry_fields(args), at=utc_now()))


def run_time_stop(args: argparse.Namespace) -> int:
    return _time_command(lambda conn: care_time.stop_timer(conn, entry_id=args.entry, by=args.by, at=utc_now()))


def run_time_add(args: argparse.Namespace) -> int:
    return _time_command(
        lambda conn: care_time.add_manual(
            conn,
            **_new_entry_fields(args),
            started_at=args.start,
            minutes=args.minutes,
            ended_at=args.end,
            entered_by=args.entered_by,
            at=utc_now(),
        )
    )


def run_time_edit(args: argparse.Namespace) -> int:
    return _time_command(
        lambda conn: care_time.edit_entry(
            conn,
            entry_id=args.entry,
            by=args.by,
            at=utc_now(),
            reason=args.reason,
            started_at=args.start,
            ended_at=args.end,
            program=Program(args.program) if args.program else None,
            activity=Activity(args.activity) if args.activity else None,
            interactive=args.interactive,
            note=args.note,
        )
    )


def run_time_void(args: argparse.Namespace) -> int:
    return _time_command(
        lambda conn: care_time.void_entry(conn, entry_id=args.entry, by=args.by, at=utc_now(), reason=args.reason)
    )


def run_time_list(args: argparse.Namespace) -> int:
    first, last = month_bounds(args.month)

    def work(conn: repository.Conn) -> int:
        lo = datetime.combine(first - timedelta(days=1), time.min, UTC)
        hi = datetime.combine(last + timedelta(days=2), time.min, UTC)
        for entry in care_time.entries_of_patient(conn, args.patient, lo, hi):
            _print_entry(entry)
        return 0

    return _with_db(work)


def run_time_history(args: argparse.Namespace) -> int:
    def work(conn: repository.Conn) -> int:
        for rev in care_time.history(conn, args.entry):
            print(
                json.dumps(
                    {
                        "version": rev.version,
                        "action": rev.action,
                        "changed_by": str(rev.changed_by),
                        "changed_at": rev.changed_at.isoformat(),
                        "reason": rev.reason,
                        "snapshot": rev.snapshot,
                    }
                )
            )
        return 0

    return _with_db(work)


def run_fees_load(args: argparse.Namespace) -> int:
    try:
        rvus = parse_fee_csv(args.file.read_text(encoding="utf-8"))
    except (OSError, CarehubError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT

    def work(conn: repository.Conn) -> int:
        repository.load_fee_schedule(
            conn,
            year=args.year,
            rvus=rvus,
            factors=[(ConversionFactorKind.NON_QP, args.non_qp_cf), (ConversionFactorKind.QP, args.qp_cf)],
            source=args.source,
        )
        print(f"loaded {len(rvus)} RVUs for {args.year} from {args.source}")
        return 0

    return _with_db(work)
