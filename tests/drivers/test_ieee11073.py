"""SFLOAT-16 and FLOAT-32 (reference/ble-health-profiles.md §2): every worked vector, the special
values, and the errors public code makes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import SpecialValue
from drivers.ieee11073 import encode_medfloat32, encode_sfloat, medfloat32, scale_exact, sfloat


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §2.1 worked vectors (wire order)
        ("78 00", 120.0),
        ("6D F1", 36.5),
        ("FB FF", -0.5),
        ("5F B0", 0.00095),
        ("36 C0", 0.0054),
        ("FF F7", 204.7),
        ("FF 17", 20470.0),
        ("00 80", 0.0),
        ("FF 07", SpecialValue.NAN),
        ("00 08", SpecialValue.NRES),
        ("FE 07", SpecialValue.POSITIVE_INFINITY),
        ("02 08", SpecialValue.NEGATIVE_INFINITY),
        ("01 08", SpecialValue.RESERVED),
        # reference §2.3: obniz's own comment, "17.6 kPa → 0xB0, 0xF0"
        ("B0 F0", 17.6),
    ],
)
def test_sfloat_reference_vectors(wire: str, expected: float | SpecialValue) -> None:
    (raw,) = struct.unpack("<H", bytes.fromhex(wire))
    assert sfloat(raw) == expected


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §2.2 worked vectors
        ("B0 0E 00 FE", 37.6),
        ("DA 03 00 FF", 98.6),
        ("65 0E 00 FE", 36.85),
        ("83 FF FF FF", -12.5),
        ("FF FF 7F 00", SpecialValue.NAN),
        ("00 00 80 00", SpecialValue.NRES),
        ("FE FF 7F 00", SpecialValue.POSITIVE_INFINITY),
        ("02 00 80 00", SpecialValue.NEGATIVE_INFINITY),
        ("01 00 80 00", SpecialValue.RESERVED),
    ],
)
def test_float_reference_vectors(wire: str, expected: float | SpecialValue) -> None:
    (raw,) = struct.unpack("<I", bytes.fromhex(wire))
    assert medfloat32(raw) == expected


def test_sfloat_exponent_is_twos_complement_not_offset_binary() -> None:
    # reference §2.3: bluetooth-sig-python reads `78 80` as 120 mmHg; per IEEE 11073 it is 1.2e-6,
    # and `0A 70` is 1.0e8, not 1.0.
    assert sfloat(0x8078) == pytest.approx(120e-8)
    assert sfloat(0x700A) == 1.0e8


def test_sfloat_0xf7ff_is_a_number_not_nan() -> None:
    # reference §2.1: compare the whole 16-bit value, never the mantissa alone
    assert sfloat(0xF7FF) == 204.7


def test_scale_exact_changes_units_without_binary_noise() -> None:
    seven = sfloat(0xB007)  # 7 × 10⁻⁵ kg/L = 7 mg/dL
    assert seven * 100_000 != 7.0  # the float product is off by an ulp …
    assert scale_exact(seven, 5) == 7.0  # … the decimal shift is not
    assert scale_exact(sfloat(0xB05F), 5) == 95.0
    assert scale_exact(sfloat(0xC029), 3) == 4.1  # 41 × 10⁻⁴ mol/L


@given(st.integers(-2048, 2047), st.integers(-8, 7))
def test_sfloat_round_trip(mantissa: int, exponent: int) -> None:
    raw = encode_sfloat(mantissa, exponent)
    decoded = sfloat(raw)
    if exponent == 0 and raw in (0x07FF, 0x0800, 0x07FE, 0x0802, 0x0801):
        assert isinstance(decoded, SpecialValue)
    else:
        assert decoded == float(f"{mantissa}e{exponent}")


@given(st.integers(-(2**23), 2**23 - 1), st.integers(-128, 127))
def test_float_round_trip(mantissa: int, exponent: int) -> None:
    raw = encode_medfloat32(mantissa, exponent)
    decoded = medfloat32(raw)
    if exponent == 0 and raw in (0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002, 0x00800001):
        assert isinstance(decoded, SpecialValue)
    else:
        assert decoded == float(f"{mantissa}e{exponent}")
