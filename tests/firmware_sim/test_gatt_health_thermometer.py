"""Temperature Measurement encoder against reference §8 vectors, with intent."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.domain import METRICS, Metric, Observation, ReadingKind, SpecialValue, Unit
from core.units import to_canonical
from firmware_sim.gatt import uuids
from firmware_sim.gatt.frames import presence_variants
from firmware_sim.gatt.health_thermometer import (
    LAYOUT,
    TemperatureDetails,
    TemperatureSample,
    TemperatureType,
    encode_measurement_interval,
    encode_temperature,
    encode_temperature_type,
)
from firmware_sim.intent import IntendedMeasurement

TEMP = Metric.MDC_TEMP_BODY


def test_fahrenheit_vector() -> None:
    # Origin: reference §8 "01 DA 03 00 FF → 98.6 °F".
    encoded = encode_temperature(TemperatureSample(98.6, Unit.DEG_F))
    assert encoded.characteristic == uuids.TEMPERATURE_MEASUREMENT
    assert encoded.data == bytes.fromhex("01 DA 03 00 FF")
    celsius = to_canonical(METRICS[TEMP], 98.6, Unit.DEG_F)
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.TEMPERATURE,
        observations=(Observation(TEMP, celsius, Unit.CEL, source_value=98.6, source_unit=Unit.DEG_F),),
        details=TemperatureDetails(None),
    )


def test_nan_with_type_vector() -> None:
    # Origin: reference §8 "04 FF FF 7F 00 06 → NaN (error), type mouth".
    encoded = encode_temperature(TemperatureSample(SpecialValue.NAN, Unit.CEL, None, TemperatureType.MOUTH))
    assert encoded.data == bytes.fromhex("04 FF FF 7F 00 06")
    assert encoded.intended.observations == (Observation(TEMP, None, Unit.CEL, special=SpecialValue.NAN),)
    assert encoded.intended.details == TemperatureDetails(6)


def test_celsius_time_stamp_vector() -> None:
    # Origin: reference §8 "02 65 0E 00 FE E8 07 03 09 07 05 00 → 36.85 °C at 2024-03-09 07:05:00".
    when = datetime(2024, 3, 9, 7, 5)
    encoded = encode_temperature(TemperatureSample(36.85, Unit.CEL, when))
    assert encoded.data == bytes.fromhex("02 65 0E 00 FE E8 07 03 09 07 05 00")
    assert encoded.intended.device_time == when
    assert encoded.intended.observations == (Observation(TEMP, 36.85, Unit.CEL),)


def test_intermediate_temperature_is_display_only() -> None:
    encoded = encode_temperature(TemperatureSample(36.2), intermediate=True)
    assert encoded.characteristic == uuids.INTERMEDIATE_TEMPERATURE
    assert not encoded.intended.final


def test_type_and_interval_reads() -> None:
    assert encode_temperature_type(TemperatureType.TYMPANUM) == b"\x09"
    assert encode_measurement_interval(0) == b"\x00\x00"


@pytest.mark.parametrize("unit", [Unit.CEL, Unit.DEG_F])
def test_every_presence_combination(unit: Unit) -> None:
    full = TemperatureSample(37.2 if unit == Unit.CEL else 99.0, unit, datetime(2026, 1, 1), TemperatureType.EAR)
    variants = list(presence_variants(full, LAYOUT))
    assert len(variants) == 4
    for sample in variants:
        data = encode_temperature(sample).data
        assert (data[0] & 0x01) == (unit == Unit.DEG_F)
        assert len(data) == 5 + (7 if data[0] & 0x02 else 0) + (1 if data[0] & 0x04 else 0)
