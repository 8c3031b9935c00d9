"""The vocabulary every carehub component speaks: readings, observations, metrics and units.

An *observation* is one measured value: an IEEE 11073-10101 (MDC) metric, a value and a UCUM unit.
A *reading* groups the observations one device measured at one time (a blood-pressure reading has
systolic, diastolic, mean and pulse observations). Hubs create the ``reading_id`` once and reuse it on
every resend; the database additionally refuses a second row for the same device, metric and
``measured_at``.

Codes and units follow ``reference/rpm-ccm-rules.md`` §D.2 (MDC codes as used by the HL7 Personal
Health Device IG; 32-bit code = partition × 65536 + term code) and §D.1 (UCUM units, LOINC codes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from core.errors import InvalidDomainValue


class ReadingKind(StrEnum):
    """What kind of measurement a reading is; decides which metrics it may carry."""

    BLOOD_PRESSURE = "blood_pressure"
    GLUCOSE = "glucose"
    WEIGHT = "weight"
    BODY_COMPOSITION = "body_composition"
    PULSE_OXIMETRY = "pulse_oximetry"
    TEMPERATURE = "temperature"


class DeviceKind(StrEnum):
    """The kind of a physical device in inventory."""

    BP_CUFF = "bp_cuff"
    GLUCOMETER = "glucometer"
    SCALE = "scale"
    PULSE_OXIMETER = "pulse_oximeter"
    THERMOMETER = "thermometer"


DEVICE_READING_KINDS: Mapping[DeviceKind, frozenset[ReadingKind]] = {
    DeviceKind.BP_CUFF: frozenset({ReadingKind.BLOOD_PRESSURE}),
    DeviceKind.GLUCOMETER: frozenset({ReadingKind.GLUCOSE}),
    DeviceKind.SCALE: frozenset({ReadingKind.WEIGHT, ReadingKind.BODY_COMPOSITION}),
    DeviceKind.PULSE_OXIMETER: frozenset({ReadingKind.PULSE_OXIMETRY}),
    DeviceKind.THERMOMETER: frozenset({ReadingKind.TEMPERATURE}),
}
"""Which reading kinds a device of each kind can produce; ingest refuses anything else (a glucose value
from a registered blood-pressure cuff is a configuration or identity error, never a reading)."""


class MeasuredAtSource(StrEnum):
    """Where ``measured_at`` came from (``reference/cellular-and-logistics.md`` §4.2, §0 rule 4)."""

    DEVICE_CLOCK = "device_clock"
    """The device's own time stamp, from a clock the hub set or verified."""
    DEVICE_CLOCK_CORRECTED = "device_clock_corrected"
    """The device's time stamp shifted by the clock offset the hub measured at connection."""
    HUB_RECEIPT = "hub_receipt"
    """The device sent no usable time; the hub substituted the time it received the measurement."""
    VENDOR_CLOUD = "vendor_cloud"
    """A cellular vendor's reported measurement time."""
    VENDOR_ESTIMATED = "vendor_estimated"
    """A cellular vendor's time that the vendor itself marks as estimated."""


class Unit(StrEnum):
    """UCUM unit codes carehub accepts (``reference/rpm-ccm-rules.md`` §D.1)."""

    MMHG = "mm[Hg]"
    KPA = "kPa"
    PER_MIN = "/min"
    KG = "kg"
    G = "g"
    LB = "[lb_av]"
    MG_PER_DL = "mg/dL"
    MMOL_PER_L = "mmol/L"
    PERCENT = "%"
    CEL = "Cel"
    DEG_F = "[degF]"
    CM = "cm"
    M = "m"
    INCH = "[in_i]"
    KG_PER_M2 = "kg/m2"
    PA = "Pa"
    """Only ever a ``source_unit``: BodyTrace posts blood pressure in pascals
    (``reference/cellular-and-logistics.md`` §1.1); no metric is stored in it."""


class SpecialValue(StrEnum):
    """IEEE 11073-20601 special values: a measurement without a number, never stored as one.

    A glucometer's "LO"/"HI" arrive as -INF/+INF (below/above the measurement range)."""

    NAN = "NaN"
    NRES = "NRes"
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "reserved"
    """Raw 0x0801 / 0x00800001: reserved for future use by IEEE 11073-20601; no number either."""


