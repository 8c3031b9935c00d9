"""The virtual radio in another process: a bleak backend that forwards every scanner and client call
over a Unix socket to a process that owns the :class:`VirtualRadio` and its simulated devices.

Why: a gateway with simulated devices in its own process carries bumble's stacks and the device
models in its memory, so its footprint cannot be told apart from the simulator's. With the radio
in a separate process, the gateway process holds what a hub's holds — bleak's API, the agent,
the outbox, MQTT — and a thin RPC instead of BlueZ's D-Bus.

Wire: one JSON object per line. The gateway sends ``{"id", "op", ...arguments}``; the radio answers
``{"id", "result"}`` or ``{"id", "error": {"type", "message", "code"}}`` and pushes events without an id:
``adv`` (an advertisement as bleak reports it), ``notify`` (a notification or indication of a client's
subscription) and ``disconnected``. Bytes travel as hex. The radio side runs the real bleak API on the
radio's backends, so both sides behave exactly as the in-process radio does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from bleak import BleakClient, BleakScanner
from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError

logger = logging.getLogger(__name__)

LINE_LIMIT = 1 << 20


class RadioGone(BleakError):
    """The radio process closed the socket."""


# --- the gateway side -------------------------------------------------------------------------------


class RadioLink:
    """One connection to the radio process, shared by the scanner and client backends it hands out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.on_adv: Callable[[dict[str, Any]], None] | None = None
        self.on_notify: dict[tuple[int, int], Callable[[bytes], None]] = {}
        self.on_disconnected: dict[int, Callable[[], None]] = {}
        self._pump = asyncio.get_running_loop().create_task(self._receive(), name="radio-link")

    @classmethod
    async def open(cls, path: Path) -> RadioLink:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=LINE_LIMIT)
        return cls(reader, writer)

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        self._writer.close()

    def backends(self) -> RemoteBackends:
        scanner = type("RemoteBleakScanner", (RemoteBleakScanner,), {"link": self})
        client = type("RemoteBleakClient", (RemoteBleakClient,), {"link": self})
        return RemoteBackends(scanner, client, self)

    def set_passkey(self, address: str, passkey: str | None) -> None:
        """The pairing agent (gateway.device_session.PasskeyAgent): queued ahead of what follows."""
        self._send({"id": next(self._ids), "op": "set_passkey", "address": address, "passkey": passkey})

    async def call(self, op: str, **arguments: Any) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            self._send({"id": request_id, "op": op, **arguments})
            return await future
        finally:
            self._waiting.pop(request_id, None)

    def _send(self, message: dict[str, Any]) -> None:
        if self._pump.done():
            raise RadioGone("the radio process is gone")
        self._writer.write(json.dumps(message).encode() + b"\n")

    async def _receive(self) -> None:
        try:
            while line := await self._reader.readline():
                self._dispatch(json.loads(line))
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(RadioGone("the radio process is gone"))
            for callback in list(self.on_disconnected.values()):
                callback()

    def _dispatch(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event == "adv":
            if self.on_adv is not None:
                self.on_adv(message)
        elif event == "notify":
            callback = self.on_notify.get((message["cid"], message["handle"]))
            if callback is not None:
                callback(bytes.fromhex(message["data"]))
        elif event == "disconnected":
            on_disconnected = self.on_disconnected.get(message["cid"])
            if on_disconnected is not None:
                on_disconnected()
        elif (future := self._waiting.get(message.get("id", -1))) is not None and not future.done():
            if "error" in message:
                future.set_exception(_error(message["error"]))
            else:
                future.set_result(message.get("result"))


def _error(error: dict[str, Any]) -> Exception:
    kind, text = error.get("type"), str(error.get("message", ""))
    if kind == "BleakGATTProtocolError":
        return BleakGATTProtocolError(int(error["code"]))
    if kind == "BleakDeviceNotFoundError":
        return BleakDeviceNotFoundError(str(error.get("code", "")), text)
    if kind == "TimeoutError":
        return TimeoutError(text)
    return BleakError(text)


@dataclass(frozen=True, slots=True)
class RemoteBackends:
    scanner: type[BaseBleakScanner]
    client: type[BaseBleakClient]
    agent: RadioLink


class RemoteBleakScanner(BaseBleakScanner):
    link: ClassVar[RadioLink]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        self.seen_devices = {}
        self.link.on_adv = self._on_adv
        await self.link.call("scan_start")

    async def stop(self) -> None:
        await self.link.call("scan_stop")

    def _on_adv(self, message: dict[str, Any]) -> None:
        adv = AdvertisementData(
            local_name=message["name"],
            manufacturer_data={int(k): bytes.fromhex(v) for k, v in message["manufacturer_data"].items()},
            service_data={},
            service_uuids=message["service_uuids"],
            tx_power=message["tx_power"],
            rssi=message["rssi"],
            platform_data=(),
        )
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = message["address"]
        device = self.create_or_update_device(address, address, adv.local_name, None, adv)
        self.call_detection_callbacks(device, adv)


class RemoteBleakClient(BaseBleakClient):
    link: ClassVar[RadioLink]
    _cids: ClassVar[itertools.count[int]] = itertools.count(1)

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self.address = self.address.upper()
        self._cid = next(self._cids)
        self._connected = False
        self._mtu = 23
        self._name = self.address

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = float(kwargs.get("timeout", self._timeout))
        self.link.on_disconnected[self._cid] = self._on_disconnected
        result = await self.link.call("connect", cid=self._cid, address=self.address, pair=pair, timeout=timeout)
        self._connected = True
        self._mtu = int(result["mtu"])
        self._name = result["name"]
        self.services = self._collection(result["services"])

    def _on_disconnected(self) -> None:
        if not self._connected:
            return
        self._connected = False
        self.services = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        if self._connected:
            await self.link.call("disconnect", cid=self._cid)
        self._on_disconnected()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        await self.link.call("pair", cid=self._cid)

    async def unpair(self) -> None:
        await self.link.call("unpair", cid=self._cid, address=self.address)

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray.fromhex(await self.link.call("read", cid=self._cid, handle=characteristic.handle))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray.fromhex(await self.link.call("read_descriptor", cid=self._cid, handle=descriptor.handle))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        await self.link.call(
            "write", cid=self._cid, handle=characteristic.handle, data=bytes(data).hex(), response=response
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        await self.link.call("write_descriptor", cid=self._cid, handle=descriptor.handle, data=bytes(data).hex())

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        self.link.on_notify[(self._cid, characteristic.handle)] = lambda data: callback(bytearray(data))
        await self.link.call("start_notify", cid=self._cid, handle=characteristic.handle)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        await self.link.call("stop_notify", cid=self._cid, handle=characteristic.handle)
        self.link.on_notify.pop((self._cid, characteristic.handle), None)

    def _collection(self, services: list[dict[str, Any]]) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in services:
            bleak_service = BleakGATTService(None, service["handle"], service["uuid"])
            collection.add_service(bleak_service)
            for char in service["characteristics"]:
                bleak_char = BleakGATTCharacteristic(
                    None, char["handle"], char["uuid"], char["properties"], lambda: self._mtu - 3, bleak_service
                )
                collection.add_characteristic(bleak_char)
                for desc in char["descriptors"]:
                    collection.add_descriptor(BleakGATTDescriptor(None, desc["handle"], desc["uuid"], bleak_char))
        return collection


# --- the radio side ---------------------------------------------------------------------------------


class RadioServer:
    """Serves one gateway connection with the bleak API on a radio's backends (``radio.backends()``)."""

    def __init__(self, backends: Any) -> None:
        self._backends = backends
        self._clients: dict[int, BleakClient] = {}
        self._scanner: BleakScanner | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, path: Path, stop: asyncio.Event) -> None:
        server = await asyncio.start_unix_server(self._session, str(path), limit=LINE_LIMIT)
        async with server:
            await stop.wait()
        for client in list(self._clients.values()):
            with contextlib.suppress(BleakError):
                await client.disconnect()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        while line := await reader.readline():
            request = json.loads(line)
            task = asyncio.create_task(self._answer(request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _emit(self, message: dict[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(json.dumps(message).encode() + b"\n")

    async def _answer(self, request: dict[str, Any]) -> None:
        try:
            result = await self._execute(request)
        except BleakGATTProtocolError as exc:
            self._emit(
                {"id": request["id"], "error": {"type": type(exc).__name__, "message": str(exc), "code": exc.code}}
            )
        except BleakDeviceNotFoundError as exc:
            self._emit(
                {
                    "id": request["id"],
                    "error": {"type": type(exc).__name__, "message": str(exc), "code": exc.identifier},
                }
            )
        except (BleakError, TimeoutError, EOFError) as exc:
            self._emit({"id": request["id"], "error": {"type": type(exc).__name__, "message": str(exc)}})
        else:
            self._emit({"id": request["id"], "result": result})

    async def _execute(self, request: dict[str, Any]) -> Any:
        op = request["op"]
        if op == "set_passkey":
            self._backends.agent.set_passkey(request["address"], request["passkey"])
            return None
        if op == "scan_start":
            if self._scanner is None:
                self._scanner = BleakScanner(detection_callback=self._on_adv, backend=self._backends.scanner)
            await self._scanner.start()
            return None
        if op == "scan_stop":
            if self._scanner is not None:
                await self._scanner.stop()
            return None
        if op == "connect":
            return await self._connect(request)
        cid = request["cid"]
        if op == "unpair":
            client = self._clients.get(cid) or BleakClient(request["address"], backend=self._backends.client)
            await client.unpair()
            return None
        client = self._clients[cid]
        if op == "disconnect":
            await client.disconnect()
            return None
        if op == "pair":
            await client.pair()
            return None
        services = client.services
        if op in ("read_descriptor", "write_descriptor"):
            descriptor = services.get_descriptor(request["handle"])
            if descriptor is None:
                raise BleakError(f"no descriptor with handle {request['handle']}")
            if op == "read_descriptor":
                return bytes(await client.read_gatt_descriptor(descriptor)).hex()
            await client.write_gatt_descriptor(descriptor, bytes.fromhex(request["data"]))
            return None
        char = services.get_characteristic(request["handle"])
        if char is None:
            raise BleakError(f"no characteristic with handle {request['handle']}")
        if op == "read":
            return bytes(await client.read_gatt_char(char)).hex()
        if op == "write":
            await client.write_gatt_char(char, bytes.fromhex(request["data"]), response=bool(request["response"]))
            return None
        if op == "start_notify":
            handle = char.handle

            def forward(_char: BleakGATTCharacteristic, data: bytearray) -> None:
                self._emit({"event": "notify", "cid": cid, "handle": handle, "data": bytes(data).hex()})

            await client.start_notify(char, forward)
            return None
        if op == "stop_notify":
            await client.stop_notify(char)
            return None
        raise BleakError(f"unknown radio operation {op!r}")

    async def _connect(self, request: dict[str, Any]) -> dict[str, Any]:
        cid = request["cid"]

        def lost(_client: BleakClient) -> None:
            self._clients.pop(cid, None)
            self._emit({"event": "disconnected", "cid": cid})

        client = BleakClient(
            request["address"],
            disconnected_callback=lost,
            timeout=float(request["timeout"]),
            pair=bool(request["pair"]),
            backend=self._backends.client,
        )
        await client.connect()
        self._clients[cid] = client
        services = [
            {
                "uuid": s.uuid,
                "handle": s.handle,
                "characteristics": [
                    {
                        "uuid": c.uuid,
                        "handle": c.handle,
                        "properties": list(c.properties),
                        "descriptors": [{"uuid": d.uuid, "handle": d.handle} for d in c.descriptors],
                    }
                    for c in s.characteristics
                ],
            }
            for s in client.services
        ]
        return {"mtu": client.mtu_size, "name": client.name, "services": services}

    def _on_adv(self, device: BLEDevice, adv: AdvertisementData) -> None:
        self._emit(
            {
                "event": "adv",
                "address": device.address,
                "name": adv.local_name,
                "service_uuids": adv.service_uuids,
                "manufacturer_data": {str(k): v.hex() for k, v in adv.manufacturer_data.items()},
                "tx_power": adv.tx_power,
                "rssi": adv.rssi,
            }
        )
