"""A physiology with fixed values, to reproduce the reference's worked payloads exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from firmware_sim.physiology import BloodPressure, PatientProfile, Physiology

REFERENCE_BP = BloodPressure(120, 80, 72, irregular_pulse=False)


@dataclass
class FixedPhysiology(Physiology):
    bp: BloodPressure = REFERENCE_BP
    weight: float = 81.65

    def blood_pressure(self, at: datetime) -> BloodPressure:
        return self.bp

    def weight_kg(self, at: datetime) -> float:
        return self.weight


def fixed(**kw: object) -> FixedPhysiology:
    return FixedPhysiology(PatientProfile(frozenset()), **kw)  # type: ignore[arg-type]
