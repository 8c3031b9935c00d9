"""bleak scanner backend on the virtual radio: advertising reports from the central's bumble controller
become bleak ``(BLEDevice, AdvertisementData)`` pairs, as BlueZ delivers them (reference §10); the
decoding itself is in :mod:`firmware_sim.radio.advertising`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementDataCallback, BaseBleakScanner
from bumble.device import Advertisement

from firmware_sim.radio.advertising import advertisement_data

if TYPE_CHECKING:
    from firmware_sim.radio.radio import VirtualRadio


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
