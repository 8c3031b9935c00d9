"""Bluetooth SIG Glucose Service 1.0: Glucose Measurement 0x2A18, Glucose Measurement Context 0x2A34
and Glucose Feature 0x2A51 (reference §5.1-5.3).

0x2A18: Flags · Sequence Number uint16 · Base Time (Date Time) · Time Offset sint16 minutes (bit 0) ·
Concentration SFLOAT + Type/Sample Location nibbles (bit 1; units by bit 2: 0 kg/L, 1 mol/L) ·
Sensor Status Annunciation uint16 (bit 3); bit 4 announces a context record with the same sequence
number.

The meter holds concentrations in its display unit: mg/dL (sent as kg/L: × 10^-5) or mmol/L to one
decimal (sent as mol/L: × 10^-3). Sending whole mg/dL at exponent -5 is what the reference's vectors
show (95 mg/dL = ``5F B0``); 5.4 mmol/L is ``36 C0``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.frames import ALWAYS, FieldSpec, encode_frame, nibbles, optional, sint, uint
from firmware_sim.gatt.medfloat import encode_sfloat, rescale
from firmware_sim.intent import (
    EncodedMeasurement,
    IntendedMeasurement,
    ProfileDetails,
    flags_from_bits,
    observation,
)

UNITS_MOL_PER_L = 0x04
CONTEXT_FOLLOWS = 0x10

WIRE_SCALE = {Unit.MG_PER_DL: (0, -5), Unit.MMOL_PER_L: (-1, -3)}
"""Display unit → (display exponent, decimal shift to the SI wire unit kg/L or mol/L)."""


class SampleType(IntEnum):
    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


class SampleLocation(IntEnum):
    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class SensorStatus(IntFlag):
    """Sensor Status Annunciation (reference §5.1; SIG order: bit 5 HI, bit 6 LO)."""

    BATTERY_LOW = 1 << 0
    SENSOR_MALFUNCTION = 1 << 1
    SAMPLE_SIZE_INSUFFICIENT = 1 << 2
    STRIP_INSERTION_ERROR = 1 << 3
    STRIP_TYPE_INCORRECT = 1 << 4
    RESULT_TOO_HIGH = 1 << 5
    RESULT_TOO_LOW = 1 << 6
    TEMPERATURE_TOO_HIGH = 1 << 7
    TEMPERATURE_TOO_LOW = 1 << 8
    READ_INTERRUPTED = 1 << 9
    GENERAL_DEVICE_FAULT = 1 << 10
    TIME_FAULT = 1 << 11


STATUS_FLAGS: tuple[tuple[int, ReadingFlag], ...] = (
    (SensorStatus.BATTERY_LOW, ReadingFlag.LOW_BATTERY),
    (SensorStatus.SENSOR_MALFUNCTION, ReadingFlag.SENSOR_FAULT),
    (SensorStatus.SAMPLE_SIZE_INSUFFICIENT, ReadingFlag.SAMPLE_SIZE_INSUFFICIENT),
    (SensorStatus.STRIP_INSERTION_ERROR, ReadingFlag.STRIP_INSERTION_ERROR),
    (SensorStatus.STRIP_TYPE_INCORRECT, ReadingFlag.STRIP_TYPE_INCORRECT),
    (SensorStatus.RESULT_TOO_HIGH, ReadingFlag.RESULT_ABOVE_RANGE),
    (SensorStatus.RESULT_TOO_LOW, ReadingFlag.RESULT_BELOW_RANGE),
    (SensorStatus.TEMPERATURE_TOO_HIGH, ReadingFlag.SENSOR_TEMPERATURE_HIGH),
    (SensorStatus.TEMPERATURE_TOO_LOW, ReadingFlag.SENSOR_TEMPERATURE_LOW),
    (SensorStatus.READ_INTERRUPTED, ReadingFlag.READ_INTERRUPTED),
    (SensorStatus.GENERAL_DEVICE_FAULT, ReadingFlag.DEVICE_FAULT),
    (SensorStatus.TIME_FAULT, ReadingFlag.TIME_FAULT),
)
"""One reading flag per Sensor Status Annunciation bit (core.domain.ReadingFlag has one per SIG status
bit, so none is lost on the way to a clinician); bits 12-15 are RFU and raise none."""

METRIC_BY_TYPE: Mapping[int, Metric] = {
    SampleType.CAPILLARY_WHOLE_BLOOD: Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
    SampleType.CAPILLARY_PLASMA: Metric.MDC_CONC_GLU_CAPILLARY_PLASMA,
}
"""Other sample types have no metric of their own in carehub: they are "glucose, sample type unknown"."""


class Feature(IntFlag):
    """Glucose Feature 0x2A51 bits (reference §5.3)."""

    LOW_BATTERY_DETECTION = 1 << 0
    SENSOR_MALFUNCTION_DETECTION = 1 << 1
    SAMPLE_SIZE = 1 << 2
    STRIP_INSERTION_ERROR_DETECTION = 1 << 3
    STRIP_TYPE_ERROR_DETECTION = 1 << 4
    RESULT_HIGH_LOW_DETECTION = 1 << 5
    TEMPERATURE_HIGH_LOW_DETECTION = 1 << 6
    READ_INTERRUPT_DETECTION = 1 << 7
    GENERAL_DEVICE_FAULT = 1 << 8
    TIME_FAULT = 1 << 9
    MULTIPLE_BONDS = 1 << 10


@dataclass(frozen=True, slots=True)
class GlucoseSample:
    """One stored glucose record as the meter holds it."""

    sequence_number: int
    base_time: datetime
    time_offset_min: int | None = None
    concentration: float | SpecialValue | None = None
    unit: Unit = Unit.MG_PER_DL
    sample_type: int = SampleType.CAPILLARY_PLASMA
    sample_location: int = SampleLocation.FINGER
    status: int | None = None
    context_follows: bool = False

    def __post_init__(self) -> None:
        if self.unit not in WIRE_SCALE:
            raise SimulationError(f"a glucometer displays mg/dL or mmol/L, not {self.unit}")

    @property
    def user_facing_time(self) -> datetime:
        """Base Time plus Time Offset (reference §5.1), which may cross midnight or a year."""
        return self.base_time + timedelta(minutes=self.time_offset_min or 0)


def _concentration(sample: GlucoseSample) -> bytes | None:
    if sample.concentration is None:
        return None
    display_exponent, shift = WIRE_SCALE[sample.unit]
    value = sample.concentration
    wire = value if isinstance(value, SpecialValue) else rescale(value, shift)
    return encode_sfloat(wire, display_exponent + shift) + nibbles(sample.sample_type, sample.sample_location)


MEASUREMENT_LAYOUT: tuple[FieldSpec[GlucoseSample], ...] = (
    FieldSpec("sequence number", ALWAYS, lambda s: uint(s.sequence_number, 2)),
    FieldSpec("base time", ALWAYS, lambda s: encode_date_time(s.base_time)),
    FieldSpec("time offset", 0x01, lambda s: optional(s.time_offset_min, lambda m: sint(m, 2)), ("time_offset_min",)),
    FieldSpec("concentration, type and sample location", 0x02, _concentration, ("concentration",)),
    FieldSpec("sensor status annunciation", 0x08, lambda s: optional(s.status, lambda v: uint(v, 2)), ("status",)),
)


class CarbohydrateId(IntEnum):
    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(IntEnum):
    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


class Tester(IntEnum):
    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(IntEnum):
    MINOR_ISSUES = 1
    MAJOR_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(IntEnum):
    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


MEDICATION_IN_VOLUME = 0x20

CARBOHYDRATE_EXPONENT = 0  # whole grams (SIG XML: kilogram × 10^-3)
MEDICATION_EXPONENT = -1
HBA1C_EXPONENT = -1


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """Glucose Measurement Context 0x2A34 as the meter holds it (reference §5.2). Amounts keep the
    SIG XML reading: carbohydrate in grams, medication in mg or mL (``medication_in_volume``)."""

    sequence_number: int
    extended_flags: int | None = None
    carbohydrate: tuple[int, float] | None = None
    """(Carbohydrate ID, grams)."""
    meal: int | None = None
    tester_health: tuple[int, int] | None = None
    exercise: tuple[int, int] | None = None
    """(duration in seconds, 0xFFFF = overrun; intensity in %)."""
    medication: tuple[int, float] | None = None
    medication_in_volume: bool = False
    hba1c_pct: float | None = None


CONTEXT_LAYOUT: tuple[FieldSpec[GlucoseContext], ...] = (
    FieldSpec("sequence number", ALWAYS, lambda c: uint(c.sequence_number, 2)),
    FieldSpec("extended flags", 0x80, lambda c: optional(c.extended_flags, lambda v: uint(v, 1)), ("extended_flags",)),
    FieldSpec(
        "carbohydrate",
        0x01,
        lambda c: optional(c.carbohydrate, lambda v: uint(v[0], 1) + encode_sfloat(v[1], CARBOHYDRATE_EXPONENT)),
        ("carbohydrate",),
    ),
    FieldSpec("meal", 0x02, lambda c: optional(c.meal, lambda v: uint(v, 1)), ("meal",)),
    FieldSpec(
        "tester and health", 0x04, lambda c: optional(c.tester_health, lambda v: nibbles(*v)), ("tester_health",)
    ),
    FieldSpec("exercise", 0x08, lambda c: optional(c.exercise, lambda v: uint(v[0], 2) + uint(v[1], 1)), ("exercise",)),
    FieldSpec(
        "medication",
        0x10,
        lambda c: optional(c.medication, lambda v: uint(v[0], 1) + encode_sfloat(v[1], MEDICATION_EXPONENT)),
        ("medication",),
    ),
    FieldSpec(
        "HbA1c", 0x40, lambda c: optional(c.hba1c_pct, lambda v: encode_sfloat(v, HBA1C_EXPONENT)), ("hba1c_pct",)
    ),
)


@dataclass(frozen=True, slots=True)
class GlucoseDetails(ProfileDetails):
    """The glucose-specific part of an intent."""

    base_time: datetime
    time_offset_min: int | None
    sample_type: int | None
    sample_location: int | None
    context: GlucoseContext | None


def is_control_solution(sample: GlucoseSample) -> bool:
    """Control-solution tests are not patient data (reference §5.1)."""
    return (
        sample.sample_type == SampleType.CONTROL_SOLUTION or sample.sample_location == SampleLocation.CONTROL_SOLUTION
    )


def intended_glucose(
    sample: GlucoseSample, context: GlucoseContext | None = None, *, from_memory: bool = False
) -> IntendedMeasurement:
    observations: tuple[Observation, ...] = ()
    flags = set(flags_from_bits(sample.status, STATUS_FLAGS))
    if sample.concentration is not None:
        metric = METRIC_BY_TYPE.get(sample.sample_type, Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA)
        observations = (observation(metric, sample.concentration, sample.unit),)
        if is_control_solution(sample):
            flags.add(ReadingFlag.CONTROL_SOLUTION)
    carries_type = sample.concentration is not None
    return IntendedMeasurement(
        kind=ReadingKind.GLUCOSE,
        observations=observations,
        flags=frozenset(flags),
        device_time=sample.user_facing_time,
        sequence_number=sample.sequence_number,
        status=sample.status,
        from_device_memory=from_memory,
        details=GlucoseDetails(
            base_time=sample.base_time,
            time_offset_min=sample.time_offset_min,
            sample_type=sample.sample_type if carries_type else None,
            sample_location=sample.sample_location if carries_type else None,
            context=context,
        ),
    )


def encode_glucose_context(context: GlucoseContext) -> bytes:
    """Glucose Measurement Context 0x2A34."""
    unit = MEDICATION_IN_VOLUME if context.medication is not None and context.medication_in_volume else 0
    return encode_frame(context, CONTEXT_LAYOUT, flags=unit)


def encode_glucose_record(
    sample: GlucoseSample, context: GlucoseContext | None = None, *, from_memory: bool = False
) -> tuple[EncodedMeasurement, EncodedMeasurement | None]:
    """A record's Glucose Measurement and, when it has one, its Context; both frames share one intent.

    The measurement's "context follows" bit is set whenever a context is given (or the sample asks for
    it, to simulate a meter that announces a context it never sends)."""
    if context is not None and context.sequence_number != sample.sequence_number:
        raise SimulationError("a context record carries its measurement's sequence number")
    flags = (UNITS_MOL_PER_L if sample.unit == Unit.MMOL_PER_L else 0) | (
        CONTEXT_FOLLOWS if context is not None or sample.context_follows else 0
    )
    intended = intended_glucose(sample, context, from_memory=from_memory)
    measurement = EncodedMeasurement(
        uuids.GLUCOSE_MEASUREMENT, encode_frame(sample, MEASUREMENT_LAYOUT, flags=flags), intended
    )
    if context is None:
        return measurement, None
    return measurement, EncodedMeasurement(uuids.GLUCOSE_MEASUREMENT_CONTEXT, encode_glucose_context(context), intended)


def encode_feature(features: Feature) -> bytes:
    """Glucose Feature 0x2A51: uint16."""
    return uint(int(features), 2)
