"""Blood Pressure Measurement and Intermediate Cuff Pressure encoders against reference §4 vectors,
with their intent, and every flag combination framed as the flags announce."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.domain import METRICS, Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from core.units import to_canonical
from firmware_sim.gatt import uuids
from firmware_sim.gatt.blood_pressure import (
    LAYOUT,
    BloodPressureSample,
    CuffPressureDetails,
    Feature,
    MeasurementStatus,
    encode_blood_pressure,
    encode_feature,
    encode_intermediate_cuff_pressure,
)
from firmware_sim.gatt.frames import presence_variants
from firmware_sim.intent import IntendedMeasurement

SYS, DIA, MAP, PULSE = (
    Metric.MDC_PRESS_BLD_NONINV_SYS,
    Metric.MDC_PRESS_BLD_NONINV_DIA,
    Metric.MDC_PRESS_BLD_NONINV_MEAN,
    Metric.MDC_PULS_RATE_NON_INV,
)


def kpa(metric: Metric, value: float) -> Observation:
    return Observation(
        metric, to_canonical(METRICS[metric], value, Unit.KPA), Unit.MMHG, source_value=value, source_unit=Unit.KPA
    )


def test_vector_1_minimal_mmhg() -> None:
    # Origin: reference §4.1 vector 1.
    encoded = encode_blood_pressure(BloodPressureSample(120, 80, 90))
    assert encoded.characteristic == uuids.BLOOD_PRESSURE_MEASUREMENT
    assert encoded.data == bytes.fromhex("00 78 00 50 00 5A 00")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(
            Observation(SYS, 120.0, Unit.MMHG),
            Observation(DIA, 80.0, Unit.MMHG),
            Observation(MAP, 90.0, Unit.MMHG),
        ),
    )


def test_vector_2_kpa_time_stamp_pulse() -> None:
    # Origin: reference §4.1 vector 2.
    when = datetime(2024, 3, 9, 7, 5)
    encoded = encode_blood_pressure(BloodPressureSample(16.0, 10.7, 12.5, Unit.KPA, when, pulse=72))
    assert encoded.data == bytes.fromhex("07 A0 F0 6B F0 7D F0 E8 07 03 09 07 05 00 48 00")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(kpa(SYS, 16.0), kpa(DIA, 10.7), kpa(MAP, 12.5), Observation(PULSE, 72.0, Unit.PER_MIN)),
        device_time=when,
    )
    assert round(encoded.intended.observations[1].value or 0, 1) == 80.3  # the reference's mmHg figures


def test_vector_3_nan_map_unknown_user_status() -> None:
    # Origin: reference §4.1 vector 3.
    when = datetime(2024, 5, 10, 23, 59)
    sample = BloodPressureSample(140, 90, SpecialValue.NAN, Unit.MMHG, when, 180, 0xFF, 0x0008)
    encoded = encode_blood_pressure(sample, from_memory=True)
    assert encoded.data == bytes.fromhex("1E 8C 00 5A 00 FF 07 E8 07 05 0A 17 3B 00 B4 00 FF 08 00")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.BLOOD_PRESSURE,
        observations=(
            Observation(SYS, 140.0, Unit.MMHG),
            Observation(DIA, 90.0, Unit.MMHG),
            Observation(PULSE, 180.0, Unit.PER_MIN),
        ),  # a NaN MAP is "not provided" (§4.1), so it is not intended either
        flags=frozenset({ReadingFlag.PULSE_RATE_OUT_OF_RANGE, ReadingFlag.PULSE_RATE_ABOVE_RANGE}),
        device_time=when,
        user_id=0xFF,
        status=0x0008,
        from_device_memory=True,
    )


def test_intermediate_cuff_pressure_vector() -> None:
    # Origin: reference §4.2 vector.
    encoded = encode_intermediate_cuff_pressure(165, pulse=72)
    assert encoded.characteristic == uuids.INTERMEDIATE_CUFF_PRESSURE
    assert encoded.data == bytes.fromhex("04 A5 00 FF 07 FF 07 48 00")
    assert not encoded.intended.final
    # The cuff pressure is not a systolic pressure: only the pulse is an observation (round trip with drivers).
    assert encoded.intended.observations == (Observation(PULSE, 72.0, Unit.PER_MIN),)
    assert encoded.intended.details == CuffPressureDetails(165, Unit.MMHG)


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        # Origin: reference §4.3 vectors.
        (
            Feature.BODY_MOVEMENT_DETECTION
            | Feature.CUFF_FIT_DETECTION
            | Feature.IRREGULAR_PULSE_DETECTION
            | Feature.MULTIPLE_BONDS,
            "27 00",
        ),
        (Feature(0x01FF), "FF 01"),
    ],
)
def test_feature_vectors(features: Feature, expected: str) -> None:
    assert encode_feature(features) == bytes.fromhex(expected)


def test_every_status_bit_maps_to_its_flag() -> None:
    expected = {
        MeasurementStatus.BODY_MOVEMENT: {ReadingFlag.BODY_MOVEMENT},
        MeasurementStatus.CUFF_TOO_LOOSE: {ReadingFlag.CUFF_FIT_LOOSE},
        MeasurementStatus.IRREGULAR_PULSE: {ReadingFlag.IRREGULAR_PULSE},
        MeasurementStatus.PULSE_RATE_ABOVE_RANGE: {
            ReadingFlag.PULSE_RATE_OUT_OF_RANGE,
            ReadingFlag.PULSE_RATE_ABOVE_RANGE,
        },
        MeasurementStatus.PULSE_RATE_BELOW_RANGE: {
            ReadingFlag.PULSE_RATE_OUT_OF_RANGE,
            ReadingFlag.PULSE_RATE_BELOW_RANGE,
        },
        MeasurementStatus.IMPROPER_POSITION: {ReadingFlag.IMPROPER_POSITION},
    }
    for bit, flags in expected.items():
        intended = encode_blood_pressure(BloodPressureSample(120, 80, 93, status=int(bit))).intended
        assert intended.flags == flags


def test_pulse_rate_range_value_3_is_rfu_and_raises_no_flag() -> None:
    """Regression (round trip with drivers): bits 3-4 are one 2-bit value and 3 is RFU (reference
    §4.1), which a receiver ignores (§0); the intent flagged it "out of range" by testing each bit."""
    status = MeasurementStatus.PULSE_RATE_ABOVE_RANGE | MeasurementStatus.PULSE_RATE_BELOW_RANGE
    assert encode_blood_pressure(BloodPressureSample(120, 80, 93, status=int(status))).intended.flags == set()


def test_map_zero_is_not_provided() -> None:
    """Regression (round trip with drivers): Beurer BM85 sends MAP 0 for "not provided" and the
    reference says to treat it so (§4.1, §11); the intent kept it as a 0 mmHg observation."""
    intended = encode_blood_pressure(BloodPressureSample(120, 80, 0)).intended
    assert [o.metric for o in intended.observations] == [SYS, DIA]


# Field sizes by presence flag, from reference §4.1's table (not from the encoder's layout).
OPTIONAL_SIZES = {0x02: 7, 0x04: 2, 0x08: 1, 0x10: 2}


@pytest.mark.parametrize("unit", [Unit.MMHG, Unit.KPA])
def test_all_16_presence_combinations_are_framed_as_announced(unit: Unit) -> None:
    pressures = (120.0, 80.0, 93.0) if unit == Unit.MMHG else (16.0, 10.7, 12.4)
    full = BloodPressureSample(*pressures, unit, datetime(2026, 1, 2, 3, 4, 5), 61, 2, 0x0004)
    seen = set()
    for sample in presence_variants(full, LAYOUT):
        data = encode_blood_pressure(sample).data
        flags = data[0]
        seen.add(flags)
        assert (flags & 0x01) == (unit == Unit.KPA)
        assert len(data) == 7 + sum(size for bit, size in OPTIONAL_SIZES.items() if flags & bit)
    assert len(seen) == 16
