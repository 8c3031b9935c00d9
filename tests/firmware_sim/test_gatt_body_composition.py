"""Body Composition Measurement encoder against reference §6.3 vectors, with intent."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, Unit
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.body_composition import (
    BodyCompositionDetails,
    BodyCompositionSample,
    encode_body_composition,
)
from firmware_sim.intent import IntendedMeasurement

NO_DETAILS = BodyCompositionDetails(None, None, None, None, None, None, None, multiple_packet=False)


def test_vector_body_fat_user_impedance_weight() -> None:
    # Origin: reference §6.3 "04 06 E1 00 01 88 13 98 3A → flags 0x0604, 22.5 %, user 1, 500.0 Ω, 75.000 kg".
    encoded = encode_body_composition(BodyCompositionSample(22.5, Unit.KG, user_id=1, impedance_ohm=500.0, weight=75.0))
    assert encoded.characteristic == uuids.BODY_COMPOSITION_MEASUREMENT
    assert encoded.data == bytes.fromhex("04 06 E1 00 01 88 13 98 3A")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.BODY_COMPOSITION,
        observations=(
            Observation(Metric.MDC_MASS_BODY_ACTUAL, 75.0, Unit.KG),
            Observation(Metric.MDC_BODY_FAT, 22.5, Unit.PERCENT),
        ),
        user_id=1,
        details=BodyCompositionDetails(None, None, None, None, None, None, 500.0, multiple_packet=False),
    )


def test_vector_unsuccessful() -> None:
    # Origin: reference §6.3 "02 00 FF FF E8 07 03 09 07 05 00 → unsuccessful, time stamp only".
    when = datetime(2024, 3, 9, 7, 5)
    encoded = encode_body_composition(BodyCompositionSample(None, Unit.KG, when))
    assert encoded.data == bytes.fromhex("02 00 FF FF E8 07 03 09 07 05 00")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.BODY_COMPOSITION,
        observations=(),
        flags=frozenset({ReadingFlag.MEASUREMENT_UNSUCCESSFUL}),
        device_time=when,
        details=NO_DETAILS,
    )


def test_vector_multiple_packet() -> None:
    # Origin: reference §6.3 "04 10 C8 00 01 → body fat 20.0 %, user 1, multiple-packet flag".
    encoded = encode_body_composition(BodyCompositionSample(20.0, Unit.KG, user_id=1, multiple_packet=True))
    assert encoded.data == bytes.fromhex("04 10 C8 00 01")
    assert encoded.intended.flags == {ReadingFlag.PARTIAL_MEASUREMENT}
    assert encoded.intended.observations == (Observation(Metric.MDC_BODY_FAT, 20.0, Unit.PERCENT),)


def test_imperial_masses_and_height() -> None:
    encoded = encode_body_composition(BodyCompositionSample(30.0, Unit.LB, weight=180.2, height=70.1))
    assert encoded.data == bytes.fromhex("01 0C 2C 01 64 46 BD 02")  # 18020 × 0.01 lb, 701 × 0.1 in
    metrics = {o.metric: o for o in encoded.intended.observations}
    assert metrics[Metric.MDC_MASS_BODY_ACTUAL].source_unit == Unit.LB
    assert metrics[Metric.MDC_LEN_BODY_ACTUAL].source_value == 70.1


def test_unsuccessful_measurement_carries_no_values() -> None:
    with pytest.raises(SimulationError):
        BodyCompositionSample(None, weight=70.0)


def test_mass_field_ceiling_is_refused() -> None:
    """0xFFFF in a mass field is "not measured" (docs/wire-formats/body-composition.md)."""
    with pytest.raises(SimulationError):
        encode_body_composition(BodyCompositionSample(20.0, weight=327.675))
