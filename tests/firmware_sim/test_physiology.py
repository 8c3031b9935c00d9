"""The simulated physiology has the shapes alerts and the demo rely on (seeded, deterministic)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from statistics import mean

import numpy as np

from firmware_sim.physiology import Condition, MealTiming, PatientProfile, Physiology, random_profile

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


def test_hypoglycaemia_episodes_are_seeded_by_day_not_by_reading_times() -> None:
    profile = _profile(Condition.DIABETES, hypoglycaemia_per_day=0.5)
    a = Physiology(profile, np.random.default_rng(1), episode_seed=42)
    b = Physiology(profile, np.random.default_rng(2), episode_seed=42)
    days = [date(2026, 11, 1) + timedelta(days=d) for d in range(60)]
    assert [a.hypoglycaemia_episodes(d) for d in days] == [b.hypoglycaemia_episodes(d) for d in reversed(days)][::-1]
    episodes = [e for d in days for e in a.hypoglycaemia_episodes(d)]
    assert 15 <= len(episodes) <= 45  # Poisson(0.5) a day over 60 days
    assert all(10 <= e.nadir_mg_dl < 70 for e in episodes)
    assert sum(e.nadir_mg_dl < 54 for e in episodes) >= 3  # some reach ADA level 2


def test_readings_inside_an_episode_are_hypoglycaemic() -> None:
    profile = _profile(Condition.DIABETES, hypoglycaemia_per_day=1.0)
    sim = Physiology(profile, np.random.default_rng(9), episode_seed=7)
    episodes = [e for d in range(30) for e in sim.hypoglycaemia_episodes(date(2026, 11, 1) + timedelta(days=d))]
    assert episodes
    for episode in episodes:
        middle = episode.starts + episode.duration / 2
        assert sim.glucose(middle) < 70
        assert sim.glucose(middle) <= round(episode.nadir_mg_dl) + 30  # noise and a meal can keep it above the nadir


def test_no_episodes_without_a_rate() -> None:
    sim = Physiology(_profile(Condition.DIABETES), np.random.default_rng(3))
    assert sim.hypoglycaemia_episodes(date(2026, 11, 1)) == ()
    assert sim.episode_seed is None  # the rng is not touched


def test_meal_timing_follows_the_local_day() -> None:
    sim = Physiology(_profile(Condition.DIABETES), np.random.default_rng(3))
    expected = {
        6: MealTiming.FASTING,  # 06:00 local
        7: MealTiming.PREPRANDIAL,
        8: MealTiming.POSTPRANDIAL,
        11: MealTiming.CASUAL,
        12: MealTiming.PREPRANDIAL,
        14: MealTiming.POSTPRANDIAL,
        18: MealTiming.PREPRANDIAL,
        19: MealTiming.POSTPRANDIAL,
        21: MealTiming.CASUAL,
        23: MealTiming.BEDTIME,
    }
    for hour, timing in expected.items():
        assert sim.meal_timing(NY_3AM + timedelta(hours=hour - 3)) == timing, hour
