"""Advertising on the virtual radio, both ways: the AD structures a peripheral puts in its ADV_IND
(Core Specification Supplement Part A §1: flags, complete local name, complete service UUID lists,
manufacturer data) and what bleak reports for them, as it does on BlueZ (reference §10: UUIDs in
128-bit lower-case form, manufacturer data keyed by company id with the id removed)."""

from __future__ import annotations

from bleak.backends.scanner import AdvertisementData
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement as BumbleAdvertisement

from firmware_sim.devices.gatt_table import Advertisement

UUID_LISTS = {
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}


def bleak_uuid(uuid: UUID) -> str:
    """bumble's UUID in bleak's form: 128-bit, lower case."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


def advertisement_data(advertisement: BumbleAdvertisement, rssi_dbm: int) -> AdvertisementData:
    """What bleak reports for one advertising PDU: name, service UUIDs, manufacturer data (company id
    removed, as keys), TX power and the RSSI."""
    data = advertisement.data
    name_bytes = data.get(AdvertisingData.COMPLETE_LOCAL_NAME, raw=True) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME, raw=True
    )
    service_uuids: list[str] = []
    for ad_type, width in UUID_LISTS.items():
        for raw in data.get_all(ad_type, raw=True):
            assert isinstance(raw, bytes)
            for i in range(0, len(raw), width):
                if (uuid := bleak_uuid(UUID.from_bytes(raw[i : i + width]))) not in service_uuids:
                    service_uuids.append(uuid)
    manufacturer_data: dict[int, bytes] = {}
    for raw in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, raw=True):
        assert isinstance(raw, bytes)
        manufacturer_data[int.from_bytes(raw[:2], "little")] = raw[2:]
    tx_power = advertisement.tx_power
    return AdvertisementData(
        local_name=name_bytes.decode() if isinstance(name_bytes, bytes) else None,
        manufacturer_data=manufacturer_data,
        service_data={},
        service_uuids=service_uuids,
        tx_power=None if tx_power == BumbleAdvertisement.TX_POWER_NOT_AVAILABLE else tx_power,
        rssi=rssi_dbm,
        platform_data=(advertisement,),
    )


def advertising_data(advertisement: Advertisement) -> bytes:
    """Flags, complete local name, complete lists of 16- and 128-bit service UUIDs and manufacturer
    data, as a real device puts them in its ADV_IND (Core Supplement Part A §1)."""
    short = [UUID.from_16_bits(int(u[4:8], 16)) for u in advertisement.service_uuids if _is_sig(u)]
    long = [UUID(u) for u in advertisement.service_uuids if not _is_sig(u)]
    fields: list[tuple[int, bytes]] = [
        (AdvertisingData.FLAGS, bytes([0x06])),  # LE General Discoverable, BR/EDR not supported
        (AdvertisingData.COMPLETE_LOCAL_NAME, advertisement.local_name.encode()),
    ]
    if short:
        fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, b"".join(bytes(u) for u in short)))
    if long:
        fields.append((AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, b"".join(bytes(u) for u in long)))
    for company, data in advertisement.manufacturer_data.items():
        fields.append((AdvertisingData.MANUFACTURER_SPECIFIC_DATA, company.to_bytes(2, "little") + data))
    return bytes(AdvertisingData(fields))


def _is_sig(uuid: str) -> bool:
    return uuid.lower().endswith("-0000-1000-8000-00805f9b34fb") and uuid.startswith("0000")
