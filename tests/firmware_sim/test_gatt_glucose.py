"""Glucose Measurement, Context and Feature encoders against reference §5 vectors, with intent."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.domain import METRICS, Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from core.units import to_canonical
from firmware_sim.gatt import uuids
from firmware_sim.gatt.frames import presence_variants
from firmware_sim.gatt.glucose import (
    CONTEXT_LAYOUT,
    MEASUREMENT_LAYOUT,
    Feature,
    GlucoseContext,
    GlucoseDetails,
    GlucoseSample,
    Meal,
    SensorStatus,
    encode_feature,
    encode_glucose_context,
    encode_glucose_record,
)
from firmware_sim.intent import IntendedMeasurement

WHOLE_BLOOD = Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD


def test_vector_1_time_only_record() -> None:
    # Origin: reference §5.1 vector 1.
    measurement, context = encode_glucose_record(GlucoseSample(5, datetime(2024, 1, 2, 8, 30)))
    assert measurement.data == bytes.fromhex("00 05 00 E8 07 01 02 08 1E 00")
    assert context is None
    assert measurement.intended == IntendedMeasurement(
        kind=ReadingKind.GLUCOSE,
        observations=(),
        device_time=datetime(2024, 1, 2, 8, 30),
        sequence_number=5,
        details=GlucoseDetails(datetime(2024, 1, 2, 8, 30), None, None, None, None),
    )


def test_vector_2_offset_crosses_midnight_mg_dl() -> None:
    # Origin: reference §5.1 vector 2.
    base = datetime(2024, 5, 10, 23, 59)
    sample = GlucoseSample(258, base, 2, 95, Unit.MG_PER_DL, sample_type=1, sample_location=1)
    measurement, _ = encode_glucose_record(sample)
    assert measurement.characteristic == uuids.GLUCOSE_MEASUREMENT
    assert measurement.data == bytes.fromhex("03 02 01 E8 07 05 0A 17 3B 00 02 00 5F B0 11")
    assert measurement.intended == IntendedMeasurement(
        kind=ReadingKind.GLUCOSE,
        observations=(Observation(WHOLE_BLOOD, 95.0, Unit.MG_PER_DL),),
        device_time=datetime(2024, 5, 11, 0, 1),
        sequence_number=258,
        details=GlucoseDetails(base, 2, 1, 1, None),
    )


def test_vector_3_mmol_lo_status_context_follows() -> None:
    # Origin: reference §5.1 vector 3 and §5.2 vector 2 (the same sequence number, 16).
    base = datetime(2024, 5, 11, 7, 0)
    sample = GlucoseSample(16, base, None, 5.4, Unit.MMOL_PER_L, 1, 15, status=0x0040)
    context = GlucoseContext(
        16,
        carbohydrate=(1, 50),
        meal=Meal.POSTPRANDIAL,
        tester_health=(1, 5),
        exercise=(1800, 60),
        medication=(1, 0.1),
        medication_in_volume=True,
        hba1c_pct=6.5,
    )
    measurement, context_frame = encode_glucose_record(sample, context)
    assert measurement.data == bytes.fromhex("1E 10 00 E8 07 05 0B 07 00 00 36 C0 F1 40 00")
    assert context_frame is not None
    assert context_frame.characteristic == uuids.GLUCOSE_MEASUREMENT_CONTEXT
    assert context_frame.data == bytes.fromhex("7F 10 00 01 32 00 02 51 08 07 3C 01 01 F0 41 F0")
    expected = IntendedMeasurement(
        kind=ReadingKind.GLUCOSE,
        observations=(
            Observation(
                WHOLE_BLOOD,
                to_canonical(METRICS[WHOLE_BLOOD], 5.4, Unit.MMOL_PER_L),
                Unit.MG_PER_DL,
                source_value=5.4,
                source_unit=Unit.MMOL_PER_L,
            ),
        ),
        flags=frozenset({ReadingFlag.RESULT_BELOW_RANGE}),
        device_time=base,
        sequence_number=16,
        status=0x0040,
        details=GlucoseDetails(base, None, 1, 15, context),
    )
    assert measurement.intended == expected
    assert context_frame.intended == expected


def test_vector_4_control_solution() -> None:
    # Origin: reference §5.1 vector 4.
    sample = GlucoseSample(17, datetime(2024, 5, 11, 7, 5), None, 100, Unit.MG_PER_DL, 10, 4)
    measurement, _ = encode_glucose_record(sample)
    assert measurement.data == bytes.fromhex("02 11 00 E8 07 05 0B 07 05 00 64 B0 4A")
    assert measurement.intended.flags == {ReadingFlag.CONTROL_SOLUTION}
    assert measurement.intended.observations == (
        Observation(Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA, 100.0, Unit.MG_PER_DL),
    )


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (GlucoseContext(5, meal=Meal.PREPRANDIAL), "02 05 00 01"),  # Origin: reference §5.2 vector 1.
        (GlucoseContext(16, extended_flags=0, meal=Meal.FASTING), "82 10 00 00 03"),  # §5.2 vector 3.
        (GlucoseContext(4, meal=6), "02 04 00 06"),  # §5.2 vector 4 (public, xDrip): CareSens ketone meal 6.
    ],
)
def test_context_vectors(context: GlucoseContext, expected: str) -> None:
    assert encode_glucose_context(context) == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("features", "expected"),
    [("F0 03", "F0 03"), ("FF 07", "FF 07"), ("03 00", "03 00")],  # Origin: reference §5.3 vectors.
)
def test_feature_vectors(features: str, expected: str) -> None:
    assert encode_feature(Feature(int.from_bytes(bytes.fromhex(features), "little"))) == bytes.fromhex(expected)


def test_hi_and_lo_are_infinities_with_their_status_bits() -> None:
    when = datetime(2026, 1, 1, 3, 0)
    lo = GlucoseSample(1, when, None, SpecialValue.NEGATIVE_INFINITY, status=int(SensorStatus.RESULT_TOO_LOW))
    measurement, _ = encode_glucose_record(lo)
    assert measurement.data[10:12] == bytes.fromhex("02 08")
    assert measurement.intended.observations[0].special == SpecialValue.NEGATIVE_INFINITY
    # One flag per status bit (round trip with drivers): the "LO" the meter showed stays a flag too.
    assert measurement.intended.flags == {ReadingFlag.RESULT_BELOW_RANGE}


def test_status_bits_map_to_flags() -> None:
    status = SensorStatus.BATTERY_LOW | SensorStatus.TIME_FAULT | SensorStatus.STRIP_INSERTION_ERROR
    measurement, _ = encode_glucose_record(GlucoseSample(1, datetime(2026, 1, 1), None, 100, status=int(status)))
    assert measurement.intended.flags == {
        ReadingFlag.LOW_BATTERY,
        ReadingFlag.TIME_FAULT,
        ReadingFlag.STRIP_INSERTION_ERROR,
    }


def test_sensor_status_flags_are_one_per_bit() -> None:
    """Regression (round trip with drivers): the intent folded the twelve Sensor Status bits into four
    generic flags (strip and sample errors into INVALID, temperature into QUESTIONABLE, time fault into
    CLOCK_NOT_SET) and dropped HI/LO, while core.domain names one flag per SIG status bit so that none
    is lost on the way to a clinician; RFU bits 12-15 raise none."""
    for bit in range(16):
        measurement, _ = encode_glucose_record(GlucoseSample(1, datetime(2026, 1, 1), None, 100, status=1 << bit))
        assert len(measurement.intended.flags) == (1 if bit < 12 else 0)


# Sizes by presence flag, from reference §5.1's and §5.2's tables.
MEASUREMENT_SIZES = {0x01: 2, 0x02: 3, 0x08: 2}
CONTEXT_SIZES = {0x80: 1, 0x01: 3, 0x02: 1, 0x04: 1, 0x08: 3, 0x10: 3, 0x40: 2}


def test_every_measurement_presence_combination() -> None:
    full = GlucoseSample(300, datetime(2026, 2, 3, 4, 5, 6), -60, 5.4, Unit.MMOL_PER_L, status=0x0001)
    variants = list(presence_variants(full, MEASUREMENT_LAYOUT))
    assert len(variants) == 8
    for sample in variants:
        data = encode_glucose_record(sample)[0].data
        assert data[0] & 0x04  # mol/L
        assert len(data) == 10 + sum(size for bit, size in MEASUREMENT_SIZES.items() if data[0] & bit)


def test_every_context_presence_combination() -> None:
    full = GlucoseContext(9, 0, (2, 45), 1, (1, 5), (600, 40), (4, 12.5), False, 7.1)
    variants = list(presence_variants(full, CONTEXT_LAYOUT))
    assert len(variants) == 128
    for context in variants:
        data = encode_glucose_context(context)
        assert not data[0] & 0x20  # medication in mass units
        assert len(data) == 3 + sum(size for bit, size in CONTEXT_SIZES.items() if data[0] & bit)
