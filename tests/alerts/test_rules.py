"""The §C.2 default rules at X−1, X and X+1 (ALERT-2), with confirmation windows, late readings
(ALERT-6), device flags (ALERT-1), profiles and overrides (OVR-2) driven by an injected clock."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.rules import (
    DIA,
    GLUCOSE,
    LB_IN_KG,
    PULSE_CUFF,
    PULSE_OXIMETER,
    RULES,
    SPO2,
    SYS,
    TEMP,
    WEIGHT,
    Action,
    Finding,
    NewReading,
    Patient,
    Profile,
    Sample,
    Severity,
    evaluate,
)
from core.domain import ReadingFlag

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GLU = min(GLUCOSE)
HF = Patient(Profile(frozenset({"heart_failure"})))
COPD = Patient(Profile(frozenset({"copd"})))
PLAIN = Patient(Profile())
_counter = iter(range(10**9))


def reading(values: Mapping[int, float], at: datetime = T0, device: str = "dev-1", late_h: float = 0) -> NewReading:
    return NewReading(
        reading_id=f"r{next(_counter)}",
        device_id=device,
        measured_at=at,
        received_at=at + timedelta(hours=late_h, seconds=5),
        flags=frozenset(),
        values=dict(values),
    )


def samples(r: NewReading) -> list[Sample]:
    return r.samples()


def fired(findings: list[Finding]) -> dict[str, Finding]:
    return {f.rule_id: f for f in findings if f.action in (Action.FIRE, Action.PEND)}


def raised(values: Mapping[int, float], patient: Patient = PLAIN, history: list[Sample] | None = None) -> set[str]:
    """Rule ids raised (fired or pending) by one reading at T0 evaluated at T0."""
    return set(fired(evaluate(reading(values), history or [], patient, now=T0)))


# (rule id, the metric values that make X-1, X, X+1, and which of them raise the rule)
BOUNDARIES = [
    ("BP-C1", [{SYS: 179, DIA: 90}, {SYS: 180, DIA: 90}, {SYS: 181, DIA: 90}], [False, True, True]),
    ("BP-C1", [{SYS: 150, DIA: 119}, {SYS: 150, DIA: 120}, {SYS: 150, DIA: 121}], [False, True, True]),
    ("BP-W1", [{SYS: 159, DIA: 80}, {SYS: 160, DIA: 80}, {SYS: 161, DIA: 80}], [False, True, True]),
    ("BP-W1", [{SYS: 130, DIA: 99}, {SYS: 130, DIA: 100}, {SYS: 130, DIA: 101}], [False, True, True]),
    ("BP-W1", [{SYS: 179, DIA: 80}, {SYS: 180, DIA: 80}, {SYS: 181, DIA: 80}], [True, False, False]),
    ("BP-C2", [{SYS: 79, DIA: 50}, {SYS: 80, DIA: 50}, {SYS: 81, DIA: 50}], [True, False, False]),
    ("BP-W2", [{SYS: 89, DIA: 70}, {SYS: 90, DIA: 70}, {SYS: 91, DIA: 70}], [True, False, False]),
    ("BP-W2", [{SYS: 120, DIA: 59}, {SYS: 120, DIA: 60}, {SYS: 120, DIA: 61}], [True, False, False]),
    ("HR-C1", [{PULSE_CUFF: 39}, {PULSE_CUFF: 40}, {PULSE_CUFF: 41}], [True, False, False]),
    ("HR-C1", [{PULSE_OXIMETER: 129}, {PULSE_OXIMETER: 130}, {PULSE_OXIMETER: 131}], [False, False, True]),
    ("HR-W1", [{PULSE_CUFF: 49}, {PULSE_CUFF: 50}, {PULSE_CUFF: 51}], [True, False, False]),
    ("HR-W1", [{PULSE_CUFF: 119}, {PULSE_CUFF: 120}, {PULSE_CUFF: 121}], [False, False, True]),
    ("GLU-C1", [{GLU: 53}, {GLU: 54}, {GLU: 55}], [True, False, False]),
    ("GLU-W1", [{GLU: 53}, {GLU: 54}, {GLU: 55}], [False, True, True]),
    ("GLU-W1", [{GLU: 69}, {GLU: 70}, {GLU: 71}], [True, False, False]),
    ("GLU-C2", [{GLU: 399}, {GLU: 400}, {GLU: 401}], [False, True, True]),
    ("GLU-W2", [{GLU: 249}, {GLU: 250}, {GLU: 251}], [False, False, True]),
    ("SPO2-C1", [{SPO2: 87}, {SPO2: 88}, {SPO2: 89}], [True, False, False]),
    ("SPO2-W1", [{SPO2: 87}, {SPO2: 88}, {SPO2: 89}], [False, True, True]),
    ("SPO2-W1", [{SPO2: 91}, {SPO2: 92}, {SPO2: 93}], [True, True, False]),
    ("TEMP-W1", [{TEMP: 37.9}, {TEMP: 38.0}, {TEMP: 38.1}], [False, True, True]),
    ("TEMP-C1", [{TEMP: 39.3}, {TEMP: 39.4}, {TEMP: 39.5}], [False, True, True]),
    ("TEMP-C1", [{TEMP: 34.9}, {TEMP: 35.0}, {TEMP: 35.1}], [True, False, False]),
]


@pytest.mark.parametrize(
    ("rule_id", "cases", "expected"), BOUNDARIES, ids=[f"{b[0]}-{i}" for i, b in enumerate(BOUNDARIES)]
)
def test_single_value_boundaries(rule_id: str, cases: list[dict[int, float]], expected: list[bool]) -> None:
    assert [rule_id in raised(values) for values in cases] == expected


@pytest.mark.parametrize(
    ("rule_id", "cases", "expected"),
    [("SPO2-C1c", [84, 85, 86], [True, False, False]), ("SPO2-W1c", [87, 88, 89], [True, False, False])],
)
def test_copd_profile_spo2_boundaries(rule_id: str, cases: list[float], expected: list[bool]) -> None:
    assert [rule_id in raised({SPO2: v}, COPD) for v in cases] == expected


def test_copd_profile_replaces_default_spo2_rules() -> None:
    assert raised({SPO2: 87}, COPD) == {"SPO2-W1c"}
    assert raised({SPO2: 87}, PLAIN) == {"SPO2-C1"}
    assert raised({SPO2: 90}, COPD) == set()


def test_spo2_w1c_fires_four_points_below_the_14_day_median() -> None:
    history = [s for d in (1, 2, 3) for s in samples(reading({SPO2: 95}, T0 - timedelta(days=d)))]
    assert [("SPO2-W1c" in raised({SPO2: v}, COPD, history)) for v in (92, 91, 90)] == [False, True, True]


@pytest.mark.parametrize(("value", "action"), [(299, Action.PEND), (300, Action.PEND), (301, Action.FIRE)])
def test_glu_w2_fires_on_a_single_reading_above_300(value: float, action: Action) -> None:
    assert fired(evaluate(reading({GLU: value}), [], PLAIN, now=T0))["GLU-W2"].action is action


def test_glucose_meter_lo_and_hi_are_critical() -> None:
    assert raised({GLU: -math.inf}) == {"GLU-C1"}
    assert raised({GLU: math.inf}) == {"GLU-C2"}


def test_glu_w2_needs_two_readings_two_hours_apart_or_one_above_300() -> None:
    only = evaluate(reading({GLU: 260}), [], PLAIN, now=T0)
    assert [(f.rule_id, f.action) for f in only if f.rule_id == "GLU-W2"] == [("GLU-W2", Action.PEND)]
    assert only[0].confirm_by == T0 + timedelta(hours=24)
    too_close = samples(reading({GLU: 270}, T0 - timedelta(minutes=119)))
    assert fired(evaluate(reading({GLU: 260}), too_close, PLAIN, now=T0))["GLU-W2"].action is Action.PEND
    two_hours = samples(reading({GLU: 270}, T0 - timedelta(hours=2)))
    assert fired(evaluate(reading({GLU: 260}), two_hours, PLAIN, now=T0))["GLU-W2"].action is Action.FIRE


def weights(*points: tuple[timedelta, float]) -> list[Sample]:
    return [s for ago, lb in points for s in samples(reading({WEIGHT: lb * LB_IN_KG}, T0 - ago))]


@pytest.mark.parametrize(("gain_lb", "expected"), [(2.9, set()), (3.0, {"WT-C1"}), (3.1, {"WT-C1"})])
def test_wt_c1_gain_vs_prior_day(gain_lb: float, expected: set[str]) -> None:
    history = weights((timedelta(hours=24), 180.0))
    got = raised({WEIGHT: (180.0 + gain_lb) * LB_IN_KG}, HF, history) & {"WT-C1"}
    assert got == expected


@pytest.mark.parametrize(("gain_lb", "expected"), [(1.9, set()), (2.0, {"WT-W1"}), (2.1, {"WT-W1"})])
def test_wt_w1_gain_in_24_hours(gain_lb: float, expected: set[str]) -> None:
    history = weights((timedelta(hours=24), 180.0))
    assert raised({WEIGHT: (180.0 + gain_lb) * LB_IN_KG}, HF, history) == expected


@pytest.mark.parametrize(("gain_lb", "expected"), [(4.9, set()), (5.0, {"WT-W1"}), (5.1, {"WT-W1"})])
def test_wt_w1_gain_over_7_days(gain_lb: float, expected: set[str]) -> None:
    history = weights((timedelta(days=7), 180.0))
    assert raised({WEIGHT: (180.0 + gain_lb) * LB_IN_KG}, HF, history) == expected


@pytest.mark.parametrize(("loss_lb", "expected"), [(1.9, set()), (2.0, {"WT-I1"}), (2.1, {"WT-I1"})])
def test_wt_i1_loss_over_2_days(loss_lb: float, expected: set[str]) -> None:
    history = weights((timedelta(hours=48), 180.0))
    assert raised({WEIGHT: (180.0 - loss_lb) * LB_IN_KG}, HF, history) == expected


def test_weight_rules_only_for_heart_failure_patients() -> None:
    history = weights((timedelta(hours=24), 180.0))
    assert raised({WEIGHT: 190 * LB_IN_KG}, PLAIN, history) == set()
    assert raised({WEIGHT: 190 * LB_IN_KG}, HF, history) == {"WT-C1"}


def test_wt_c1_ignores_a_reference_outside_the_18_to_36_hour_gap() -> None:
    assert raised({WEIGHT: 190 * LB_IN_KG}, HF, weights((timedelta(hours=17), 180.0))) == set()
    assert raised({WEIGHT: 190 * LB_IN_KG}, HF, weights((timedelta(hours=37), 180.0))) == set()


def bp_sets(sys: float, dia: float, n: int) -> list[Sample]:
    return [s for d in range(1, n + 1) for s in samples(reading({SYS: sys, DIA: dia}, T0 - timedelta(days=d)))]


@pytest.mark.parametrize(("sys", "expected"), [(134, set()), (135, {"BP-I1"}), (136, {"BP-I1"})])
def test_bp_i1_seven_day_mean(sys: float, expected: set[str]) -> None:
    assert raised({SYS: sys, DIA: 70}, PLAIN, bp_sets(sys, 70, 3)) == expected


def test_bp_i1_needs_four_sets() -> None:
    assert raised({SYS: 150, DIA: 70}, PLAIN, bp_sets(150, 70, 2)) == set()


@pytest.mark.parametrize(("temp", "expected"), [(37.7, set()), (37.8, {"TEMP-W2"}), (37.9, {"TEMP-W2"})])
def test_temp_w2_is_opt_in(temp: float, expected: set[str]) -> None:
    opted_in = Patient(Profile(), {"TEMP-W2": {"enabled": 1}})
    assert raised({TEMP: temp}, opted_in) == expected
    assert raised({TEMP: temp}, PLAIN) == set()


def test_temp_w2_rise_over_30_day_median() -> None:
    opted_in = Patient(Profile(), {"TEMP-W2": {"enabled": 1}})
    history = [s for d in (1, 2, 3) for s in samples(reading({TEMP: 36.2}, T0 - timedelta(days=d)))]
    assert [("TEMP-W2" in raised({TEMP: v}, opted_in, history)) for v in (37.2, 37.3, 37.4)] == [False, True, True]


def test_one_alert_per_family_the_most_severe() -> None:
    assert raised({SYS: 185, DIA: 110}) == {"BP-C1"}
    assert raised({SYS: 75, DIA: 50}) == {"BP-C2"}


def test_bp_c1_fires_on_the_first_set_without_waiting() -> None:
    (finding,) = [f for f in evaluate(reading({SYS: 185, DIA: 125}), [], PLAIN, now=T0) if f.action is Action.FIRE]
    assert finding.rule_id == "BP-C1"
    assert finding.severity is Severity.CRITICAL
    assert finding.thresholds == {"sys_ge": 180, "dia_ge": 120}
    assert finding.observed == {"sys_mean": 185, "dia_mean": 125}


def test_set_mean_decides_bp() -> None:
    first = reading({SYS: 190, DIA: 90})
    second = reading({SYS: 168, DIA: 90}, T0 + timedelta(minutes=4))
    # The mean of 190 and 168 is 179: the set is below BP-C1 although its first reading was not.
    actions = {f.rule_id: f.action for f in evaluate(second, samples(first), PLAIN, now=second.measured_at)}
    assert "BP-C1" not in actions
    assert actions["BP-W1"] is Action.PEND


def test_confirm_rule_pends_then_a_repeat_set_fires_it() -> None:
    first = reading({SYS: 165, DIA: 80})
    (pending,) = [f for f in evaluate(first, [], PLAIN, now=T0) if f.rule_id == "BP-W1"]
    assert pending.action is Action.PEND
    assert pending.confirm_by == T0 + timedelta(minutes=30)
    repeat = reading({SYS: 166, DIA: 80}, T0 + timedelta(minutes=15))
    (confirmed,) = [f for f in evaluate(repeat, samples(first), PLAIN, now=repeat.measured_at) if f.rule_id == "BP-W1"]
    assert confirmed.action is Action.FIRE
    assert confirmed.reading_ids == (first.reading_id, repeat.reading_id)


def test_a_repeat_outside_the_window_does_not_confirm() -> None:
    first = reading({SYS: 165, DIA: 80})
    repeat = reading({SYS: 166, DIA: 80}, T0 + timedelta(minutes=31))
    (finding,) = [f for f in evaluate(repeat, samples(first), PLAIN, now=repeat.measured_at) if f.rule_id == "BP-W1"]
    assert finding.action is Action.PEND


def test_a_normal_repeat_cancels_the_pending_confirmation() -> None:
    first = reading({SYS: 165, DIA: 80})
    normal = reading({SYS: 128, DIA: 80}, T0 + timedelta(minutes=15))
    actions = {f.rule_id: f.action for f in evaluate(normal, samples(first), PLAIN, now=normal.measured_at)}
    assert actions["BP-W1"] is Action.CANCEL


def test_spo2_confirmation_window_is_ten_minutes() -> None:
    first = reading({SPO2: 86})
    at_10 = reading({SPO2: 86}, T0 + timedelta(minutes=10))
    at_11 = reading({SPO2: 86}, T0 + timedelta(minutes=11))
    assert fired(evaluate(at_10, samples(first), PLAIN, now=at_10.measured_at))["SPO2-C1"].action is Action.FIRE
    assert fired(evaluate(at_11, samples(first), PLAIN, now=at_11.measured_at))["SPO2-C1"].action is Action.PEND


@pytest.mark.parametrize(("late_h", "late"), [(23.9, False), (24.1, True)])
def test_late_readings_are_labelled_and_critical_downgraded(late_h: float, late: bool) -> None:
    r = reading({SYS: 185, DIA: 125}, late_h=late_h)
    (finding,) = [f for f in evaluate(r, [], PLAIN, now=r.received_at) if f.rule_id == "BP-C1"]
    assert finding.late is late
    assert finding.severity is (Severity.WARNING if late else Severity.CRITICAL)


def test_a_late_confirm_reading_fires_at_once_because_its_window_is_over() -> None:
    r = reading({SYS: 165, DIA: 80}, late_h=30)
    (finding,) = [f for f in evaluate(r, [], PLAIN, now=r.received_at) if f.rule_id == "BP-W1"]
    assert (finding.action, finding.late) == (Action.FIRE, True)


@pytest.mark.parametrize("flag", [ReadingFlag.BODY_MOVEMENT, ReadingFlag.CUFF_FIT_LOOSE, ReadingFlag.INVALID])
def test_flagged_readings_raise_nothing(flag: ReadingFlag) -> None:
    r = reading({SYS: 200, DIA: 130})
    flagged = NewReading(r.reading_id, r.device_id, r.measured_at, r.received_at, frozenset({flag.value}), r.values)
    assert evaluate(flagged, [], PLAIN, now=T0) == []


def test_irregular_pulse_does_not_disqualify() -> None:
    r = reading({SYS: 200, DIA: 130})
    flagged = NewReading(
        r.reading_id, r.device_id, r.measured_at, r.received_at, frozenset({"irregular_pulse"}), r.values
    )
    assert "BP-C1" in fired(evaluate(flagged, [], PLAIN, now=T0))


def test_patient_override_moves_the_threshold() -> None:
    patient = Patient(Profile(), {"BP-C1": {"sys_ge": 190}, "BP-W1": {"sys_lt": 190}})
    assert raised({SYS: 185, DIA: 80}, patient) == {"BP-W1"}
    (finding,) = [f for f in evaluate(reading({SYS: 195, DIA: 80}), [], patient, now=T0) if f.rule_id == "BP-C1"]
    assert finding.thresholds["sys_ge"] == 190


def test_every_rule_has_an_id_version_and_defaults() -> None:
    assert len({r.rule_id for r in RULES}) == len(RULES) == 21
    assert all(r.version >= 1 and r.defaults for r in RULES)


@given(
    sys=st.floats(40, 300),
    dia=st.floats(20, 200),
    minutes=st.integers(0, 60 * 24 * 3),
)
def test_any_bp_reading_yields_at_most_one_raise_per_family(sys: float, dia: float, minutes: int) -> None:
    history = samples(reading({SYS: 170, DIA: 95}, T0 - timedelta(minutes=minutes)))
    findings = evaluate(reading({SYS: sys, DIA: dia}), history, PLAIN, now=T0)
    raised_ids = [f.rule_id for f in findings if f.action is not Action.CANCEL]
    assert not {"BP-C1", "BP-W1"} <= set(raised_ids)
    assert not {"BP-C2", "BP-W2"} <= set(raised_ids)
    if minutes >= 10:  # outside the set window: the reading is judged alone
        assert ("BP-C1" in raised_ids) == (sys >= 180 or dia >= 120)
    else:
        assert ("BP-C1" in raised_ids) == ((sys + 170) / 2 >= 180 or (dia + 95) / 2 >= 120)
