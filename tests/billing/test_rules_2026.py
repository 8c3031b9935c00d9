"""One test per rule id of reference/rpm-ccm-rules.md §A (named with it), plus the boundaries of
issue 7: 1, 2, 15, 16 days; 9, 10, 19, 20, 39, 40, 59, 60, 80 minutes; one chronic condition; no
consent; consent dated after the service."""

# ruff: noqa: N802  (test names carry the reference's upper-case rule ids, e.g. RPM-DAYS-3)

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from billing.case import Condition, Consent, OtherService, Performer, Program, TimeSpent
from billing.periods import ReadingFact, ReadingSource, local_data_days, periods_ending_in
from billing.rules_2026 import RULES_2026, Code, RuleId
from tests.billing.cases import DM2, HTN, NOV, case, codes, days, reasons, rules_of, run, spent, withheld_by

CHICAGO = "America/Chicago"
RPM_CODES = {"99453", "99445", "99454", "99470", "99457", "99458"}
CCM_BASE = {"99490", "99491", "99487"}


# --- RPM eligibility and consent ---------------------------------------------------------------


def test_RPM_ELIG_1_a_patient_not_established_earns_no_rpm_code() -> None:
    result = run(case(established=False, data_days=days(20), time_spent=(spent(25),)))
    assert not RPM_CODES & set(codes(result))
    assert "RPM-ELIG-1" in withheld_by(result, Code.CPT_99454)
    assert "RPM-ELIG-1" in withheld_by(result, Code.CPT_99457)


def test_RPM_ELIG_2_an_acute_condition_is_enough_for_rpm_but_not_for_ccm() -> None:
    acute = Condition("I16", ("hypertensive_crisis",), chronic=False)
    result = run(case(conditions=(acute,), data_days=days(16), time_spent=(spent(25, Program.CCM),)))
    assert codes(result) == {"99453": 1, "99454": 1}
    assert "CCM-ELIG-1" in withheld_by(result, Code.CPT_99490)


def test_RPM_ELIG_2_no_diagnosis_at_all_earns_no_rpm_code() -> None:
    result = run(case(conditions=(), data_days=days(16)))
    assert codes(result) == {}
    assert "RPM-ELIG-2" in withheld_by(result, Code.CPT_99454)


def test_RPM_ELIG_3_no_order_on_file_earns_no_rpm_code() -> None:
    result = run(case(rpm_order_on_file=False, data_days=days(20), time_spent=(spent(20),)))
    assert codes(result) == {}
    assert withheld_by(result, Code.CPT_99454) == {"RPM-ELIG-3"}


def test_RPM_CONSENT_1_no_consent_earns_no_rpm_code() -> None:
    result = run(case(consents=(Consent(Program.CCM, date(2026, 10, 1)),), data_days=days(30), time_spent=(spent(30),)))
    assert not RPM_CODES & set(codes(result))
    assert reasons(result, Code.CPT_99454) == ["no RPM consent on record"]


def test_RPM_CONSENT_1_days_and_minutes_before_a_consent_dated_after_the_service_do_not_count() -> None:
    consent = Consent(Program.RPM, date(2026, 11, 10))
    entries = (spent(15, on=date(2026, 11, 5)), spent(12, on=date(2026, 11, 12)))
    result = run(case(consents=(consent,), data_days=days(20), time_spent=entries))
    # 20 days of data, but only 10..20 November (11 days) follow the consent; 12 of 27 minutes do
    assert codes(result) == {"99445": 1, "99470": 1}
    found = result.code(Code.CPT_99445)
    assert found is not None
    assert found.evidence["data_days"] == [d.isoformat() for d in sorted(days(11, date(2026, 11, 10)))]


# --- devices and data ---------------------------------------------------------------------------


