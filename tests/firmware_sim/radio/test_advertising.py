"""Advertising data as the peripherals put it on air and as the scanner hands it to bleak: exact bytes
(layouts from the Core Specification Supplement Part A §1.1-1.4, assembled by hand) and the fields
bleak reports for them (reference §10: manufacturer data keyed by company id, id removed)."""

from __future__ import annotations

from bumble import hci
from bumble.device import Advertisement as BumbleAdvertisement
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim.devices.gatt_table import Advertisement
from firmware_sim.gatt import uuids
from firmware_sim.radio.peripheral import advertising_data
from firmware_sim.radio.scanner import advertisement_data

OMRON_CLASSIC_SERVICE = "ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b"
OMRON_COMPANY_ID = 0x020E
OMRON_LIKE = Advertisement(
    "BLEsmart_0001", (uuids.BLOOD_PRESSURE_SERVICE, OMRON_CLASSIC_SERVICE), {OMRON_COMPANY_ID: bytes.fromhex("0105")}
)
OMRON_LIKE_ON_AIR = bytes.fromhex(
    "020106"  # Flags: LE General Discoverable, BR/EDR not supported
    "0e09"
    + b"BLEsmart_0001".hex()  # Complete Local Name
    + "03031018"  # Complete List of 16-bit Service UUIDs: 0x1810
    + "1107"
    + bytes(reversed(bytes.fromhex(OMRON_CLASSIC_SERVICE.replace("-", "")))).hex()  # 128-bit, LSB first
    + "05ff0e020105"  # Manufacturer Specific Data: company 0x020E (LSB first), then its bytes
)


def test_advertising_data_bytes() -> None:
    assert advertising_data(OMRON_LIKE) == OMRON_LIKE_ON_AIR


def test_scanner_reports_what_bleak_on_bluez_reports() -> None:
    on_air = BumbleAdvertisement(address=hci.Address("F0:00:00:00:00:01"), data_bytes=OMRON_LIKE_ON_AIR)
    adv = advertisement_data(on_air, -71)
    assert adv.local_name == "BLEsmart_0001"
    assert adv.service_uuids == [uuids.BLOOD_PRESSURE_SERVICE, OMRON_CLASSIC_SERVICE]
    assert adv.manufacturer_data == {OMRON_COMPANY_ID: bytes.fromhex("0105")}
    assert adv.service_data == {}
    assert adv.tx_power is None
    assert adv.rssi == -71


SIG_SERVICES = st.integers(0x1800, 0x18FF).map(uuids.sig_uuid)
VENDOR_SERVICES = st.uuids().map(str).filter(lambda u: not u.endswith("-0000-1000-8000-00805f9b34fb"))


@given(
    name=st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
    services=st.lists(st.one_of(SIG_SERVICES, VENDOR_SERVICES), max_size=3, unique=True),
    manufacturer=st.dictionaries(st.integers(0, 0xFFFF), st.binary(max_size=8), max_size=2),
)
def test_what_a_peripheral_advertises_is_what_bleak_reports(
    name: str, services: list[str], manufacturer: dict[int, bytes]
) -> None:
    on_air = advertising_data(Advertisement(name, tuple(services), manufacturer))
    adv = advertisement_data(BumbleAdvertisement(address=hci.Address("F0:00:00:00:00:01"), data_bytes=on_air), -60)
    assert adv.local_name == name
    sig_first = [u for u in services if u.startswith("0000") and u.endswith("-0000-1000-8000-00805f9b34fb")]
    assert adv.service_uuids == sig_first + [u for u in services if u not in sig_first]
    assert adv.manufacturer_data == manufacturer