class ReadingFlag(StrEnum):
    """Status annotations a device or the hub attaches to a reading. Alert rules and clinicians read
    them (ALERT-1: questionable or invalid readings never raise clinical alerts)."""

    IRREGULAR_PULSE = "irregular_pulse"
    BODY_MOVEMENT = "body_movement"
    CUFF_FIT_LOOSE = "cuff_fit_loose"
    IMPROPER_POSITION = "improper_position"
    PULSE_RATE_OUT_OF_RANGE = "pulse_rate_out_of_range"
    CLOCK_NOT_SET = "clock_not_set"
    DEVICE_FAULT = "device_fault"
    SENSOR_FAULT = "sensor_fault"
    LOW_BATTERY = "low_battery"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"
    CONTROL_SOLUTION = "control_solution"
    MANUAL_ENTRY = "manual_entry"
    # One flag per status bit of the Bluetooth SIG health profiles
    # (reference/ble-health-profiles.md §4.1, §5.1, §6, §7.2), so none is lost on the way to a clinician.
    PULSE_RATE_ABOVE_RANGE = "pulse_rate_above_range"
    PULSE_RATE_BELOW_RANGE = "pulse_rate_below_range"
    SAMPLE_SIZE_INSUFFICIENT = "sample_size_insufficient"
    STRIP_INSERTION_ERROR = "strip_insertion_error"
    STRIP_TYPE_INCORRECT = "strip_type_incorrect"
    RESULT_ABOVE_RANGE = "result_above_range"
    RESULT_BELOW_RANGE = "result_below_range"
    SENSOR_TEMPERATURE_HIGH = "sensor_temperature_high"
    SENSOR_TEMPERATURE_LOW = "sensor_temperature_low"
    READ_INTERRUPTED = "read_interrupted"
    TIME_FAULT = "time_fault"
    MEASUREMENT_UNSUCCESSFUL = "measurement_unsuccessful"
    # Glucose Measurement Context 0x2A34 meal field, merged into its measurement by sequence number
    # (reference §5.2): fasting and post-meal values are judged against different targets.
    MEAL_PREPRANDIAL = "meal_preprandial"
    MEAL_POSTPRANDIAL = "meal_postprandial"
    MEAL_FASTING = "meal_fasting"
    MEAL_CASUAL = "meal_casual"
    MEAL_BEDTIME = "meal_bedtime"
    PARTIAL_MEASUREMENT = "partial_measurement"
    MEASUREMENT_ONGOING = "measurement_ongoing"
    EARLY_ESTIMATE = "early_estimate"
    VALIDATED_DATA = "validated_data"
    FULLY_QUALIFIED_DATA = "fully_qualified_data"
    FROM_MEASUREMENT_STORAGE = "from_measurement_storage"
    DEMONSTRATION_DATA = "demonstration_data"
    TEST_DATA = "test_data"
    CALIBRATION_ONGOING = "calibration_ongoing"
    MEASUREMENT_UNAVAILABLE = "measurement_unavailable"
    EXTENDED_DISPLAY_UPDATE = "extended_display_update"
    EQUIPMENT_MALFUNCTION = "equipment_malfunction"
    SIGNAL_PROCESSING_IRREGULARITY = "signal_processing_irregularity"
    INADEQUATE_SIGNAL = "inadequate_signal"
    POOR_SIGNAL = "poor_signal"
    LOW_PERFUSION = "low_perfusion"
    ERRATIC_SIGNAL = "erratic_signal"
    NON_PULSATILE_SIGNAL = "non_pulsatile_signal"
    QUESTIONABLE_PULSE = "questionable_pulse"
    SIGNAL_ANALYSIS_ONGOING = "signal_analysis_ongoing"
    SENSOR_INTERFERENCE = "sensor_interference"
    SENSOR_UNCONNECTED = "sensor_unconnected"
    UNKNOWN_SENSOR = "unknown_sensor"
    SENSOR_DISPLACED = "sensor_displaced"
    SENSOR_DISCONNECTED = "sensor_disconnected"