def test_RPM_DEV_1_device_fda_status_is_a_warning_whenever_rpm_is_billed() -> None:
    assert [w.rule for w in run(case(data_days=days(16))).warnings] == [RuleId.RPM_DEV_1]
    assert run(case(data_days=days(1))).warnings == ()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_RPM_DEV_2_manual_readings_never_make_a_data_day() -> None:
    readings = [
        ReadingFact(at("2026-11-01T15:00:00Z"), ReadingSource.DEVICE),
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.MANUAL),
        ReadingFact(at("2026-11-03T15:00:00Z"), ReadingSource.DEVICE, frozenset({"manual_entry"})),
    ]
    assert local_data_days(readings, CHICAGO) == {date(2026, 11, 1)}


@pytest.mark.parametrize(
    "fact",
    [
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, frozenset({"test_data"})),
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, frozenset({"demonstration_data"})),
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, frozenset({"invalid"})),
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, frozenset({"measurement_unsuccessful"})),
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, frozenset({"control_solution"})),
        ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, value_absent=True),
    ],
    ids=["test", "demo", "invalid", "unsuccessful", "control-solution", "value-absent"],
)
def test_RPM_DEV_3_test_traffic_invalid_and_absent_values_never_make_a_data_day(fact: ReadingFact) -> None:
    assert local_data_days([fact], CHICAGO) == frozenset()


def test_RPM_DEV_3_a_questionable_but_final_device_reading_still_counts() -> None:
    fact = ReadingFact(at("2026-11-02T15:00:00Z"), ReadingSource.DEVICE, frozenset({"irregular_pulse", "low_battery"}))
    assert local_data_days([fact], CHICAGO) == {date(2026, 11, 2)}


# --- data days and periods ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "local_day"),
    [
        ("2026-11-02T05:59:59Z", date(2026, 11, 1)),  # 23:59:59 CST on 1 Nov
        ("2026-11-02T06:00:00Z", date(2026, 11, 2)),  # local midnight
        ("2026-11-01T04:59:59Z", date(2026, 10, 31)),  # 23:59:59 CDT, before DST ended that night
        ("2026-11-01T05:00:00Z", date(2026, 11, 1)),  # 00:00 CDT
    ],
)
def test_RPM_DAYS_1_a_data_day_is_the_patients_local_date_near_midnight(instant: str, local_day: date) -> None:
    assert local_data_days([ReadingFact(at(instant), ReadingSource.DEVICE)], CHICAGO) == {local_day}


def test_RPM_DAYS_1_the_same_instant_is_a_different_day_in_another_zone() -> None:
    fact = ReadingFact(at("2026-11-02T03:00:00Z"), ReadingSource.DEVICE)
    assert local_data_days([fact], "America/Los_Angeles") == {date(2026, 11, 1)}
    assert local_data_days([fact], "Europe/Berlin") == {date(2026, 11, 2)}


def test_RPM_DAYS_2_periods_are_30_consecutive_days_reported_in_the_month_they_end() -> None:
    (period,) = periods_ending_in(date(2026, 10, 20), NOV)
    assert (period.start, period.end) == (date(2026, 10, 20), date(2026, 11, 18))
    assert periods_ending_in(date(2026, 11, 19), NOV) == ()  # ends 18 December
    # a 31-day month can see two periods end: 31 Jan..1 Mar and 2 Mar..31 Mar
    march = periods_ending_in(date(2026, 1, 1), date(2026, 3, 1))
    assert [(p.start, p.end) for p in march] == [
        (date(2026, 1, 31), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 3, 31)),
    ]


def test_RPM_DAYS_2_without_a_device_period_start_the_first_data_day_anchors_the_periods() -> None:
    result = run(case(device_period_start=None, data_days=days(16, date(2026, 10, 25))))
    found = result.code(Code.CPT_99454)
    assert found is not None
    assert (found.evidence["period_start"], found.evidence["period_end"]) == ("2026-10-25", "2026-11-23")


def test_RPM_DAYS_2_days_outside_the_period_do_not_count() -> None:
    anchored = case(
        device_period_start=date(2026, 10, 20), data_days=days(15, date(2026, 10, 20)) | days(5, date(2026, 11, 19))
    )
    assert codes(run(anchored)) == {"99445": 1}


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, {}),
        (1, {}),
        (2, {"99445": 1}),
        (15, {"99445": 1}),
        (16, {"99453": 1, "99454": 1}),
        (30, {"99453": 1, "99454": 1}),
    ],
)
def test_RPM_DAYS_3_data_day_boundaries(n: int, expected: dict[str, int]) -> None:
    assert codes(run(case(data_days=days(n)))) == expected


