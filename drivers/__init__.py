"""Pure device decoders: bytes (or a vendor JSON document) in, frozen slotted dataclasses out.
No bleak, MQTT, database, asyncio or clock; any receive time is the caller's.

Public API (stable; the gateway and the simulated-device round-trip tests use it):

``decode(characteristic, data, *, strict=False) -> Frame``
    Decode one GATT value. ``characteristic`` is a UUID in any usual form (``0x2A35``, ``"2a35"``,
    the 128-bit string bleak reports). The frame is a profile dataclass (e.g.
    :class:`~drivers.blood_pressure.BloodPressureMeasurement`) exposing every field as sent, flags
    and units included, plus ``trailing`` (bytes past the last field; ``strict`` refuses them).
``decode_vendor(vendor, body) -> VendorPayload``
    Decode one cellular webhook body (``bodytrace``, ``tenovi``, ``transtek``/``mioconnect``,
    ``withings``) into :class:`VendorRecord` values.
``to_observations(frame_or_record) -> Normalised``
    The frame in carehub's vocabulary: MDC-coded :class:`~core.domain.Observation` values in
    canonical UCUM units with the device's value and unit kept as the source, ``measured_at``
    (naive device-local time for BLE, aware UTC for vendors), user id, status flags, and whether
    it may be stored as a reading at all.
``CHARACTERISTICS``, ``VENDORS``
    The registries (normalised UUID → :class:`~drivers.registry.Characteristic`, vendor → decoder).

Errors: every bad input raises a :class:`~drivers.errors.DecodeError` subclass carrying ``reason``
and ``raw_hex`` (``TruncatedFrame``, ``MissingField``, ``TrailingBytes``, ``ReservedValue``,
``DateOutOfRange``, ``MalformedValue``, ``ImplausibleValue``, ``UnknownVendorField``,
``UnknownCharacteristic``, ``UnknownVendor``); never another exception.

Per-profile decoders live in one module each (:mod:`drivers.blood_pressure`, :mod:`drivers.glucose`,
:mod:`drivers.racp`, :mod:`drivers.weight_scale`, :mod:`drivers.body_composition`,
:mod:`drivers.pulse_oximeter`, :mod:`drivers.thermometer`, :mod:`drivers.date_time`,
:mod:`drivers.device_info`), built on the shared :mod:`drivers.ieee11073` (SFLOAT/FLOAT) and
:mod:`drivers.fields` (table-driven layouts, flags). Byte tables: ``docs/wire-formats/``."""

from __future__ import annotations

from drivers.errors import (
    DateOutOfRange,
    DecodeError,
    ImplausibleValue,
    MalformedValue,
    MissingField,
    ReservedValue,
    TrailingBytes,
    TruncatedFrame,
    UnknownCharacteristic,
    UnknownVendor,
    UnknownVendorField,
)
from drivers.normalised import Normalised
from drivers.registry import CHARACTERISTICS, Characteristic, Frame, decode, lookup, normalise_uuid
from drivers.vendors import VENDORS, MessageType, VendorPayload, VendorRecord, decode_vendor


def to_observations(frame: Frame | VendorRecord) -> Normalised:
    """Normalise a decoded frame or vendor record (see the module docstring)."""
    return frame.normalise()


__all__ = [
    "CHARACTERISTICS",
    "VENDORS",
    "Characteristic",
    "DateOutOfRange",
    "DecodeError",
    "Frame",
    "ImplausibleValue",
    "MalformedValue",
    "MessageType",
    "MissingField",
    "Normalised",
    "ReservedValue",
    "TrailingBytes",
    "TruncatedFrame",
    "UnknownCharacteristic",
    "UnknownVendor",
    "UnknownVendorField",
    "VendorPayload",
    "VendorRecord",
    "decode",
    "decode_vendor",
    "lookup",
    "normalise_uuid",
    "to_observations",
]
