"""Hypothesis strategies for the samples firmware_sim's SIG encoders take: every unit, status word,
value range and special value a field can carry, quantised to the field's resolution so the intent is
exactly what the bytes say. Shared by the round-trip tests in this package."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import strategies as st

from core.domain import SpecialValue, Unit
from firmware_sim.gatt.blood_pressure import (
    BloodPressureSample,
    encode_blood_pressure,
    encode_intermediate_cuff_pressure,
)
from firmware_sim.gatt.body_composition import BodyCompositionSample, encode_body_composition
from firmware_sim.gatt.glucose import GlucoseContext, GlucoseSample, encode_glucose_record
from firmware_sim.gatt.health_thermometer import TemperatureSample, encode_temperature
from firmware_sim.gatt.pulse_oximeter import ContinuousSample, SpotCheckSample, encode_continuous, encode_spot_check
from firmware_sim.gatt.weight_scale import WeightSample, encode_weight
from firmware_sim.intent import EncodedMeasurement

SPECIALS = st.sampled_from(
    [SpecialValue.NAN, SpecialValue.NRES, SpecialValue.POSITIVE_INFINITY, SpecialValue.NEGATIVE_INFINITY]
)


def decimal_steps(low: int, high: int, exponent: int) -> st.SearchStrategy[float]:
    """Whole multiples of 10^exponent between low and high steps, as the floats a device holds."""
    return st.integers(low, high).map(lambda n: float(Decimal(n).scaleb(exponent)))


def sfloat_or_special(low: int, high: int, exponent: int) -> st.SearchStrategy[float | SpecialValue]:
    return st.one_of(decimal_steps(low, high, exponent), SPECIALS)


# Date Time carries whole seconds from 1582; glucose adds an offset of up to ±22.75 days to it.
times = st.datetimes(min_value=datetime(1583, 1, 1), max_value=datetime(9998, 12, 31)).map(
    lambda t: t.replace(microsecond=0)
)


user_ids = st.integers(0, 0xFF)


uint16 = st.integers(0, 0xFFFF)


@st.composite
def blood_pressure_samples(draw: st.DrawFn) -> BloodPressureSample:
    unit = draw(st.sampled_from([Unit.MMHG, Unit.KPA]))
    # mmHg at exponent 0 stops below 2046 (0x07FE is +INF); kPa at 10^-1 spans the whole mantissa.
    pressure = sfloat_or_special(-50, 2045, 0) if unit == Unit.MMHG else sfloat_or_special(-2045, 2047, -1)
    return BloodPressureSample(
        systolic=draw(pressure),
        diastolic=draw(pressure),
        mean_arterial=draw(pressure),
        unit=unit,
        time_stamp=draw(times),
        pulse=draw(sfloat_or_special(0, 2045, 0)),
        user_id=draw(user_ids),
        status=draw(uint16),
    )


@st.composite
def glucose_samples(draw: st.DrawFn) -> GlucoseSample:
    unit = draw(st.sampled_from([Unit.MG_PER_DL, Unit.MMOL_PER_L]))
    concentration = sfloat_or_special(0, 2047, 0) if unit == Unit.MG_PER_DL else sfloat_or_special(0, 2047, -1)
    return GlucoseSample(
        sequence_number=draw(uint16),
        base_time=draw(times),
        time_offset_min=draw(st.integers(-0x8000, 0x7FFF)),
        concentration=draw(concentration),
        unit=unit,
        sample_type=draw(st.integers(0, 15)),
        sample_location=draw(st.integers(0, 15)),
        status=draw(uint16),
        context_follows=draw(st.booleans()),
    )


@st.composite
def glucose_contexts(draw: st.DrawFn, sequence_number: int) -> GlucoseContext:
    return GlucoseContext(
        sequence_number=sequence_number,
        extended_flags=draw(st.integers(0, 0xFF)),
        carbohydrate=(draw(st.integers(0, 0xFF)), draw(decimal_steps(0, 2045, 0))),
        meal=draw(st.integers(0, 0xFF)),
        tester_health=(draw(st.integers(0, 15)), draw(st.integers(0, 15))),
        exercise=(draw(uint16), draw(st.integers(0, 0xFF))),
        medication=(draw(st.integers(0, 0xFF)), draw(decimal_steps(0, 2047, -1))),
        medication_in_volume=draw(st.booleans()),
        hba1c_pct=draw(decimal_steps(0, 2047, -1)),
    )


@st.composite
def weight_samples(draw: st.DrawFn) -> WeightSample:
    unit = draw(st.sampled_from([Unit.KG, Unit.LB]))
    raw = draw(st.integers(0, 0xFFFE))
    weight = float(Decimal(raw * 5).scaleb(-3)) if unit == Unit.KG else float(Decimal(raw).scaleb(-2))
    height_exponent = -3 if unit == Unit.KG else -1
    return WeightSample(
        weight=weight,
        unit=unit,
        time_stamp=draw(times),
        user_id=draw(user_ids),
        bmi=draw(decimal_steps(0, 0xFFFF, -1)),
        height=draw(decimal_steps(0, 0xFFFF, height_exponent)),
    )


def masses(unit: Unit) -> st.SearchStrategy[float]:
    """Whole steps of a mass field (0.005 kg or 0.01 lb) below 0xFFFF, which drivers reads as "not
    measured" in every mass field (docs/wire-formats/body-composition.md)."""
    if unit == Unit.KG:
        return st.integers(0, 0xFFFE).map(lambda n: float(Decimal(n * 5).scaleb(-3)))
    return decimal_steps(0, 0xFFFE, -2)


