"""Bluetooth SIG Glucose Service 1.0 (0x1808): Glucose Measurement 0x2A18, Glucose Measurement
Context 0x2A34 and Glucose Feature 0x2A51 (reference/ble-health-profiles.md §5.1–5.3; the Record
Access Control Point 0x2A52 is in :mod:`drivers.racp`; wire format in docs/wire-formats/glucose.md).

Units: the concentration is an SFLOAT in kg/L (flags bit 2 = 0) or mol/L (bit 2 = 1). kg/L becomes
mg/dL by the exact factor 10⁵ and mol/L becomes mmol/L by 10³ (powers of ten, applied to the
decimal, so 0.00095 kg/L is exactly 95 mg/dL); mmol/L is then stored as mg/dL through
:mod:`core.units` (18.0156, glucose 180.156 g/mol) with the mmol/L value kept as the source.

Sensor status bit 5 is "result **higher** than the device can process" (HI) and bit 6 "lower" (LO),
as the SIG defines them; Nordic's libraries swap the two (§5.1, §14.1)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag
from typing import Final

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from drivers.date_time import DATE_TIME, DateTime
from drivers.errors import DateOutOfRange
from drivers.fields import NIBBLES, SFLOAT, SINT16, UINT8, UINT16, Codec, Field, Layout, flags_from_bits
from drivers.ieee11073 import Measure, scale_exact
from drivers.normalised import Normalised, NotAReading, device_time_source, observe


class GlucoseFlags(IntFlag):
    TIME_OFFSET = 0x01
    CONCENTRATION_TYPE_LOCATION = 0x02
    UNIT_MOL_PER_L = 0x04
    SENSOR_STATUS = 0x08
    CONTEXT_FOLLOWS = 0x10


class GlucoseType(IntEnum):
    """Type nibble; 0 and 11–15 are RFU and kept as plain ints."""

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
    """Sample Location nibble; 0 and 5–14 are RFU and kept as plain ints."""

    FINGER = 1
    ALTERNATE_SITE_TEST = 2
    EARLOBE = 3
    CONTROL_SOLUTION = 4
    NOT_AVAILABLE = 15


class SensorStatus(IntFlag):
    """Sensor Status Annunciation (uint16); bits 12–15 RFU."""

    DEVICE_BATTERY_LOW = 0x0001
    SENSOR_MALFUNCTION = 0x0002
    SAMPLE_SIZE_INSUFFICIENT = 0x0004
    STRIP_INSERTION_ERROR = 0x0008
    STRIP_TYPE_INCORRECT = 0x0010
    RESULT_TOO_HIGH = 0x0020
    RESULT_TOO_LOW = 0x0040
    SENSOR_TEMPERATURE_TOO_HIGH = 0x0080
    SENSOR_TEMPERATURE_TOO_LOW = 0x0100
    READ_INTERRUPTED = 0x0200
    GENERAL_DEVICE_FAULT = 0x0400
    TIME_FAULT = 0x0800


_STATUS_FLAGS: Final = {
    SensorStatus.DEVICE_BATTERY_LOW: ReadingFlag.LOW_BATTERY,
    SensorStatus.SENSOR_MALFUNCTION: ReadingFlag.SENSOR_FAULT,
    SensorStatus.SAMPLE_SIZE_INSUFFICIENT: ReadingFlag.SAMPLE_SIZE_INSUFFICIENT,
    SensorStatus.STRIP_INSERTION_ERROR: ReadingFlag.STRIP_INSERTION_ERROR,
    SensorStatus.STRIP_TYPE_INCORRECT: ReadingFlag.STRIP_TYPE_INCORRECT,
    SensorStatus.RESULT_TOO_HIGH: ReadingFlag.RESULT_ABOVE_RANGE,
    SensorStatus.RESULT_TOO_LOW: ReadingFlag.RESULT_BELOW_RANGE,
    SensorStatus.SENSOR_TEMPERATURE_TOO_HIGH: ReadingFlag.SENSOR_TEMPERATURE_HIGH,
    SensorStatus.SENSOR_TEMPERATURE_TOO_LOW: ReadingFlag.SENSOR_TEMPERATURE_LOW,
    SensorStatus.READ_INTERRUPTED: ReadingFlag.READ_INTERRUPTED,
    SensorStatus.GENERAL_DEVICE_FAULT: ReadingFlag.DEVICE_FAULT,
    SensorStatus.TIME_FAULT: ReadingFlag.TIME_FAULT,
}

# core.domain has MDC codes for three sample types. The others are stored under "sample type
# undetermined" (reference/rpm-ccm-rules.md §D.2: 160368 = "glucose, sample type unknown"); the frame
# keeps the exact type.
_METRIC_BY_TYPE: Final[dict[int, Metric]] = {
    GlucoseType.CAPILLARY_WHOLE_BLOOD: Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
    GlucoseType.CAPILLARY_PLASMA: Metric.MDC_CONC_GLU_CAPILLARY_PLASMA,
}


def _known(enum: type[IntEnum], value: int) -> int:
    try:
        return enum(value)
    except ValueError:
        return value  # RFU: kept as sent, never rejected


def _type_location(octet: int) -> tuple[int, int]:
    sample_type, location = NIBBLES.convert(octet)
    return _known(GlucoseType, sample_type), _known(SampleLocation, location)


MEASUREMENT_LAYOUT: Final = Layout(
    "Glucose Measurement",
    UINT8,
    (
        Field("sequence_number", UINT16),
        Field("base_time", DATE_TIME),
        Field("time_offset_min", SINT16, GlucoseFlags.TIME_OFFSET),
        Field("concentration", SFLOAT, GlucoseFlags.CONCENTRATION_TYPE_LOCATION),
        Field("type_location", Codec("type/location", "B", _type_location), GlucoseFlags.CONCENTRATION_TYPE_LOCATION),
        Field("sensor_status", Codec("sensor status", "H", SensorStatus), GlucoseFlags.SENSOR_STATUS),
    ),
)


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """Glucose Measurement 0x2A18 as sent; ``concentration`` in ``unit`` (kg/L or mol/L, which
    carehub's :class:`Unit` does not list, so it is the string the SIG uses)."""

    flags: GlucoseFlags
    sequence_number: int
    base_time: DateTime
    unit: str
    time_offset_min: int | None = None
    concentration: Measure | None = None
    sample_type: int | None = None
    sample_location: int | None = None
    sensor_status: SensorStatus | None = None
    trailing: bytes = b""

    @property
    def user_facing_time(self) -> datetime | None:
        """Base Time + Time Offset (may cross midnight, month or year)."""
        if self.base_time.value is None:
            return None
        return self.base_time.value + timedelta(minutes=self.time_offset_min or 0)

    @property
    def context_follows(self) -> bool:
        return bool(self.flags & GlucoseFlags.CONTEXT_FOLLOWS)

    @property
    def is_control_solution(self) -> bool:
        """Control-solution tests check the meter, not the patient (type 10 or location 4)."""
        return (
            self.sample_type == GlucoseType.CONTROL_SOLUTION or self.sample_location == SampleLocation.CONTROL_SOLUTION
        )

    def display_value(self) -> tuple[Measure, Unit] | None:
        """The concentration in the unit a meter displays: mg/dL from kg/L (× 10⁵), mmol/L from
        mol/L (× 10³), both exact."""
        if self.concentration is None:
            return None
        if self.unit == MOL_PER_L:
            return _scaled(self.concentration, 3), Unit.MMOL_PER_L
        return _scaled(self.concentration, 5), Unit.MG_PER_DL

    def normalise(self) -> Normalised:
        flags = flags_from_bits(self.sensor_status or 0, _STATUS_FLAGS)
        if self.is_control_solution:
            flags |= {ReadingFlag.CONTROL_SOLUTION}
        shown = self.display_value()
        observations: tuple[Observation, ...] = ()
        if shown is not None:
            metric = _METRIC_BY_TYPE.get(self.sample_type or 0, Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA)
            observations = (observe(metric, *shown),)
        measured_at = self.user_facing_time
        return Normalised(
            kind=ReadingKind.GLUCOSE,
            observations=observations,
            measured_at=measured_at,
            measured_at_source=device_time_source(measured_at),
            flags=flags,
            # A record with only a time (an error entry) is kept as a frame, not stored as a reading.
            storable=shown is not None and not self.is_control_solution,
        )


KG_PER_L = "kg/L"
MOL_PER_L = "mol/L"


def _scaled(value: Measure, power_of_ten: int) -> Measure:
    return value if isinstance(value, SpecialValue) else scale_exact(value, power_of_ten)


def decode_measurement(data: bytes) -> GlucoseMeasurement:
    """Glucose Measurement 0x2A18."""
    flags, values, trailing = MEASUREMENT_LAYOUT.decode(data)
    sample_type, location = values.pop("type_location") or (None, None)
    glucose_flags = GlucoseFlags(flags)
    measurement = GlucoseMeasurement(
        flags=glucose_flags,
        unit=MOL_PER_L if glucose_flags & GlucoseFlags.UNIT_MOL_PER_L else KG_PER_L,
        sample_type=sample_type,
        sample_location=location,
        **values,
        trailing=trailing,
    )
    try:
        measurement.user_facing_time  # noqa: B018 - checked once here so normalise() cannot fail
    except OverflowError as exc:
        raise DateOutOfRange("base time + time offset leaves the calendar", data) from exc
    return measurement


class ContextFlags(IntFlag):
    CARBOHYDRATE = 0x01
    MEAL = 0x02
    TESTER_HEALTH = 0x04
    EXERCISE = 0x08
    MEDICATION = 0x10
    MEDICATION_UNIT_VOLUME = 0x20
    HBA1C = 0x40
    EXTENDED_FLAGS = 0x80


class CarbohydrateId(IntEnum):
    BREAKFAST = 1
    LUNCH = 2
    DINNER = 3
    SNACK = 4
    DRINK = 5
    SUPPER = 6
    BRUNCH = 7


class Meal(IntEnum):
    """Meal; 6 is RFU in the SIG table but i-SENS CareSens meters use it to mark the paired
    measurement as a blood-ketone reading (xDrip, Tidepool; §5.2 vector 4)."""

    PREPRANDIAL = 1
    POSTPRANDIAL = 2
    FASTING = 3
    CASUAL = 4
    BEDTIME = 5


CARESENS_KETONE_MEAL = 6


class Tester(IntEnum):
    SELF = 1
    HEALTH_CARE_PROFESSIONAL = 2
    LAB_TEST = 3
    NOT_AVAILABLE = 15


class Health(IntEnum):
    MINOR_HEALTH_ISSUES = 1
    MAJOR_HEALTH_ISSUES = 2
    DURING_MENSES = 3
    UNDER_STRESS = 4
    NO_HEALTH_ISSUES = 5
    NOT_AVAILABLE = 15


class MedicationId(IntEnum):
    RAPID_ACTING_INSULIN = 1
    SHORT_ACTING_INSULIN = 2
    INTERMEDIATE_ACTING_INSULIN = 3
    LONG_ACTING_INSULIN = 4
    PRE_MIXED_INSULIN = 5


def _tester_health(octet: int) -> tuple[int, int]:
    tester, health = NIBBLES.convert(octet)
    return _known(Tester, tester), _known(Health, health)


CONTEXT_LAYOUT: Final = Layout(
    "Glucose Measurement Context",
    UINT8,
    (
        Field("sequence_number", UINT16),
        # The Extended Flags octet sits right after the sequence number, before carbohydrate (§5.2).
        Field("extended_flags", UINT8, ContextFlags.EXTENDED_FLAGS),
        Field(
            "carbohydrate_id",
            Codec("carbohydrate id", "B", lambda v: _known(CarbohydrateId, v)),
            ContextFlags.CARBOHYDRATE,
        ),
        Field("carbohydrate", SFLOAT, ContextFlags.CARBOHYDRATE),
        Field("meal", Codec("meal", "B", lambda v: _known(Meal, v)), ContextFlags.MEAL),
        Field("tester_health", Codec("tester/health", "B", _tester_health), ContextFlags.TESTER_HEALTH),
        Field("exercise_duration_s", UINT16, ContextFlags.EXERCISE),
        Field("exercise_intensity_pct", UINT8, ContextFlags.EXERCISE),
        Field("medication_id", Codec("medication id", "B", lambda v: _known(MedicationId, v)), ContextFlags.MEDICATION),
        Field("medication", SFLOAT, ContextFlags.MEDICATION),
        Field("hba1c_pct", SFLOAT, ContextFlags.HBA1C),
    ),
)

EXERCISE_DURATION_OVERRUN = 0xFFFF


@dataclass(frozen=True, slots=True)
class GlucoseContext(NotAReading):
    """Glucose Measurement Context 0x2A34, paired with the measurement of the same sequence number.

    Carbohydrate and medication amounts are kept as decoded with their flag-derived unit and
    ``unit_convention_uncertain``: the 2012 SIG XML says grams / mg / mL, the current GSS kilograms
    / litres, and nothing on the wire tells which a meter follows (§5.2, §14.5). They are not
    converted. ``exercise_duration_s`` 0xFFFF means overrun."""

    flags: ContextFlags
    sequence_number: int
    extended_flags: int | None = None
    carbohydrate_id: int | None = None
    carbohydrate: Measure | None = None
    meal: int | None = None
    tester: int | None = None
    health: int | None = None
    exercise_duration_s: int | None = None
    exercise_intensity_pct: int | None = None
    medication_id: int | None = None
    medication: Measure | None = None
    medication_unit: str | None = None
    hba1c_pct: Measure | None = None
    trailing: bytes = b""

    unit_convention_uncertain = True

    @property
    def marks_ketone(self) -> bool:
        """i-SENS CareSens: meal 6 marks the paired measurement as blood ketone, not glucose."""
        return self.meal == CARESENS_KETONE_MEAL


_MEAL_FLAGS: Final[dict[int, ReadingFlag]] = {
    Meal.PREPRANDIAL: ReadingFlag.MEAL_PREPRANDIAL,
    Meal.POSTPRANDIAL: ReadingFlag.MEAL_POSTPRANDIAL,
    Meal.FASTING: ReadingFlag.MEAL_FASTING,
    Meal.CASUAL: ReadingFlag.MEAL_CASUAL,
    Meal.BEDTIME: ReadingFlag.MEAL_BEDTIME,
}


def with_context(normalised: Normalised, context: GlucoseContext) -> Normalised:
    """A normalised glucose measurement with what its context (same sequence number) adds: the meal
    as a flag. Other context fields (carbohydrate, medication, exercise, HbA1c) have units the
    specifications disagree on (§14.5) and stay on the device."""
    meal = _MEAL_FLAGS.get(context.meal) if context.meal is not None else None
    if meal is None:
        return normalised
    return replace(normalised, flags=normalised.flags | {meal})


def decode_context(data: bytes) -> GlucoseContext:
    """Glucose Measurement Context 0x2A34."""
    flags, values, trailing = CONTEXT_LAYOUT.decode(data)
    tester, health = values.pop("tester_health") or (None, None)
    context_flags = ContextFlags(flags)
    medication_unit = None
    if context_flags & ContextFlags.MEDICATION:
        medication_unit = "volume" if context_flags & ContextFlags.MEDICATION_UNIT_VOLUME else "mass"
    return GlucoseContext(
        flags=context_flags, tester=tester, health=health, medication_unit=medication_unit, **values, trailing=trailing
    )


class GlucoseFeatureBits(IntFlag):
    LOW_BATTERY_DETECTION = 0x0001
    SENSOR_MALFUNCTION_DETECTION = 0x0002
    SAMPLE_SIZE = 0x0004
    STRIP_INSERTION_ERROR_DETECTION = 0x0008
    STRIP_TYPE_ERROR_DETECTION = 0x0010
    RESULT_HIGH_LOW_DETECTION = 0x0020
    TEMPERATURE_HIGH_LOW_DETECTION = 0x0040
    READ_INTERRUPT_DETECTION = 0x0080
    GENERAL_DEVICE_FAULT = 0x0100
    TIME_FAULT = 0x0200
    MULTIPLE_BONDS = 0x0400


@dataclass(frozen=True, slots=True)
class GlucoseFeature(NotAReading):
    features: GlucoseFeatureBits
    trailing: bytes = b""


FEATURE_LAYOUT: Final = Layout(
    "Glucose Feature", None, (Field("features", Codec("feature bits", "H", GlucoseFeatureBits)),)
)


def decode_feature(data: bytes) -> GlucoseFeature:
    """Glucose Feature 0x2A51."""
    _, values, trailing = FEATURE_LAYOUT.decode(data)
    return GlucoseFeature(**values, trailing=trailing)
