"""RPM codes of one patient-month: device supply 99445/99454, set-up 99453, management
99470/99457/99458 (reference/rpm-ccm-rules.md §A.1-§A.2). Pure; called by :mod:`billing.engine`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from billing.case import BilledCode, BillingWarning, Case, NotBilled, OtherService, Performer, Program, TimeSpent
from billing.periods import Period, month_bounds, periods_ending_in
from billing.rules_2026 import Code, RuleId, RuleSet

R = RuleId
DEVICE_CODES = (Code.CPT_99445, Code.CPT_99454)
MGMT_CODES = (Code.CPT_99470, Code.CPT_99457, Code.CPT_99458)
ALL_RPM_CODES = (Code.CPT_99453, *DEVICE_CODES, *MGMT_CODES)


class Outcome:
    """What one program's rules decided: codes proposed, codes withheld with reasons, warnings."""

    def __init__(self) -> None:
        self.codes: list[BilledCode] = []
        self.not_billed: list[NotBilled] = []
        self.warnings: list[BillingWarning] = []

    def bill(self, code: BilledCode) -> None:
        self.codes.append(code)

    def withhold(self, code: Code, reason: str, *rules: RuleId) -> None:
        self.not_billed.append(NotBilled(code, reason, tuple(rules)))

    def withhold_all(self, codes: Iterable[Code], reason: str, *rules: RuleId) -> None:
        for code in codes:
            self.withhold(code, reason, *rules)

    def warn(self, rule: RuleId, message: str) -> None:
        self.warnings.append(BillingWarning(rule, message))


def _days(n: int) -> str:
    return f"{n} day{'s' if n != 1 else ''}"


def rpm_blockers(case: Case) -> tuple[str, tuple[RuleId, ...]] | None:
    """Why no RPM code at all can be billed this month, or None."""
    if not case.established:
        return "not an established patient of the billing practitioner (no visit in the prior 12 months)", (
            R.RPM_ELIG_1,
        )
    if not case.conditions:
        return "no diagnosis on record for the monitored condition (acute or chronic)", (R.RPM_ELIG_2, R.RPM_ELIG_3)
    if not case.rpm_order_on_file:
        return "no physician/QHP order naming the condition and parameter monitored", (R.RPM_ELIG_3,)
    if OtherService.RTM in case.other_services:
        return "RTM is billed for this patient and month; RPM and RTM are never billed together", (R.RPM_CONC_2,)
    if Program.RPM in case.other_practitioner_programs:
        return "another practitioner is recorded as billing RPM for this patient; confirm and record attestation", (
            R.RPM_DAYS_6,
        )
    if case.consent_date(Program.RPM) is None:
        return "no RPM consent on record", (R.RPM_CONSENT_1,)
    return None


def decide_rpm(case: Case, rules: RuleSet) -> Outcome:
    out = Outcome()
    blocked = rpm_blockers(case)
    if blocked is not None:
        reason, rule_ids = blocked
        out.withhold_all(ALL_RPM_CODES, reason, *rule_ids)
        return out
    consent = case.consent_date(Program.RPM)
    assert consent is not None  # rpm_blockers checked it
    _device_supply(case, rules, consent, out)
    _management(case, rules, consent, out)
    if out.codes:
        out.warn(R.RPM_DEV_1, "device FDA status is not verified by carehub; keep each device's model and FDA status")
    return out