def maybe(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), strategy)


@st.composite
def body_composition_samples(draw: st.DrawFn) -> BodyCompositionSample:
    """Body composition has eleven optional fields (2048 presence combinations), so hypothesis chooses
    which are present; :func:`test_body_composition_every_presence_combination` walks all of them."""
    unit = draw(st.sampled_from([Unit.KG, Unit.LB]))
    mass = maybe(masses(unit))
    tenths = maybe(decimal_steps(0, 0xFFFF, -1))
    return BodyCompositionSample(
        body_fat_pct=draw(decimal_steps(0, 0xFFFE, -1)),
        unit=unit,
        time_stamp=draw(st.one_of(st.none(), times)),
        user_id=draw(st.one_of(st.none(), user_ids)),
        basal_metabolism_kj=draw(st.one_of(st.none(), uint16)),
        muscle_pct=draw(tenths),
        muscle_mass=draw(mass),
        fat_free_mass=draw(mass),
        soft_lean_mass=draw(mass),
        body_water_mass=draw(mass),
        impedance_ohm=draw(tenths),
        weight=draw(mass),
        height=draw(maybe(decimal_steps(0, 0xFFFF, -3 if unit == Unit.KG else -1))),
        multiple_packet=draw(st.booleans()),
    )


percent = sfloat_or_special(0, 2045, 0)


pai = sfloat_or_special(0, 2047, -1)


@st.composite
def spot_check_samples(draw: st.DrawFn) -> SpotCheckSample:
    return SpotCheckSample(
        spo2=draw(percent),
        pulse_rate=draw(percent),
        time_stamp=draw(times),
        measurement_status=draw(uint16),
        device_sensor_status=draw(st.integers(0, 0xFFFFFF)),
        pulse_amplitude_index=draw(pai),
        clock_not_set=draw(st.booleans()),
    )


@st.composite
def continuous_samples(draw: st.DrawFn) -> ContinuousSample:
    return ContinuousSample(
        spo2=draw(percent),
        pulse_rate=draw(percent),
        fast=(draw(percent), draw(percent)),
        slow=(draw(percent), draw(percent)),
        measurement_status=draw(uint16),
        device_sensor_status=draw(st.integers(0, 0xFFFFFF)),
        pulse_amplitude_index=draw(pai),
    )


@st.composite
def temperature_samples(draw: st.DrawFn) -> TemperatureSample:
    unit = draw(st.sampled_from([Unit.CEL, Unit.DEG_F]))
    exponent = -2 if unit == Unit.CEL else -1
    number = decimal_steps(-(2**23) + 3, 2**23 - 3, exponent)
    return TemperatureSample(
        temperature=draw(st.one_of(number, SPECIALS)),
        unit=unit,
        time_stamp=draw(times),
        temperature_type=draw(st.integers(0, 0xFF)),
    )


@st.composite
def glucose_measurements(draw: st.DrawFn) -> EncodedMeasurement:
    measurement, _ = encode_glucose_record(draw(glucose_samples()))
    return measurement


@st.composite
def intermediate_cuff_pressures(draw: st.DrawFn) -> EncodedMeasurement:
    return encode_intermediate_cuff_pressure(draw(decimal_steps(0, 2045, 0)), pulse=draw(st.none() | percent))


def encoded_measurements() -> st.SearchStrategy[EncodedMeasurement]:
    """Any measurement frame any simulated device can send, with its intent."""
    return st.one_of(
        blood_pressure_samples().map(encode_blood_pressure),
        intermediate_cuff_pressures(),
        glucose_measurements(),
        weight_samples().map(encode_weight),
        weight_samples().map(lambda s: encode_weight(s, final=False)),
        body_composition_samples().map(encode_body_composition),
        spot_check_samples().map(encode_spot_check),
        continuous_samples().map(encode_continuous),
        temperature_samples().map(encode_temperature),
        temperature_samples().map(lambda s: encode_temperature(s, intermediate=True)),
    )
