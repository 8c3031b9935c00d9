"""bleak scanner backend on the virtual radio: advertising reports from the central's bumble controller
become bleak ``(BLEDevice, AdvertisementData)`` pairs, as BlueZ delivers them (reference §10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement

if TYPE_CHECKING:
    from firmware_sim.radio.radio import VirtualRadio

UUID_LISTS = {
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS: 2,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS: 16,
}


def bleak_uuid(uuid: UUID) -> str:
    """bumble's UUID in bleak's form: 128-bit, lower case."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


def advertisement_data(advertisement: Advertisement, rssi_dbm: int) -> AdvertisementData:
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
        tx_power=None if tx_power == Advertisement.TX_POWER_NOT_AVAILABLE else tx_power,
        rssi=rssi_dbm,
        platform_data=(advertisement,),
    )


class VirtualBleakScanner(BaseBleakScanner):
    """Pass :attr:`BleakBackends.scanner` (bound to one radio) as ``BleakScanner(backend=...)``."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.scanning_mode = scanning_mode

    async def start(self) -> None:
        self.seen_devices = {}
        await self.radio.start_scanning(self)

    async def stop(self) -> None:
        await self.radio.stop_scanning(self)

    def on_advertisement(self, advertisement: Advertisement, rssi_dbm: int) -> None:
        adv = advertisement_data(advertisement, rssi_dbm)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = advertisement.address.to_string(False)
        device = self.create_or_update_device(address, address, adv.local_name, advertisement, adv)
        self.call_detection_callbacks(device, adv)
