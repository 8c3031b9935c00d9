"""IEEE 11073-20601 numbers as the Bluetooth SIG health profiles carry them: SFLOAT-16 (GSS
``medfloat16``) and FLOAT-32 (GSS ``medfloat32``), reference/ble-health-profiles.md §2.

Both are mantissa × 10^exponent with **two's-complement** mantissa and exponent. The special values
(NaN, NRes, ±INFINITY, reserved) are whole raw values with exponent 0 and come back as
:class:`core.domain.SpecialValue`, never as a float: NRes and NaN mean different things to a
clinician, and a glucometer's "LO"/"HI" arrive as -INF/+INF.

A decoded number is the float nearest to the exact decimal m × 10^e: a negative exponent divides by
an exact power of ten (one rounding), so 95 × 10⁻⁵ is 0.00095 and its ``repr`` is the decimal
itself; :func:`scale_exact` relies on that to change units by powers of ten without float noise.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from core.domain import SpecialValue

Measure = float | SpecialValue
"""A decoded SFLOAT/FLOAT: a finite number, or a typed "no value"."""

SFLOAT_SPECIAL: Final[dict[int, SpecialValue]] = {
    0x07FF: SpecialValue.NAN,
    0x0800: SpecialValue.NRES,
    0x07FE: SpecialValue.POSITIVE_INFINITY,
    0x0802: SpecialValue.NEGATIVE_INFINITY,
    0x0801: SpecialValue.RESERVED,
}
FLOAT_SPECIAL: Final[dict[int, SpecialValue]] = {
    0x007FFFFF: SpecialValue.NAN,
    0x00800000: SpecialValue.NRES,
    0x007FFFFE: SpecialValue.POSITIVE_INFINITY,
    0x00800002: SpecialValue.NEGATIVE_INFINITY,
    0x00800001: SpecialValue.RESERVED,
}


def _compose(mantissa: int, exponent: int) -> float:
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    divisor: int = 10**-exponent
    return mantissa / divisor


def sfloat(raw: int) -> Measure:
    """Decode a 16-bit SFLOAT given as the little-endian uint16 ``raw``.

    The special values are compared on the whole 16-bit value: 0xF7FF is 2047 × 10⁻¹, not NaN."""
    special = SFLOAT_SPECIAL.get(raw)
    if special is not None:
        return special
    mantissa = raw & 0x0FFF
    if mantissa >= 0x0800:
        mantissa -= 0x1000
    exponent = raw >> 12
    if exponent >= 0x8:
        exponent -= 0x10
    return _compose(mantissa, exponent)


def medfloat32(raw: int) -> Measure:
    """Decode a 32-bit FLOAT given as the little-endian uint32 ``raw`` (24-bit mantissa, signed
    8-bit exponent in the fourth byte on the wire)."""
    special = FLOAT_SPECIAL.get(raw)
    if special is not None:
        return special
    mantissa = raw & 0x00FFFFFF
    if mantissa >= 0x00800000:
        mantissa -= 0x01000000
    exponent = raw >> 24
    if exponent >= 0x80:
        exponent -= 0x100
    return _compose(mantissa, exponent)


def encode_sfloat(mantissa: int, exponent: int) -> int:
    """The raw uint16 of mantissa × 10^exponent (for tests and gateway-side writes)."""
    if not (-2048 <= mantissa <= 2047 and -8 <= exponent <= 7):
        raise OverflowError(f"{mantissa}e{exponent} does not fit an SFLOAT")
    return (exponent & 0xF) << 12 | (mantissa & 0x0FFF)


def encode_medfloat32(mantissa: int, exponent: int) -> int:
    """The raw uint32 of mantissa × 10^exponent."""
    if not (-(2**23) <= mantissa < 2**23 and -128 <= exponent <= 127):
        raise OverflowError(f"{mantissa}e{exponent} does not fit a FLOAT")
    return (exponent & 0xFF) << 24 | (mantissa & 0x00FFFFFF)


def scale_exact(value: float, power_of_ten: int) -> float:
    """``value`` × 10^power_of_ten without binary rounding noise: 0.00095 kg/L × 10⁵ is exactly
    95 mg/dL. Exact for every decoded SFLOAT/FLOAT, whose shortest ``repr`` is the sent decimal."""
    return float(Decimal(repr(value)).scaleb(power_of_ten))
