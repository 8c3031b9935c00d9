"""Carrier tracking numbers: shape and check digit per carrier, to catch a mistyped number before a
shipment is trusted (``reference/cellular-and-logistics.md`` §3.3, from the open
``tracking_number_data`` definitions and ``drogher``).

Detection from the shape alone is ambiguous (a 20/22-digit number is USPS or FedEx SmartPost), so the
carrier is always given explicitly (from the label purchase or the carrier webhook) and this module
only validates. Tracking numbers are recycled by carriers: shipments are keyed on
``(carrier, tracking_number, ship date)``, never on the number alone."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum

from core.errors import CarehubError


class Carrier(StrEnum):
    UPS = "ups"
    USPS = "usps"
    FEDEX = "fedex"


class InvalidTrackingNumber(CarehubError, ValueError):
    """The number does not have the carrier's shape or fails its check digit."""


def _clean(text: str) -> str:
    return re.sub(r"[\s-]", "", text).upper()


def _mod10_31(serial: str) -> int:
    """USPS / FedEx Ground: digits from the right weighted 3, 1, 3, 1, ...; check = 10 - sum mod 10."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(serial)))
    return (10 - total % 10) % 10


def ups_valid(number: str) -> bool:
    """``1Z`` + 15 alphanumerics + check digit; letters count as ``(ord(c) - 3) mod 10``."""
    if not re.fullmatch(r"1Z[0-9A-Z]{15}[0-9]", number):
        return False
    values = [int(c) if c.isdigit() else (ord(c) - 3) % 10 for c in number[2:17]]
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return (10 - total % 10) % 10 == int(number[17])


def usps_valid(number: str) -> bool:
    """IMpb: 20-22 digits (a label barcode's ``420`` + ZIP5/ZIP9 routing prefix is stripped first)."""
    number = _strip_usps_routing(number)
    return bool(re.fullmatch(r"\d{20,22}", number)) and _mod10_31(number[:-1]) == int(number[-1])


def _strip_usps_routing(number: str) -> str:
    if number.startswith("420") and len(number) in (30, 34):
        return number[8:] if len(number) == 30 else number[12:]
    return number


def fedex_valid(number: str) -> bool:
    """Express (12 digits, weights 1,3,7 from the right, sum mod 11 mod 10), Ground (15 digits,
    mod 10 with weights 3,1) or SmartPost/Ground 96 in the IMpb space (20/22 digits, USPS rule)."""
    if re.fullmatch(r"\d{12}", number):
        total = sum(int(d) * (1, 3, 7)[i % 3] for i, d in enumerate(reversed(number[:-1])))
        return total % 11 % 10 == int(number[-1])
    if re.fullmatch(r"\d{15}", number):
        return _mod10_31(number[:-1]) == int(number[-1])
    if re.fullmatch(r"\d{20}|\d{22}", number):
        return _mod10_31(number[:-1]) == int(number[-1])
    return False


_VALIDATORS: Mapping[Carrier, Callable[[str], bool]] = {
    Carrier.UPS: ups_valid,
    Carrier.USPS: usps_valid,
    Carrier.FEDEX: fedex_valid,
}


def normalise_tracking_number(carrier: Carrier, text: str) -> str:
    """The number without spaces or dashes, upper-case, if it is valid for ``carrier``."""
    number = _clean(text)
    if not _VALIDATORS[carrier](number):
        raise InvalidTrackingNumber(f"{number[:40]!r} is not a valid {carrier.value.upper()} tracking number")
    return _strip_usps_routing(number) if carrier is Carrier.USPS else number