def _device_supply(case: Case, rules: RuleSet, consent: date, out: Outcome) -> None:
    # Days before consent are services before consent: they never count (RPM-CONSENT-1).
    days = frozenset(d for d in case.data_days if d >= consent)
    anchor = case.device_period_start or (min(days) if days else None)
    if anchor is None:
        out.withhold_all((Code.CPT_99453, *DEVICE_CODES), "no qualifying device data", R.RPM_DAYS_1, R.RPM_DEV_2)
        return
    periods = periods_ending_in(anchor, case.month, rules.period_days)
    if not periods:
        reason = f"no 30-day device period ends this month (periods anchored at {anchor.isoformat()})"
        out.withhold_all((Code.CPT_99453, *DEVICE_CODES), reason, R.RPM_DAYS_2)
        return
    setup_done = case.setup_billed_in_episode
    for period in periods:
        counted = period.days_in(days)
        _device_code(period, counted, rules, out)
        if not setup_done:
            setup_done = _setup(case, period, counted, rules, out)
    if case.setup_billed_in_episode:
        out.withhold(Code.CPT_99453, "already billed in this episode of care", R.RPM_SETUP_1)


def _period_evidence(period: Period, counted: tuple[date, ...]) -> dict[str, object]:
    return {
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "data_days": [d.isoformat() for d in counted],
    }


def _device_code(period: Period, counted: tuple[date, ...], rules: RuleSet, out: Outcome) -> None:
    n = len(counted)
    span = f"{period.start.isoformat()}..{period.end.isoformat()}"
    rule_ids = (R.RPM_DAYS_1, R.RPM_DAYS_2, R.RPM_DAYS_3, R.RPM_DAYS_4, R.RPM_DAYS_5, R.RPM_DEV_2, R.RPM_CONSENT_1)
    if n >= rules.device_min_days_high:
        out.bill(BilledCode(Code.CPT_99454, 1, rule_ids, period.end, _period_evidence(period, counted)))
        out.withhold(Code.CPT_99445, f"{_days(n)} of data in {span}; 99454 earned instead", R.RPM_DAYS_4)
    elif n >= rules.device_min_days_low:
        out.bill(BilledCode(Code.CPT_99445, 1, rule_ids, period.end, _period_evidence(period, counted)))
        out.withhold(
            Code.CPT_99454,
            f"{_days(n)} of data in {span}, {rules.device_min_days_high} needed for 99454; 99445 earned instead",
            R.RPM_DAYS_3,
        )
    else:
        out.withhold_all(
            DEVICE_CODES,
            f"{_days(n)} of data in {span}, {rules.device_min_days_low} needed for 99445",
            R.RPM_DAYS_3,
        )


def _setup(case: Case, period: Period, counted: tuple[date, ...], rules: RuleSet, out: Outcome) -> bool:
    n = len(counted)
    if case.setup_checked and case.setup_record is None:
        out.withhold(
            Code.CPT_99453,
            "no set-up and patient education visit on record (who, when, how) in this episode",
            R.RPM_SETUP_1,
        )
        return False
    if n >= rules.setup_min_days:
        date_met = counted[rules.setup_min_days - 1]
        evidence = {**_period_evidence(period, counted), "setup_record": case.setup_record}
        rule_ids = (R.RPM_SETUP_1, R.RPM_SETUP_2, R.RPM_CONSENT_1)
        out.bill(BilledCode(Code.CPT_99453, 1, rule_ids, date_met, evidence))
        return True
    out.withhold(
        Code.CPT_99453,
        f"{_days(n)} of data in {period.start.isoformat()}..{period.end.isoformat()}, "
        f"{rules.setup_min_days} needed for set-up",
        R.RPM_SETUP_2,
    )
    return False


def date_threshold_reached(entries: Iterable[TimeSpent], minutes: int) -> date:
    """The local date on which the month's running total reached ``minutes`` (CCM-DOS-1 style)."""
    total = 0
    for entry in sorted(entries, key=lambda e: e.on):
        total += entry.minutes
        if total >= minutes:
            return entry.on
    raise AssertionError("threshold not reached")


def month_entries(case: Case, program: Program, consent: date) -> list[TimeSpent]:
    """The program's time in the case's calendar month, from the consent date on (RPM-MGMT-1,
    TIME-2, RPM-CONSENT-1 / CCM-CONSENT-1)."""
    first, last = month_bounds(case.month)
    start = max(first, consent)
    return [t for t in case.time_spent if t.program is program and start <= t.on <= last and t.minutes > 0]


