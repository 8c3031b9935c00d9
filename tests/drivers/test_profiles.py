"""Every worked vector of reference/ble-health-profiles.md, each asserting the whole decoded frame
and its normalisation. The origin of each byte string is noted beside it."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.domain import MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from drivers import MissingField, Normalised, TrailingBytes, decode, to_observations
from drivers.blood_pressure import (
    BloodPressureFeature,
    BloodPressureFeatureBits,
    BloodPressureFlags,
    BloodPressureMeasurement,
    BloodPressureStatus,
    IntermediateCuffPressure,
    PulseRateRange,
)
from drivers.body_composition import (
    BodyCompositionFeature,
    BodyCompositionFeatureBits,
    BodyCompositionFlags,
    BodyCompositionMeasurement,
)
from drivers.date_time import AdjustReason, CurrentTime, DateTime, DateTimeValue
from drivers.device_info import BatteryLevel, DeviceInformationString, SystemId
from drivers.glucose import (
    CarbohydrateId,
    ContextFlags,
    GlucoseContext,
    GlucoseFeature,
    GlucoseFeatureBits,
    GlucoseFlags,
    GlucoseMeasurement,
    GlucoseType,
    Health,
    Meal,
    MedicationId,
    SampleLocation,
    SensorStatus,
)
from drivers.glucose import (
    Tester as GlucoseTester,
)
from drivers.pulse_oximeter import (
    ContinuousFlags,
    ContinuousMeasurement,
    MeasurementStatus,
    PlxFeatureBits,
    PlxFeatures,
    SpotCheckFlags,
    SpotCheckMeasurement,
)
from drivers.thermometer import TemperatureFlags, TemperatureMeasurement, TemperatureType
from drivers.weight_scale import (
    ScaleResolution,
    WeightFlags,
    WeightMeasurement,
    WeightScaleFeature,
    WeightScaleFeatureBits,
)

MARCH_9 = DateTime(2024, 3, 9, 7, 5, 0)


def frame(characteristic: str, wire: str) -> object:
    return decode(characteristic, bytes.fromhex(wire))


# --- Blood pressure, reference §4 ---------------------------------------------------------------


def test_bp_mmhg_minimal() -> None:
    # reference §4.1 vector 1
    got = frame("2a35", "00 78 00 50 00 5A 00")
    assert got == BloodPressureMeasurement(BloodPressureFlags(0), Unit.MMHG, 120.0, 80.0, 90.0)
    assert to_observations(got) == Normalised(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(
            Observation(Metric.MDC_PRESS_BLD_NONINV_SYS, 120.0, Unit.MMHG),
            Observation(Metric.MDC_PRESS_BLD_NONINV_DIA, 80.0, Unit.MMHG),
            Observation(Metric.MDC_PRESS_BLD_NONINV_MEAN, 90.0, Unit.MMHG),
        ),
        storable=True,
    )


def test_bp_kpa_with_time_and_pulse_keeps_the_kpa_source() -> None:
    # reference §4.1 vector 2
    got = frame("2a35", "07 A0 F0 6B F0 7D F0 E8 07 03 09 07 05 00 48 00")
    assert got == BloodPressureMeasurement(
        BloodPressureFlags(0x07), Unit.KPA, 16.0, 10.7, 12.5, timestamp=MARCH_9, pulse_rate=72.0
    )
    norm = to_observations(got)
    assert [(o.metric, round(o.value or 0, 1), o.unit, o.source_value, o.source_unit) for o in norm.observations] == [
        (Metric.MDC_PRESS_BLD_NONINV_SYS, 120.0, Unit.MMHG, 16.0, Unit.KPA),
        (Metric.MDC_PRESS_BLD_NONINV_DIA, 80.3, Unit.MMHG, 10.7, Unit.KPA),
        (Metric.MDC_PRESS_BLD_NONINV_MEAN, 93.8, Unit.MMHG, 12.5, Unit.KPA),
        (Metric.MDC_PULS_RATE_NON_INV, 72.0, Unit.PER_MIN, None, None),
    ]
    assert norm.measured_at == datetime(2024, 3, 9, 7, 5)  # naive: device-local wall clock
    assert norm.measured_at_source is MeasuredAtSource.DEVICE_CLOCK


def test_bp_map_nan_unknown_user_and_pulse_above_range() -> None:
    # reference §4.1 vector 3
    got = frame("2a35", "1E 8C 00 5A 00 FF 07 E8 07 05 0A 17 3B 00 B4 00 FF 08 00")
    assert got == BloodPressureMeasurement(
        BloodPressureFlags(0x1E),
        Unit.MMHG,
        140.0,
        90.0,
        SpecialValue.NAN,
        timestamp=DateTime(2024, 5, 10, 23, 59, 0),
        pulse_rate=180.0,
        user_id=0xFF,
        status=BloodPressureStatus(0x0008),
    )
    assert isinstance(got, BloodPressureMeasurement)
    assert got.pulse_rate_range is PulseRateRange.EXCEEDS_UPPER_LIMIT
    assert to_observations(got) == Normalised(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(
            Observation(Metric.MDC_PRESS_BLD_NONINV_SYS, 140.0, Unit.MMHG),
            Observation(Metric.MDC_PRESS_BLD_NONINV_DIA, 90.0, Unit.MMHG),
            Observation(Metric.MDC_PULS_RATE_NON_INV, 180.0, Unit.PER_MIN),
        ),
        measured_at=datetime(2024, 5, 10, 23, 59),
        measured_at_source=MeasuredAtSource.DEVICE_CLOCK,
        user_id=None,
        flags=frozenset({ReadingFlag.PULSE_RATE_OUT_OF_RANGE, ReadingFlag.PULSE_RATE_ABOVE_RANGE}),
        storable=True,
    )


def test_bp_time_stamp_flag_without_time_stamp_is_missing_field() -> None:
    # reference §4.1 vector 4
    with pytest.raises(MissingField) as caught:
        frame("2a35", "02 78 00 50 00 5A 00")
    assert caught.value.field == "timestamp"
    assert caught.value.raw_hex == "02780050005a00"


def test_bp_every_status_bit_becomes_a_flag() -> None:
    # our own vector: status 0x0037 = body movement, cuff loose, irregular, range 2 (below), position
    got = frame("2a35", "10 78 00 50 00 5A 00 37 00")
    assert to_observations(got).flags == {
        ReadingFlag.BODY_MOVEMENT,
        ReadingFlag.CUFF_FIT_LOOSE,
        ReadingFlag.IRREGULAR_PULSE,
        ReadingFlag.PULSE_RATE_OUT_OF_RANGE,
        ReadingFlag.PULSE_RATE_BELOW_RANGE,
        ReadingFlag.IMPROPER_POSITION,
    }


def test_regression_beurer_rfu_flag_bit_and_zero_map_are_not_rejected() -> None:
    # reference §11: Beurer BM85 sets RFU flag bit 6 and sends MAP = 0 ("not provided")
    got = frame("2a35", "40 78 00 50 00 00 00")
    assert got == BloodPressureMeasurement(BloodPressureFlags(0x40), Unit.MMHG, 120.0, 80.0, 0.0)
    assert [o.metric for o in to_observations(got).observations] == [
        Metric.MDC_PRESS_BLD_NONINV_SYS,
        Metric.MDC_PRESS_BLD_NONINV_DIA,
    ]


def test_bp_trailing_bytes_kept_or_refused_when_strict() -> None:
    # reference §0: keep trailing bytes for diagnostics; strict decoding refuses them
    got = frame("2a35", "00 78 00 50 00 5A 00 AA BB")
    assert got == BloodPressureMeasurement(BloodPressureFlags(0), Unit.MMHG, 120.0, 80.0, 90.0, trailing=b"\xaa\xbb")
    with pytest.raises(TrailingBytes):
        decode("2a35", bytes.fromhex("0078005000 5A00AABB".replace(" ", "")), strict=True)


def test_intermediate_cuff_pressure_is_never_storable() -> None:
    # reference §4.2 vector
    got = frame("2a36", "04 A5 00 FF 07 FF 07 48 00")
    assert got == IntermediateCuffPressure(
        BloodPressureFlags(0x04), Unit.MMHG, 165.0, SpecialValue.NAN, SpecialValue.NAN, pulse_rate=72.0
    )
    assert to_observations(got).storable is False


@pytest.mark.parametrize(
    ("wire", "bits"),
    [("27 00", 0x27), ("FF 01", 0x1FF)],  # reference §4.3 vectors
)
def test_bp_feature(wire: str, bits: int) -> None:
    assert frame("2a49", wire) == BloodPressureFeature(BloodPressureFeatureBits(bits))


def test_bp_feature_0027_names() -> None:
    got = frame("2a49", "27 00")
    assert isinstance(got, BloodPressureFeature)
    assert got.features == (
        BloodPressureFeatureBits.BODY_MOVEMENT_DETECTION
        | BloodPressureFeatureBits.CUFF_FIT_DETECTION
        | BloodPressureFeatureBits.IRREGULAR_PULSE_DETECTION
        | BloodPressureFeatureBits.MULTIPLE_BONDS
    )


# --- Glucose, reference §5 ----------------------------------------------------------------------


def test_glucose_time_only_record_is_kept_but_not_stored() -> None:
    # reference §5.1 vector 1
    got = frame("2a18", "00 05 00 E8 07 01 02 08 1E 00")
    assert got == GlucoseMeasurement(GlucoseFlags(0), 5, DateTime(2024, 1, 2, 8, 30, 0), "kg/L")
    assert to_observations(got) == Normalised(
        kind=ReadingKind.GLUCOSE,
        observations=(),
        measured_at=datetime(2024, 1, 2, 8, 30),
        measured_at_source=MeasuredAtSource.DEVICE_CLOCK,
        storable=False,
    )


def test_glucose_kg_per_l_is_exactly_95_mg_dl_and_offset_crosses_midnight() -> None:
    # reference §5.1 vector 2
    got = frame("2a18", "03 02 01 E8 07 05 0A 17 3B 00 02 00 5F B0 11")
    assert got == GlucoseMeasurement(
        GlucoseFlags(0x03),
        258,
        DateTime(2024, 5, 10, 23, 59, 0),
        "kg/L",
        time_offset_min=2,
        concentration=0.00095,
        sample_type=GlucoseType.CAPILLARY_WHOLE_BLOOD,
        sample_location=SampleLocation.FINGER,
    )
    assert to_observations(got) == Normalised(
        kind=ReadingKind.GLUCOSE,
        observations=(Observation(Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD, 95.0, Unit.MG_PER_DL),),
        measured_at=datetime(2024, 5, 11, 0, 1),
        measured_at_source=MeasuredAtSource.DEVICE_CLOCK,
        storable=True,
    )


def test_regression_nordic_swapped_hi_lo_status_bit_6_is_lo() -> None:
    # reference §5.1 vector 3: status 0x0040 is "lower than the device can process" (LO), per SIG
    got = frame("2a18", "1E 10 00 E8 07 05 0B 07 00 00 36 C0 F1 40 00")
    assert got == GlucoseMeasurement(
        GlucoseFlags(0x1E),
        16,
        DateTime(2024, 5, 11, 7, 0, 0),
        "mol/L",
        concentration=0.0054,
        sample_type=GlucoseType.CAPILLARY_WHOLE_BLOOD,
        sample_location=SampleLocation.NOT_AVAILABLE,
        sensor_status=SensorStatus.RESULT_TOO_LOW,
    )
    assert isinstance(got, GlucoseMeasurement)
    assert got.context_follows
    norm = to_observations(got)
    # mol/L → 5.4 mmol/L exactly, stored as mg/dL through core.units (× 18.0156)
    assert norm.observations == (
        Observation(
            Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
            5.4 * 18.0156,
            Unit.MG_PER_DL,
            source_value=5.4,
            source_unit=Unit.MMOL_PER_L,
        ),
    )
    assert norm.flags == {ReadingFlag.RESULT_BELOW_RANGE}


def test_glucose_control_solution_is_not_a_reading() -> None:
    # reference §5.1 vector 4
    got = frame("2a18", "02 11 00 E8 07 05 0B 07 05 00 64 B0 4A")
    assert got == GlucoseMeasurement(
        GlucoseFlags(0x02),
        17,
        DateTime(2024, 5, 11, 7, 5, 0),
        "kg/L",
        concentration=0.001,
        sample_type=GlucoseType.CONTROL_SOLUTION,
        sample_location=SampleLocation.CONTROL_SOLUTION,
    )
    norm = to_observations(got)
    assert norm.storable is False
    assert norm.flags == {ReadingFlag.CONTROL_SOLUTION}
    assert norm.observations == (Observation(Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA, 100.0, Unit.MG_PER_DL),)


def test_glucose_lo_as_negative_infinity_is_a_special_value() -> None:
    # our own vector: -INF concentration (a meter's "LO") with capillary plasma
    got = to_observations(frame("2a18", "02 01 00 E8 07 05 0B 07 05 00 02 08 12"))
    assert got.observations == (
        Observation(Metric.MDC_CONC_GLU_CAPILLARY_PLASMA, None, Unit.MG_PER_DL, special=SpecialValue.NEGATIVE_INFINITY),
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §5.2 vector 1
        ("02 05 00 01", GlucoseContext(ContextFlags(0x02), 5, meal=Meal.PREPRANDIAL)),
        # reference §5.2 vector 2
        (
            "7F 10 00 01 32 00 02 51 08 07 3C 01 01 F0 41 F0",
            GlucoseContext(
                ContextFlags(0x7F),
                16,
                carbohydrate_id=CarbohydrateId.BREAKFAST,
                carbohydrate=50.0,
                meal=Meal.POSTPRANDIAL,
                tester=GlucoseTester.SELF,
                health=Health.NO_HEALTH_ISSUES,
                exercise_duration_s=1800,
                exercise_intensity_pct=60,
                medication_id=MedicationId.RAPID_ACTING_INSULIN,
                medication=0.1,
                medication_unit="volume",
                hba1c_pct=6.5,
            ),
        ),
        # reference §5.2 vector 3: extended flags byte right after the sequence number
        ("82 10 00 00 03", GlucoseContext(ContextFlags(0x82), 16, extended_flags=0, meal=Meal.FASTING)),
        # reference §5.2 vector 4 (public, xDrip): meal 6 = CareSens ketone marker, kept as int
        ("02 04 00 06", GlucoseContext(ContextFlags(0x02), 4, meal=6)),
    ],
)
def test_glucose_context(wire: str, expected: GlucoseContext) -> None:
    got = frame("2a34", wire)
    assert got == expected
    assert to_observations(got) == Normalised(kind=None, observations=())


def test_glucose_context_meal_6_marks_ketone() -> None:
    got = frame("2a34", "02 04 00 06")
    assert isinstance(got, GlucoseContext)
    assert got.marks_ketone


@pytest.mark.parametrize(("wire", "bits"), [("F0 03", 0x03F0), ("FF 07", 0x07FF), ("03 00", 0x0003)])
def test_glucose_feature(wire: str, bits: int) -> None:
    # reference §5.3 vectors (F0 03 from Nordic's test)
    assert frame("2a51", wire) == GlucoseFeature(GlucoseFeatureBits(bits))


# --- Weight and body composition, reference §6 ---------------------------------------------------


def test_weight_si_minimal() -> None:
    # reference §6.1 vector 1
    got = frame("2a9d", "00 98 3A")
    assert got == WeightMeasurement(WeightFlags(0), Unit.KG, Unit.M, 15000, 75.0)
    assert to_observations(got).observations == (Observation(Metric.MDC_MASS_BODY_ACTUAL, 75.0, Unit.KG),)


def test_weight_imperial_everything() -> None:
    # reference §6.1 vector 2
    got = frame("2a9d", "0F 7C 3E E8 07 03 09 07 05 00 02 F5 00 B5 02")
    assert got == WeightMeasurement(
        WeightFlags(0x0F), Unit.LB, Unit.INCH, 15996, 159.96, timestamp=MARCH_9, user_id=2, bmi=24.5, height=69.3
    )
    norm = to_observations(got)
    assert norm.observations == (
        Observation(
            Metric.MDC_MASS_BODY_ACTUAL, 159.96 * 0.45359237, Unit.KG, source_value=159.96, source_unit=Unit.LB
        ),
        Observation(Metric.MDC_RATIO_MASS_BODY_LEN_SQ, 24.5, Unit.KG_PER_M2),
        Observation(Metric.MDC_LEN_BODY_ACTUAL, 69.3 * 2.54, Unit.CM, source_value=69.3, source_unit=Unit.INCH),
    )
    assert norm.user_id == 2


def test_weight_unsuccessful_is_an_event_not_a_weight() -> None:
    # reference §6.1 vector 3
    got = frame("2a9d", "06 FF FF E8 07 03 09 07 05 00 01")
    assert got == WeightMeasurement(WeightFlags(0x06), Unit.KG, Unit.M, 0xFFFF, None, timestamp=MARCH_9, user_id=1)
    assert to_observations(got) == Normalised(
        kind=ReadingKind.WEIGHT,
        observations=(),
        measured_at=datetime(2024, 3, 9, 7, 5),
        measured_at_source=MeasuredAtSource.DEVICE_CLOCK,
        user_id=1,
        flags=frozenset({ReadingFlag.MEASUREMENT_UNSUCCESSFUL}),
        storable=False,
    )


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §6.2 vectors
        ("21 00 00 00", WeightScaleFeature(WeightScaleFeatureBits(0x01), ScaleResolution(4, 0))),
        ("BF 01 00 00", WeightScaleFeature(WeightScaleFeatureBits(0x07), ScaleResolution(7, 3))),
    ],
)
def test_weight_scale_feature(wire: str, expected: WeightScaleFeature) -> None:
    assert frame("2a9e", wire) == expected


def test_weight_resolution_does_not_scale_the_weight() -> None:
    # reference §14.3: SpeziBluetooth scales by the feature resolution; the SIG fixes 0.005 kg
    assert ScaleResolution(4, 0).weight_resolution_kg == 0.05
    assert frame("2a9d", "00 98 3A") == WeightMeasurement(WeightFlags(0), Unit.KG, Unit.M, 15000, 75.0)


def test_body_composition_user_impedance_weight() -> None:
    # reference §6.3 vector 1
    got = frame("2a9c", "04 06 E1 00 01 88 13 98 3A")
    assert got == BodyCompositionMeasurement(
        BodyCompositionFlags(0x0604), Unit.KG, Unit.M, 22.5, user_id=1, impedance_ohm=500.0, weight=75.0
    )
    assert to_observations(got).observations == (
        Observation(Metric.MDC_MASS_BODY_ACTUAL, 75.0, Unit.KG),
        Observation(Metric.MDC_BODY_FAT, 22.5, Unit.PERCENT),
    )


def test_body_composition_unsuccessful() -> None:
    # reference §6.3 vector 2
    got = frame("2a9c", "02 00 FF FF E8 07 03 09 07 05 00")
    assert got == BodyCompositionMeasurement(BodyCompositionFlags(0x0002), Unit.KG, Unit.M, None, timestamp=MARCH_9)
    assert to_observations(got).flags == {ReadingFlag.MEASUREMENT_UNSUCCESSFUL}


def test_body_composition_multiple_packet_is_partial() -> None:
    # reference §6.3 vector 3
    got = frame("2a9c", "04 10 C8 00 01")
    assert got == BodyCompositionMeasurement(BodyCompositionFlags(0x1004), Unit.KG, Unit.M, 20.0, user_id=1)
    norm = to_observations(got)
    assert norm.flags == {ReadingFlag.PARTIAL_MEASUREMENT}
    assert norm.storable is False


def test_body_composition_feature() -> None:
    # reference §6.3 feature vector 03 BB 01 00
    assert frame("2a9b", "03 BB 01 00") == BodyCompositionFeature(
        BodyCompositionFeatureBits(0x0303), ScaleResolution(7, 3)
    )


# --- Pulse oximeter, reference §7 ----------------------------------------------------------------


def test_spot_check_clock_not_set() -> None:
    # reference §7.3 vector 1
    got = frame("2a5e", "10 61 00 48 00")
    assert got == SpotCheckMeasurement(SpotCheckFlags(0x10), 97.0, 72.0)
    assert to_observations(got) == Normalised(
        kind=ReadingKind.PULSE_OXIMETRY,
        observations=(
            Observation(Metric.MDC_PULS_OXIM_SAT_O2, 97.0, Unit.PERCENT),
            Observation(Metric.MDC_PULS_OXIM_PULS_RATE, 72.0, Unit.PER_MIN),
        ),
        flags=frozenset({ReadingFlag.CLOCK_NOT_SET}),
        storable=True,
    )


def test_spot_check_pulse_nan_is_a_special_value() -> None:
    # reference §7.3 vector 2
    got = frame("2a5e", "00 62 00 FF 07")
    assert got == SpotCheckMeasurement(SpotCheckFlags(0), 98.0, SpecialValue.NAN)
    assert to_observations(got).observations[1] == Observation(
        Metric.MDC_PULS_OXIM_PULS_RATE, None, Unit.PER_MIN, special=SpecialValue.NAN
    )


def test_continuous_measurement_unavailable_is_not_stored() -> None:
    # reference §7.3 vector 3
    got = frame("2a5f", "04 60 00 4F 00 00 20")
    assert got == ContinuousMeasurement(
        ContinuousFlags(0x04), 96.0, 79.0, measurement_status=MeasurementStatus.MEASUREMENT_UNAVAILABLE
    )
    norm = to_observations(got)
    assert norm.flags == {ReadingFlag.MEASUREMENT_UNAVAILABLE}
    assert norm.storable is False


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §7.3 feature vectors
        ("0C 00", PlxFeatures(PlxFeatureBits(0x0C))),
        ("03 00 E0 FF FF FF 00", PlxFeatures(PlxFeatureBits(0x03), MeasurementStatus(0xFFE0))),
    ],
)
def test_plx_features(wire: str, expected: PlxFeatures) -> None:
    got = frame("2a60", wire)
    assert isinstance(got, PlxFeatures)
    assert got.features == expected.features
    assert got.measurement_status_support == expected.measurement_status_support
    if got.features & PlxFeatureBits.DEVICE_AND_SENSOR_STATUS_SUPPORT:
        assert got.device_sensor_status_support == 0x00FFFF


# --- Thermometer, reference §8 -------------------------------------------------------------------


def test_temperature_fahrenheit_kept_as_source() -> None:
    # reference §8 vector 1
    got = frame("2a1c", "01 DA 03 00 FF")
    assert got == TemperatureMeasurement(TemperatureFlags(0x01), Unit.DEG_F, 98.6)
    assert to_observations(got).observations == (
        Observation(Metric.MDC_TEMP_BODY, 37.0, Unit.CEL, source_value=98.6, source_unit=Unit.DEG_F),
    )


def test_temperature_nan_with_site() -> None:
    # reference §8 vector 2
    got = frame("2a1c", "04 FF FF 7F 00 06")
    assert got == TemperatureMeasurement(
        TemperatureFlags(0x04), Unit.CEL, SpecialValue.NAN, temperature_type=TemperatureType.MOUTH
    )


def test_temperature_with_time_stamp() -> None:
    # reference §8 vector 3
    got = frame("2a1c", "02 65 0E 00 FE E8 07 03 09 07 05 00")
    assert got == TemperatureMeasurement(TemperatureFlags(0x02), Unit.CEL, 36.85, timestamp=MARCH_9)
    assert to_observations(got).measured_at == datetime(2024, 3, 9, 7, 5)


def test_intermediate_temperature_is_display_only() -> None:
    got = frame("2a1e", "02 65 0E 00 FE E8 07 03 09 07 05 00")
    assert to_observations(got).storable is False


# --- Time, battery, device information, reference §3 and §9 --------------------------------------


def test_date_time() -> None:
    # reference §3.1 vectors
    assert frame("2a08", "E8 07 03 09 07 05 00") == DateTimeValue(MARCH_9)
    unknown = frame("2a08", "00 00 00 00 0C 1E 00")
    assert unknown == DateTimeValue(DateTime(0, 0, 0, 12, 30, 0))
    assert isinstance(unknown, DateTimeValue)
    assert unknown.date_time.value is None


def test_current_time_write_vector_round_trips() -> None:
    # reference §3.3 write vector
    wire = "E8 07 03 09 07 05 00 06 80 01"
    expected = CurrentTime(MARCH_9, 6, 128, AdjustReason.MANUAL_TIME_UPDATE)
    assert frame("2a2b", wire) == expected
    assert CurrentTime.at(datetime(2024, 3, 9, 7, 5, 0, 500_000)).encode() == bytes.fromhex(wire)


@pytest.mark.parametrize(("wire", "level"), [("64", 100), ("1E", 30)])  # reference §9
def test_battery_level(wire: str, level: int) -> None:
    got = frame("2a19", wire)
    assert got == BatteryLevel(level)
    assert to_observations(got) == Normalised(kind=None, observations=(), battery_pct=level)


def test_battery_level_above_100_is_kept_but_not_reported() -> None:
    assert to_observations(frame("2a19", "C8")).battery_pct is None


def test_device_information_strings() -> None:
    # reference §9: blessed-bluez issue #26 (A&D UB-1100BLE), and a NUL-padded model
    assert frame("2a29", "41 26 44 20 4D 65 64 69 63 61 6C") == DeviceInformationString(
        "manufacturer_name", "A&D Medical"
    )
    assert frame("2a24", "55 41 2D 36 35 31 42 4C 45 00") == DeviceInformationString("model_number", "UA-651BLE")


def test_system_id() -> None:
    # reference §9 vector
    got = frame("2a23", "C2 B1 A0 FE FF 1F 09 00")
    assert got == SystemId(0x00091FFFFEA0B1C2)
    assert isinstance(got, SystemId)
    assert (got.oui, got.manufacturer_identifier) == (0x00091F, 0xFFFEA0B1C2)
