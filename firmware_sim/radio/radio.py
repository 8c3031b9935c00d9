"""The virtual BLE radio: one bumble ``LocalLink`` (the air) with a virtual controller per device, one
central (the hub's adapter) and one peripheral per simulated device, and bleak backends bound to it.

Create it inside the running event loop (bumble schedules link traffic with ``call_soon``)::

    async with VirtualRadio() as radio:
        cuff = await radio.add_peripheral(and_ua651ble(...), address="F0:00:00:00:00:01")
        backends = radio.backends()
        device = await BleakScanner.find_device_by_address(cuff.address, backend=backends.scanner)
        async with BleakClient(device, backend=backends.client) as client: ...

The central has one pending connection at a time (a controller allows one LE Create Connection), so
connects are queued. Bonds live in the central's key store for the radio's lifetime, as BlueZ keeps
them in ``/var/lib/bluetooth``. A passkey device pairs only when the radio knows its code
(:meth:`VirtualRadio.set_passkey`, what a BlueZ agent answers from the code on the device's label).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self, cast

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from firmware_sim.devices.peripheral import SimulatedPeripheral as DeviceModel
from firmware_sim.radio.client import VirtualBleakClient
from firmware_sim.radio.hci import QuietController, QuietHost
from firmware_sim.radio.peripheral import SimulatedPeripheral
from firmware_sim.radio.scanner import VirtualBleakScanner

logger = logging.getLogger(__name__)

CENTRAL_ADDRESS = "C0:FF:EE:00:00:01"
"""The hub adapter's static random address; bonds on the peripherals are keyed by it."""
ADVERTISING_INTERVAL_MS = 100.0


@dataclass(frozen=True, slots=True)
class BleakBackends:
    """bleak backend classes bound to one radio: ``BleakScanner(backend=scanner)``,
    ``BleakClient(device_or_address, backend=client)``."""

    scanner: type[BaseBleakScanner]
    client: type[BaseBleakClient]
    agent: VirtualRadio
    """The hub's pairing agent on this radio (passkey entry, :meth:`VirtualRadio.set_passkey`)."""


class _HubAgent(PairingDelegate):
    """The hub's pairing agent: Just Works, or passkey entry with the code the radio was given."""

    def __init__(self, passkey: str | None) -> None:
        super().__init__(io_capability=PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)
        self._passkey = passkey

    async def get_number(self) -> int | None:
        return None if self._passkey is None else int(self._passkey)


def utc_now() -> datetime:
    return datetime.now(UTC)


