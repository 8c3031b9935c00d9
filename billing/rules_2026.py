"""CY2026 Medicare RPM/CCM billing rules (reference/rpm-ccm-rules.md §A, CMS-1832-F), keyed by year.

Each rule the engine applies has the id the reference gives it (``RPM-DAYS-3``), and every code the
engine proposes or withholds names the rule ids that decided it, so billing staff and auditors can
trace a claim line back to the rule text. Thresholds marked **[U]** in the reference are parameters
of :class:`RuleSet` (overridable per practice through ``BillingSettings``), never literals in the
engine.

Rules the reference leaves ambiguous, and how carehub settles them (also in the README):

- ``RPM-DAYS-2`` anchor: the first 30-day period starts on the enrollment's device-period start
  (device activation) when known, otherwise on the first qualifying data day; a period is reported
  in the calendar month in which it *ends* (§A.9 step 2), so one month can report two periods.
- ``RPM-SETUP-2``: 99453 is proposed with the first period of the episode whose data days reach
  ``setup_min_days`` (default 16), once per episode (``setup_billed_in_episode`` records it).
- ``RPM-CONSENT-1`` / ``CCM-CONSENT-1``: a service dated before the program's consent date does not
  count (data days and minutes before consent are dropped); no consent means no code of the program.
- ``RPM-ELIG-1`` / ``CCM-ELIG-3``: ``established`` means the billing practitioner saw the patient in
  the prior 12 months (E/M, AWV or IPPE), which satisfies both the RPM relationship and the CCM
  initiating visit.
- ``RPM-MGMT-7``: carehub proposes 99470/99457/99458 for RPM management time and never 99091.
- ``CCM-EXCL-1`` / ``CCM-EXCL-2``: one CCM track per month, the one with the highest allowed amount;
  physician/QHP minutes count toward the clinical-staff tracks (CPT lets physician time count as
  clinical staff time) or toward 99491/99437, never both.
- ``CCM-ELIG-1``: a condition counts when it is chronic (clinician attestation in the database; the
  §B ``chronic_default`` in ``billing explain``, where ``review`` rows do not count) and distinct
  conditions are distinct §B condition keys (E11.9 and E11.65 are one condition).
- ``RPM-DAYS-6`` / ``CCM-BILL-1`` / ``RPM-CONC-2``: carehub cannot see other practices' claims; when
  another practitioner is recorded as billing the program (or RTM) for the patient, the codes are
  withheld for review rather than proposed.
- ``RPM-DEV-1``, ``CCM-ACCESS-1``, ``CCM-EHR-1``: practice and device attestations carehub does not
  hold; they are reported as warnings on every result that proposes the program's codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import CarehubError


class RuleId(StrEnum):
    """The rule ids of reference/rpm-ccm-rules.md §A (copied into test names)."""

    RPM_ELIG_1 = "RPM-ELIG-1"
    RPM_ELIG_2 = "RPM-ELIG-2"
    RPM_ELIG_3 = "RPM-ELIG-3"
    RPM_CONSENT_1 = "RPM-CONSENT-1"
    RPM_DEV_1 = "RPM-DEV-1"
    RPM_DEV_2 = "RPM-DEV-2"
    RPM_DEV_3 = "RPM-DEV-3"
    RPM_DAYS_1 = "RPM-DAYS-1"
    RPM_DAYS_2 = "RPM-DAYS-2"
    RPM_DAYS_3 = "RPM-DAYS-3"
    RPM_DAYS_4 = "RPM-DAYS-4"
    RPM_DAYS_5 = "RPM-DAYS-5"
    RPM_DAYS_6 = "RPM-DAYS-6"
    RPM_DAYS_7 = "RPM-DAYS-7"
    RPM_SETUP_1 = "RPM-SETUP-1"
    RPM_SETUP_2 = "RPM-SETUP-2"
    RPM_MGMT_1 = "RPM-MGMT-1"
    RPM_MGMT_2 = "RPM-MGMT-2"
    RPM_MGMT_3 = "RPM-MGMT-3"
    RPM_MGMT_4 = "RPM-MGMT-4"
    RPM_MGMT_5 = "RPM-MGMT-5"
    RPM_MGMT_6 = "RPM-MGMT-6"
    RPM_MGMT_7 = "RPM-MGMT-7"
    RPM_CONC_1 = "RPM-CONC-1"
    RPM_CONC_2 = "RPM-CONC-2"
    CCM_ELIG_1 = "CCM-ELIG-1"
    CCM_ELIG_2 = "CCM-ELIG-2"
    CCM_ELIG_3 = "CCM-ELIG-3"
    CCM_CONSENT_1 = "CCM-CONSENT-1"
    CCM_ACCESS_1 = "CCM-ACCESS-1"
    CCM_EHR_1 = "CCM-EHR-1"
    CCM_BILL_1 = "CCM-BILL-1"
    CCM_TIME_1 = "CCM-TIME-1"
    CCM_TIME_2 = "CCM-TIME-2"
    CCM_TIME_3 = "CCM-TIME-3"
    CCM_EXCL_1 = "CCM-EXCL-1"
    CCM_EXCL_2 = "CCM-EXCL-2"
    CCM_EXCL_3 = "CCM-EXCL-3"
    CCM_DOS_1 = "CCM-DOS-1"
    PCM_EXCL_1 = "PCM-EXCL-1"
    APCM_EXCL_1 = "APCM-EXCL-1"
    TIME_1 = "TIME-1"
    TIME_2 = "TIME-2"


class Code(StrEnum):
    """CPT codes the engine proposes or explains (standard names, per CONVENTIONS.md)."""

    CPT_99453 = "99453"
    CPT_99445 = "99445"
    CPT_99454 = "99454"
    CPT_99470 = "99470"
    CPT_99457 = "99457"
    CPT_99458 = "99458"
    CPT_99091 = "99091"
    CPT_99490 = "99490"
    CPT_99439 = "99439"
    CPT_99491 = "99491"
    CPT_99437 = "99437"
    CPT_99487 = "99487"
    CPT_99489 = "99489"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The thresholds of one calendar year's rules. Fields marked [U] in the reference are the
    ones a practice's compliance lead may change (``CAREHUB_BILLING_*`` settings)."""

    year: int
    # RPM device supply (RPM-DAYS-2, RPM-DAYS-3)
    period_days: int = 30
    device_min_days_low: int = 2  # 99445: 2-15 days
    device_min_days_high: int = 16  # 99454: 16-30 days
    # RPM set-up (RPM-SETUP-2) [U]: conservative 16 until the CPT 2026 99453 text is confirmed
    setup_min_days: int = 16
    # RPM management (RPM-MGMT-3, RPM-MGMT-4 [U])
    mgmt_short_min: int = 10  # 99470
    mgmt_first_min: int = 20  # 99457
    mgmt_addon_min: int = 20  # 99458, each
    max_99458_units: int = 2
    # CCM (CCM-TIME-1..3)
    ccm_staff_first_min: int = 20  # 99490
    ccm_staff_addon_min: int = 20  # 99439, each
    max_99439_units: int = 2
    ccm_physician_first_min: int = 30  # 99491
    ccm_physician_addon_min: int = 30  # 99437, each
    max_99437_units: int = 1  # [U] until the NCCI MUE is verified
    ccm_complex_first_min: int = 60  # 99487
    ccm_complex_addon_min: int = 30  # 99489, each
    max_99489_units: int | None = None  # no cap in the reference
    min_chronic_conditions: int = 2  # CCM-ELIG-1


RULES_2026 = RuleSet(year=2026)

RULES_BY_YEAR: dict[int, RuleSet] = {2026: RULES_2026}


class UnsupportedRuleYear(CarehubError):
    """No rules are defined for the requested calendar year."""


def rules_for(year: int) -> RuleSet:
    try:
        return RULES_BY_YEAR[year]
    except KeyError:
        known = ", ".join(str(y) for y in sorted(RULES_BY_YEAR))
        raise UnsupportedRuleYear(f"no billing rules for {year}; carehub has rules for {known}") from None
