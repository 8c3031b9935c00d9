"""Characteristic UUID → decoder, for every GATT value carehub reads
(reference/ble-health-profiles.md §1.2). UUIDs are compared in bleak's normal form: lower-case
128-bit strings on the SIG base (§1.1); "2a35", "0x2A35", 0x2A35 and the full form are all accepted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Final, Protocol

from drivers import (
    blood_pressure,
    body_composition,
    date_time,
    device_info,
    glucose,
    pulse_oximeter,
    racp,
    thermometer,
    weight_scale,
)
from drivers.errors import DecodeError, TrailingBytes, UnknownCharacteristic
from drivers.normalised import Normalised

SIG_BASE_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"


class Frame(Protocol):
    """What every decoded value offers: the bytes past its last field, and its meaning."""

    @property
    def trailing(self) -> bytes: ...

    def normalise(self) -> Normalised: ...


@dataclass(frozen=True, slots=True)
class Characteristic:
    """A SIG characteristic (``uuid16`` on the SIG base) or, with ``vendor_uuid``, a vendor one that is
    matched in full (reference §1.1: vendor UUIDs are never derived from the base)."""

    uuid16: int
    name: str
    decode: Callable[[bytes], Frame]
    vendor_uuid: str | None = None

    @property
    def uuid(self) -> str:
        return self.vendor_uuid or f"0000{self.uuid16:04x}{SIG_BASE_SUFFIX}"

    @property
    def short(self) -> str:
        return self.vendor_uuid or f"{self.uuid16:04x}"


def _string(name: str) -> Callable[[bytes], Frame]:
    return partial(device_info.decode_string, name)


_CHARACTERISTICS: Final = (
    Characteristic(0x2A35, "Blood Pressure Measurement", blood_pressure.decode_measurement),
    Characteristic(0x2A36, "Intermediate Cuff Pressure", blood_pressure.decode_intermediate_cuff_pressure),
    Characteristic(0x2A49, "Blood Pressure Feature", blood_pressure.decode_feature),
    Characteristic(0x2A18, "Glucose Measurement", glucose.decode_measurement),
    Characteristic(0x2A34, "Glucose Measurement Context", glucose.decode_context),
    Characteristic(0x2A51, "Glucose Feature", glucose.decode_feature),
    Characteristic(0x2A52, "Record Access Control Point", racp.decode),
    Characteristic(0x2A9D, "Weight Measurement", weight_scale.decode_measurement),
    Characteristic(0x2A9E, "Weight Scale Feature", weight_scale.decode_feature),
    Characteristic(
        0,
        "Provisional Weight (carehub simulated scale)",
        weight_scale.decode_provisional_measurement,
        vendor_uuid=weight_scale.SIMULATED_PROVISIONAL_WEIGHT,
    ),
    Characteristic(0x2A9C, "Body Composition Measurement", body_composition.decode_measurement),
    Characteristic(0x2A9B, "Body Composition Feature", body_composition.decode_feature),
    Characteristic(0x2A5E, "PLX Spot-check Measurement", pulse_oximeter.decode_spot_check),
    Characteristic(0x2A5F, "PLX Continuous Measurement", pulse_oximeter.decode_continuous),
    Characteristic(0x2A60, "PLX Features", pulse_oximeter.decode_features),
    Characteristic(0x2A1C, "Temperature Measurement", thermometer.decode_measurement),
    Characteristic(0x2A1E, "Intermediate Temperature", thermometer.decode_intermediate),
    Characteristic(0x2A1D, "Temperature Type", thermometer.decode_temperature_type),
    Characteristic(0x2A08, "Date Time", date_time.decode_date_time),
    Characteristic(0x2A2B, "Current Time", date_time.decode_current_time),
    Characteristic(0x2A19, "Battery Level", device_info.decode_battery_level),
    Characteristic(0x2A29, "Manufacturer Name String", _string("manufacturer_name")),
    Characteristic(0x2A24, "Model Number String", _string("model_number")),
    Characteristic(0x2A25, "Serial Number String", _string("serial_number")),
    Characteristic(0x2A27, "Hardware Revision String", _string("hardware_revision")),
    Characteristic(0x2A26, "Firmware Revision String", _string("firmware_revision")),
    Characteristic(0x2A28, "Software Revision String", _string("software_revision")),
    Characteristic(0x2A23, "System ID", device_info.decode_system_id),
)

CHARACTERISTICS: Final[Mapping[str, Characteristic]] = {c.uuid: c for c in _CHARACTERISTICS}
"""Every registered characteristic by normalised 128-bit UUID."""


def normalise_uuid(characteristic: str | int) -> str:
    """``0x2A35``, ``"2a35"``, ``"0x2A35"`` or a 128-bit string → bleak's lower-case 128-bit form."""
    if isinstance(characteristic, int):
        return f"{characteristic:08x}{SIG_BASE_SUFFIX}"
    text = characteristic.strip().lower().removeprefix("0x")
    if len(text) in (4, 8) and all(ch in "0123456789abcdef" for ch in text):
        return f"{text:0>8}{SIG_BASE_SUFFIX}"
    return text


@lru_cache(maxsize=256)
def lookup(characteristic: str | int) -> Characteristic:
    uuid = normalise_uuid(characteristic)
    found = CHARACTERISTICS.get(uuid)
    if found is None:
        raise UnknownCharacteristic(f"no decoder for characteristic {characteristic!r}")
    return found


def decode(characteristic: str | int, data: bytes, *, strict: bool = False) -> Frame:
    """Decode one value of ``characteristic``. Bytes after the last field are kept on the frame as
    ``trailing`` (reference §0: vendor data or a quirk); with ``strict`` they are a
    :class:`TrailingBytes` error instead. Raises a :class:`DecodeError` subclass, nothing else."""
    try:
        frame = lookup(characteristic).decode(bytes(data))
    except DecodeError as exc:
        raise exc.attach(bytes(data)) from None
    if strict and frame.trailing:
        raise TrailingBytes(f"{len(frame.trailing)} bytes after the last field", bytes(data))
    return frame
