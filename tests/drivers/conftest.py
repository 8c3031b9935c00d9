"""Shared fixtures for the drivers tests: the printed, replayable ``seed`` of the firmware_sim tests
(``CAREHUB_TEST_SEED`` overrides it) and the simulated patient the round trips measure."""

from __future__ import annotations

import numpy as np

from firmware_sim.physiology import Condition, PatientProfile, Physiology
from tests.firmware_sim.conftest import seed

__all__ = ["patient", "seed"]


def patient(seed: int) -> Physiology:
    """Hypertensive, diabetic and in heart failure: every device and vendor has something to say."""
    conditions = frozenset({Condition.HYPERTENSION, Condition.DIABETES, Condition.HEART_FAILURE})
    return Physiology(PatientProfile(conditions=conditions), np.random.default_rng(seed))
