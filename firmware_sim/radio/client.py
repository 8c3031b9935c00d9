"""bleak client backend on the virtual radio: a GATT client on the radio's bumble central that behaves
the way bleak on BlueZ does (reference §10), so gateway code cannot tell the two apart:

- GAP (0x1800) and GATT (0x1801) services are hidden, as BlueZ hides them;
- a bonded device's link is encrypted right after connecting; an ATT 0x05 (insufficient
  authentication) or 0x0F (insufficient encryption) makes the client pair, or re-encrypt with the
  bond it has, and retry the request once, as BlueZ does;
- ATT Error Responses raise :class:`bleak.exc.BleakGATTProtocolError` with the code;
- a request in flight when the link drops fails at once with :class:`bleak.exc.BleakError` instead of
  waiting for the 30 s ATT timeout, and the disconnected callback runs on every disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bumble import att, gatt
from bumble.core import BaseBumbleError
from bumble.device import Connection, Peer
from bumble.gatt_client import CharacteristicProxy, ServiceProxy

from firmware_sim.radio.scanner import bleak_uuid

if TYPE_CHECKING:
    from firmware_sim.radio.radio import VirtualRadio

T = TypeVar("T")

HIDDEN_SERVICES = frozenset(
    {bleak_uuid(gatt.GATT_GENERIC_ACCESS_SERVICE), bleak_uuid(gatt.GATT_GENERIC_ATTRIBUTE_SERVICE)}
)
"""BlueZ keeps GAP and GATT to itself; bleak on Linux never lists them."""
SECURITY_ERRORS = frozenset({att.ErrorCode.INSUFFICIENT_AUTHENTICATION, att.ErrorCode.INSUFFICIENT_ENCRYPTION})
PROPERTY_NAMES: dict[gatt.Characteristic.Properties, CharacteristicPropertyName] = {
    gatt.Characteristic.Properties.BROADCAST: "broadcast",
    gatt.Characteristic.Properties.READ: "read",
    gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    gatt.Characteristic.Properties.WRITE: "write",
    gatt.Characteristic.Properties.NOTIFY: "notify",
    gatt.Characteristic.Properties.INDICATE: "indicate",
    gatt.Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    gatt.Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


class NotConnected(BleakError):
    """The link is down (dropped by the peer, lost, or never up)."""

    def __init__(self, address: str) -> None:
        super().__init__(f"{address}: Not connected")


class VirtualBleakClient(BaseBleakClient):
    """Pass :attr:`BleakBackends.client` (bound to one radio) as ``BleakClient(backend=...)``."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self.address = self.address.upper()
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._lost: asyncio.Future[None] | None = None
        self._service_filter = services

    # --- connectivity -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.radio.peripheral_name(self.address) or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        timeout_s = float(kwargs.get("timeout", self._timeout))  # bleak-retry-connector passes one
        connection = await self.radio.connect(self.address, timeout_s=timeout_s)
        self._connection = connection
        self._lost = asyncio.get_running_loop().create_future()
        connection.on(Connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection(connection))
        try:
            if await self.radio.is_bonded(self.address):
                await self._guard(connection.encrypt())
            elif pair:
                await self.pair()
            self._peer = Peer(connection)
            self.services = await self._guard(self._discover(self._peer))
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        lost = self._lost
        with contextlib.suppress(BaseBumbleError):  # already going down
            await connection.disconnect()
        if lost is not None:
            await lost

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair and bond; with a bond already, only encrypt (bleak on BlueZ returns early when the
        device is already paired)."""
        connection = self._require_connection()
        if await self.radio.is_bonded(self.address):
            if not connection.is_encrypted:
                await self._guard(connection.encrypt())
            return
        try:
            await self._guard(connection.pair())
        except BaseBumbleError as exc:
            raise BleakError(f"{self.address}: authentication failed ({exc})") from exc

    async def unpair(self) -> None:
        await self.disconnect()
        await self.radio.forget_bond(self.address)

    def _on_disconnection(self, connection: Connection) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._peer = None
        self.services = None
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    # --- GATT -------------------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._request(lambda: peer.read_value(characteristic.obj))
        return bytearray(value)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        value = await self._request(lambda: peer.read_value(descriptor.obj))
        return bytearray(value)

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        peer = self._require_peer()
        await self._request(lambda: peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        peer = self._require_peer()
        await self._request(lambda: peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy: CharacteristicProxy[bytes] = characteristic.obj

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        await self._request(lambda: peer.subscribe(proxy, deliver, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        await self._request(lambda: peer.unsubscribe(characteristic.obj))

    # --- helpers ----------------------------------------------------------------------------------

    async def _request(self, operation: Callable[[], Awaitable[T]]) -> T:
        """One ATT procedure; on 0x05/0x0F raise security (pair, or encrypt with the bond) and retry
        once, as BlueZ does."""
        for attempt in (1, 2):
            try:
                return await self._guard(operation())
            except att.ATT_Error as exc:
                if attempt == 1 and exc.error_code in SECURITY_ERRORS:
                    await self.pair()  # raise security, as BlueZ does
                    continue
                raise BleakGATTProtocolError(exc.error_code) from exc
        raise AssertionError("unreachable")

    async def _guard(self, operation: Awaitable[T]) -> T:
        """Fail an operation as soon as the link drops (bumble would wait for the ATT timeout)."""
        lost = self._lost
        task = asyncio.ensure_future(operation)
        if lost is None or self._connection is None:
            task.cancel()
            raise NotConnected(self.address)
        await asyncio.wait((task, lost), return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled() and (task.exception() is None or not lost.done()):
            return task.result()
        task.cancel()  # bumble cancels or fails what was pending on the dropped link
        raise NotConnected(self.address)

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise NotConnected(self.address)
        return self._connection

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise NotConnected(self.address)
        return self._peer

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in await peer.discover_services():
            uuid = bleak_uuid(service.uuid)
            if uuid in HIDDEN_SERVICES or (self._service_filter and uuid not in self._service_filter):
                continue
            collection.add_service(bleak_service := BleakGATTService(service, service.handle, uuid))
            await self._discover_characteristics(peer, service, bleak_service, collection)
        return collection

    async def _discover_characteristics(
        self, peer: Peer, service: ServiceProxy, bleak_service: BleakGATTService, collection: BleakGATTServiceCollection
    ) -> None:
        for characteristic in await peer.discover_characteristics((), service):
            properties = [name for flag, name in PROPERTY_NAMES.items() if characteristic.properties & flag]
            bleak_characteristic = BleakGATTCharacteristic(
                characteristic,
                characteristic.handle,
                bleak_uuid(characteristic.uuid),
                properties,
                lambda: self.mtu_size - 3,
                bleak_service,
            )
            collection.add_characteristic(bleak_characteristic)
            for descriptor in await peer.discover_descriptors(characteristic):
                collection.add_descriptor(
                    BleakGATTDescriptor(
                        descriptor, descriptor.handle, bleak_uuid(descriptor.type), bleak_characteristic
                    )
                )
