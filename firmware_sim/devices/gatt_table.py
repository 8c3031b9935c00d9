"""What a simulated peripheral is, as data: its GATT table (services, characteristics and their
properties), advertisement, Device Information strings, the security a collector must establish, and
how its clock is set. The next issue builds a bumble GATT server from these values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Property(StrEnum):
    READ = "read"
    WRITE = "write"
    NOTIFY = "notify"
    INDICATE = "indicate"


READ = frozenset({Property.READ})
READ_WRITE = frozenset({Property.READ, Property.WRITE})
NOTIFY = frozenset({Property.NOTIFY})
INDICATE = frozenset({Property.INDICATE})
WRITE_INDICATE = frozenset({Property.WRITE, Property.INDICATE})


@dataclass(frozen=True, slots=True)
class Characteristic:
    uuid: str
    properties: frozenset[Property]
    encrypted: bool = False
    """Access needs an encrypted link with a bonded peer (bumble: READ/WRITE_REQUIRES_ENCRYPTION)."""


@dataclass(frozen=True, slots=True)
class Service:
    uuid: str
    characteristics: tuple[Characteristic, ...]


class Pairing(StrEnum):
    NONE = "none"
    JUST_WORKS = "just_works"
    PASSKEY = "passkey"
    """The collector enters a code the device displays or has printed on its label (MITM protection;
    Accu-Chek shows one, Omron HEM-9200T prints it on the back; reference §5.5, §11)."""


@dataclass(frozen=True, slots=True)
class Security:
    """What a real collector must do before the device releases data."""

    pairing: Pairing = Pairing.NONE
    bonding_required: bool = False
    passkey: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    """Device Information Service strings (UTF-8, no terminator; reference §9)."""

    manufacturer: str
    model: str
    serial: str
    hardware_revision: str = "1.0"
    firmware_revision: str = "1.0.0"


@dataclass(frozen=True, slots=True)
class Advertisement:
    local_name: str
    service_uuids: tuple[str, ...]
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)


class TimeSetting(StrEnum):
    """How a collector sets the device clock."""

    CURRENT_TIME_SERVICE = "cts"
    """Current Time 0x2A2B (10 bytes) in the Current Time Service."""
    DATE_TIME_IN_PROFILE = "date_time"
    """A read/write Date Time 0x2A08 inside the health service (A&D UA-651BLE, UC-352BLE, UT-201BLE)."""