def _time_evidence(entries: list[TimeSpent]) -> dict[str, object]:
    return {
        "minutes": sum(e.minutes for e in entries),
        "time_entries": sorted({e.ref for e in entries if e.ref is not None}),
        "interactive_dates": sorted({e.on.isoformat() for e in entries if e.interactive}),
    }


def _management(case: Case, rules: RuleSet, consent: date, out: Outcome) -> None:
    entries = month_entries(case, Program.RPM, consent)
    t = sum(e.minutes for e in entries)
    interactive = any(e.interactive for e in entries)
    out.withhold(
        Code.CPT_99091,
        "not proposed: carehub bills RPM management as 99470/99457/99458, which CPT says not to report "
        "with 99091 in the same month",
        R.RPM_MGMT_7,
    )
    if t < rules.mgmt_short_min:
        out.withhold_all(
            MGMT_CODES, f"{t} minutes of RPM management time, {rules.mgmt_short_min} needed for 99470", R.RPM_MGMT_3
        )
        return
    if not interactive:
        out.withhold_all(
            MGMT_CODES,
            f"{t} minutes of RPM management time but no real-time interactive communication with the patient "
            "or caregiver this month",
            R.RPM_MGMT_2,
        )
        return
    evidence = _time_evidence(entries)
    base_rules = (R.RPM_MGMT_1, R.RPM_MGMT_2, R.RPM_MGMT_3, R.RPM_MGMT_6, R.RPM_DAYS_7, R.RPM_CONSENT_1)
    if t < rules.mgmt_first_min:
        dos = date_threshold_reached(entries, rules.mgmt_short_min)
        out.bill(BilledCode(Code.CPT_99470, 1, base_rules, dos, evidence))
        out.withhold(
            Code.CPT_99457, f"{t} minutes, {rules.mgmt_first_min} needed for 99457; 99470 earned instead", R.RPM_MGMT_3
        )
        out.withhold(Code.CPT_99458, "99458 is reported only with 99457", R.RPM_MGMT_3)
        return
    out.bill(BilledCode(Code.CPT_99457, 1, base_rules, date_threshold_reached(entries, rules.mgmt_first_min), evidence))
    out.withhold(Code.CPT_99470, f"{t} minutes; 99457 earned instead (never both in a month)", R.RPM_MGMT_3)
    whole = (t - rules.mgmt_first_min) // rules.mgmt_addon_min
    units = min(whole, rules.max_99458_units)
    if units > 0:
        reached = rules.mgmt_first_min + units * rules.mgmt_addon_min
        addon_rules = (R.RPM_MGMT_3, R.RPM_MGMT_4, R.RPM_MGMT_5, R.RPM_MGMT_6, R.RPM_CONSENT_1)
        out.bill(BilledCode(Code.CPT_99458, units, addon_rules, date_threshold_reached(entries, reached), evidence))
    if whole > units:
        out.withhold(
            Code.CPT_99458,
            f"{t} minutes; 99458 is capped at {rules.max_99458_units} units a month, "
            f"{t - rules.mgmt_first_min - units * rules.mgmt_addon_min} minutes beyond the cap not billed",
            R.RPM_MGMT_4,
        )
    elif units == 0 or (t - rules.mgmt_first_min) % rules.mgmt_addon_min:
        next_at = rules.mgmt_first_min + (units + 1) * rules.mgmt_addon_min
        if units < rules.max_99458_units:
            out.withhold(
                Code.CPT_99458,
                f"{t} minutes; only whole 20-minute increments count, the next 99458 unit needs {next_at}",
                R.RPM_MGMT_5,
            )


def performer_minutes(entries: Iterable[TimeSpent], performer: Performer) -> int:
    return sum(e.minutes for e in entries if e.performer is performer)
