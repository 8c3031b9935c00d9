"""``carehub patients …`` — enrollment for staff: add a patient, record MBI/address/last visit,
diagnoses, consent, check eligibility (each rule by its id), enroll and end a program."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from carehub.operations import add_actor, add_at, add_json, day, emit, handler, session
from provisioning import enrollment, evidence, registry
from provisioning.eligibility import Program
from provisioning.enrollment import Address, patient_by_mrn


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("patients", help="enrollment: demographics, conditions, consent, eligibility")
    actions = parser.add_subparsers(dest="patients_action", metavar="ACTION", required=True)

    p = actions.add_parser("add", help="register a patient of the actor's practice")
    add_actor(p)
    p.add_argument("mrn")
    p.add_argument("--time-zone", required=True, help="IANA zone, e.g. America/Chicago (decides billing days)")
    p.set_defaults(handler=handler(run_add))

    p = actions.add_parser("update", help="set MBI, address, date of birth or last visit")
    add_actor(p)
    p.add_argument("mrn")
    p.add_argument("--mbi")
    p.add_argument("--birth-date", type=day)
    p.add_argument("--last-visit", type=day, help="last in-person or telehealth visit (RPM-ELIG-1, CCM-ELIG-3)")
    p.add_argument("--address-line1")
    p.add_argument("--address-line2")
    p.add_argument("--city")
    p.add_argument("--state")
    p.add_argument("--postal-code")
    p.set_defaults(handler=handler(run_update))

    p = actions.add_parser("add-condition", help="record an ICD-10-CM diagnosis")
    add_actor(p)
    p.add_argument("mrn")
    p.add_argument("icd10")
    p.add_argument("--not-chronic", action="store_true", help="the clinician does not attest >= 12 months")
    p.add_argument("--onset", type=day)
    p.set_defaults(handler=handler(run_add_condition))

    _register_program(actions)


def _register_program(actions: Any) -> None:
    p = actions.add_parser("consent", help="record consent (who obtained it is the actor)")
    add_actor(p)
    add_at(p)
    p.add_argument("mrn")
    p.add_argument("--program", required=True, choices=[x.value for x in Program])
    p.add_argument("--modality", required=True, choices=["verbal", "written"])
    p.add_argument("--text-version", required=True)
    p.add_argument("--cost-sharing-explained", action="store_true")
    p.set_defaults(handler=handler(run_consent))

    p = actions.add_parser("eligibility", help="check RPM or CCM rules on a date")
    add_actor(p)
    add_json(p)
    p.add_argument("mrn")
    p.add_argument("--program", required=True, choices=[x.value for x in Program])
    p.add_argument("--condition", default="", help="ICD-10-CM code the RPM order names")
    p.add_argument("--on", type=day)
    p.set_defaults(handler=handler(run_eligibility))

    p = actions.add_parser("enroll", help="enroll in a program (refused with the blocking rules)")
    add_actor(p)
    p.add_argument("mrn")
    p.add_argument("--program", required=True, choices=[x.value for x in Program])
    p.add_argument("--condition", required=True, help="ICD-10-CM code of the order")
    p.add_argument("--ordering", required=True, metavar="EMAIL", help="the ordering practitioner")
    p.add_argument("--npi")
    p.add_argument("--starts", type=day)
    p.set_defaults(handler=handler(run_enroll))

    p = actions.add_parser("show", help="identifiers on file, conditions, consents, enrollments, devices")
    add_actor(p)
    add_json(p)
    p.add_argument("mrn")
    p.set_defaults(handler=handler(run_show))

    p = actions.add_parser("evidence", help="audit evidence per device the patient had (reference §3.6)")
    add_actor(p)
    add_json(p)
    p.add_argument("mrn")
    p.set_defaults(handler=handler(run_evidence))

    p = actions.add_parser("end", help="end a program enrollment")
    add_actor(p)
    p.add_argument("mrn")
    p.add_argument("--program", required=True, choices=[x.value for x in Program])
    p.add_argument("--reason", required=True)
    p.add_argument("--ends", type=day)
    p.set_defaults(handler=handler(run_end))


def run_add(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        registry.create_patient(ctx.conn, practice_id=ctx.practice_id, mrn=args.mrn, time_zone=args.time_zone)
    print(f"patient {args.mrn} added")
    return 0


def run_update(args: argparse.Namespace) -> int:
    address = None
    parts = (args.address_line1, args.city, args.state, args.postal_code)
    if any(parts):
        if not all(parts):
            raise SystemExit("an address needs --address-line1, --city, --state and --postal-code")
        address = Address(args.address_line1, args.city, args.state, args.postal_code, args.address_line2)
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        enrollment.update_patient(
            ctx.conn, patient, mbi=args.mbi, address=address, last_visit_on=args.last_visit, birth_date=args.birth_date
        )
    print(f"patient {args.mrn} updated")
    return 0


def run_add_condition(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        keys = enrollment.add_condition(
            ctx.conn, patient, icd10_code=args.icd10, chronic=not args.not_chronic, recorded_by=ctx.actor_id,
            onset_on=args.onset,
        )  # fmt: skip
    print(f"{args.icd10} recorded; condition keys: {', '.join(keys) or '(none in the chronic-condition table)'}")
    return 0


def run_consent(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        enrollment.record_consent(
            ctx.conn, patient, program=Program(args.program), modality=args.modality, obtained_at=ctx.now,
            obtained_by=ctx.actor_id, text_version=args.text_version,
            cost_sharing_explained=args.cost_sharing_explained,
        )  # fmt: skip
    print(f"{args.program} consent recorded")
    return 0


def run_eligibility(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        result = enrollment.check_eligibility(
            ctx.conn, patient, Program(args.program), on=args.on or ctx.now.date(), condition_icd10=args.condition
        )
    rows = [{"rule": f.rule, "ok": f.ok, "detail": f.detail} for f in result.findings]
    if args.json:
        emit(
            [{"program": result.program, "on": result.on, "eligible": result.eligible, "findings": rows}],
            (),
            as_json=True,
        )
    else:
        emit(rows, ("rule", "ok", "detail"), as_json=False)
        print(f"eligible: {'yes' if result.eligible else 'no'}")
    return 0 if result.eligible else 3


def run_enroll(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        ordering, ordering_practice = registry.user_by_email(ctx.conn, args.ordering)
        if ordering_practice != ctx.practice_id:
            raise registry.RegistryError("the ordering practitioner is not staff of this practice")
        enrollment.enroll(
            ctx.conn, patient, program=Program(args.program), starts_on=args.starts or ctx.now.date(),
            ordering_user_id=ordering, condition_icd10=args.condition, ordering_npi=args.npi,
        )  # fmt: skip
    print(f"patient {args.mrn} enrolled in {args.program.upper()}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        summary = enrollment.patient_summary(ctx.conn, patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn))
    if args.json:
        emit([summary], (), as_json=True)
        return 0
    sections = ("conditions", "consents", "enrollments", "devices")
    emit([{k: v for k, v in summary.items() if k not in sections}], [k for k in summary if k not in sections],
         as_json=False)  # fmt: skip
    for section in sections:
        print(f"\n{section}:")
        items = summary[section]
        emit(items, list(items[0]) if items else ["none"], as_json=False)
    return 0


def run_evidence(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        rows = [dataclasses.asdict(e) for e in evidence.device_evidence(ctx.conn, ctx.practice_id, patient)]
    columns = ("device_serial", "assigned_at", "assignment_ended_at", "assignment_end_reason", "tracking_number",
               "delivered_at", "first_reading_at")  # fmt: skip
    emit(rows, columns, as_json=args.json)
    return 0


def run_end(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        patient = patient_by_mrn(ctx.conn, ctx.practice_id, args.mrn)
        ended = enrollment.end_enrollment(
            ctx.conn, patient, program=Program(args.program), ends_on=args.ends or ctx.now.date(), reason=args.reason
        )
    print(f"{ended} enrollment(s) ended")
    return 0
