"""Eligibility checks before enrollment, as pure functions over a patient's facts on a given date
(``reference/rpm-ccm-rules.md`` §A: RPM-ELIG-1, RPM-ELIG-3, RPM-CONSENT-1, CCM-ELIG-1, CCM-ELIG-3,
CCM-CONSENT-1; ``reference/cellular-and-logistics.md`` §3.5).

Each check yields a :class:`Finding` named by its rule id, so staff see which rule blocks an
enrollment. The §B prefix table only *suggests* chronic conditions: a condition counts for CCM only
when the clinician attested it as chronic, it maps to a condition key whose table default is not
``false``, and it is not resolved. Coverage (X12 270/271), device suitability and cellular coverage
are outside carehub's data and are not checked here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum


class Program(StrEnum):
    RPM = "rpm"
    CCM = "ccm"


CCM_VISIT_LOOKBACK = timedelta(days=365)  # CCM-ELIG-3: seen within the prior 12 months
CCM_MIN_CHRONIC_CONDITIONS = 2  # CCM-ELIG-1


@dataclass(frozen=True, slots=True)
class ConditionFact:
    icd10_code: str
    condition_keys: tuple[str, ...]
    chronic: bool  # attested by the clinician
    table_chronic_default: str | None  # 'true' | 'false' | 'review' for the longest matching prefix
    onset_on: date | None = None
    resolved_on: date | None = None

    def active_on(self, on: date) -> bool:
        return (self.onset_on is None or self.onset_on <= on) and (self.resolved_on is None or self.resolved_on > on)


@dataclass(frozen=True, slots=True)
class ConsentFact:
    program: Program
    obtained_at: datetime
    revoked_at: datetime | None
    cost_sharing_explained: bool


@dataclass(frozen=True, slots=True)
class PatientFacts:
    last_visit_on: date | None
    has_mbi: bool
    conditions: tuple[ConditionFact, ...]
    consents: tuple[ConsentFact, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Eligibility:
    program: Program
    on: date
    findings: tuple[Finding, ...]

    @property
    def eligible(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)


def _normalise_icd10(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _consent(facts: PatientFacts, program: Program, on: date, rule: str) -> Finding:
    for consent in facts.consents:
        if consent.program is not program or consent.obtained_at.date() > on:
            continue
        if consent.revoked_at is not None and consent.revoked_at.date() <= on:
            continue
        if not consent.cost_sharing_explained:
            return Finding(rule, False, "consent on file does not record that cost-sharing was explained")
        return Finding(rule, True, f"{program.value} consent obtained {consent.obtained_at.date().isoformat()}")
    return Finding(rule, False, f"no {program.value} consent in force on {on.isoformat()}")


def _medicare_id(facts: PatientFacts) -> Finding:
    if facts.has_mbi:
        return Finding("MEDICARE-ID", True, "Medicare beneficiary identifier on file")
    return Finding("MEDICARE-ID", False, "no Medicare beneficiary identifier on file")


def qualifying_chronic_keys(conditions: Sequence[ConditionFact], on: date) -> tuple[str, ...]:
    """Distinct condition keys that count toward CCM-ELIG-1 on ``on``."""
    keys: set[str] = set()
    for condition in conditions:
        if condition.chronic and condition.active_on(on) and condition.table_chronic_default != "false":
            keys.update(condition.condition_keys)
    return tuple(sorted(keys))


def rpm_eligibility(facts: PatientFacts, *, on: date, condition_icd10: str) -> Eligibility:
    findings = [_medicare_id(facts)]
    if facts.last_visit_on is not None and facts.last_visit_on <= on:
        findings.append(Finding("RPM-ELIG-1", True, f"established patient (visit {facts.last_visit_on.isoformat()})"))
    else:
        findings.append(Finding("RPM-ELIG-1", False, "no prior visit recorded: RPM needs an established patient"))
    wanted = _normalise_icd10(condition_icd10)
    monitored = [c for c in facts.conditions if _normalise_icd10(c.icd10_code) == wanted and c.active_on(on)]
    if monitored:
        findings.append(Finding("RPM-ELIG-3", True, f"order names recorded condition {condition_icd10}"))
    else:
        findings.append(Finding("RPM-ELIG-3", False, f"condition {condition_icd10} is not an active diagnosis"))
    findings.append(_consent(facts, Program.RPM, on, "RPM-CONSENT-1"))
    return Eligibility(Program.RPM, on, tuple(findings))


def ccm_eligibility(facts: PatientFacts, *, on: date) -> Eligibility:
    findings = [_medicare_id(facts)]
    keys = qualifying_chronic_keys(facts.conditions, on)
    if len(keys) >= CCM_MIN_CHRONIC_CONDITIONS:
        findings.append(Finding("CCM-ELIG-1", True, f"chronic conditions: {', '.join(keys)}"))
    else:
        findings.append(
            Finding("CCM-ELIG-1", False, f"{len(keys)} qualifying chronic condition(s); CCM needs two or more")
        )
    if facts.last_visit_on is not None and on - CCM_VISIT_LOOKBACK <= facts.last_visit_on <= on:
        findings.append(Finding("CCM-ELIG-3", True, f"seen {facts.last_visit_on.isoformat()}"))
    else:
        findings.append(Finding("CCM-ELIG-3", False, "no visit in the prior 12 months: an initiating visit is needed"))
    findings.append(_consent(facts, Program.CCM, on, "CCM-CONSENT-1"))
    return Eligibility(Program.CCM, on, tuple(findings))