class VirtualRadio:
    def __init__(
        self, *, central_address: str = CENTRAL_ADDRESS, advertising_interval_ms: float = ADVERTISING_INTERVAL_MS
    ) -> None:
        self.central_address = central_address
        self.advertising_interval_ms = advertising_interval_ms
        self._link = LocalLink()  # type: ignore[no-untyped-call]
        self._controller = QuietController("central", link=self._link, public_address=central_address)
        config = DeviceConfiguration(name="carehub hub", address=hci.Address(central_address))
        self.central = Device(config=config, host=QuietHost(self._controller, AsyncPipeSink(self._controller)))
        self.central.pairing_config_factory = self._pairing_config
        self.central.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._peripherals: dict[str, SimulatedPeripheral] = {}
        self._passkeys: dict[str, str] = {}
        self._scanners: set[VirtualBleakScanner] = set()
        self._connect_lock = asyncio.Lock()
        self._started = False
        self.adapter_powered = True
        """False: the hub's adapter is down (unplugged, rfkill, BlueZ stopped); scans and connects
        fail as BlueZ's ``org.bluez.Error.NotReady`` does."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        await self.central.power_on()
        self._started = True

    async def stop(self) -> None:
        for address in list(self._peripherals):
            await self.remove_peripheral(address)
        if self.central.scanning:
            await self.central.stop_scanning()
        await self.central.power_off()
        self._started = False

    @property
    def controller(self) -> Controller:
        """The hub adapter's virtual controller (for fault injection below the host)."""
        return self._controller

    def backends(self) -> BleakBackends:
        scanner = type("VirtualBleakScanner", (VirtualBleakScanner,), {"radio": self})
        client = type("VirtualBleakClient", (VirtualBleakClient,), {"radio": self})
        return BleakBackends(cast(type[BaseBleakScanner], scanner), cast(type[BaseBleakClient], client), self)

    # --- peripherals ------------------------------------------------------------------------------

    async def add_peripheral(
        self,
        model: DeviceModel,
        *,
        address: str,
        rssi_dbm: int = -60,
        clock: Callable[[], datetime] | None = None,
    ) -> SimulatedPeripheral:
        """Put a device model on the air, advertising; ``clock`` gives the true time of its events."""
        key = address.upper()
        if key in self._peripherals:
            raise ValueError(f"a peripheral already has address {key}")
        peripheral = SimulatedPeripheral(
            model,
            address=key,
            rssi_dbm=rssi_dbm,
            clock=clock or utc_now,
            link=self._link,
            advertising_interval_ms=self.advertising_interval_ms,
        )
        self._peripherals[key] = peripheral
        await peripheral.power_on()
        return peripheral

    async def remove_peripheral(self, address: str) -> None:
        peripheral = self._peripherals.pop(address.upper(), None)
        if peripheral is not None:
            await peripheral.power_off()

    def peripheral(self, address: str) -> SimulatedPeripheral:
        return self._peripherals[address.upper()]

    def peripheral_name(self, address: str) -> str | None:
        peripheral = self._peripherals.get(address.upper())
        return None if peripheral is None else peripheral.model.local_name

    def set_passkey(self, address: str, passkey: str | None) -> None:
        """The code the hub's agent enters when ``address`` asks for passkey entry (None: no code)."""
        if passkey is None:
            self._passkeys.pop(address.upper(), None)
        else:
            self._passkeys[address.upper()] = passkey

    # --- what the bleak backends use ------------------------------------------------------------

    async def connect(self, address: str, *, timeout_s: float) -> Connection:
        """Connect the central to ``address``; one pending connection at a time."""
        self._require_adapter()
        peripheral = self._peripherals.get(address)
        if peripheral is None:
            raise BleakDeviceNotFoundError(address, f"Device with address {address} was not found.")
        async with self._connect_lock, asyncio.timeout(timeout_s):
            await peripheral.settle()
            # The central's controller cannot cancel an LE Create Connection (bumble answers "unknown
            # command"), so it only starts one once the device advertises: it waits on the air instead.
            while not peripheral.advertising:
                await asyncio.sleep(self.advertising_interval_ms / 1000)
            attempt = asyncio.ensure_future(self.central.connect(hci.Address(address)))
            # Once the controller initiates, the peripheral's next advertising event happens now:
            # nothing on this radio waits an advertising interval to connect.
            while not attempt.done() and self._controller.pending_le_connection is None:
                await asyncio.sleep(0)
            peripheral.advertise_now()
            try:
                return await attempt
            except BaseException:  # timed out (or cancelled): the device went off the air after all
                attempt.cancel()
                # What LE Create Connection Cancel would do; the virtual controller lacks it.
                self._controller.pending_le_connection = None
                raise

    async def is_bonded(self, address: str) -> bool:
        return await self._keys(address) is not None

    async def forget_bond(self, address: str) -> None:
        name = await self._keys(address)
        if name is not None and self.central.keystore is not None:
            await self.central.keystore.delete(name)

    async def _keys(self, address: str) -> str | None:
        """The key store entry of ``address`` (entries are named by the peer's identity address)."""
        keystore = self.central.keystore
        if keystore is None:
            return None
        wanted = bytes(hci.Address(address))
        for name, _keys in await keystore.get_all():
            if bytes(hci.Address(name.split("/")[0])) == wanted:
                return name
        return None

    def _require_adapter(self) -> None:
        if not self.adapter_powered:
            raise BleakError("org.bluez.Error.NotReady: Resource Not Ready")

    async def start_scanning(self, scanner: VirtualBleakScanner) -> None:
        self._require_adapter()
        self._scanners.add(scanner)
        if self.central.scanning:
            # A scanner that joins gets every advertiser once too: the duplicate filter starts over.
            await self.central.stop_scanning()
        # Each advertiser once per scan start (and again when its data changes), as BlueZ scans;
        # the gateway restarts its scan every window.
        await self.central.start_scanning(filter_duplicates=True)

    async def stop_scanning(self, scanner: VirtualBleakScanner) -> None:
        self._scanners.discard(scanner)
        if not self._scanners and self.central.scanning:
            await self.central.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        peripheral = self._peripherals.get(advertisement.address.to_string(False))
        if peripheral is None:
            return
        for scanner in list(self._scanners):
            scanner.on_advertisement(advertisement, peripheral.rssi_dbm)

    def _pairing_config(self, connection: Connection) -> PairingConfig:
        passkey = self._passkeys.get(connection.peer_address.to_string(False))
        return PairingConfig(
            sc=True,
            mitm=True,
            bonding=True,
            identity_address_type=PairingConfig.AddressType.RANDOM,
            delegate=_HubAgent(passkey),
        )
