"""Round trips between the two independent implementations of the SIG health profiles: hypothesis
draws samples over every unit, status word and value range, ``presence_variants`` removes every
subset of the optional fields, the ``firmware_sim`` encoder writes the bytes, ``drivers`` decodes
them strictly, and the decoded frame must say exactly what the encoder's ground truth intended
(``tests/drivers/intent_check.py`` states what "exactly" means).

Regression tests named after the disagreements these round trips found sit beside the property they
belong to; the report of which side was wrong is in the commit that fixed it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import Metric, ReadingFlag, SpecialValue, Unit
from drivers import decode, to_observations
from drivers.blood_pressure import IntermediateCuffPressure
from drivers.body_composition import BodyCompositionMeasurement
from drivers.glucose import GlucoseContext as DecodedContext
from drivers.pulse_oximeter import ContinuousMeasurement, SpotCheckMeasurement
from drivers.thermometer import TemperatureMeasurement
from drivers.weight_scale import WeightMeasurement
from firmware_sim.gatt.blood_pressure import (
    LAYOUT as BP_LAYOUT,
)
from firmware_sim.gatt.blood_pressure import (
    BloodPressureSample,
    encode_blood_pressure,
    encode_intermediate_cuff_pressure,
)
from firmware_sim.gatt.body_composition import LAYOUT as BODY_COMPOSITION_LAYOUT
from firmware_sim.gatt.body_composition import (
    BodyCompositionDetails,
    BodyCompositionSample,
    encode_body_composition,
)
from firmware_sim.gatt.frames import presence_variants
from firmware_sim.gatt.glucose import (
    CONTEXT_LAYOUT,
    MEASUREMENT_LAYOUT,
    GlucoseSample,
    encode_glucose_record,
)
from firmware_sim.gatt.health_thermometer import LAYOUT as TEMPERATURE_LAYOUT
from firmware_sim.gatt.health_thermometer import TemperatureSample, encode_temperature
from firmware_sim.gatt.pulse_oximeter import (
    CONTINUOUS_LAYOUT,
    SPOT_CHECK_LAYOUT,
    ContinuousSample,
    PlxDetails,
    SpotCheckSample,
    encode_continuous,
    encode_spot_check,
)
from firmware_sim.gatt.weight_scale import LAYOUT as WEIGHT_LAYOUT
from firmware_sim.gatt.weight_scale import WeightSample, encode_weight
from tests.drivers.intent_check import assert_context, assert_matches_intent, close, round_trip
from tests.drivers.sim_samples import (
    blood_pressure_samples,
    body_composition_samples,
    continuous_samples,
    glucose_contexts,
    glucose_samples,
    sfloat_or_special,
    spot_check_samples,
    temperature_samples,
    weight_samples,
)

PROPERTY = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)

# --- Blood pressure 0x2A35 / 0x2A36 ----------------------------------------------------------------


@PROPERTY
@given(sample=blood_pressure_samples(), from_memory=st.booleans())
def test_blood_pressure_measurement_round_trips(sample: BloodPressureSample, from_memory: bool) -> None:
    for variant in presence_variants(sample, BP_LAYOUT):
        encoded = encode_blood_pressure(variant, from_memory=from_memory)
        round_trip(encoded)
        # Nothing in 0x2A35 says "stored": a record from memory is byte-identical to a live one.
        assert encode_blood_pressure(variant, from_memory=not from_memory).data == encoded.data


@PROPERTY
@given(
    unit=st.sampled_from([Unit.MMHG, Unit.KPA]),
    cuff=st.integers(0, 2045),
    pulse=st.one_of(st.none(), sfloat_or_special(0, 2045, 0)),
)
def test_intermediate_cuff_pressure_round_trips(unit: Unit, cuff: int, pulse: float | SpecialValue | None) -> None:
    pressure = float(cuff) if unit == Unit.MMHG else float(Decimal(cuff).scaleb(-1))
    encoded = encode_intermediate_cuff_pressure(pressure, unit, pulse=pulse)
    frame, normalised = round_trip(encoded)
    assert isinstance(frame, IntermediateCuffPressure)
    assert frame.cuff_pressure == pressure
    assert frame.unit == unit
    assert not normalised.storable


# --- Glucose 0x2A18 / 0x2A34 -----------------------------------------------------------------------


@PROPERTY
@given(sample=glucose_samples(), from_memory=st.booleans())
def test_glucose_measurement_round_trips(sample: GlucoseSample, from_memory: bool) -> None:
    for variant in presence_variants(sample, MEASUREMENT_LAYOUT):
        measurement, _ = encode_glucose_record(variant, from_memory=from_memory)
        assert encode_glucose_record(variant, from_memory=not from_memory)[0].data == measurement.data
        frame, _ = round_trip(measurement)
        assert frame.context_follows == variant.context_follows  # type: ignore[attr-defined]


@PROPERTY
@given(data=st.data(), sample=glucose_samples())
def test_glucose_context_round_trips(data: st.DataObject, sample: GlucoseSample) -> None:
    context = data.draw(glucose_contexts(sample.sequence_number))
    for variant in presence_variants(context, CONTEXT_LAYOUT):
        measurement, context_frame = encode_glucose_record(sample, variant)
        assert context_frame is not None
        frame, _ = round_trip(measurement)
        assert frame.context_follows  # type: ignore[attr-defined]
        decoded = decode(context_frame.characteristic, context_frame.data, strict=True)
        assert isinstance(decoded, DecodedContext)
        assert_context(decoded, variant)


# --- Weight 0x2A9D ---------------------------------------------------------------------------------


@PROPERTY
@given(sample=weight_samples(), unsuccessful=st.booleans(), final=st.booleans(), from_memory=st.booleans())
def test_weight_measurement_round_trips(
    sample: WeightSample, unsuccessful: bool, final: bool, from_memory: bool
) -> None:
    """Final weights on 0x2A9D; provisional ones on the simulated scale's live-weight characteristic,
    which drivers decodes as a frame that is never stored (docs/wire-formats/weight-scale.md)."""
    if unsuccessful:  # WSS 1.0: 0xFFFF, and no BMI/height
        sample = WeightSample(None, sample.unit, sample.time_stamp, sample.user_id)
    for variant in presence_variants(sample, WEIGHT_LAYOUT):
        encoded = encode_weight(variant, final=final, from_memory=from_memory)
        frame, normalised = round_trip(encoded)
        assert encode_weight(variant, final=final, from_memory=not from_memory).data == encoded.data
        assert isinstance(frame, WeightMeasurement)
        assert frame.provisional == (not final)
        if not final:
            assert not normalised.storable


def test_provisional_weight_is_decoded_as_a_frame_that_is_never_stored() -> None:
    """Regression (round trip with firmware_sim's scale): the scale's settling weights on
    c0de0001-… (docs/firmware-sim.md) were an UnknownCharacteristic error in drivers, so every
    weighing would have sent three "rejected frames" to the dead-letter store. They now decode as
    provisional 0x2A9D frames: shown live, never stored."""
    encoded = encode_weight(WeightSample(75.0), final=False)
    assert encoded.characteristic == "c0de0001-5ca1-4e00-9000-ca4e4b5b0001"
    frame = decode(encoded.characteristic, encoded.data, strict=True)
    assert isinstance(frame, WeightMeasurement)
    assert frame.provisional
    assert frame.weight == 75.0
    normalised = to_observations(frame)
    assert not normalised.storable
    assert [o.value for o in normalised.observations] == [75.0]


# --- Body composition 0x2A9C ----------------------------------------------------------------------


def _assert_body_composition(sample: BodyCompositionSample) -> None:
    encoded = encode_body_composition(sample)
    frame, _ = round_trip(encoded)
    assert isinstance(frame, BodyCompositionMeasurement)
    details = encoded.intended.details
    assert isinstance(details, BodyCompositionDetails)
    decoded = (
        frame.basal_metabolism_kj,
        frame.muscle_pct,
        frame.muscle_mass,
        frame.fat_free_mass,
        frame.soft_lean_mass,
        frame.body_water_mass,
        frame.impedance_ohm,
        frame.multiple_packet,
    )
    sent = (
        details.basal_metabolism_kj,
        details.muscle_pct,
        details.muscle_mass,
        details.fat_free_mass,
        details.soft_lean_mass,
        details.body_water_mass,
        details.impedance_ohm,
        details.multiple_packet,
    )
    assert all(close(a, b) for a, b in zip(decoded, sent, strict=True)), (decoded, sent)


@settings(PROPERTY, max_examples=200)
@given(sample=body_composition_samples(), unsuccessful=st.booleans())
def test_body_composition_round_trips(sample: BodyCompositionSample, unsuccessful: bool) -> None:
    if unsuccessful:  # §6.3: then only units, time stamp and user ID
        sample = BodyCompositionSample(None, sample.unit, sample.time_stamp, sample.user_id)
    _assert_body_composition(sample)


def test_body_composition_every_presence_combination() -> None:
    full = BodyCompositionSample(
        22.5, Unit.KG, datetime(2026, 3, 9, 7, 5), 1, 6500, 41.2, 30.5, 58.1, 55.0, 40.3, 500.0, 75.0, 1.78, True
    )
    variants = list(presence_variants(full, BODY_COMPOSITION_LAYOUT))
    assert len(variants) == 2**11
    for variant in variants:
        _assert_body_composition(variant)


# --- Pulse oximeter 0x2A5E / 0x2A5F ----------------------------------------------------------------


def _assert_plx_details(frame: SpotCheckMeasurement | ContinuousMeasurement, details: object) -> None:
    assert isinstance(details, PlxDetails)
    assert frame.device_sensor_status == details.device_sensor_status
    assert frame.pulse_amplitude_index_pct == details.pulse_amplitude_index


@PROPERTY
@given(sample=spot_check_samples())
def test_plx_spot_check_round_trips(sample: SpotCheckSample) -> None:
    for variant in presence_variants(sample, SPOT_CHECK_LAYOUT):
        encoded = encode_spot_check(variant)
        frame, normalised = round_trip(encoded)
        assert isinstance(frame, SpotCheckMeasurement)
        _assert_plx_details(frame, encoded.intended.details)
        assert frame.clock_not_set == variant.clock_not_set
        # The one profile whose bytes say "from memory": measurement status bit 9.
        assert (ReadingFlag.FROM_MEASUREMENT_STORAGE in normalised.flags) == encoded.intended.from_device_memory


@PROPERTY
@given(sample=continuous_samples())
def test_plx_continuous_round_trips(sample: ContinuousSample) -> None:
    for variant in presence_variants(sample, CONTINUOUS_LAYOUT):
        encoded = encode_continuous(variant)
        frame, _ = round_trip(encoded)
        assert isinstance(frame, ContinuousMeasurement)
        _assert_plx_details(frame, encoded.intended.details)
        assert (frame.spo2_pct_fast, frame.pulse_rate_fast) == (variant.fast or (None, None))
        assert (frame.spo2_pct_slow, frame.pulse_rate_slow) == (variant.slow or (None, None))


# --- Health thermometer 0x2A1C / 0x2A1E ------------------------------------------------------------


@PROPERTY
@given(sample=temperature_samples(), intermediate=st.booleans(), from_memory=st.booleans())
def test_temperature_measurement_round_trips(sample: TemperatureSample, intermediate: bool, from_memory: bool) -> None:
    for variant in presence_variants(sample, TEMPERATURE_LAYOUT):
        encoded = encode_temperature(variant, intermediate=intermediate, from_memory=from_memory)
        assert encode_temperature(variant, intermediate=intermediate, from_memory=not from_memory).data == encoded.data
        frame, _ = round_trip(encoded)
        assert isinstance(frame, TemperatureMeasurement)
        assert frame.temperature_type == variant.temperature_type
        assert frame.intermediate == intermediate


def test_celsius_observation_keeps_no_source_unit() -> None:
    """A °C thermometer needs no conversion, so neither side may invent a source value."""
    encoded = encode_temperature(TemperatureSample(36.85, Unit.CEL))
    _, normalised = round_trip(encoded)
    (temperature,) = normalised.observations
    assert (temperature.metric, temperature.value, temperature.source_unit) == (Metric.MDC_TEMP_BODY, 36.85, None)
    assert_matches_intent(decode(encoded.characteristic, encoded.data), encoded.intended)
