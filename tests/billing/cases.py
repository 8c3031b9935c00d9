"""Builders for billing cases: a November 2026 patient who qualifies for everything unless a test
says otherwise (established, hypertension + type 2 diabetes, RPM and CCM consent in October, a care
plan, the device period starting 1 November)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from billing.case import Case, Condition, Consent, Performer, Program, Result, TimeSpent
from billing.engine import decide
from billing.fee_schedule import seeded_schedule
from billing.rules_2026 import RULES_2026, Code, RuleSet

NOV = date(2026, 11, 1)
HTN = Condition("I10", ("hypertension",), chronic=True)
DM2 = Condition("E119", ("diabetes_type2",), chronic=True)


def days(n: int, start: date = NOV) -> frozenset[date]:
    return frozenset(start + timedelta(days=i) for i in range(n))


def spent(
    minutes: int,
    program: Program = Program.RPM,
    *,
    on: date = date(2026, 11, 3),
    performer: Performer = Performer.CLINICAL_STAFF,
    interactive: bool = True,
    ref: str | None = None,
) -> TimeSpent:
    return TimeSpent(on, minutes, program, performer, interactive, ref)


def case(**changes: Any) -> Case:
    base = Case(
        month=NOV,
        established=True,
        conditions=(HTN, DM2),
        consents=(Consent(Program.RPM, date(2026, 10, 20)), Consent(Program.CCM, date(2026, 10, 20))),
        care_plan=True,
        ccm_complex=False,
        data_days=frozenset(),
        time_spent=(),
        device_period_start=NOV,
    )
    return replace(base, **changes)


def run(c: Case, rules: RuleSet = RULES_2026) -> Result:
    return decide(c, rules, seeded_schedule(2026))


def codes(result: Result) -> dict[str, int]:
    return {c.code.value: c.units for c in result.codes}


def reasons(result: Result, code: Code) -> list[str]:
    return [n.reason for n in result.not_billed if n.code is code]


def rules_of(result: Result, code: Code) -> set[str]:
    found = result.code(code)
    assert found is not None, f"{code} not billed: {reasons(result, code)}"
    return {r.value for r in found.rules}


def withheld_by(result: Result, code: Code) -> set[str]:
    return {r.value for n in result.not_billed if n.code is code for r in n.rules}