def test_RPM_DAYS_3_the_reason_names_the_days_and_the_code_earned_instead() -> None:
    result = run(case(data_days=days(14)))
    assert reasons(result, Code.CPT_99454) == [
        "14 days of data in 2026-11-01..2026-11-30, 16 needed for 99454; 99445 earned instead"
    ]
    assert reasons(run(case(data_days=days(1))), Code.CPT_99445) == [
        "1 day of data in 2026-11-01..2026-11-30, 2 needed for 99445"
    ]


@given(st.sets(st.integers(min_value=0, max_value=60)), st.integers(min_value=-40, max_value=30))
def test_RPM_DAYS_4_never_both_device_codes_for_one_period(offsets: set[int], anchor_shift: int) -> None:
    anchor = NOV + timedelta(days=anchor_shift)
    data = frozenset(date(2026, 10, 1) + timedelta(days=o) for o in offsets)
    result = run(case(device_period_start=anchor, data_days=data))
    periods = [(c.evidence["period_start"]) for c in result.codes if c.code in (Code.CPT_99445, Code.CPT_99454)]
    assert len(periods) == len(set(periods)), "one device code per period"
    assert len(periods) <= len(periods_ending_in(anchor, NOV))


def test_RPM_DAYS_5_several_devices_on_one_day_make_one_day() -> None:
    readings = [
        ReadingFact(at("2026-11-03T14:00:00Z"), ReadingSource.DEVICE, device="cuff"),
        ReadingFact(at("2026-11-03T15:00:00Z"), ReadingSource.DEVICE, device="scale"),
        ReadingFact(at("2026-11-03T16:00:00Z"), ReadingSource.DEVICE, device="glucometer"),
    ]
    assert local_data_days(readings, CHICAGO) == {date(2026, 11, 3)}
    assert codes(run(case(data_days=local_data_days(readings, CHICAGO)))) == {}


def test_RPM_DAYS_6_another_practitioner_billing_rpm_withholds_the_codes_for_review() -> None:
    result = run(case(other_practitioner_programs=frozenset({Program.RPM}), data_days=days(20)))
    assert codes(result) == {}
    assert withheld_by(result, Code.CPT_99454) == {"RPM-DAYS-6"}


def test_RPM_DAYS_7_management_time_does_not_need_16_or_2_days() -> None:
    result = run(case(data_days=days(1), time_spent=(spent(20),)))
    assert codes(result) == {"99457": 1}
    assert "RPM-DAYS-7" in rules_of(result, Code.CPT_99457)


# --- set-up -------------------------------------------------------------------------------------


def test_RPM_SETUP_1_once_per_episode() -> None:
    result = run(case(data_days=days(20), setup_billed_in_episode=True))
    assert codes(result) == {"99454": 1}
    assert withheld_by(result, Code.CPT_99453) == {"RPM-SETUP-1"}


def test_RPM_SETUP_1_two_periods_ending_in_one_month_bill_set_up_once() -> None:
    march = case(month=date(2026, 3, 1), device_period_start=date(2026, 1, 1), data_days=days(31, date(2026, 3, 1)))
    result = run(replace(march, consents=(Consent(Program.RPM, date(2026, 1, 1)),)))
    assert codes(result) == {"99453": 1, "99454": 1}
    assert [c.code for c in result.codes].count(Code.CPT_99454) == 1
    march_full = replace(
        march, consents=(Consent(Program.RPM, date(2026, 1, 1)),), data_days=days(59, date(2026, 1, 31))
    )
    device_lines = [c for c in run(march_full).codes if c.code is Code.CPT_99454]
    assert len(device_lines) == 2
    assert [c.code for c in run(march_full).codes].count(Code.CPT_99453) == 1