class Metric(StrEnum):
    """MDC reference identifiers of the metrics carehub stores."""

    MDC_PRESS_BLD_NONINV_SYS = "MDC_PRESS_BLD_NONINV_SYS"
    MDC_PRESS_BLD_NONINV_DIA = "MDC_PRESS_BLD_NONINV_DIA"
    MDC_PRESS_BLD_NONINV_MEAN = "MDC_PRESS_BLD_NONINV_MEAN"
    MDC_PULS_RATE_NON_INV = "MDC_PULS_RATE_NON_INV"
    MDC_PULS_OXIM_PULS_RATE = "MDC_PULS_OXIM_PULS_RATE"
    MDC_PULS_OXIM_SAT_O2 = "MDC_PULS_OXIM_SAT_O2"
    MDC_MASS_BODY_ACTUAL = "MDC_MASS_BODY_ACTUAL"
    MDC_LEN_BODY_ACTUAL = "MDC_LEN_BODY_ACTUAL"
    MDC_BODY_FAT = "MDC_BODY_FAT"
    MDC_RATIO_MASS_BODY_LEN_SQ = "MDC_RATIO_MASS_BODY_LEN_SQ"
    MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD = "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD"
    MDC_CONC_GLU_CAPILLARY_PLASMA = "MDC_CONC_GLU_CAPILLARY_PLASMA"
    MDC_CONC_GLU_UNDETERMINED_PLASMA = "MDC_CONC_GLU_UNDETERMINED_PLASMA"
    MDC_TEMP_BODY = "MDC_TEMP_BODY"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """What carehub knows about one metric: its 32-bit MDC code, the unit values are stored in,
    the units a source may send, the range outside which a value is physiologically implausible
    (a decoding or unit error, not a patient state), and the LOINC code for FHIR."""

    metric: Metric
    code: int
    canonical_unit: Unit
    accepted_units: frozenset[Unit]
    plausible_min: float
    plausible_max: float
    loinc: str
    reading_kinds: frozenset[ReadingKind]


def _spec(
    metric: Metric,
    code: int,
    unit: Unit,
    accepted: set[Unit],
    plausible: tuple[float, float],
    loinc: str,
    kinds: set[ReadingKind],
) -> MetricSpec:
    return MetricSpec(
        metric=metric,
        code=code,
        canonical_unit=unit,
        accepted_units=frozenset(accepted | {unit}),
        plausible_min=plausible[0],
        plausible_max=plausible[1],
        loinc=loinc,
        reading_kinds=frozenset(kinds),
    )


_BP = {ReadingKind.BLOOD_PRESSURE}
_GLU = {ReadingKind.GLUCOSE}
_SCALE = {ReadingKind.WEIGHT, ReadingKind.BODY_COMPOSITION}

METRICS: Mapping[Metric, MetricSpec] = {
    s.metric: s
    for s in (
        _spec(Metric.MDC_PRESS_BLD_NONINV_SYS, 150021, Unit.MMHG, {Unit.KPA}, (40, 300), "8480-6", _BP),
        _spec(Metric.MDC_PRESS_BLD_NONINV_DIA, 150022, Unit.MMHG, {Unit.KPA}, (20, 200), "8462-4", _BP),
        _spec(Metric.MDC_PRESS_BLD_NONINV_MEAN, 150023, Unit.MMHG, {Unit.KPA}, (25, 250), "8478-0", _BP),
        _spec(Metric.MDC_PULS_RATE_NON_INV, 149546, Unit.PER_MIN, set(), (20, 250), "8867-4", _BP),
        _spec(
            Metric.MDC_PULS_OXIM_PULS_RATE,
            149530,
            Unit.PER_MIN,
            set(),
            (20, 250),
            "8867-4",
            {ReadingKind.PULSE_OXIMETRY},
        ),
        _spec(
            Metric.MDC_PULS_OXIM_SAT_O2,
            150456,
            Unit.PERCENT,
            set(),
            (50, 100),
            "59408-5",
            {ReadingKind.PULSE_OXIMETRY},
        ),
        _spec(Metric.MDC_MASS_BODY_ACTUAL, 188736, Unit.KG, {Unit.LB, Unit.G}, (2, 400), "29463-7", _SCALE),
        _spec(Metric.MDC_LEN_BODY_ACTUAL, 188740, Unit.CM, {Unit.M, Unit.INCH}, (40, 250), "8302-2", _SCALE),
        # Partition 2 (SCADA), term 57676; HL7 PHD IG maps it to LOINC 41982-0 (percentage of body fat).
        _spec(Metric.MDC_BODY_FAT, 188748, Unit.PERCENT, set(), (1, 75), "41982-0", _SCALE),
        _spec(Metric.MDC_RATIO_MASS_BODY_LEN_SQ, 188752, Unit.KG_PER_M2, set(), (8, 100), "39156-5", _SCALE),
        _spec(
            Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
            160184,
            Unit.MG_PER_DL,
            {Unit.MMOL_PER_L},
            (10, 800),
            "41653-7",
            _GLU,
        ),
        _spec(
            Metric.MDC_CONC_GLU_CAPILLARY_PLASMA,
            160188,
            Unit.MG_PER_DL,
            {Unit.MMOL_PER_L},
            (10, 800),
            "41653-7",
            _GLU,
        ),
        _spec(
            Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA,
            160368,
            Unit.MG_PER_DL,
            {Unit.MMOL_PER_L},
            (10, 800),
            "2339-0",
            _GLU,
        ),
        _spec(
            Metric.MDC_TEMP_BODY,
            150364,
            Unit.CEL,
            {Unit.DEG_F},
            (25, 45),
            "8310-5",
            {ReadingKind.TEMPERATURE},
        ),
    )
}

