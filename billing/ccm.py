"""CCM codes of one patient-month: the non-complex staff track 99490/99439, the physician track
99491/99437 and the complex track 99487/99489 (reference/rpm-ccm-rules.md §A.4-§A.7). Pure.

One track per month (CCM-EXCL-1); each minute builds one track only (CCM-EXCL-2). carehub picks
the track with the highest allowed amount and says why the others were not billed."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.case import BilledCode, Case, OtherService, Performer, Program, TimeSpent
from billing.fee_schedule import FeeSchedule
from billing.rpm import Outcome, date_threshold_reached, month_entries, performer_minutes
from billing.rules_2026 import Code, RuleId, RuleSet

R = RuleId
CCM_CODES = (Code.CPT_99490, Code.CPT_99439, Code.CPT_99491, Code.CPT_99437, Code.CPT_99487, Code.CPT_99489)


@dataclass(frozen=True, slots=True)
class Track:
    name: str
    base: Code
    addon: Code
    minutes: int
    first_min: int
    addon_min: int
    max_addon: int | None
    rules: tuple[RuleId, ...]
    entries: tuple[TimeSpent, ...]

    @property
    def earned(self) -> bool:
        return self.minutes >= self.first_min

    @property
    def whole_addons(self) -> int:
        return max(0, (self.minutes - self.first_min) // self.addon_min)

    @property
    def addon_units(self) -> int:
        return self.whole_addons if self.max_addon is None else min(self.whole_addons, self.max_addon)

    def amount(self, fees: FeeSchedule) -> Decimal:
        if not self.earned:
            return Decimal(0)
        return fees.unit_amount(self.base) + fees.amount(self.addon, self.addon_units)


def distinct_chronic_conditions(case: Case) -> list[str]:
    """Distinct chronic conditions (by §B condition key, else by code) that count for CCM-ELIG-1.
    A code implying two conditions (I12: hypertensive CKD) counts for both, as provisioning's
    eligibility check does (provisioning/eligibility.py)."""
    keys: list[str] = []
    for cond in case.conditions:
        for key in cond.condition_keys or (cond.icd10,):
            if cond.chronic and key not in keys:
                keys.append(key)
    return keys


def ccm_blockers(case: Case, rules: RuleSet) -> tuple[str, tuple[RuleId, ...]] | None:
    chronic = distinct_chronic_conditions(case)
    if len(chronic) < rules.min_chronic_conditions:
        return (
            f"{len(chronic)} qualifying chronic condition{'s' if len(chronic) != 1 else ''}, "
            f"{rules.min_chronic_conditions} needed for CCM",
            (R.CCM_ELIG_1,),
        )
    if not case.established:
        return "no initiating visit (E/M, AWV or IPPE) by the billing practitioner in the prior 12 months", (
            R.CCM_ELIG_3,
        )
    if not case.care_plan:
        return "no comprehensive care plan on record", (R.CCM_ELIG_2,)
    if case.consent_date(Program.CCM) is None:
        return "no CCM consent on record", (R.CCM_CONSENT_1,)
    if OtherService.APCM in case.other_services:
        return "APCM is billed for this patient-month by the same practitioner", (R.APCM_EXCL_1,)
    if OtherService.PCM in case.other_services:
        return "PCM is billed for this patient-month by the same practitioner", (R.PCM_EXCL_1,)
    if case.other_services & {OtherService.HOME_HEALTH_OR_HOSPICE_OVERSIGHT, OtherService.ESRD_MONTHLY}:
        return "home-health/hospice care-plan oversight or monthly ESRD services are billed this month", (R.CCM_EXCL_3,)
    if Program.CCM in case.other_practitioner_programs:
        return "another practitioner is recorded as billing CCM for this patient; only one may bill per month", (
            R.CCM_BILL_1,
        )
    return None


def _tracks(case: Case, rules: RuleSet, entries: list[TimeSpent]) -> list[Track]:
    everyone = tuple(entries)
    physician = tuple(e for e in entries if e.performer is Performer.PHYSICIAN)
    total = sum(e.minutes for e in everyone)
    tracks = [
        Track(
            "non-complex",
            Code.CPT_99490,
            Code.CPT_99439,
            total,
            rules.ccm_staff_first_min,
            rules.ccm_staff_addon_min,
            rules.max_99439_units,
            (R.CCM_TIME_1, R.CCM_EXCL_1, R.CCM_EXCL_2),
            everyone,
        ),
        Track(
            "physician",
            Code.CPT_99491,
            Code.CPT_99437,
            performer_minutes(physician, Performer.PHYSICIAN),
            rules.ccm_physician_first_min,
            rules.ccm_physician_addon_min,
            rules.max_99437_units,
            (R.CCM_TIME_2, R.CCM_EXCL_1, R.CCM_EXCL_2),
            physician,
        ),
    ]
    if case.ccm_complex:
        tracks.insert(
            0,
            Track(
                "complex",
                Code.CPT_99487,
                Code.CPT_99489,
                total,
                rules.ccm_complex_first_min,
                rules.ccm_complex_addon_min,
                rules.max_99489_units,
                (R.CCM_TIME_3, R.CCM_EXCL_1, R.CCM_EXCL_2),
                everyone,
            ),
        )
    return tracks


def decide_ccm(case: Case, rules: RuleSet, fees: FeeSchedule) -> Outcome:
    out = Outcome()
    blocked = ccm_blockers(case, rules)
    if blocked is not None:
        reason, rule_ids = blocked
        out.withhold_all(CCM_CODES, reason, *rule_ids)
        return out
    consent = case.consent_date(Program.CCM)
    assert consent is not None
    entries = month_entries(case, Program.CCM, consent)
    tracks = _tracks(case, rules, entries)
    # Highest allowed amount wins; on a tie the earlier track (complex, non-complex, physician) wins.
    best = max((t for t in tracks if t.earned), key=lambda t: t.amount(fees), default=None)
    if not case.ccm_complex:
        out.withhold_all(
            (Code.CPT_99487, Code.CPT_99489),
            "complex CCM needs moderate/high-complexity decision making and an established or substantially "
            "revised care plan, not recorded this month",
            R.CCM_TIME_3,
        )
    for track in tracks:
        if track is best:
            _bill_track(track, out)
        elif not track.earned:
            out.withhold_all(
                (track.base, track.addon),
                f"{track.minutes} minutes for the {track.name} track, {track.first_min} needed for {track.base}",
                track.rules[0],
            )
        else:
            assert best is not None
            out.withhold_all(
                (track.base, track.addon),
                f"one CCM track per month: the {best.name} track ({best.base}) pays more than the "
                f"{track.name} track ({track.base}); its minutes are not counted twice",
                R.CCM_EXCL_1,
                R.CCM_EXCL_2,
            )
    if best is not None:
        out.warn(R.CCM_ACCESS_1, "attest the practice's 24/7 access and care-team continuity arrangement")
        out.warn(R.CCM_EHR_1, "problems, medications and allergies must be recorded in certified EHR technology")
    return out


def _bill_track(track: Track, out: Outcome) -> None:
    evidence: dict[str, object] = {
        "track": track.name,
        "minutes": track.minutes,
        "time_entries": sorted({e.ref for e in track.entries if e.ref is not None}),
    }
    common = (*track.rules, R.CCM_ELIG_1, R.CCM_ELIG_2, R.CCM_ELIG_3, R.CCM_CONSENT_1, R.CCM_DOS_1)
    out.bill(BilledCode(track.base, 1, common, date_threshold_reached(track.entries, track.first_min), evidence))
    units = track.addon_units
    if units:
        reached = track.first_min + units * track.addon_min
        out.bill(
            BilledCode(
                track.addon,
                units,
                (*track.rules, R.CCM_DOS_1),
                date_threshold_reached(track.entries, reached),
                evidence,
            )
        )
    if track.whole_addons > units:
        out.withhold(
            track.addon,
            f"{track.minutes} minutes; {track.addon} is capped at {track.max_addon} unit(s) a month",
            track.rules[0],
        )
    elif units == 0:
        out.withhold(
            track.addon,
            f"{track.minutes} minutes; {track.addon} needs each further full {track.addon_min} minutes "
            f"({track.first_min + track.addon_min} in all)",
            track.rules[0],
        )