def test_RPM_SETUP_1_needs_the_set_up_visit_on_record_when_records_are_checked() -> None:
    unrecorded = run(case(data_days=days(16), setup_checked=True))
    assert codes(unrecorded) == {"99454": 1}
    assert reasons(unrecorded, Code.CPT_99453) == [
        "no set-up and patient education visit on record (who, when, how) in this episode"
    ]
    recorded = run(case(data_days=days(16), setup_checked=True, setup_record="setup-1"))
    setup = recorded.code(Code.CPT_99453)
    assert setup is not None
    assert setup.evidence["setup_record"] == "setup-1"


def test_RPM_SETUP_2_default_threshold_is_16_days_and_it_is_a_setting() -> None:
    assert "99453" not in codes(run(case(data_days=days(15))))
    assert reasons(run(case(data_days=days(15))), Code.CPT_99453) == [
        "15 days of data in 2026-11-01..2026-11-30, 16 needed for set-up"
    ]
    relaxed = replace(RULES_2026, setup_min_days=2)
    result = run(case(data_days=days(2)), relaxed)
    assert codes(result) == {"99453": 1, "99445": 1}
    setup = result.code(Code.CPT_99453)
    assert setup is not None
    assert setup.date_of_service == date(2026, 11, 2)  # the day the threshold was reached


# --- management ---------------------------------------------------------------------------------


def test_RPM_MGMT_1_time_accrues_per_calendar_month() -> None:
    entries = (spent(15, on=date(2026, 10, 31)), spent(9, on=date(2026, 11, 30)), spent(30, on=date(2026, 12, 1)))
    result = run(case(time_spent=entries))
    assert codes(result) == {}
    assert reasons(result, Code.CPT_99470) == ["9 minutes of RPM management time, 10 needed for 99470"]


def test_RPM_MGMT_2_no_interactive_communication_no_management_code() -> None:
    result = run(case(time_spent=(spent(45, interactive=False),)))
    assert codes(result) == {}
    assert withheld_by(result, Code.CPT_99457) == {"RPM-MGMT-2"}
    # one interactive entry anywhere in the month is enough
    both = run(case(time_spent=(spent(40, interactive=False), spent(5, on=date(2026, 11, 20)))))
    assert codes(both) == {"99457": 1, "99458": 1}


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (9, {}),
        (10, {"99470": 1}),
        (19, {"99470": 1}),
        (20, {"99457": 1}),
        (39, {"99457": 1}),
        (40, {"99457": 1, "99458": 1}),
        (59, {"99457": 1, "99458": 1}),
        (60, {"99457": 1, "99458": 2}),
        (80, {"99457": 1, "99458": 2}),
    ],
)
def test_RPM_MGMT_3_minute_boundaries(minutes: int, expected: dict[str, int]) -> None:
    assert codes(run(case(time_spent=(spent(minutes),)))) == expected


def test_RPM_MGMT_3_99470_and_99457_never_together_and_99458_only_with_99457() -> None:
    result = run(case(time_spent=(spent(15),)))
    assert reasons(result, Code.CPT_99457) == ["15 minutes, 20 needed for 99457; 99470 earned instead"]
    assert reasons(result, Code.CPT_99458) == ["99458 is reported only with 99457"]


def test_RPM_MGMT_4_99458_cap_defaults_to_2_units_and_is_a_setting() -> None:
    result = run(case(time_spent=(spent(80),)))
    assert reasons(result, Code.CPT_99458) == [
        "80 minutes; 99458 is capped at 2 units a month, 20 minutes beyond the cap not billed"
    ]
    assert codes(run(case(time_spent=(spent(80),)), replace(RULES_2026, max_99458_units=3))) == {"99457": 1, "99458": 3}


def test_RPM_MGMT_5_only_whole_increments_count() -> None:
    result = run(case(time_spent=(spent(39),)))
    assert codes(result) == {"99457": 1}
    assert reasons(result, Code.CPT_99458) == [
        "39 minutes; only whole 20-minute increments count, the next 99458 unit needs 40"
    ]


