"""Bluetooth SIG Body Composition Service 1.0: Body Composition Measurement 0x2A9C (indicate);
reference §6.3.

0x2A9C: Flags **uint16** · Body Fat Percentage uint16 (0.1 %; 0xFFFF = measurement unsuccessful) ·
then, each when its flag bit is set and in this order: Time Stamp (bit 1), User ID uint8 (bit 2),
Basal Metabolism uint16 kJ (bit 3), Muscle Percentage uint16 0.1 % (bit 4), Muscle Mass (bit 5),
Fat Free Mass (bit 6), Soft Lean Mass (bit 7), Body Water Mass (bit 8), Impedance uint16 0.1 Ω
(bit 9), Weight (bit 10), Height (bit 11). Bit 0 selects SI (masses 0.005 kg, height 0.001 m) or
imperial (0.01 lb, 0.1 in), the Weight Scale resolutions; bit 12 says the measurement continues in
the next indication. An unsuccessful measurement carries only units, time stamp and user ID.

Weight, height and body fat are observations (MDC_MASS_BODY_ACTUAL, MDC_LEN_BODY_ACTUAL,
MDC_BODY_FAT); carehub has no metric for the other values, so they are profile details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, Unit
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.frames import ALWAYS, FieldSpec, encode_frame, optional, uint
from firmware_sim.gatt.weight_scale import (
    HEIGHT_STEP,
    HEIGHT_UNIT,
    MEASUREMENT_UNSUCCESSFUL,
    WEIGHT_RESOLUTION,
    WEIGHT_STEP,
    steps,
)
from firmware_sim.intent import EncodedMeasurement, IntendedMeasurement, ProfileDetails, observation

UNITS_IMPERIAL = 0x0001
MULTIPLE_PACKET = 0x1000
TENTH_EXPONENT = -1
"""Body fat, muscle percentage and impedance are in tenths (0.1 %, 0.1 Ω; reference §6.3, §14.6)."""


@dataclass(frozen=True, slots=True)
class BodyCompositionSample:
    """One body-composition analysis in the scale's unit system (masses in kg or lb, height in m or
    in). ``body_fat_pct`` None = measurement unsuccessful."""

    body_fat_pct: float | None
    unit: Unit = Unit.KG
    time_stamp: datetime | None = None
    user_id: int | None = None
    basal_metabolism_kj: int | None = None
    muscle_pct: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance_ohm: float | None = None
    weight: float | None = None
    height: float | None = None
    multiple_packet: bool = False

    def __post_init__(self) -> None:
        if self.unit not in WEIGHT_STEP:
            raise SimulationError(f"a body composition analyser reports kg or lb, not {self.unit}")
        if self.body_fat_pct is None and any(getattr(self, name) is not None for name in _MEASURED):
            raise SimulationError("an unsuccessful measurement carries only units, time stamp and user ID (§6.3)")


_MEASURED = (
    "basal_metabolism_kj",
    "muscle_pct",
    "muscle_mass",
    "fat_free_mass",
    "soft_lean_mass",
    "body_water_mass",
    "impedance_ohm",
    "weight",
    "height",
)


def _mass(value: float | None, sample: BodyCompositionSample) -> bytes | None:
    if value is None:
        return None
    raw = steps(value, WEIGHT_STEP[sample.unit], WEIGHT_RESOLUTION[sample.unit])
    if raw >= MEASUREMENT_UNSUCCESSFUL:
        # 0xFFFF is "not measured" in every mass field, as in the Weight Scale's weight (§6.1); the
        # reference names it only for body fat, so carehub settled it (docs/wire-formats/body-composition.md).
        raise SimulationError(f"{value} {sample.unit} does not fit a mass field")
    return uint(raw, 2)


def _tenths(value: float | None) -> bytes | None:
    return None if value is None else uint(steps(value, TENTH_EXPONENT), 2)


def _body_fat(sample: BodyCompositionSample) -> bytes:
    if sample.body_fat_pct is None:
        return uint(MEASUREMENT_UNSUCCESSFUL, 2)
    raw = steps(sample.body_fat_pct, TENTH_EXPONENT)
    if raw >= MEASUREMENT_UNSUCCESSFUL:
        raise SimulationError(f"body fat {sample.body_fat_pct} % does not fit the field")
    return uint(raw, 2)


def _height(sample: BodyCompositionSample) -> bytes | None:
    return optional(sample.height, lambda h: uint(steps(h, HEIGHT_STEP[sample.unit]), 2))


LAYOUT: tuple[FieldSpec[BodyCompositionSample], ...] = (
    FieldSpec("body fat percentage", ALWAYS, _body_fat),
    FieldSpec("time stamp", 0x0002, lambda s: optional(s.time_stamp, encode_date_time), ("time_stamp",)),
    FieldSpec("user id", 0x0004, lambda s: optional(s.user_id, lambda u: uint(u, 1)), ("user_id",)),
    FieldSpec(
        "basal metabolism",
        0x0008,
        lambda s: optional(s.basal_metabolism_kj, lambda v: uint(v, 2)),
        ("basal_metabolism_kj",),
    ),
    FieldSpec("muscle percentage", 0x0010, lambda s: _tenths(s.muscle_pct), ("muscle_pct",)),
    FieldSpec("muscle mass", 0x0020, lambda s: _mass(s.muscle_mass, s), ("muscle_mass",)),
    FieldSpec("fat free mass", 0x0040, lambda s: _mass(s.fat_free_mass, s), ("fat_free_mass",)),
    FieldSpec("soft lean mass", 0x0080, lambda s: _mass(s.soft_lean_mass, s), ("soft_lean_mass",)),
    FieldSpec("body water mass", 0x0100, lambda s: _mass(s.body_water_mass, s), ("body_water_mass",)),
    FieldSpec("impedance", 0x0200, lambda s: _tenths(s.impedance_ohm), ("impedance_ohm",)),
    FieldSpec("weight", 0x0400, lambda s: _mass(s.weight, s), ("weight",)),
    FieldSpec("height", 0x0800, _height, ("height",)),
)


@dataclass(frozen=True, slots=True)
class BodyCompositionDetails(ProfileDetails):
    """The values of a body-composition frame that carehub has no metric for, as the device sent them."""

    basal_metabolism_kj: int | None
    muscle_pct: float | None
    muscle_mass: float | None
    fat_free_mass: float | None
    soft_lean_mass: float | None
    body_water_mass: float | None
    impedance_ohm: float | None
    multiple_packet: bool


def intended_body_composition(sample: BodyCompositionSample, *, from_memory: bool = False) -> IntendedMeasurement:
    """Unsuccessful measurements carry no observation and the MEASUREMENT_UNSUCCESSFUL flag; a first packet
    of a multiple-packet measurement is flagged PARTIAL_MEASUREMENT."""
    observations: list[Observation] = []
    flags: set[ReadingFlag] = set()
    if sample.body_fat_pct is None:
        flags.add(ReadingFlag.MEASUREMENT_UNSUCCESSFUL)
    else:
        if sample.weight is not None:
            observations.append(observation(Metric.MDC_MASS_BODY_ACTUAL, sample.weight, sample.unit))
        if sample.height is not None:
            observations.append(observation(Metric.MDC_LEN_BODY_ACTUAL, sample.height, HEIGHT_UNIT[sample.unit]))
        observations.append(observation(Metric.MDC_BODY_FAT, sample.body_fat_pct, Unit.PERCENT))
    if sample.multiple_packet:
        flags.add(ReadingFlag.PARTIAL_MEASUREMENT)
    return IntendedMeasurement(
        kind=ReadingKind.BODY_COMPOSITION,
        observations=tuple(observations),
        flags=frozenset(flags),
        device_time=sample.time_stamp,
        user_id=sample.user_id,
        from_device_memory=from_memory,
        details=BodyCompositionDetails(
            basal_metabolism_kj=sample.basal_metabolism_kj,
            muscle_pct=sample.muscle_pct,
            muscle_mass=sample.muscle_mass,
            fat_free_mass=sample.fat_free_mass,
            soft_lean_mass=sample.soft_lean_mass,
            body_water_mass=sample.body_water_mass,
            impedance_ohm=sample.impedance_ohm,
            multiple_packet=sample.multiple_packet,
        ),
    )


def encode_body_composition(sample: BodyCompositionSample, *, from_memory: bool = False) -> EncodedMeasurement:
    """Body Composition Measurement 0x2A9C and its intent."""
    flags = (UNITS_IMPERIAL if sample.unit == Unit.LB else 0) | (MULTIPLE_PACKET if sample.multiple_packet else 0)
    data = encode_frame(sample, LAYOUT, flags=flags, flags_size=2)
    intended = intended_body_composition(sample, from_memory=from_memory)
    return EncodedMeasurement(uuids.BODY_COMPOSITION_MEASUREMENT, data, intended)
