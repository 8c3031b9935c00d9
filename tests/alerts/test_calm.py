"""The ingest hook's shortcuts are exact: a reading :func:`alerts.calm.calm` skips yields no finding,
and judging only the :func:`alerts.calm.restless` rules yields the same findings as judging all of
them, on random reading sequences around every threshold (ALERT-2), with late and out-of-order
readings (ALERT-6), disqualifying flags (ALERT-1), profiles, overrides (OVR-2) and waiting
confirmations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts import rules as engine
from alerts.calm import calm, restless
from alerts.rules import Action, Finding, History, NewReading, Patient, Profile, evaluable, evaluate
from core.domain import ReadingFlag

SYS, DIA, PULSE_CUFF, PULSE_OXIMETER = engine.SYS, engine.DIA, engine.PULSE_CUFF, engine.PULSE_OXIMETER
SPO2, TEMP, WEIGHT, GLU = engine.SPO2, engine.TEMP, engine.WEIGHT, min(engine.GLUCOSE)
RULES, EPSILON, LB_IN_KG = engine.RULES, engine.EPSILON, engine.LB_IN_KG
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONFIRM_RULES = sorted(r.rule_id for r in RULES if r.mode is engine.Mode.CONFIRM)


def _near(*points: float) -> list[float]:
    """Each point and its neighbours: X-1, X, X+1 (ALERT-2) and a hair either side of X and of X-ε."""
    return sorted({x + d for x in points for d in (-1, -2e-6, -EPSILON, -5e-7, 0, 5e-7, 1e-6, 2e-6, 1)})


def _thresholds_of(metric: int) -> list[float]:
    return [v for r in RULES if metric in r.metrics for k, v in r.defaults.items() if k not in ("min_sets", "enabled")]


VALUES = {
    SYS: _near(*_thresholds_of(SYS), 122, 140),
    DIA: _near(*_thresholds_of(DIA), 78, 88),
    PULSE_CUFF: _near(*_thresholds_of(PULSE_CUFF), 70),
    PULSE_OXIMETER: _near(*_thresholds_of(PULSE_OXIMETER), 75),
    GLU: [-math.inf, math.inf, *_near(*_thresholds_of(GLU), 100)],
    SPO2: _near(*_thresholds_of(SPO2), 95, 97),
    TEMP: _near(*_thresholds_of(TEMP), 36.8, 37.8),
    WEIGHT: [80 + k * LB_IN_KG + d for k in (-3, -2, 0, 2, 3, 5) for d in (-1e-6, 0, 1e-6)],
}
KINDS = [  # blood pressure most often: its rules reach furthest back (sets, BP-I1's week)
    (SYS, DIA, PULSE_CUFF),
    (SYS, DIA, PULSE_CUFF),
    (SYS, DIA, PULSE_CUFF),
    (SYS, DIA),
    (SYS,),
    (DIA,),
    (SPO2, PULSE_OXIMETER),
    (SPO2,),
    (GLU,),
    (WEIGHT,),
    (TEMP,),
]
OFFSETS_MIN = [0, 1, 5, 9, 10, 11, 29, 30, 31, 60, 119, 120, 18 * 60, 24 * 60, 36 * 60, 42 * 60, 54 * 60,
               3 * 1440, 6 * 1440, 6 * 1440 + 720, 7 * 1440 - 1, 7 * 1440, 8 * 1440, 14 * 1440]  # fmt: skip


@st.composite
def readings(draw: st.DrawFn, index: int) -> NewReading:
    kind = draw(st.sampled_from(KINDS))
    at = T0 - timedelta(minutes=draw(st.sampled_from(OFFSETS_MIN)))
    flags = draw(st.sampled_from([frozenset(), frozenset(), frozenset(), frozenset({ReadingFlag.BODY_MOVEMENT})]))
    return NewReading(
        reading_id=f"r{index}",
        device_id=draw(st.sampled_from(["dev-1", "dev-2"])),
        measured_at=at,
        received_at=at + timedelta(hours=draw(st.sampled_from([0, 0, 23, 25, 24 * 9]))),
        flags=frozenset(flags),
        values={m: draw(st.sampled_from(VALUES[m])) for m in kind},
    )


@st.composite
def patients(draw: st.DrawFn) -> Patient:
    keys = draw(st.sets(st.sampled_from(["heart_failure", "copd"])))
    overrides: dict[str, dict[str, float]] = {}
    for rule in draw(st.lists(st.sampled_from(RULES), max_size=4)):
        name = draw(st.sampled_from(sorted(rule.defaults)))
        if name == "enabled":
            value = float(draw(st.sampled_from([0, 1])))
        elif name == "min_sets":
            value = float(draw(st.sampled_from([1, 2, 4])))
        else:
            value = draw(st.sampled_from(_near(rule.defaults[name])))
        overrides.setdefault(rule.rule_id, {})[name] = value
    return Patient(Profile(frozenset(keys)), overrides)


@st.composite
def sequences(draw: st.DrawFn) -> tuple[list[NewReading], Patient, set[str], bool]:
    n = draw(st.integers(1, 12))
    return (
        [draw(readings(i)) for i in range(n)],
        draw(patients()),
        draw(st.sets(st.sampled_from(CONFIRM_RULES))),
        draw(st.booleans()),  # history holds the whole sequence (as the hook's does) or only what came before
    )


def _history(readings: list[NewReading]) -> History:
    return History(s for r in readings if evaluable(r) for s in r.samples())


def _apply(waiting: set[str], findings: list[Finding]) -> None:
    for f in findings:
        if f.action is Action.PEND:
            waiting.add(f.rule_id)
        else:
            waiting.discard(f.rule_id)


@settings(max_examples=400)
@given(sequences())
def test_the_shortcuts_give_the_straightforward_findings(
    case: tuple[list[NewReading], Patient, set[str], bool],
) -> None:
    sequence, patient, waiting, whole = case
    now = T0 + timedelta(minutes=15)
    whole_history = _history(sequence)
    for i, reading in enumerate(sequence):
        history = whole_history if whole else _history(sequence[:i])
        straight = evaluate(reading, history, patient, now, waiting=waiting)
        if calm(reading, history, patient, waiting):
            assert straight == []
        only = restless(reading, history, patient)
        assert evaluate(reading, history, patient, now, waiting=waiting, only=only) == straight
        _apply(waiting, straight)


def _bp(sys: float, dia: float, at: datetime, reading_id: str) -> NewReading:
    return NewReading(reading_id, "dev-1", at, at, frozenset(), {SYS: sys, DIA: dia, PULSE_CUFF: 70})


def test_a_normal_reading_after_a_normal_week_is_calm_and_a_high_week_leaves_only_bp_i1() -> None:
    """The shortcuts are not vacuous: the common case is skipped, a trend judges one rule."""
    plain = Patient(Profile())
    now = _bp(122, 78, T0, "now")
    normal = [_bp(125, 80, T0 - timedelta(days=d), f"n{d}") for d in range(1, 6)]
    assert calm(now, _history(normal), plain, set())
    assert restless(now, _history(normal), plain) == set()
    high = [_bp(150, 92, T0 - timedelta(days=d), f"h{d}") for d in range(1, 6)]
    assert not calm(now, _history(high), plain, set())
    assert restless(now, _history(high), plain) == {"BP-I1"}
    assert [f.rule_id for f in evaluate(now, _history(high), plain, T0, waiting=set())] == ["BP-I1"]


def test_a_waiting_confirmation_or_a_rule_without_a_calm_proof_is_never_skipped() -> None:
    plain = Patient(Profile())
    now = _bp(122, 78, T0, "now")
    assert not calm(now, History(), plain, {"BP-W1"})  # a normal repeat cancels it
    weight = NewReading("w", "scale", T0, T0, frozenset(), {WEIGHT: 80.0})
    assert calm(weight, History(), plain, set())  # no weight rule for this profile
    assert not calm(weight, History(), Patient(Profile(frozenset({"heart_failure"}))), set())
    temp = NewReading("t", "thermo", T0, T0, frozenset(), {TEMP: 36.8})
    assert calm(temp, History(), plain, set())
    assert not calm(temp, History(), Patient(Profile(), {"TEMP-W2": {"enabled": 1}}), set())


def test_bp_i1_calm_reaches_back_exactly_its_week() -> None:
    """A high reading exactly 7 days before still counts in BP-I1's mean (its window is closed)."""
    plain = Patient(Profile())
    now = _bp(122, 78, T0, "now")
    normal = [_bp(125, 80, T0 - timedelta(days=d), f"n{d}") for d in range(1, 4)]
    for back, fires in ((timedelta(days=7), True), (timedelta(days=7, seconds=1), False)):
        history = _history([*normal, _bp(200, 80, T0 - back, "old")])
        assert [f.rule_id for f in evaluate(now, history, plain, T0, waiting=set())] == (["BP-I1"] if fires else [])
        assert calm(now, history, plain, set()) is not fires
