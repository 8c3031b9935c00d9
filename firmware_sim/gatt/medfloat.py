"""IEEE 11073-20601 SFLOAT-16 (GSS ``medfloat16``) and FLOAT-32 (``medfloat32``) encoders.

value = mantissa × 10^exponent, both two's complement, little-endian on the wire (reference §2):

- SFLOAT: bits 0-11 mantissa (-2048..2047), bits 12-15 exponent (-8..7);
- FLOAT:  bits 0-23 mantissa (-2^23..2^23-1), bits 24-31 exponent (-128..127).

The special values occupy whole raw words with exponent 0 (NaN 0x07FF, NRes 0x0800, +INF 0x07FE,
-INF 0x0802, reserved 0x0801 for SFLOAT; the 24-bit equivalents for FLOAT). Any other raw word is an
ordinary number, so 0xF7FF is 204.7, not NaN: only the exact special words are refused.

Firmware encodes every field at a fixed resolution (a cuff in kPa sends 16.0 as mantissa 160,
exponent -1, not as 16 × 10^0), so the exponent is always the caller's choice. Values are taken by
their shortest decimal form (``repr``), which makes "is 36.85 representable at exponent -2" exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from core.domain import SpecialValue
from firmware_sim.errors import NotRepresentable


@dataclass(frozen=True, slots=True)
class MedFloatFormat:
    """The bit split and special words of one IEEE 11073 float type."""

    name: str
    mantissa_bits: int
    exponent_bits: int
    specials: Mapping[SpecialValue, int]
    reserved: int

    @property
    def size(self) -> int:
        return (self.mantissa_bits + self.exponent_bits) // 8

    @property
    def mantissa_range(self) -> tuple[int, int]:
        half = 1 << (self.mantissa_bits - 1)
        return -half, half - 1

    @property
    def exponent_range(self) -> tuple[int, int]:
        half = 1 << (self.exponent_bits - 1)
        return -half, half - 1

    def raw(self, mantissa: int, exponent: int) -> int:
        """The unsigned raw word of a mantissa/exponent pair (both two's complement)."""
        m_mask = (1 << self.mantissa_bits) - 1
        e_mask = (1 << self.exponent_bits) - 1
        return ((exponent & e_mask) << self.mantissa_bits) | (mantissa & m_mask)


SFLOAT = MedFloatFormat(
    name="SFLOAT",
    mantissa_bits=12,
    exponent_bits=4,
    specials={
        SpecialValue.NAN: 0x07FF,
        SpecialValue.NRES: 0x0800,
        SpecialValue.POSITIVE_INFINITY: 0x07FE,
        SpecialValue.NEGATIVE_INFINITY: 0x0802,
    },
    reserved=0x0801,
)

FLOAT = MedFloatFormat(
    name="FLOAT",
    mantissa_bits=24,
    exponent_bits=8,
    specials={
        SpecialValue.NAN: 0x007FFFFF,
        SpecialValue.NRES: 0x00800000,
        SpecialValue.POSITIVE_INFINITY: 0x007FFFFE,
        SpecialValue.NEGATIVE_INFINITY: 0x00800002,
    },
    reserved=0x00800001,
)


def exact_decimal(value: float | Decimal) -> Decimal:
    """The decimal a float stands for in a simulation: its shortest round-tripping form."""
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def quantize(value: float, exponent: int, step: int = 1) -> float:
    """``value`` rounded (half to even) to a multiple of step × 10^exponent, as the nearest float.

    Simulations quantise every number to its field's resolution before encoding (a scale showing
    0.2 lb steps: ``quantize(w, -1, 2)``), so the value they record as intent is exactly what the bytes
    carry."""
    unit = Decimal(step).scaleb(exponent)
    count = (exact_decimal(value) / unit).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return float(count * unit)


def scaled_integer(value: float | Decimal, exponent: int) -> int:
    """``value`` as a whole number of 10^exponent units; refuses values between units."""
    scaled = exact_decimal(value).scaleb(-exponent)
    if scaled != scaled.to_integral_value():
        raise NotRepresentable(f"{value} is not a multiple of 10^{exponent}; quantize it first")
    return int(scaled)


def mantissa_at(value: float | Decimal, exponent: int, fmt: MedFloatFormat) -> int:
    """The mantissa that carries ``value`` at ``exponent``; refuses values that need rounding,
    do not fit the mantissa, or would collide with a special word."""
    low_e, high_e = fmt.exponent_range
    if not low_e <= exponent <= high_e:
        raise NotRepresentable(f"{fmt.name} exponent {exponent} is outside {low_e}..{high_e}")
    mantissa = scaled_integer(value, exponent)
    low_m, high_m = fmt.mantissa_range
    if not low_m <= mantissa <= high_m:
        raise NotRepresentable(f"{value} needs mantissa {mantissa}, outside {fmt.name}'s {low_m}..{high_m}")
    raw = fmt.raw(mantissa, exponent)
    if raw in fmt.specials.values() or raw == fmt.reserved:
        raise NotRepresentable(f"{value} at exponent {exponent} would be the special word {raw:#x}")
    return mantissa


def _encode(value: float | Decimal | SpecialValue, exponent: int, fmt: MedFloatFormat) -> bytes:
    if isinstance(value, SpecialValue):
        raw = fmt.specials[value]
    else:
        raw = fmt.raw(mantissa_at(value, exponent, fmt), exponent)
    return raw.to_bytes(fmt.size, "little")


def encode_sfloat(value: float | Decimal | SpecialValue, exponent: int) -> bytes:
    """Two bytes of SFLOAT carrying ``value`` (or a special value) as mantissa × 10^exponent."""
    return _encode(value, exponent, SFLOAT)


def encode_optional_sfloat(value: float | Decimal | SpecialValue | None, exponent: int) -> bytes | None:
    """:func:`encode_sfloat` for an optional field: ``None`` when the sample does not carry it."""
    return None if value is None else encode_sfloat(value, exponent)


def encode_float(value: float | Decimal | SpecialValue, exponent: int) -> bytes:
    """Four bytes of FLOAT carrying ``value`` (or a special value) as mantissa × 10^exponent."""
    return _encode(value, exponent, FLOAT)


def encode_reserved(fmt: MedFloatFormat) -> bytes:
    """The reserved-for-future-use word, for fault frames and decoder tests."""
    return fmt.reserved.to_bytes(fmt.size, "little")


def rescale(value: float | Decimal, decimal_shift: int) -> Decimal:
    """``value`` × 10^decimal_shift, exactly (mg/dL → kg/L is a shift of -5, mmol/L → mol/L of -3)."""
    return exact_decimal(value).scaleb(decimal_shift)
