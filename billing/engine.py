"""The billing engine: one patient-month in, the codes earned (with the rule ids that allowed them,
units, allowed amounts and evidence) and the codes not earned (with the reason) out.

Pure: no database, no clock, no environment. The rules are chosen by the case's calendar year
(:func:`billing.rules_2026.rules_for`), amounts come from the year's fee schedule passed in."""

from __future__ import annotations

from dataclasses import replace

from billing.case import Case, NotBilled, Program, Result
from billing.ccm import decide_ccm
from billing.fee_schedule import FeeSchedule
from billing.rpm import ALL_RPM_CODES, MGMT_CODES, decide_rpm
from billing.rules_2026 import Code, RuleId, RuleSet

RPM_CODES = frozenset(ALL_RPM_CODES)
# Order of lines in results and reports: set-up, device supply, management, CCM.
CODE_ORDER = {code: i for i, code in enumerate(Code)}


def decide(case: Case, rules: RuleSet, fees: FeeSchedule) -> Result:
    rpm = decide_rpm(case, rules)
    ccm = decide_ccm(case, rules, fees)
    codes = [*rpm.codes, *ccm.codes]
    if ccm.codes and any(c.code in MGMT_CODES for c in rpm.codes):
        # Both programs' time is billed: allowed because every time entry belongs to exactly one program
        # and no minute is counted for both (RPM-CONC-1, TIME-1).
        codes = [
            replace(c, rules=(*c.rules, RuleId.RPM_CONC_1, RuleId.TIME_1))
            if c.code in MGMT_CODES or c.code in (Code.CPT_99490, Code.CPT_99491, Code.CPT_99487)
            else c
            for c in codes
        ]
    priced = [
        replace(c, unit_amount=fees.unit_amount(c.code), evidence={**c.evidence, **_record_evidence(case, c.code)})
        for c in codes
    ]
    priced.sort(key=lambda c: (CODE_ORDER[c.code], c.date_of_service))
    billed = {c.code for c in priced}
    # A code both earned and "not billed" (e.g. 99458 past its cap) keeps both lines; otherwise one
    # reason per code and message.
    seen: set[tuple[Code, str]] = set()
    not_billed: list[NotBilled] = []
    for item in sorted([*rpm.not_billed, *ccm.not_billed], key=lambda n: CODE_ORDER[n.code]):
        key = (item.code, item.reason)
        if key in seen:
            continue
        seen.add(key)
        if item.code in billed and item.code not in (Code.CPT_99458, Code.CPT_99439, Code.CPT_99437):
            continue
        not_billed.append(item)
    return Result(case.month, tuple(priced), tuple(not_billed), (*rpm.warnings, *ccm.warnings))


def _record_evidence(case: Case, code: Code) -> dict[str, object]:
    """The consent and diagnoses behind a line (§A.9 step 6: consent, ICD codes)."""
    program = Program.RPM if code in RPM_CODES else Program.CCM
    consent = min((c for c in case.consents if c.program is program), key=lambda c: c.on)
    return {
        "consent": {"program": program.value, "date": consent.on.isoformat(), "id": consent.ref},
        "diagnoses": sorted(c.icd10 for c in case.conditions),
    }


def codes_of(result: Result) -> dict[str, int]:
    """``{"99454": 1, "99458": 2}`` — the shape most tests compare."""
    return {c.code.value: c.units for c in result.codes}
