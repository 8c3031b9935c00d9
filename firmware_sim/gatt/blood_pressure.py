"""Bluetooth SIG Blood Pressure Service 1.0: Blood Pressure Measurement 0x2A35 (indicate),
Intermediate Cuff Pressure 0x2A36 (notify) and Blood Pressure Feature 0x2A49 (read); reference §4.

0x2A35: Flags · Systolic · Diastolic · Mean Arterial Pressure (SFLOAT, mmHg or kPa by flags bit 0) ·
Time Stamp (bit 1) · Pulse Rate SFLOAT bpm (bit 2) · User ID uint8 (bit 3) · Measurement Status
uint16 (bit 4). The kPa flag never applies to the pulse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from core.domain import Metric, ReadingFlag, ReadingKind, SpecialValue, Unit
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.frames import ALWAYS, FieldSpec, encode_frame, optional, uint
from firmware_sim.gatt.medfloat import encode_optional_sfloat, encode_sfloat
from firmware_sim.intent import EncodedMeasurement, IntendedMeasurement, ProfileDetails, flags_from_bits, observation

UNITS_KPA = 0x01

PRESSURE_EXPONENT = {Unit.MMHG: 0, Unit.KPA: -1}
"""Cuffs show whole mmHg, or kPa to one decimal (the reference's kPa vector sends 16.0 as 160 × 10^-1)."""
PULSE_EXPONENT = 0


class MeasurementStatus(IntFlag):
    """Blood Pressure Measurement Status bits (reference §4.1). Bits 3-4 are one 2-bit value."""

    BODY_MOVEMENT = 0x0001
    CUFF_TOO_LOOSE = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_RATE_ABOVE_RANGE = 0x0008  # range value 1
    PULSE_RATE_BELOW_RANGE = 0x0010  # range value 2
    IMPROPER_POSITION = 0x0020


STATUS_FLAGS: tuple[tuple[int, ReadingFlag], ...] = (
    (MeasurementStatus.BODY_MOVEMENT, ReadingFlag.BODY_MOVEMENT),
    (MeasurementStatus.CUFF_TOO_LOOSE, ReadingFlag.CUFF_FIT_LOOSE),
    (MeasurementStatus.IRREGULAR_PULSE, ReadingFlag.IRREGULAR_PULSE),
    (MeasurementStatus.IMPROPER_POSITION, ReadingFlag.IMPROPER_POSITION),
)
"""The single-bit status fields; bits 3-4 are a 2-bit value, read by :func:`status_flags`."""

PULSE_RATE_RANGE_SHIFT = 3
PULSE_RATE_RANGE_FLAGS: dict[int, frozenset[ReadingFlag]] = {
    1: frozenset({ReadingFlag.PULSE_RATE_OUT_OF_RANGE, ReadingFlag.PULSE_RATE_ABOVE_RANGE}),
    2: frozenset({ReadingFlag.PULSE_RATE_OUT_OF_RANGE, ReadingFlag.PULSE_RATE_BELOW_RANGE}),
}
"""Pulse rate range value → flags: 0 is within range and 3 is RFU, which a receiver ignores (reference
§0, §4.1), so neither raises a flag."""


def status_flags(status: int | None) -> frozenset[ReadingFlag]:
    """The reading flags a Measurement Status word carries: one per status bit, and the pulse rate
    range as "out of range" plus its direction."""
    if status is None:
        return frozenset()
    pulse_range = (status >> PULSE_RATE_RANGE_SHIFT) & 0x3
    return flags_from_bits(status, STATUS_FLAGS) | PULSE_RATE_RANGE_FLAGS.get(pulse_range, frozenset())


class Feature(IntFlag):
    """Blood Pressure Feature 0x2A49 bits (reference §4.3; bits 6-8 are BPS 1.1)."""

    BODY_MOVEMENT_DETECTION = 0x0001
    CUFF_FIT_DETECTION = 0x0002
    IRREGULAR_PULSE_DETECTION = 0x0004
    PULSE_RATE_RANGE_DETECTION = 0x0008
    MEASUREMENT_POSITION_DETECTION = 0x0010
    MULTIPLE_BONDS = 0x0020
    E2E_CRC = 0x0040
    USER_DATA_SERVICE = 0x0080
    USER_FACING_TIME = 0x0100


Pressure = float | SpecialValue

MAP_NOT_PROVIDED: tuple[Pressure, ...] = (SpecialValue.NAN, 0.0)
"""A NaN mean arterial pressure is "not provided", and so is 0, which Beurer BM85 sends for the same
(reference §4.1, §11): neither is part of the intent."""


@dataclass(frozen=True, slots=True)
class BloodPressureSample:
    """One cuff measurement as the firmware holds it, in the cuff's unit (mmHg or kPa)."""

    systolic: Pressure
    diastolic: Pressure
    mean_arterial: Pressure
    unit: Unit = Unit.MMHG
    time_stamp: datetime | None = None
    pulse: Pressure | None = None
    user_id: int | None = None
    status: int | None = None

    def __post_init__(self) -> None:
        if self.unit not in PRESSURE_EXPONENT:
            raise SimulationError(f"a cuff reports mmHg or kPa, not {self.unit}")

    @property
    def exponent(self) -> int:
        return PRESSURE_EXPONENT[self.unit]


LAYOUT: tuple[FieldSpec[BloodPressureSample], ...] = (
    FieldSpec("systolic", ALWAYS, lambda s: encode_sfloat(s.systolic, s.exponent)),
    FieldSpec("diastolic", ALWAYS, lambda s: encode_sfloat(s.diastolic, s.exponent)),
    FieldSpec("mean arterial pressure", ALWAYS, lambda s: encode_sfloat(s.mean_arterial, s.exponent)),
    FieldSpec("time stamp", 0x02, lambda s: optional(s.time_stamp, encode_date_time), ("time_stamp",)),
    FieldSpec("pulse rate", 0x04, lambda s: encode_optional_sfloat(s.pulse, PULSE_EXPONENT), ("pulse",)),
    FieldSpec("user id", 0x08, lambda s: optional(s.user_id, lambda u: uint(u, 1)), ("user_id",)),
    FieldSpec("measurement status", 0x10, lambda s: optional(s.status, lambda v: uint(v, 2)), ("status",)),
)


def _unit_flags(sample: BloodPressureSample) -> int:
    return UNITS_KPA if sample.unit == Unit.KPA else 0


def intended_blood_pressure(sample: BloodPressureSample, *, from_memory: bool = False) -> IntendedMeasurement:
    pressures = (
        (Metric.MDC_PRESS_BLD_NONINV_SYS, sample.systolic),
        (Metric.MDC_PRESS_BLD_NONINV_DIA, sample.diastolic),
        (Metric.MDC_PRESS_BLD_NONINV_MEAN, sample.mean_arterial),
    )
    observations = [
        observation(metric, value, sample.unit)
        for metric, value in pressures
        if not (metric == Metric.MDC_PRESS_BLD_NONINV_MEAN and value in MAP_NOT_PROVIDED)
    ]
    if sample.pulse is not None:
        observations.append(observation(Metric.MDC_PULS_RATE_NON_INV, sample.pulse, Unit.PER_MIN))
    return IntendedMeasurement(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=tuple(observations),
        flags=status_flags(sample.status),
        device_time=sample.time_stamp,
        user_id=sample.user_id,
        status=sample.status,
        from_device_memory=from_memory,
    )


def encode_blood_pressure(sample: BloodPressureSample, *, from_memory: bool = False) -> EncodedMeasurement:
    """Blood Pressure Measurement 0x2A35 and its intent."""
    data = encode_frame(sample, LAYOUT, flags=_unit_flags(sample))
    return EncodedMeasurement(
        uuids.BLOOD_PRESSURE_MEASUREMENT, data, intended_blood_pressure(sample, from_memory=from_memory)
    )


@dataclass(frozen=True, slots=True)
class CuffPressureDetails(ProfileDetails):
    """The intent of an Intermediate Cuff Pressure frame beyond its observations: the cuff pressure
    as the device shows it. It is not a blood pressure, so it is no ``MDC_PRESS_BLD_NONINV_SYS``
    observation (carehub has no metric for a cuff pressure; reference §4.2: stream it to a UI only)."""

    cuff_pressure: Pressure
    unit: Unit


def encode_intermediate_cuff_pressure(
    cuff_pressure: Pressure, unit: Unit = Unit.MMHG, *, pulse: Pressure | None = None
) -> EncodedMeasurement:
    """Intermediate Cuff Pressure 0x2A36: the 0x2A35 layout with the current cuff pressure in the
    systolic slot and NaN in the unused diastolic and MAP slots (as SpeziBluetooth sends; reference
    §4.2). Display-only, so the intent is not final; the pulse, when sent, is its one observation."""
    frame = BloodPressureSample(
        systolic=cuff_pressure, diastolic=SpecialValue.NAN, mean_arterial=SpecialValue.NAN, unit=unit, pulse=pulse
    )
    observations = () if pulse is None else (observation(Metric.MDC_PULS_RATE_NON_INV, pulse, Unit.PER_MIN),)
    intended = IntendedMeasurement(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=observations,
        final=False,
        details=CuffPressureDetails(cuff_pressure, unit),
    )
    data = encode_frame(frame, LAYOUT, flags=_unit_flags(frame))
    return EncodedMeasurement(uuids.INTERMEDIATE_CUFF_PRESSURE, data, intended)


def encode_feature(features: Feature) -> bytes:
    """Blood Pressure Feature 0x2A49: uint16."""
    return uint(int(features), 2)
