"""One patient-month as the billing engine sees it, and what the engine answers.

Values only: the explain command builds a :class:`Case` from a JSON document, the monthly report
builds one per patient from the database. Dates are the patient's local calendar dates (RPM-DAYS-1,
TIME-2); the conversion from instants happens before a case is built (:mod:`billing.periods`,
:mod:`billing.care_time`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from billing.rules_2026 import Code, RuleId
from core.errors import InvalidDomainValue


class Program(StrEnum):
    RPM = "RPM"
    CCM = "CCM"


class Performer(StrEnum):
    """Who furnished care time: clinical staff under general supervision, or the physician/QHP."""

    CLINICAL_STAFF = "clinical_staff"
    PHYSICIAN = "physician"


class OtherService(StrEnum):
    """Services billed for the patient-month outside carehub that block codes (§A.4-§A.7)."""

    APCM = "APCM"  # by the same practitioner (APCM-EXCL-1)
    PCM = "PCM"  # by the same practitioner (PCM-EXCL-1)
    HOME_HEALTH_OR_HOSPICE_OVERSIGHT = "HH_HOSPICE_OVERSIGHT"  # G0181/G0182 (CCM-EXCL-3)
    ESRD_MONTHLY = "ESRD_MONTHLY"  # 90951-90970 (CCM-EXCL-3)
    RTM = "RTM"  # by anyone (RPM-CONC-2)


@dataclass(frozen=True, slots=True)
class Consent:
    program: Program
    on: date
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    icd10: str
    # §B condition keys of the code: the longest prefix's key plus implied ones (I12 -> ckd), as the
    # database derives them (migration 0004, carehub_condition_keys).
    condition_keys: tuple[str, ...]
    chronic: bool


@dataclass(frozen=True, slots=True)
class TimeSpent:
    """Minutes of one time entry on one local date (an entry spanning midnight is two of these)."""

    on: date
    minutes: int
    program: Program
    performer: Performer
    interactive: bool
    ref: str | None = None

    def __post_init__(self) -> None:
        if self.minutes < 0:
            raise InvalidDomainValue("minutes cannot be negative")


@dataclass(frozen=True, slots=True)
class Case:
    month: date  # the first day of the calendar month
    established: bool
    conditions: tuple[Condition, ...]
    consents: tuple[Consent, ...]
    care_plan: bool
    ccm_complex: bool
    # Local dates with at least one qualifying device reading (already filtered: RPM-DEV-2/3, RPM-DAYS-1/5).
    data_days: frozenset[date]
    time_spent: tuple[TimeSpent, ...]
    device_period_start: date | None = None
    setup_billed_in_episode: bool = False
    # The set-up and patient-education visit behind 99453 (provisioning's device_setups): its id, or
    # None when none is recorded. Only required when ``setup_checked`` (the report always checks;
    # ``billing explain`` checks when the document has a ``setup_record`` field).
    setup_record: str | None = None
    setup_checked: bool = False
    rpm_order_on_file: bool = True
    other_services: frozenset[OtherService] = frozenset()
    # Programs another practitioner is recorded as billing for this patient (RPM-DAYS-6, CCM-BILL-1).
    other_practitioner_programs: frozenset[Program] = frozenset()

    def __post_init__(self) -> None:
        if self.month.day != 1:
            raise InvalidDomainValue("a case's month is given by its first day")

    def consent_date(self, program: Program) -> date | None:
        dates = [c.on for c in self.consents if c.program is program]
        return min(dates) if dates else None


@dataclass(frozen=True, slots=True)
class BilledCode:
    code: Code
    units: int
    rules: tuple[RuleId, ...]
    date_of_service: date
    evidence: dict[str, object] = field(default_factory=dict)
    unit_amount: Decimal | None = None

    @property
    def amount(self) -> Decimal | None:
        return None if self.unit_amount is None else self.unit_amount * self.units


@dataclass(frozen=True, slots=True)
class NotBilled:
    code: Code
    reason: str
    rules: tuple[RuleId, ...]


@dataclass(frozen=True, slots=True)
class BillingWarning:
    rule: RuleId
    message: str


@dataclass(frozen=True, slots=True)
class Result:
    month: date
    codes: tuple[BilledCode, ...]
    not_billed: tuple[NotBilled, ...]
    warnings: tuple[BillingWarning, ...]

    def code(self, code: Code) -> BilledCode | None:
        return next((c for c in self.codes if c.code is code), None)

    @property
    def total(self) -> Decimal:
        return sum((c.amount or Decimal(0) for c in self.codes), Decimal(0))


def _money(amount: Decimal | None) -> float | None:
    return None if amount is None else float(amount)


def code_document(code: BilledCode) -> dict[str, object]:
    return {
        "code": code.code.value,
        "units": code.units,
        "unit_amount": _money(code.unit_amount),
        "amount": _money(code.amount),
        "date_of_service": code.date_of_service.isoformat(),
        "rules": [r.value for r in code.rules],
        "evidence": code.evidence,
    }


def result_document(result: Result) -> dict[str, object]:
    """The engine's answer as JSON-ready data (``billing explain`` prints it; the report embeds it)."""
    return {
        "month": result.month.strftime("%Y-%m"),
        "codes": [code_document(c) for c in result.codes],
        "not_billed": [
            {"code": n.code.value, "reason": n.reason, "rules": [r.value for r in n.rules]} for n in result.not_billed
        ],
        "warnings": [{"rule": w.rule.value, "message": w.message} for w in result.warnings],
        "total_amount": float(result.total),
    }
