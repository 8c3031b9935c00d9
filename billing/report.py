"""The monthly practice report (issue 7 item 3): one line per patient and code with units, allowed
amount, rule ids and evidence references; what was not billed and why; a program summary
(enrolled, active, codes, expected allowed amount, patients at risk of missing 16 days in their
current device period). reference/rpm-ccm-rules.md §A.9.

Each patient's line set carries ``case_sha256``: the hash of the exact facts the engine was given,
so a line can be re-derived and checked in an audit (§A.9 step 6, §A.12)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from billing import repository
from billing.case import Case, Program, Result, code_document, result_document
from billing.engine import decide
from billing.enrollment import Enrollment, EnrollmentSource
from billing.fee_schedule import FeeSchedule
from billing.periods import month_bounds, period_containing
from billing.rules_2026 import RuleSet

# A patient is "at risk" when 16 days are still reachable in the current period but with fewer
# than this many days to spare.
AT_RISK_SLACK_DAYS = 3


@dataclass(frozen=True, slots=True)
class PeriodStatus:
    patient_id: UUID
    mrn: str
    period_start: date
    period_end: date
    days_so_far: int
    days_remaining: int
    days_needed: int

    @property
    def can_reach(self) -> bool:
        return self.days_needed <= self.days_remaining


@dataclass(frozen=True, slots=True)
class PatientResult:
    patient_id: UUID
    mrn: str
    result: Result
    case_sha256: str


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    practice_id: UUID
    month: date
    as_of: date
    patients: tuple[PatientResult, ...]
    enrolled: Mapping[str, int]
    active: Mapping[str, int]
    at_risk: tuple[PeriodStatus, ...]
    cannot_reach: tuple[PeriodStatus, ...]

    @property
    def code_counts(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for p in self.patients:
            for c in p.result.codes:
                counts[c.code.value] += c.units
        return dict(sorted(counts.items()))

    @property
    def expected_amount(self) -> Decimal:
        return sum((p.result.total for p in self.patients), Decimal(0))


def case_hash(case: Case) -> str:
    """SHA-256 of the exact facts the engine was given, in a canonical form (built by hand:
    ``dataclasses.asdict`` deep-copies and took half of a 10,000-patient report)."""
    facts = [
        case.month.isoformat(),
        case.established,
        [[c.icd10, list(c.condition_keys), c.chronic] for c in case.conditions],
        [[c.program.value, c.on.isoformat(), c.ref] for c in case.consents],
        case.care_plan,
        case.ccm_complex,
        sorted(d.isoformat() for d in case.data_days),
        [
            [t.on.isoformat(), t.minutes, t.program.value, t.performer.value, t.interactive, t.ref]
            for t in case.time_spent
        ],
        case.device_period_start.isoformat() if case.device_period_start else None,
        case.setup_billed_in_episode,
        case.rpm_order_on_file,
        sorted(s.value for s in case.other_services),
        sorted(p.value for p in case.other_practitioner_programs),
        [case.setup_record, case.setup_checked],
    ]
    return hashlib.sha256(json.dumps(facts, separators=(",", ":")).encode()).hexdigest()


def build_case(
    month: date,
    enrollment: Enrollment,
    conditions: tuple[Any, ...],
    days: frozenset[date],
    spent: tuple[Any, ...],
    anchor: date | None,
    setup_billed: bool,
) -> Case:
    return Case(
        month=month,
        established=enrollment.established,
        conditions=conditions,
        consents=enrollment.consents,
        care_plan=enrollment.care_plan,
        ccm_complex=enrollment.ccm_complex,
        data_days=days,
        time_spent=spent,
        device_period_start=anchor,
        setup_billed_in_episode=setup_billed,
        setup_record=enrollment.setup_record,
        setup_checked=True,
        rpm_order_on_file=enrollment.rpm_order_on_file,
        other_services=enrollment.other_services,
        other_practitioner_programs=enrollment.other_practitioner_programs,
    )


def build_report(
    conn: repository.Conn,
    *,
    practice_id: UUID,
    month: date,
    as_of: date,
    rules: RuleSet,
    fees: FeeSchedule,
    enrollments: EnrollmentSource,
    patient_ids: frozenset[UUID] | None = None,
) -> MonthlyReport:
    """``as_of`` (a date in the month, from the caller's clock) decides "this period" for the
    at-risk list; the codes do not depend on it. ``patient_ids`` limits the report to those
    patients (one patient's explanation runs the same code path as the practice's report)."""
    first, last = month_bounds(month)
    as_of = min(max(as_of, first), last)
    enrolled = enrollments.enrollments(practice_id, first)
    people = [
        p
        for p in repository.patients(conn, practice_id)
        if p.id in enrolled and (patient_ids is None or p.id in patient_ids)
    ]
    zones = {p.id: p.time_zone for p in people}
    conditions = repository.conditions(conn, practice_id, first)
    days = repository.data_days(conn, practice_id, first)
    spent = repository.time_spent(conn, practice_id, first, zones)
    anchors = {p.id: enrolled[p.id].device_period_start for p in people}
    rpm_consent = {p.id: enrolled[p.id].consents for p in people}
    missing = {
        pid: min(c.on for c in consents if c.program is Program.RPM)
        for pid, consents in rpm_consent.items()
        if anchors[pid] is None and any(c.program is Program.RPM for c in consents)
    }
    anchors.update(repository.first_data_days(conn, practice_id, missing))
    setup = repository.setup_billed(conn, practice_id, {p.id: enrolled[p.id].rpm_episode_start for p in people})

    results: list[PatientResult] = []
    statuses: list[PeriodStatus] = []
    enrolled_count: Counter[str] = Counter()
    active_count: Counter[str] = Counter()
    for person in people:
        enrollment = enrolled[person.id]
        case = build_case(
            first,
            enrollment,
            conditions.get(person.id, ()),
            days.get(person.id, frozenset()),
            spent.get(person.id, ()),
            anchors.get(person.id),
            person.id in setup,
        )
        result = decide(case, rules, fees)
        results.append(PatientResult(person.id, person.mrn, result, case_hash(case)))
        for program in enrollment.programs:
            enrolled_count[program.value] += 1
            if any(c.code.value in _PROGRAM_CODES[program] for c in result.codes) or _has_activity(
                case, program, first, last
            ):
                active_count[program.value] += 1
        anchor = anchors.get(person.id)
        if Program.RPM in enrollment.programs and anchor is not None:
            statuses.append(_period_status(person.id, person.mrn, anchor, as_of, case.data_days, rules))
    return MonthlyReport(
        practice_id,
        first,
        as_of,
        tuple(results),
        dict(sorted(enrolled_count.items())),
        dict(sorted(active_count.items())),
        tuple(
            s
            for s in statuses
            if s.days_needed > 0 and s.can_reach and s.days_remaining - s.days_needed < AT_RISK_SLACK_DAYS
        ),
        tuple(s for s in statuses if not s.can_reach),
    )


_PROGRAM_CODES = {
    Program.RPM: {"99453", "99445", "99454", "99470", "99457", "99458"},
    Program.CCM: {"99490", "99439", "99491", "99437", "99487", "99489"},
}


def _has_activity(case: Case, program: Program, first: date, last: date) -> bool:
    """Active = device data (RPM) or care time (either program) in the month."""
    if program is Program.RPM and any(first <= d <= last for d in case.data_days):
        return True
    return any(t.program is program and first <= t.on <= last for t in case.time_spent)


def _period_status(
    patient_id: UUID, mrn: str, anchor: date, as_of: date, days: frozenset[date], rules: RuleSet
) -> PeriodStatus:
    period = period_containing(anchor, as_of, rules.period_days)
    assert period is not None or as_of < anchor
    if period is None:  # monitoring has not started yet: the whole first period lies ahead
        return PeriodStatus(patient_id, mrn, anchor, anchor, 0, rules.period_days, rules.device_min_days_high)
    so_far = sum(1 for d in days if period.start <= d <= as_of)
    remaining = (period.end - as_of).days
    return PeriodStatus(
        patient_id, mrn, period.start, period.end, so_far, remaining, max(0, rules.device_min_days_high - so_far)
    )


# --- rendering ------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "patient_id",
    "mrn",
    "code",
    "units",
    "unit_amount",
    "amount",
    "date_of_service",
    "rules",
    "evidence",
    "case_sha256",
)


def to_csv(report: MonthlyReport) -> str:
    """One line per patient and code billed (claim-line proposals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.patients:
        for line in p.result.codes:
            doc = code_document(line)
            writer.writerow(
                [
                    p.patient_id,
                    p.mrn,
                    doc["code"],
                    doc["units"],
                    f"{line.unit_amount:.2f}",
                    f"{line.amount:.2f}",
                    doc["date_of_service"],
                    ";".join(r.value for r in line.rules),
                    json.dumps(line.evidence, sort_keys=True, separators=(",", ":")),
                    p.case_sha256,
                ]
            )
    return out.getvalue()


def _status_doc(s: PeriodStatus) -> dict[str, object]:
    return {
        "patient_id": str(s.patient_id),
        "mrn": s.mrn,
        "period_start": s.period_start.isoformat(),
        "period_end": s.period_end.isoformat(),
        "days_so_far": s.days_so_far,
        "days_remaining": s.days_remaining,
        "days_needed_for_99454": s.days_needed,
    }


def to_json(report: MonthlyReport) -> dict[str, object]:
    return {
        "practice_id": str(report.practice_id),
        "month": report.month.strftime("%Y-%m"),
        "as_of": report.as_of.isoformat(),
        "summary": {
            "enrolled": report.enrolled,
            "active": report.active,
            "codes": report.code_counts,
            "expected_allowed_amount": float(report.expected_amount),
            "patients_at_risk_of_missing_16_days": [_status_doc(s) for s in report.at_risk],
            "patients_who_cannot_reach_16_days": [_status_doc(s) for s in report.cannot_reach],
        },
        "patients": [
            {"patient_id": str(p.patient_id), "mrn": p.mrn, "case_sha256": p.case_sha256, **result_document(p.result)}
            for p in report.patients
        ],
    }
