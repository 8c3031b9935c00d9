"""SFLOAT/FLOAT encoders against the IEEE 11073-20601 worked vectors of reference §2."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import SpecialValue
from firmware_sim.errors import NotRepresentable
from firmware_sim.gatt.medfloat import (
    FLOAT,
    SFLOAT,
    encode_float,
    encode_reserved,
    encode_sfloat,
    quantize,
)

# Origin: reference/ble-health-profiles.md §2.1 "Worked vectors" (value, exponent the vector uses, bytes).
SFLOAT_VECTORS = [
    (120, 0, "78 00"),
    (36.5, -1, "6D F1"),
    (-0.5, -1, "FB FF"),
    (0.00095, -5, "5F B0"),
    (0.0054, -4, "36 C0"),
    (204.7, -1, "FF F7"),  # an ordinary number: only the exact word 0x07FF is NaN
    (20470, 1, "FF 17"),
    (0.0, -8, "00 80"),
    (120, -1, "B0 F4"),  # §2.1: "120 = 78 00 = B0 F4 (1200×10⁻¹)": one value, two encodings
]

# Origin: reference §2.2 worked vectors.
FLOAT_VECTORS = [
    (37.60, -2, "B0 0E 00 FE"),
    (98.6, -1, "DA 03 00 FF"),
    (36.85, -2, "65 0E 00 FE"),
    (-12.5, -1, "83 FF FF FF"),
]

# Origin: reference §2.1 and §2.2 special-value tables.
SPECIALS = [
    (SpecialValue.NAN, "FF 07", "FF FF 7F 00"),
    (SpecialValue.NRES, "00 08", "00 00 80 00"),
    (SpecialValue.POSITIVE_INFINITY, "FE 07", "FE FF 7F 00"),
    (SpecialValue.NEGATIVE_INFINITY, "02 08", "02 00 80 00"),
]


@pytest.mark.parametrize(("value", "exponent", "expected"), SFLOAT_VECTORS)
def test_sfloat_worked_vectors(value: float, exponent: int, expected: str) -> None:
    assert encode_sfloat(value, exponent) == bytes.fromhex(expected)


@pytest.mark.parametrize(("value", "exponent", "expected"), FLOAT_VECTORS)
def test_float_worked_vectors(value: float, exponent: int, expected: str) -> None:
    assert encode_float(value, exponent) == bytes.fromhex(expected)


@pytest.mark.parametrize(("special", "sfloat", "float_"), SPECIALS)
def test_special_values_are_the_whole_reserved_words(special: SpecialValue, sfloat: str, float_: str) -> None:
    assert encode_sfloat(special, -3) == bytes.fromhex(sfloat)  # the exponent plays no part
    assert encode_float(special, 5) == bytes.fromhex(float_)


def test_reserved_words() -> None:
    # Origin: reference §2.1/§2.2 "Reserved" rows.
    assert encode_reserved(SFLOAT) == bytes.fromhex("01 08")
    assert encode_reserved(FLOAT) == bytes.fromhex("01 00 80 00")


@pytest.mark.parametrize(
    ("value", "exponent"),
    [
        (120.5, 0),  # needs rounding
        (2048, 0),  # mantissa overflow
        (-2049, 0),
        (1, 8),  # exponent out of range
        (2047, 0),  # would be the NaN word 0x07FF
        (-2048, 0),  # would be NRes 0x0800
        (2046, 0),  # +INF
        (-2046, 0),  # -INF
        (-2047, 0),  # reserved
    ],
)
def test_unrepresentable_values_are_refused(value: float, exponent: int) -> None:
    with pytest.raises(NotRepresentable):
        encode_sfloat(value, exponent)


def test_quantize_rounds_to_the_field_resolution() -> None:
    assert quantize(36.849, -2) == 36.85
    assert quantize(81.23, -1, 2) == 81.2
    assert quantize(180.5, -1, 2) == 180.4  # half to even in steps of 0.2
    assert quantize(0.1 + 0.2, -1) == 0.3


def _decode_by_spec(data: bytes, mantissa_bits: int) -> Decimal:
    """The spec's formula, written here only to check the encoder (not a carehub decoder)."""
    raw = int.from_bytes(data, "little")
    m = raw & ((1 << mantissa_bits) - 1)
    e = raw >> mantissa_bits
    m -= (1 << mantissa_bits) if m >= 1 << (mantissa_bits - 1) else 0
    exponent_bits = len(data) * 8 - mantissa_bits
    e -= (1 << exponent_bits) if e >= 1 << (exponent_bits - 1) else 0
    return Decimal(m).scaleb(e)


@given(st.integers(-2048, 2047), st.integers(-8, 7))
def test_sfloat_round_trips_every_ordinary_word(mantissa: int, exponent: int) -> None:
    value = Decimal(mantissa).scaleb(exponent)
    if exponent == 0 and mantissa in (2047, 2046, -2048, -2047, -2046):
        with pytest.raises(NotRepresentable):
            encode_sfloat(value, exponent)
        return
    assert _decode_by_spec(encode_sfloat(value, exponent), 12) == value


@given(st.integers(-(2**23), 2**23 - 1), st.integers(-128, 127))
def test_float_round_trips_every_ordinary_word(mantissa: int, exponent: int) -> None:
    value = Decimal(mantissa).scaleb(exponent)
    specials = (2**23 - 1, 2**23 - 2, -(2**23), -(2**23) + 1, -(2**23) + 2)
    if exponent == 0 and mantissa in specials:
        with pytest.raises(NotRepresentable):
            encode_float(value, exponent)
        return
    assert _decode_by_spec(encode_float(value, exponent), 24) == value


@given(st.floats(min_value=-20, max_value=20, allow_nan=False), st.integers(-2, 0))
def test_quantized_values_are_always_encodable_at_their_exponent(value: float, exponent: int) -> None:
    q = quantize(value, exponent)
    assert float(_decode_by_spec(encode_sfloat(q, exponent), 12)) == q
