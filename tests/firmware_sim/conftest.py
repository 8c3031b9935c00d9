"""Shared fixtures: one seed per test, printed so a failure can be replayed.

``CAREHUB_TEST_SEED`` overrides the default seed (a failing run's seed, to reproduce it)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
import pytest

from firmware_sim.devices.clock import DeviceClock
from firmware_sim.physiology import Condition, PatientProfile, Physiology

DEFAULT_SEED = 20260301


@pytest.fixture
def seed() -> int:
    value = int(os.environ.get("CAREHUB_TEST_SEED", DEFAULT_SEED))
    print(f"seed={value} (rerun with CAREHUB_TEST_SEED={value})")  # shown by pytest when the test fails
    return value


@pytest.fixture
def t0() -> datetime:
    """A true (UTC) instant: 07:00 in New York on a winter morning."""
    return datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def patient(seed: int) -> Physiology:
    """A hypertensive, diabetic patient in New York."""
    profile = PatientProfile(conditions=frozenset({Condition.HYPERTENSION, Condition.DIABETES}))
    return Physiology(profile, np.random.default_rng(seed))


@pytest.fixture
def clock(t0: datetime) -> DeviceClock:
    """A device clock set to New York wall-clock time at ``t0``, 40 ppm fast."""
    return DeviceClock.local(t0, "America/New_York", drift_ppm=40)