def test_RPM_MGMT_6_clinical_staff_and_physician_time_both_count_with_each_entry_as_evidence() -> None:
    entries = (
        spent(12, ref="t1", performer=Performer.CLINICAL_STAFF),
        spent(10, ref="t2", performer=Performer.PHYSICIAN, on=date(2026, 11, 9), interactive=False),
    )
    found = run(case(time_spent=entries)).code(Code.CPT_99457)
    assert found is not None
    assert found.evidence == {
        "minutes": 22,
        "time_entries": ["t1", "t2"],
        "interactive_dates": ["2026-11-03"],
        "consent": {"program": "RPM", "date": "2026-10-20", "id": None},
        "diagnoses": ["E119", "I10"],
    }
    assert found.date_of_service == date(2026, 11, 9)
    assert "RPM-MGMT-6" in {r.value for r in found.rules}


def test_RPM_MGMT_7_99091_is_never_proposed_alongside_rpm_management() -> None:
    result = run(case(time_spent=(spent(40, performer=Performer.PHYSICIAN),)))
    assert "99091" not in codes(result)
    assert withheld_by(result, Code.CPT_99091) == {"RPM-MGMT-7"}


# --- concurrency --------------------------------------------------------------------------------


def test_RPM_CONC_1_rpm_and_ccm_in_the_same_month_with_separate_minutes() -> None:
    entries = (spent(20), spent(20, Program.CCM, on=date(2026, 11, 4)))
    result = run(case(data_days=days(16), time_spent=entries))
    assert codes(result) == {"99453": 1, "99454": 1, "99457": 1, "99490": 1}
    assert {"RPM-CONC-1", "TIME-1"} <= rules_of(result, Code.CPT_99457)
    assert {"RPM-CONC-1", "TIME-1"} <= rules_of(result, Code.CPT_99490)
    # the 20 RPM minutes did not help CCM reach 40
    assert "99439" not in codes(result)


def test_RPM_CONC_2_rtm_billed_means_no_rpm() -> None:
    result = run(case(other_services=frozenset({OtherService.RTM}), data_days=days(20), time_spent=(spent(20),)))
    assert codes(result) == {}
    assert withheld_by(result, Code.CPT_99457) == {"RPM-CONC-2"}


# --- CCM ----------------------------------------------------------------------------------------


def ccm(minutes: int, performer: Performer = Performer.CLINICAL_STAFF, on: date = date(2026, 11, 4)) -> TimeSpent:
    return spent(minutes, Program.CCM, on=on, performer=performer, interactive=False)


def test_CCM_ELIG_1_one_chronic_condition_is_not_enough() -> None:
    result = run(case(conditions=(HTN,), time_spent=(ccm(25),)))
    assert codes(result) == {}
    assert reasons(result, Code.CPT_99490) == ["1 qualifying chronic condition, 2 needed for CCM"]


def test_CCM_ELIG_1_two_codes_of_one_condition_are_one_condition_and_non_chronic_ones_do_not_count() -> None:
    dm_again = Condition("E1165", ("diabetes_type2",), chronic=True)
    prediabetes = Condition("R7303", ("prediabetes",), chronic=False)
    assert codes(run(case(conditions=(DM2, dm_again, prediabetes), time_spent=(ccm(25),)))) == {}
    assert codes(run(case(conditions=(DM2, HTN), time_spent=(ccm(25),)))) == {"99490": 1}


def test_CCM_ELIG_1_a_code_implying_two_conditions_counts_twice_as_provisioning_does() -> None:
    hypertensive_ckd = Condition("I129", ("ckd", "hypertension_ckd"), chronic=True)
    assert codes(run(case(conditions=(hypertensive_ckd,), time_spent=(ccm(25),)))) == {"99490": 1}
    ckd_again = Condition("N183", ("ckd",), chronic=True)
    assert codes(run(case(conditions=(ckd_again,), time_spent=(ccm(25),)))) == {}


def test_CCM_ELIG_2_no_care_plan_no_ccm() -> None:
    result = run(case(care_plan=False, time_spent=(ccm(25),)))
    assert codes(result) == {}
    assert withheld_by(result, Code.CPT_99490) == {"CCM-ELIG-2"}


