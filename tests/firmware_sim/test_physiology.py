"""The simulated physiology has the shapes alerts and the demo rely on (seeded, deterministic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from statistics import mean

import numpy as np

from firmware_sim.physiology import Condition, PatientProfile, Physiology, random_profile

NY_8AM = datetime(2026, 11, 10, 13, 0, tzinfo=UTC)  # 08:00 in New York (EST)
NY_3AM = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)


def _profile(*conditions: Condition, **kw: object) -> PatientProfile:
    return PatientProfile(conditions=frozenset(conditions), **kw)  # type: ignore[arg-type]


def test_same_seed_same_series() -> None:
    times = [NY_3AM + timedelta(hours=h) for h in range(48)]
    a = Physiology(_profile(Condition.HYPERTENSION), np.random.default_rng(7))
    b = Physiology(_profile(Condition.HYPERTENSION), np.random.default_rng(7))
    assert [a.blood_pressure(t) for t in times] == [b.blood_pressure(t) for t in times]


def test_blood_pressure_has_a_morning_surge_and_a_nocturnal_dip() -> None:
    sim = Physiology(_profile(Condition.DIABETES), np.random.default_rng(1))
    morning = [sim.blood_pressure(NY_8AM + timedelta(days=d)).systolic for d in range(200)]
    night = [sim.blood_pressure(NY_3AM + timedelta(days=d)).systolic for d in range(200)]
    assert mean(morning) - mean(night) > 12
    assert all(bp.systolic > bp.diastolic for bp in (sim.blood_pressure(NY_8AM) for _ in range(500)))


def test_glucose_rises_after_meals_more_in_diabetes() -> None:
    before_lunch = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)  # 12:00 New York
    after_lunch = before_lunch + timedelta(hours=1, minutes=30)
    for condition, min_rise in ((Condition.DIABETES, 60), (Condition.HYPERTENSION, 20)):
        sim = Physiology(_profile(condition), np.random.default_rng(3))
        rise = mean(sim.glucose(after_lunch) for _ in range(200)) - mean(sim.glucose(before_lunch) for _ in range(200))
        assert rise > min_rise, condition


def test_heart_failure_decompensation_gains_weight_daily() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    sim = Physiology(
        _profile(Condition.HEART_FAILURE, weight_kg=80.0, decompensation_starts=start), np.random.default_rng(5)
    )
    before = mean(sim.weight_kg(start - timedelta(days=1)) for _ in range(50))
    after_3_days = mean(sim.weight_kg(start + timedelta(days=3)) for _ in range(50))
    assert 1.4 <= after_3_days - before <= 2.4  # ≈0.6 kg/day: crosses the 3 lb / 24 h alert rule


def test_random_profiles_have_two_or_more_conditions() -> None:
    rng = np.random.default_rng(11)
    assert all(len(random_profile(rng).conditions) >= 2 for _ in range(100))
