"""Lifelike physiological series for simulated patients, so alerts, dashboards and the demo see data
shaped like real home monitoring rather than uniform noise.

- Blood pressure: a circadian curve (nocturnal dip, morning surge peaking around 08:00 local),
  a per-patient hypertensive offset, beat-to-beat and measurement noise, pulse that follows it.
- Glucose: a fasting baseline with post-meal excursions (breakfast, lunch, dinner) that peak about
  45-60 minutes after eating, larger and slower for diabetic patients, and occasional hypoglycaemic
  episodes (mostly at night or before a meal, 20-75 minutes long; most at ADA level 1, some at
  level 2, a rare one below a meter's 20 mg/dL range, which the meter shows as "LO"). The meal
  schedule also says whether a reading is fasting, before or after a meal, for meters that tag it.
- Weight: day-to-day scatter around a baseline; a heart-failure patient can decompensate from a
  given day, gaining fluid weight (about 0.3-0.9 kg/day) until treated.
- SpO2 with pulse, lower and more variable with COPD; body temperature with a circadian rhythm.

Every value is a function of (patient, time) plus seeded noise: the same seed and the same times give
the same series. Times are timezone-aware; the patient's local clock drives the rhythms."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

MEALS_LOCAL_H = ((7.5, 0.8), (12.5, 1.0), (18.5, 1.1))
"""Local hour and relative size of breakfast, lunch and dinner."""
BEDTIME_LOCAL_H = 22.0
POSTPRANDIAL_H = 2.0
PREPRANDIAL_H = 1.0


class MealTiming(StrEnum):
    """Where a moment falls in the day's meals, as a glucometer's meal tag records it."""

    FASTING = "fasting"
    PREPRANDIAL = "preprandial"
    POSTPRANDIAL = "postprandial"
    BEDTIME = "bedtime"
    CASUAL = "casual"


@dataclass(frozen=True, slots=True)
class HypoglycaemiaEpisode:
    starts: datetime
    duration: timedelta
    nadir_mg_dl: float

    def depth(self, at: datetime) -> float:
        """0 outside the episode, rising to 1 at its middle."""
        elapsed = (at - self.starts) / self.duration
        return max(0.0, 1.0 - abs(2 * elapsed - 1)) if 0 <= elapsed <= 1 else 0.0


class Condition(StrEnum):
    HYPERTENSION = "hypertension"
    DIABETES = "diabetes"
    HEART_FAILURE = "heart_failure"
    COPD = "copd"


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """Baselines of one simulated patient (canonical units: mmHg, /min, mg/dL, kg, %, Cel)."""

    conditions: frozenset[Condition]
    time_zone: str = "America/New_York"
    systolic: float = 128.0
    diastolic: float = 80.0
    pulse: float = 72.0
    fasting_glucose: float = 100.0
    weight_kg: float = 82.0
    spo2: float = 97.0
    temperature_c: float = 36.7
    decompensation_starts: datetime | None = None
    hypoglycaemia_per_day: float = 0.0


@dataclass(frozen=True, slots=True)
class BloodPressure:
    systolic: float
    diastolic: float
    pulse: float
    irregular_pulse: bool


def random_profile(rng: np.random.Generator, *, time_zone: str = "America/New_York") -> PatientProfile:
    """A plausible chronic-care patient: two or more conditions, baselines drawn around them."""
    pool = list(Condition)
    count = int(rng.integers(2, 4))
    conditions = frozenset(pool[i] for i in rng.choice(len(pool), size=count, replace=False))
    hypertensive = Condition.HYPERTENSION in conditions
    diabetic = Condition.DIABETES in conditions
    return PatientProfile(
        conditions=conditions,
        time_zone=time_zone,
        systolic=float(rng.normal(142 if hypertensive else 122, 8)),
        diastolic=float(rng.normal(88 if hypertensive else 76, 5)),
        pulse=float(rng.normal(74, 7)),
        fasting_glucose=float(rng.normal(150 if diabetic else 95, 18 if diabetic else 6)),
        weight_kg=float(np.clip(rng.normal(86, 15), 45, 180)),
        spo2=float(rng.normal(93.5 if Condition.COPD in conditions else 97.2, 0.8)),
        temperature_c=float(rng.normal(36.7, 0.15)),
        hypoglycaemia_per_day=0.08 if diabetic else 0.0,
    )


def _local_hours(profile: PatientProfile, at: datetime) -> float:
    local = at.astimezone(ZoneInfo(profile.time_zone))
    return local.hour + local.minute / 60 + local.second / 3600


def _gamma_bump(hours_since: float, peak_h: float, width_h: float) -> float:
    """A post-meal excursion: zero before the meal, peak 1.0 at ``peak_h`` hours, slow decay."""
    if hours_since <= 0:
        return 0.0
    shape = 1 + (peak_h / width_h) ** 2
    scale = peak_h / (shape - 1)
    x = hours_since / scale
    peak_x = shape - 1
    return float((x / peak_x) ** (shape - 1) * math.exp(peak_x - x))


@dataclass
class Physiology:
    """Samples one patient's measurements at given times, with seeded noise."""

    profile: PatientProfile
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    episode_seed: int | None = None
    """Seeds the hypoglycaemia schedule, which depends only on the day, not on when readings are taken;
    drawn from ``rng`` on first use when not given."""

    def blood_pressure(self, at: datetime) -> BloodPressure:
        hours = _local_hours(self.profile, at)
        # Circadian: lowest around 03:00, morning surge to a peak near 08:00, afternoon plateau.
        circadian = -9.0 * math.cos(2 * math.pi * (hours - 3.0) / 24.0) - 9.0
        surge = 10.0 * math.exp(-(((hours - 8.0) / 1.5) ** 2))
        systolic = self.profile.systolic + circadian + surge + self.rng.normal(0, 6)
        diastolic = self.profile.diastolic + 0.6 * (circadian + surge) + self.rng.normal(0, 4)
        pulse = self.profile.pulse + 0.25 * (surge + circadian) + self.rng.normal(0, 4)
        if Condition.HYPERTENSION in self.profile.conditions and self.rng.random() < 0.01:
            systolic += self.rng.uniform(25, 45)  # an occasional severe reading
            diastolic += self.rng.uniform(12, 25)
        systolic = float(np.clip(systolic, 70, 240))
        diastolic = float(np.clip(diastolic, 40, min(systolic - 15, 150)))
        return BloodPressure(
            systolic=round(systolic),
            diastolic=round(diastolic),
            pulse=round(float(np.clip(pulse, 40, 160))),
            irregular_pulse=bool(self.rng.random() < 0.03),
        )

    def glucose(self, at: datetime) -> float:
        hours = _local_hours(self.profile, at)
        diabetic = Condition.DIABETES in self.profile.conditions
        rise = 110.0 if diabetic else 45.0
        peak_h, width_h = (1.0, 0.9) if diabetic else (0.75, 0.5)
        value = self.profile.fasting_glucose
        for meal_h, size in MEALS_LOCAL_H:
            value += rise * size * _gamma_bump(hours - meal_h, peak_h, width_h)
        value += self.rng.normal(0, 8 if diabetic else 4)
        for episode in self._episodes_around(at):
            depth = episode.depth(at)
            value = min(value, value - (value - episode.nadir_mg_dl) * depth)
        return round(float(np.clip(value, 10, 600)))

    def hypoglycaemia_episodes(self, day: date) -> tuple[HypoglycaemiaEpisode, ...]:
        """The episodes starting on ``day`` (patient-local), the same whenever they are asked for."""
        rate = self.profile.hypoglycaemia_per_day
        if rate <= 0:
            return ()
        if self.episode_seed is None:
            self.episode_seed = int(self.rng.integers(2**32))
        rng = np.random.default_rng([self.episode_seed, day.toordinal()])
        zone = ZoneInfo(self.profile.time_zone)
        episodes = []
        for _ in range(int(rng.poisson(rate))):
            # Half at night (01:00-05:00), half before lunch or dinner.
            window = (1.0, 5.0) if rng.random() < 0.5 else ((10.5, 12.0) if rng.random() < 0.5 else (16.0, 18.0))
            start_h = float(rng.uniform(*window))
            level = rng.random()
            nadir = rng.uniform(10, 19) if level < 0.02 else rng.uniform(38, 53) if level < 0.3 else rng.uniform(54, 69)
            starts = datetime.combine(day, time(), tzinfo=zone) + timedelta(hours=start_h)
            episodes.append(HypoglycaemiaEpisode(starts, timedelta(minutes=float(rng.uniform(20, 75))), float(nadir)))
        return tuple(episodes)

    def _episodes_around(self, at: datetime) -> tuple[HypoglycaemiaEpisode, ...]:
        local_day = at.astimezone(ZoneInfo(self.profile.time_zone)).date()
        return self.hypoglycaemia_episodes(local_day - timedelta(days=1)) + self.hypoglycaemia_episodes(local_day)

    def meal_timing(self, at: datetime) -> MealTiming:
        """Fasting before breakfast, pre-/postprandial around meals, bedtime late, casual otherwise."""
        hours = _local_hours(self.profile, at)
        breakfast_h = MEALS_LOCAL_H[0][0]
        if hours >= BEDTIME_LOCAL_H:
            return MealTiming.BEDTIME
        if hours < breakfast_h - PREPRANDIAL_H / 2:
            return MealTiming.FASTING
        for meal_h, _size in MEALS_LOCAL_H:
            if meal_h - PREPRANDIAL_H <= hours < meal_h:
                return MealTiming.PREPRANDIAL
            if meal_h <= hours < meal_h + POSTPRANDIAL_H:
                return MealTiming.POSTPRANDIAL
        return MealTiming.CASUAL

    def weight_kg(self, at: datetime) -> float:
        value = self.profile.weight_kg + self.rng.normal(0, 0.25)
        start = self.profile.decompensation_starts
        if start is not None and at > start and Condition.HEART_FAILURE in self.profile.conditions:
            days = (at - start) / timedelta(days=1)
            value += min(days, 10.0) * 0.6  # fluid retention, capped once treated
        return round(float(value), 1)

    def pulse_oximetry(self, at: datetime) -> tuple[float, float]:
        copd = Condition.COPD in self.profile.conditions
        spo2 = self.profile.spo2 + self.rng.normal(0, 1.2 if copd else 0.6)
        pulse = self.profile.pulse + self.rng.normal(0, 5)
        return round(float(np.clip(spo2, 70, 100))), round(float(np.clip(pulse, 40, 160)))

    def temperature_c(self, at: datetime) -> float:
        hours = _local_hours(self.profile, at)
        value = self.profile.temperature_c + 0.3 * math.sin(2 * math.pi * (hours - 11.0) / 24.0)
        value += self.rng.normal(0, 0.12)
        return round(float(value), 1)