def test_CCM_ELIG_3_no_initiating_visit_no_ccm() -> None:
    result = run(case(established=False, time_spent=(ccm(25),)))
    assert withheld_by(result, Code.CPT_99490) == {"CCM-ELIG-3"}


def test_CCM_CONSENT_1_no_consent_and_consent_after_the_service() -> None:
    rpm_only = (Consent(Program.RPM, date(2026, 10, 1)),)
    assert withheld_by(run(case(consents=rpm_only, time_spent=(ccm(25),))), Code.CPT_99490) == {"CCM-CONSENT-1"}
    late = (Consent(Program.CCM, date(2026, 11, 10)),)
    result = run(case(consents=late, time_spent=(ccm(25, on=date(2026, 11, 4)), ccm(15, on=date(2026, 11, 12)))))
    assert codes(result) == {}
    assert reasons(result, Code.CPT_99490) == ["15 minutes for the non-complex track, 20 needed for 99490"]


def test_CCM_ACCESS_1_and_CCM_EHR_1_are_attestations_on_every_ccm_result() -> None:
    rules = {w.rule.value for w in run(case(time_spent=(ccm(20),))).warnings}
    assert {"CCM-ACCESS-1", "CCM-EHR-1"} <= rules
    assert not {"CCM-ACCESS-1", "CCM-EHR-1"} & {w.rule.value for w in run(case(time_spent=(ccm(19),))).warnings}


def test_CCM_ACCESS_1_warning_message() -> None:
    (warning,) = [w for w in run(case(time_spent=(ccm(20),))).warnings if w.rule is RuleId.CCM_ACCESS_1]
    assert "24/7" in warning.message


def test_CCM_EHR_1_warning_message() -> None:
    (warning,) = [w for w in run(case(time_spent=(ccm(20),))).warnings if w.rule is RuleId.CCM_EHR_1]
    assert "certified EHR" in warning.message


def test_CCM_BILL_1_only_one_practitioner_bills_ccm() -> None:
    result = run(case(other_practitioner_programs=frozenset({Program.CCM}), time_spent=(ccm(25),)))
    assert withheld_by(result, Code.CPT_99490) == {"CCM-BILL-1"}


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (19, {}),
        (20, {"99490": 1}),
        (39, {"99490": 1}),
        (40, {"99490": 1, "99439": 1}),
        (59, {"99490": 1, "99439": 1}),
        (60, {"99490": 1, "99439": 2}),
        (80, {"99490": 1, "99439": 2}),
    ],
)
def test_CCM_TIME_1_staff_track_boundaries(minutes: int, expected: dict[str, int]) -> None:
    assert codes(run(case(time_spent=(ccm(minutes),)))) == expected


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (29, {"99490": 1}),  # 29 physician minutes still count as clinical-staff time
        (30, {"99491": 1}),  # 99491 ($89.18) beats 99490 ($66.13) for the same minutes
        (39, {"99491": 1}),
        (40, {"99490": 1, "99439": 1}),  # $116.57 beats 99491 ($89.18): the staff track wins
        (60, {"99490": 1, "99439": 2}),  # $167.01 beats 99491 + 99437 ($152.31)
    ],
)
def test_CCM_TIME_2_physician_track(minutes: int, expected: dict[str, int]) -> None:
    assert codes(run(case(time_spent=(ccm(minutes, Performer.PHYSICIAN),)))) == expected


