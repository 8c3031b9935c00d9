"""Bluetooth SIG Battery Service (0x180F) Battery Level 0x2A19 and Device Information Service
(0x180A) strings and System ID 0x2A23 (reference/ble-health-profiles.md §9;
docs/wire-formats/device-information.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from drivers.errors import MalformedValue
from drivers.fields import UINT8, UINT64, Field, Layout
from drivers.normalised import Normalised, NotAReading

BATTERY_LEVEL_MAX_PCT: Final = 100

BATTERY_LAYOUT: Final = Layout("Battery Level", None, (Field("level_pct", UINT8),))


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    """Battery Level 0x2A19: uint8 0–100 %. Values above 100 are RFU: kept as sent, flagged by
    ``in_range``, and never reported as a battery percentage."""

    level_pct: int
    trailing: bytes = b""

    @property
    def in_range(self) -> bool:
        return self.level_pct <= BATTERY_LEVEL_MAX_PCT

    def normalise(self) -> Normalised:
        return Normalised.not_a_reading(battery_pct=self.level_pct if self.in_range else None)


def decode_battery_level(data: bytes) -> BatteryLevel:
    """Battery Level 0x2A19."""
    _, values, trailing = BATTERY_LAYOUT.decode(data)
    return BatteryLevel(**values, trailing=trailing)


@dataclass(frozen=True, slots=True)
class DeviceInformationString(NotAReading):
    """One DIS string (manufacturer 0x2A29, model 0x2A24, serial 0x2A25, hardware 0x2A27, firmware
    0x2A26, software 0x2A28): UTF-8, no length prefix, no terminator. Trailing NULs and whitespace
    some devices pad with are stripped; an empty string stays empty (Fora "TNG" meters send no
    manufacturer, §9)."""

    name: str
    value: str
    trailing: bytes = b""


def decode_string(name: str, data: bytes) -> DeviceInformationString:
    """A Device Information string characteristic called ``name``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedValue(f"{name} is not UTF-8 ({exc.reason} at byte {exc.start})", data) from None
    return DeviceInformationString(name, text.rstrip("\x00").rstrip())


SYSTEM_ID_LAYOUT: Final = Layout("System ID", None, (Field("eui64", UINT64),))


@dataclass(frozen=True, slots=True)
class SystemId(NotAReading):
    """System ID 0x2A23: 8 bytes LSO first; bytes 0–4 a manufacturer-defined identifier (uint40),
    bytes 5–7 the OUI (uint24). The current GSS reads the same bytes as one EUI-64."""

    eui64: int
    trailing: bytes = b""

    @property
    def manufacturer_identifier(self) -> int:
        return self.eui64 & 0xFF_FFFF_FFFF

    @property
    def oui(self) -> int:
        return self.eui64 >> 40


def decode_system_id(data: bytes) -> SystemId:
    """System ID 0x2A23."""
    _, values, trailing = SYSTEM_ID_LAYOUT.decode(data)
    return SystemId(**values, trailing=trailing)
