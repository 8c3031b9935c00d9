"""Garbage from a simulated device: every measurement frame firmware_sim can send, corrupted by each
fault of ``firmware_sim/devices/faults.py``, must decode in drivers to a value or to a typed
:class:`~drivers.DecodeError` carrying the raw hex, never another exception; and where the reference
says what a receiver makes of the corruption, exactly that:

- truncated below what the flags announce → ``TruncatedFrame`` (or its ``MissingField``), always (§0);
- trailing bytes → the intended value with the bytes kept as ``trailing``, ``TrailingBytes`` in strict
  mode (§0);
- RFU flag bits set → exactly the intended value (RFU bits are ignored, §0; Beurer BM85, §11);
- the reserved IEEE 11073 word in the first measurement field → a ``reserved`` special value, never a
  number (§2);
- a flipped flag or random bytes → a value or a typed error.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import SpecialValue
from drivers import DecodeError, Frame, TrailingBytes, TruncatedFrame, decode, to_observations
from firmware_sim.devices.faults import FIRST_MEASURE, RFU_FLAG_BITS, FaultInjector, FaultPlan
from firmware_sim.devices.outgoing import Delivery, Fault, Outgoing
from firmware_sim.gatt import uuids
from firmware_sim.intent import EncodedMeasurement
from tests.drivers.intent_check import assert_matches_intent
from tests.drivers.sim_samples import encoded_measurements

FIRST_FIELD = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: "systolic",
    uuids.INTERMEDIATE_CUFF_PRESSURE: "cuff_pressure",
    uuids.PLX_SPOT_CHECK_MEASUREMENT: "spo2_pct",
    uuids.PLX_CONTINUOUS_MEASUREMENT: "spo2_pct",
    uuids.TEMPERATURE_MEASUREMENT: "temperature",
    uuids.INTERMEDIATE_TEMPERATURE: "temperature",
}
"""The drivers frame attribute holding each measurement's first field."""

PROPERTY = settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)


def corrupted(encoded: EncodedMeasurement, fault: Fault, seed: int) -> Outgoing:
    injector = FaultInjector(FaultPlan(), np.random.default_rng(seed))
    injector.force(fault)
    frame = injector.corrupt(Outgoing.of(encoded, Delivery.NOTIFY))
    assert frame.fault is fault
    return frame


def value_or_typed_error(frame: Outgoing, *, strict: bool = False) -> Frame | DecodeError:
    """Decode ``frame``; a typed error is returned (with its raw hex checked), anything else raises."""
    try:
        decoded = decode(frame.characteristic, frame.data, strict=strict)
    except DecodeError as error:
        assert error.raw_hex == frame.data.hex()  # noqa: PT017 - a typed error is an allowed outcome
        return error
    normalised = to_observations(decoded)
    for observation in normalised.observations:
        assert (observation.value is None) != (observation.special is None)
    return decoded


@PROPERTY
@given(encoded=encoded_measurements(), seed=st.integers(0, 2**32 - 1))
def test_truncated_frames_are_typed_truncation_errors(encoded: EncodedMeasurement, seed: int) -> None:
    frame = corrupted(encoded, Fault.TRUNCATED, seed)
    assert len(frame.data) < len(encoded.data)
    assert isinstance(value_or_typed_error(frame), TruncatedFrame)


@PROPERTY
@given(encoded=encoded_measurements(), seed=st.integers(0, 2**32 - 1))
def test_trailing_bytes_are_kept_and_the_value_is_still_the_intended_one(
    encoded: EncodedMeasurement, seed: int
) -> None:
    frame = corrupted(encoded, Fault.TRAILING_BYTES, seed)
    extra = frame.data[len(encoded.data) :]
    assert frame.data[: len(encoded.data)] == encoded.data
    assert extra
    decoded = value_or_typed_error(frame)
    assert not isinstance(decoded, DecodeError)
    assert decoded.trailing == extra
    assert_matches_intent(decoded, encoded.intended)
    assert isinstance(value_or_typed_error(frame, strict=True), TrailingBytes)


@PROPERTY
@given(encoded=encoded_measurements(), seed=st.integers(0, 2**32 - 1))
def test_rfu_flag_bits_are_ignored(encoded: EncodedMeasurement, seed: int) -> None:
    frame = corrupted(encoded, Fault.RFU_FLAGS, seed)
    assert encoded.characteristic in RFU_FLAG_BITS
    assert frame.data != encoded.data
    decoded = value_or_typed_error(frame, strict=True)
    assert not isinstance(decoded, DecodeError)
    assert_matches_intent(decoded, encoded.intended)


@PROPERTY
@given(encoded=encoded_measurements(), seed=st.integers(0, 2**32 - 1))
def test_reserved_value_is_a_reserved_special_never_a_number(encoded: EncodedMeasurement, seed: int) -> None:
    frame = corrupted(encoded, Fault.RESERVED_VALUE, seed)
    decoded = value_or_typed_error(frame, strict=True)
    assert not isinstance(decoded, DecodeError)
    if encoded.characteristic not in FIRST_MEASURE:
        assert frame.data == encoded.data  # the fault applies to measurements that start with a number
        return
    assert getattr(decoded, FIRST_FIELD[encoded.characteristic]) is SpecialValue.RESERVED


@PROPERTY
@given(
    encoded=encoded_measurements(),
    fault=st.sampled_from([Fault.FLIPPED_FLAG, Fault.GARBAGE]),
    seed=st.integers(0, 2**32 - 1),
)
def test_flipped_flags_and_garbage_decode_to_a_value_or_a_typed_error(
    encoded: EncodedMeasurement, fault: Fault, seed: int
) -> None:
    frame = corrupted(encoded, fault, seed)
    value_or_typed_error(frame)
    value_or_typed_error(frame, strict=True)