def test_CCM_TIME_2_99437_cap_defaults_to_one_unit() -> None:
    no_staff_addons = replace(RULES_2026, max_99439_units=0)
    assert codes(run(case(time_spent=(ccm(60, Performer.PHYSICIAN),)), no_staff_addons)) == {"99491": 1, "99437": 1}
    result = run(case(time_spent=(ccm(90, Performer.PHYSICIAN),)), no_staff_addons)
    assert codes(result) == {"99491": 1, "99437": 1}
    assert "99437 is capped at 1 unit(s) a month" in reasons(result, Code.CPT_99437)[0]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (59, {"99490": 1, "99439": 1}),
        # 99487 alone ($144.29) pays less than 99490 + 2 x 99439 ($167.01): the track with the higher
        # allowed amount is proposed (CCM-EXCL-1 decision in billing/rules_2026.py)
        (60, {"99490": 1, "99439": 2}),
        (89, {"99490": 1, "99439": 2}),
        (90, {"99487": 1, "99489": 1}),
        (120, {"99487": 1, "99489": 2}),
    ],
)
def test_CCM_TIME_3_complex_track(minutes: int, expected: dict[str, int]) -> None:
    assert codes(run(case(ccm_complex=True, time_spent=(ccm(minutes),)))) == expected


def test_CCM_TIME_3_complex_from_60_minutes_when_it_is_the_better_track() -> None:
    result = run(case(ccm_complex=True, time_spent=(ccm(60),)), replace(RULES_2026, max_99439_units=0))
    assert codes(result) == {"99487": 1}
    assert reasons(result, Code.CPT_99489) == ["60 minutes; 99489 needs each further full 30 minutes (90 in all)"]


def test_CCM_TIME_3_complex_needs_the_complexity_on_record() -> None:
    result = run(case(time_spent=(ccm(60),)))
    assert codes(result) == {"99490": 1, "99439": 2}
    assert withheld_by(result, Code.CPT_99487) == {"CCM-TIME-3"}


@given(st.integers(0, 150), st.integers(0, 150), st.booleans())
def test_CCM_EXCL_1_one_ccm_track_a_month(staff: int, physician: int, complex_: bool) -> None:
    entries = tuple(e for e in (ccm(staff), ccm(physician, Performer.PHYSICIAN, on=date(2026, 11, 5))) if e.minutes > 0)
    result = run(case(ccm_complex=complex_, time_spent=entries))
    billed = set(codes(result))
    assert len(billed & CCM_BASE) <= 1
    assert not ({"99490", "99439"} & billed and {"99487", "99489", "99491", "99437"} & billed)


def test_CCM_EXCL_2_physician_minutes_build_one_track_only() -> None:
    result = run(case(time_spent=(ccm(20), ccm(30, Performer.PHYSICIAN, on=date(2026, 11, 6)))))
    # staff track: 50 minutes -> 99490 + 99439 ($116.57) beats 99491 alone ($89.18)
    assert codes(result) == {"99490": 1, "99439": 1}
    assert withheld_by(result, Code.CPT_99491) == {"CCM-EXCL-1", "CCM-EXCL-2"}


def test_CCM_EXCL_3_esrd_or_home_health_oversight_blocks_ccm() -> None:
    for other in (OtherService.ESRD_MONTHLY, OtherService.HOME_HEALTH_OR_HOSPICE_OVERSIGHT):
        result = run(case(other_services=frozenset({other}), time_spent=(ccm(25),)))
        assert withheld_by(result, Code.CPT_99490) == {"CCM-EXCL-3"}


def test_CCM_DOS_1_date_of_service_is_the_day_the_threshold_was_met() -> None:
    entries = (ccm(10, on=date(2026, 11, 2)), ccm(10, on=date(2026, 11, 9)), ccm(25, on=date(2026, 11, 20)))
    result = run(case(time_spent=entries))
    base, addon = result.code(Code.CPT_99490), result.code(Code.CPT_99439)
    assert base is not None
    assert addon is not None
    assert (base.date_of_service, addon.date_of_service) == (date(2026, 11, 9), date(2026, 11, 20))


def test_PCM_EXCL_1_pcm_by_the_same_practitioner_blocks_ccm_not_rpm() -> None:
    result = run(case(other_services=frozenset({OtherService.PCM}), data_days=days(16), time_spent=(ccm(25),)))
    assert codes(result) == {"99453": 1, "99454": 1}
    assert withheld_by(result, Code.CPT_99490) == {"PCM-EXCL-1"}


