"""Bluetooth SIG Weight Scale Service 1.0: Weight Measurement 0x2A9D (indicate) and Weight Scale
Feature 0x2A9E (read); reference §6.1-6.2.

0x2A9D: Flags · Weight uint16 · Time Stamp (bit 1) · User ID uint8 (bit 2) · BMI uint16 + Height uint16
(bit 3). Bit 0 selects the unit system: SI (weight 0.005 kg, height 0.001 m) or imperial (0.01 lb,
0.1 in). The resolutions are fixed by the characteristic, whatever the Feature says (WSS 1.0; the
reference's disagreement 3). BMI is 0.1 kg/m² in both systems. Weight 0xFFFF = measurement unsuccessful,
in which case BMI and height must not be present.

Standard WSS indicates only the final weight. Scales that show the weight settling stream it on vendor
characteristics (reference §6.4); the simulated scale does the same on :data:`LIVE_WEIGHT`, a
simulation-only vendor characteristic that reuses the 0x2A9D layout with notify, so a 0x2A9D decoder
reads it and the gateway knows from the UUID that the value is not final.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from core.domain import Metric, ReadingFlag, ReadingKind, Unit
from firmware_sim.errors import NotRepresentable, SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.frames import ALWAYS, FieldSpec, encode_frame, optional, uint
from firmware_sim.gatt.medfloat import scaled_integer
from firmware_sim.intent import EncodedMeasurement, IntendedMeasurement, observation

LIVE_WEIGHT = "c0de0001-5ca1-4e00-9000-ca4e4b5b0001"
"""Simulation-only vendor characteristic (notify) carrying unstable weights in the 0x2A9D layout."""
LIVE_WEIGHT_SERVICE = "c0de0000-5ca1-4e00-9000-ca4e4b5b0001"

UNITS_IMPERIAL = 0x01
MEASUREMENT_UNSUCCESSFUL = 0xFFFF

WEIGHT_STEP = {Unit.KG: -3, Unit.LB: -2}
"""Decimal exponent of the weight field's unit: 0.005 kg is 5 × 10^-3, 0.01 lb is 1 × 10^-2."""
WEIGHT_RESOLUTION = {Unit.KG: 5, Unit.LB: 1}
HEIGHT_UNIT = {Unit.KG: Unit.M, Unit.LB: Unit.INCH}
HEIGHT_STEP = {Unit.KG: -3, Unit.LB: -1}
BMI_STEP = -1


class Feature(IntFlag):
    """Weight Scale Feature 0x2A9E (uint32; reference §6.2). Resolutions are 3- and 4-bit values."""

    TIME_STAMP = 1 << 0
    MULTIPLE_USERS = 1 << 1
    BMI = 1 << 2


def weight_resolution_bits(index: int) -> int:
    """Feature bits 3-6: 1 = 0.5 kg/1 lb … 7 = 0.005 kg/0.01 lb; 0 = not specified."""
    return (index & 0xF) << 3


def height_resolution_bits(index: int) -> int:
    """Feature bits 7-9: 1 = 0.01 m/1 in, 2 = 0.005 m/0.5 in, 3 = 0.001 m/0.1 in; 0 = not specified."""
    return (index & 0x7) << 7


@dataclass(frozen=True, slots=True)
class WeightSample:
    """One weighing in the scale's unit system; ``weight`` None = measurement unsuccessful."""

    weight: float | None
    unit: Unit = Unit.KG
    time_stamp: datetime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None
    """In metres (SI) or inches (imperial)."""

    def __post_init__(self) -> None:
        if self.unit not in WEIGHT_STEP:
            raise SimulationError(f"a scale reports kg or lb, not {self.unit}")
        if (self.bmi is None) != (self.height is None):
            raise SimulationError("BMI and height share one flag: both or neither")
        if self.weight is None and self.bmi is not None:
            raise SimulationError("an unsuccessful measurement carries no BMI or height (WSS 1.0 §3.2.1.2)")


def steps(value: float, exponent: int, resolution: int = 1) -> int:
    """``value`` in units of resolution × 10^exponent, refusing values between steps."""
    count = scaled_integer(value, exponent)
    if count % resolution:
        raise NotRepresentable(f"{value} is not a multiple of {resolution} × 10^{exponent}")
    return count // resolution


def _weight(sample: WeightSample) -> bytes:
    if sample.weight is None:
        return uint(MEASUREMENT_UNSUCCESSFUL, 2)
    raw = steps(sample.weight, WEIGHT_STEP[sample.unit], WEIGHT_RESOLUTION[sample.unit])
    if raw >= MEASUREMENT_UNSUCCESSFUL:
        raise SimulationError(f"{sample.weight} {sample.unit} does not fit the weight field")
    return uint(raw, 2)


def _bmi_height(sample: WeightSample) -> bytes | None:
    if sample.bmi is None or sample.height is None:
        return None
    return uint(steps(sample.bmi, BMI_STEP), 2) + uint(steps(sample.height, HEIGHT_STEP[sample.unit]), 2)


LAYOUT: tuple[FieldSpec[WeightSample], ...] = (
    FieldSpec("weight", ALWAYS, _weight),
    FieldSpec("time stamp", 0x02, lambda s: optional(s.time_stamp, encode_date_time), ("time_stamp",)),
    FieldSpec("user id", 0x04, lambda s: optional(s.user_id, lambda u: uint(u, 1)), ("user_id",)),
    FieldSpec("BMI and height", 0x08, _bmi_height, ("bmi", "height")),
)


def intended_weight(sample: WeightSample, *, final: bool = True, from_memory: bool = False) -> IntendedMeasurement:
    """Unsuccessful measurements carry no observation and the MEASUREMENT_UNSUCCESSFUL flag: an event, not a weight."""
    observations = []
    if sample.weight is not None:
        observations.append(observation(Metric.MDC_MASS_BODY_ACTUAL, sample.weight, sample.unit))
    if sample.bmi is not None and sample.height is not None:
        observations.append(observation(Metric.MDC_RATIO_MASS_BODY_LEN_SQ, sample.bmi, Unit.KG_PER_M2))
        observations.append(observation(Metric.MDC_LEN_BODY_ACTUAL, sample.height, HEIGHT_UNIT[sample.unit]))
    return IntendedMeasurement(
        kind=ReadingKind.WEIGHT,
        observations=tuple(observations),
        flags=frozenset() if sample.weight is not None else frozenset({ReadingFlag.MEASUREMENT_UNSUCCESSFUL}),
        device_time=sample.time_stamp,
        user_id=sample.user_id,
        final=final,
        from_device_memory=from_memory,
    )


def encode_weight(sample: WeightSample, *, final: bool = True, from_memory: bool = False) -> EncodedMeasurement:
    """Weight Measurement 0x2A9D (final) or the same layout on :data:`LIVE_WEIGHT` (not final)."""
    flags = UNITS_IMPERIAL if sample.unit == Unit.LB else 0
    characteristic = uuids.WEIGHT_MEASUREMENT if final else LIVE_WEIGHT
    data = encode_frame(sample, LAYOUT, flags=flags)
    return EncodedMeasurement(characteristic, data, intended_weight(sample, final=final, from_memory=from_memory))


def encode_feature(features: int) -> bytes:
    """Weight Scale Feature 0x2A9E: uint32."""
    return uint(features, 4)
