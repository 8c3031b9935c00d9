"""Weight Measurement and Weight Scale Feature encoders against reference §6 vectors, with intent."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.domain import METRICS, Metric, Observation, ReadingFlag, ReadingKind, Unit
from core.units import to_canonical
from firmware_sim.errors import NotRepresentable, SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.frames import presence_variants
from firmware_sim.gatt.weight_scale import (
    LAYOUT,
    LIVE_WEIGHT,
    Feature,
    WeightSample,
    encode_feature,
    encode_weight,
    height_resolution_bits,
    weight_resolution_bits,
)
from firmware_sim.intent import IntendedMeasurement

WEIGHT, BMI, HEIGHT = Metric.MDC_MASS_BODY_ACTUAL, Metric.MDC_RATIO_MASS_BODY_LEN_SQ, Metric.MDC_LEN_BODY_ACTUAL


def converted(metric: Metric, value: float, unit: Unit) -> Observation:
    spec = METRICS[metric]
    return Observation(
        metric, to_canonical(spec, value, unit), spec.canonical_unit, source_value=value, source_unit=unit
    )


def test_vector_1_kg() -> None:
    # Origin: reference §6.1 vector 1.
    encoded = encode_weight(WeightSample(75.0))
    assert encoded.characteristic == uuids.WEIGHT_MEASUREMENT
    assert encoded.data == bytes.fromhex("00 98 3A")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.WEIGHT, observations=(Observation(WEIGHT, 75.0, Unit.KG),)
    )


def test_vector_2_imperial_everything() -> None:
    # Origin: reference §6.1 vector 2.
    when = datetime(2024, 3, 9, 7, 5)
    encoded = encode_weight(WeightSample(159.96, Unit.LB, when, 2, 24.5, 69.3))
    assert encoded.data == bytes.fromhex("0F 7C 3E E8 07 03 09 07 05 00 02 F5 00 B5 02")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.WEIGHT,
        observations=(
            converted(WEIGHT, 159.96, Unit.LB),
            Observation(BMI, 24.5, Unit.KG_PER_M2),
            converted(HEIGHT, 69.3, Unit.INCH),
        ),
        device_time=when,
        user_id=2,
    )


def test_vector_3_unsuccessful() -> None:
    # Origin: reference §6.1 vector 3.
    when = datetime(2024, 3, 9, 7, 5)
    encoded = encode_weight(WeightSample(None, Unit.KG, when, 1))
    assert encoded.data == bytes.fromhex("06 FF FF E8 07 03 09 07 05 00 01")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.WEIGHT,
        observations=(),
        flags=frozenset({ReadingFlag.MEASUREMENT_UNSUCCESSFUL}),
        device_time=when,
        user_id=1,
    )


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        # Origin: reference §6.2 vectors.
        (Feature.TIME_STAMP | weight_resolution_bits(4), "21 00 00 00"),
        (
            Feature.TIME_STAMP
            | Feature.MULTIPLE_USERS
            | Feature.BMI
            | weight_resolution_bits(7)
            | height_resolution_bits(3),
            "BF 01 00 00",
        ),
    ],
)
def test_feature_vectors(features: int, expected: str) -> None:
    assert encode_feature(features) == bytes.fromhex(expected)


def test_live_weight_is_the_same_layout_and_not_final() -> None:
    encoded = encode_weight(WeightSample(81.2), final=False)
    assert encoded.characteristic == LIVE_WEIGHT
    assert encoded.data == encode_weight(WeightSample(81.2)).data
    assert not encoded.intended.final


def test_weights_between_field_steps_are_refused() -> None:
    with pytest.raises(NotRepresentable):
        encode_weight(WeightSample(75.002))
    with pytest.raises(SimulationError):
        WeightSample(None, bmi=24.0, height=1.8)


def test_every_presence_combination() -> None:
    full = WeightSample(82.4, Unit.KG, datetime(2026, 1, 1, 6, 30), 1, 25.4, 1.801)
    variants = list(presence_variants(full, LAYOUT))
    assert len(variants) == 8
    for sample in variants:
        data = encode_weight(sample).data
        sizes = {0x02: 7, 0x04: 1, 0x08: 4}  # reference §6.1 table
        assert len(data) == 3 + sum(size for bit, size in sizes.items() if data[0] & bit)