METRICS_BY_CODE: Mapping[int, MetricSpec] = {s.code: s for s in METRICS.values()}

REQUIRED_METRICS: Mapping[ReadingKind, tuple[frozenset[Metric], ...]] = {
    # Each inner set is "at least one of"; every set must be satisfied.
    ReadingKind.BLOOD_PRESSURE: (
        frozenset({Metric.MDC_PRESS_BLD_NONINV_SYS}),
        frozenset({Metric.MDC_PRESS_BLD_NONINV_DIA}),
    ),
    ReadingKind.GLUCOSE: (
        frozenset(
            {
                Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
                Metric.MDC_CONC_GLU_CAPILLARY_PLASMA,
                Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA,
            }
        ),
    ),
    ReadingKind.WEIGHT: (frozenset({Metric.MDC_MASS_BODY_ACTUAL}),),
    ReadingKind.BODY_COMPOSITION: (frozenset({Metric.MDC_MASS_BODY_ACTUAL}),),
    ReadingKind.PULSE_OXIMETRY: (frozenset({Metric.MDC_PULS_OXIM_SAT_O2}),),
    ReadingKind.TEMPERATURE: (frozenset({Metric.MDC_TEMP_BODY}),),
}
"""Observations a reading of each kind must carry to be clinically meaningful."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one metric. Exactly one of ``value`` and ``special`` is set.

    ``source_value``/``source_unit`` keep what the device sent when it was converted to the
    canonical unit (a kPa cuff, a scale in pounds), so the original is never lost."""

    metric: Metric
    value: float | None
    unit: Unit
    special: SpecialValue | None = None
    source_value: float | None = None
    source_unit: Unit | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.special is None):
            raise InvalidDomainValue("an observation has either a value or a special value, not both or neither")
        if self.value is not None and not math.isfinite(self.value):
            raise InvalidDomainValue("a non-finite number is a special value, not a value")

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.metric]


@dataclass(frozen=True, slots=True)
class Reading:
    """The observations one device measured at one time, as a hub (or vendor cloud) reports them.

    ``measured_at`` and ``received_at`` are timezone-aware. ``received_at`` is when the hub got the
    measurement from the device (or the vendor posted it); the database adds its own ingest time."""

    reading_id: UUID
    device_serial: str
    kind: ReadingKind
    measured_at: datetime
    measured_at_source: MeasuredAtSource
    received_at: datetime
    observations: tuple[Observation, ...]
    device_address: str | None = None
    flags: frozenset[str] = field(default_factory=frozenset)
    from_device_memory: bool = False
    user_index: int | None = None
    battery_pct: int | None = None

    def __post_init__(self) -> None:
        if self.measured_at.tzinfo is None or self.received_at.tzinfo is None:
            raise InvalidDomainValue("reading times must be timezone-aware")
        if not self.observations:
            raise InvalidDomainValue("a reading has at least one observation")
