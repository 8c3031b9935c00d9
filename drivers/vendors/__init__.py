"""Cellular vendor payload decoders: a vendor's webhook body (JSON) in, :class:`VendorPayload` out
(reference/cellular-and-logistics.md §0–§1). One module per vendor; :data:`VENDORS` maps the vendor
name to its decoder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from drivers.errors import DecodeError, UnknownVendor
from drivers.vendors import bodytrace, tenovi, transtek, withings
from drivers.vendors.payload import MessageType, VendorPayload, VendorRecord, parse_json

VENDORS: Final[Mapping[str, Callable[[Any], VendorPayload]]] = {
    "bodytrace": bodytrace.decode,
    "tenovi": tenovi.decode,
    "transtek": transtek.decode,
    "mioconnect": transtek.decode,
    "withings": withings.decode,
}

BATTERY_RANGES_MV: Final[Mapping[str, tuple[int, int]]] = {"bodytrace": bodytrace.BATTERY_RANGE_MV}
"""Per vendor that reports its battery as a voltage, the working range (empty, full) in millivolts."""


def decode_vendor(vendor: str, body: bytes | str) -> VendorPayload:
    """Decode one webhook ``body`` from ``vendor``. Raises a :class:`DecodeError` subclass carrying
    the body as hex, nothing else."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    decoder = VENDORS.get(vendor.strip().lower())
    if decoder is None:
        raise UnknownVendor(f"no decoder for vendor {vendor[:40]!r} (known: {', '.join(sorted(VENDORS))})", raw)
    try:
        return decoder(parse_json(raw))
    except DecodeError as exc:
        raise exc.attach(raw) from None
    except RecursionError:
        raise DecodeError("vendor document nested too deeply", raw) from None


__all__ = ["BATTERY_RANGES_MV", "VENDORS", "MessageType", "VendorPayload", "VendorRecord", "decode_vendor"]