def test_APCM_EXCL_1_apcm_blocks_ccm_and_leaves_rpm() -> None:
    entries = (spent(20), ccm(25))
    result = run(case(other_services=frozenset({OtherService.APCM}), data_days=days(16), time_spent=entries))
    assert codes(result) == {"99453": 1, "99454": 1, "99457": 1}
    assert withheld_by(result, Code.CPT_99490) == {"APCM-EXCL-1"}


# --- time ---------------------------------------------------------------------------------------


def test_TIME_1_each_entry_counts_for_its_one_program_only() -> None:
    entries = (spent(19), spent(19, Program.CCM))
    assert codes(run(case(time_spent=entries))) == {"99470": 1}


def test_TIME_2_an_entry_spanning_local_midnight_counts_on_both_local_dates() -> None:
    from billing.periods import minutes_by_local_day

    start = datetime(2026, 11, 30, 23, 50, tzinfo=UTC) + timedelta(hours=6)  # 23:50 CST on 30 Nov
    parts = minutes_by_local_day(start, start + timedelta(minutes=25), CHICAGO)
    assert parts == ((date(2026, 11, 30), 10), (date(2026, 12, 1), 15))
    november = tuple(spent(m, on=d) for d, m in parts)
    assert codes(run(case(time_spent=november))) == {"99470": 1}


# --- amounts ------------------------------------------------------------------------------------


def test_amounts_follow_units_and_the_fee_schedule() -> None:
    result = run(case(data_days=days(16), time_spent=(spent(60),)))
    amounts = {c.code.value: str(c.amount) for c in result.codes}
    assert amounts == {"99453": "21.71", "99454": "52.11", "99457": "51.77", "99458": "82.84"}
    assert str(result.total) == "208.43"


@given(st.lists(st.tuples(st.integers(1, 45), st.booleans(), st.integers(1, 30)), max_size=8))
def test_RPM_MGMT_3_any_month_of_entries_follows_the_reference_formula(entries: list[tuple[int, bool, int]]) -> None:
    spent_ = tuple(spent(m, interactive=i, on=date(2026, 11, d)) for m, i, d in entries)
    t = sum(m for m, _, _ in entries)
    expected: dict[str, int] = {}
    if any(i for _, i, _ in entries) and t >= 10:
        if t < 20:
            expected = {"99470": 1}
        else:
            expected = {"99457": 1}
            if (t - 20) // 20:
                expected["99458"] = min(2, (t - 20) // 20)
    assert codes(run(case(time_spent=spent_))) == expected


def test_TIME_2_the_night_daylight_saving_time_ends_is_one_local_date_of_120_minutes() -> None:
    from billing.periods import minutes_by_local_day

    start = at("2026-11-01T05:30:00Z")  # 00:30 CDT; clocks fall back at 02:00 CDT
    assert minutes_by_local_day(start, start + timedelta(hours=2), CHICAGO) == ((date(2026, 11, 1), 120),)


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)),
    st.integers(1, 12 * 3600),
    st.sampled_from(["America/Chicago", "America/New_York", "Pacific/Honolulu", "Australia/Lord_Howe"]),
)
@example(datetime(2026, 1, 1, 9, 59, 0, 1, tzinfo=UTC), 60, "Pacific/Honolulu")  # both pieces floor to 0
def test_TIME_2_split_parts_are_consecutive_local_dates_and_lose_less_than_a_minute_each(
    start: datetime, seconds: int, zone: str
) -> None:
    from billing.periods import minutes_by_local_day

    end = start + timedelta(seconds=seconds)
    parts = minutes_by_local_day(start, end, zone)
    total = sum(m for _, m in parts)
    # Every local date the interval touches is one piece that loses under a minute to flooring, and a
    # piece floored to 0 minutes is dropped from ``parts`` (60 s from 23:59:00.000001 local is two
    # pieces of 0 minutes), so the bound counts the dates touched, not the parts returned.
    local = ZoneInfo(zone)
    touched = (end.astimezone(local).date() - start.astimezone(local).date()).days + 1
    assert seconds // 60 - touched <= total <= seconds // 60
    assert len(parts) <= touched
    days_ = [d for d, _ in parts]
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days_))
