"""One simulated BLE peripheral on the virtual radio: a bumble Device with its own virtual controller
that serves a firmware_sim device model as a GATT server, advertises as the model says, pairs with
SMP (Just Works, or passkey entry with the code the model displays) and keeps its bonds.

The model is transport-free (:mod:`firmware_sim.devices.peripheral`); this module delivers the
radio's events to it with the true time from the injected clock:

- connection, disconnection and an encrypted link (``connect``, ``disconnect``, ``pair``);
- reads, writes and CCCD writes; an :class:`~firmware_sim.gatt.att.AttError` becomes the ATT Error
  Response with its code;
- streamed frames: ``transmit(at, max_frames=1)`` after each indication is confirmed, so at most one
  record is in flight, and a link lost mid-transfer leaves the rest in the model for next time;
- the model's wish to end the link (``close_requested``) once nothing is left to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bumble import hci
from bumble.controller import Controller
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.gatt import Characteristic as BumbleCharacteristic
from bumble.link import LocalLink
from bumble.pairing import PairingConfig, PairingDelegate
from bumble.transport.common import AsyncPipeSink

from firmware_sim.devices.gatt_table import Pairing
from firmware_sim.devices.outgoing import Delivery, Outgoing
from firmware_sim.devices.peripheral import SimulatedPeripheral as DeviceModel
from firmware_sim.errors import DeviceUnavailable
from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.radio.advertising import advertising_data
from firmware_sim.radio.gatt_server import bumble_services
from firmware_sim.radio.hci import QuietController, QuietHost

logger = logging.getLogger(__name__)

LINK_LOST = hci.HCI_CONNECTION_TIMEOUT_ERROR
"""What both controllers report when the supervision timeout expires (Core Vol 4 Part E §7.7.5)."""
DEVICE_CLOSED = hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
LIVE_EVENTS = ("measure", "control_test")
"""Model methods that return frames sent live (and counted delivered by the model)."""
AIR_HOPS = 30
"""Event-loop turns that carry a PDU from one bumble host to another over the LocalLink, with margin
(host → controller → link → controller → host → GATT client, each a ``call_soon``)."""


ENCRYPTION_KEY_ONLY = PairingDelegate.KeyDistribution.DISTRIBUTE_ENCRYPTION_KEY
"""A device on a static random address distributes its LTK and no IRK (it has no private address to
resolve); bumble's central would otherwise scan to resolve the address before every reconnect."""


class _DeviceAgent(PairingDelegate):
    """Just Works, or the passkey the device shows (or has printed on its label)."""

    def __init__(self, passkey: str | None) -> None:
        super().__init__(
            io_capability=PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT
            if passkey is None
            else PairingDelegate.IoCapability.DISPLAY_OUTPUT_ONLY,
            local_responder_key_distribution=ENCRYPTION_KEY_ONLY,
        )
        self._passkey = passkey

    async def generate_passkey(self) -> int:
        assert self._passkey is not None, "asked for a passkey in Just Works"
        return int(self._passkey)


class SimulatedPeripheral:
    """A device model on the air. Create it with :meth:`VirtualRadio.add_peripheral`."""

    def __init__(
        self,
        model: DeviceModel,
        *,
        address: str,
        rssi_dbm: int,
        clock: Callable[[], datetime],
        link: LocalLink,
        advertising_interval_ms: float,
    ) -> None:
        self.model = model
        self.address = address.upper()
        self.rssi_dbm = rssi_dbm
        self._clock = clock
        self._link = link
        self._advertising_interval_ms = advertising_interval_ms
        self._controller = QuietController(f"peripheral {self.address}", link=link, public_address=self.address)
        security = model.security
        config = DeviceConfiguration(
            name=model.local_name,
            address=hci.Address(self.address),
            advertising_data=advertising_data(model.advertisement),
        )
        self.device = Device(config=config, host=QuietHost(self._controller, AsyncPipeSink(self._controller)))
        passkey = security.passkey if security.pairing == Pairing.PASSKEY else None
        self.device.pairing_config_factory = lambda _connection: PairingConfig(
            sc=True,
            mitm=passkey is not None,
            bonding=True,
            delegate=_DeviceAgent(passkey),
        )
        services = bumble_services(model.services, self, self.device.gatt_server)
        self.device.add_services(services)
        self._characteristics: dict[str, BumbleCharacteristic[bytes]] = {
            str(c.uuid).lower(): c for s in services for c in s.characteristics
        }
        self.device.on(Device.EVENT_CONNECTION, self._on_connection)
        self._route_live_frames()
        self._connection: Connection | None = None
        self._outbox: deque[Outgoing] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._pump: asyncio.Task[None] | None = None
        self._restart: asyncio.Task[None] | None = None
        """Advertising resuming after a disconnection; awaited, never cancelled, before other HCI
        commands (a host cancelled mid-command trips over the late Command Complete)."""
        self._advertising = True
        self.pairings = 0
        """SMP pairings completed (a bonded central re-encrypts without one)."""
        self.sent: list[Outgoing] = []
        """Every frame handed to the air, oldest first, with its ground truth (``Outgoing.intended``)."""

    # --- lifecycle (used by the radio) ------------------------------------------------------------

    async def power_on(self) -> None:
        await self.device.power_on()
        await self._start_advertising()

    async def power_off(self) -> None:
        self._advertising = False
        if self._connection is not None:
            await self.link_loss()
        await self._restarted()
        await self.device.power_off()
        self._link.remove_controller(self._controller)
        for name in LIVE_EVENTS:
            vars(self.model).pop(name, None)

    def advertise_now(self) -> None:
        """The next advertising event, now: a central waiting to connect does not wait an interval."""
        advertiser = self._controller.le_legacy_advertiser
        if advertiser.enabled:
            advertiser.send_advertising_data()
        for advertising_set in self._controller.advertising_sets.values():
            if advertising_set.enabled:
                advertising_set.send_extended_advertising_data()

    async def settle(self) -> None:
        """Let a disconnection finish on both sides and advertising resume before a new connection:
        a central reconnecting at once would otherwise meet the old link's last PDUs."""
        await self._settle(lambda: self._connection is None and not self._central_connected())
        await self._restarted()
        await self._settle(
            lambda: (
                self._connection is None
                and not self._central_connected()
                and (self.advertising or not self._advertising)
            )
        )

    @property
    def advertising(self) -> bool:
        """Connectable advertising is on (the device can be connected now)."""
        return self._controller.le_legacy_advertiser.enabled or any(
            s.enabled for s in self._controller.advertising_sets.values()
        )

    @property
    def controller(self) -> Controller:
        """The device's virtual controller (for fault injection below the host)."""
        return self._controller

    @property
    def connected(self) -> bool:
        return self._connection is not None

    # --- the shared interface -------------------------------------------------------------------

    async def link_loss(self) -> None:
        """Drop the link now, as a radio fade would: both controllers report a supervision timeout."""
        if self._connection is None:
            return
        for controller in list(self._link.controllers):
            for connection in list(controller.le_connections.values()):
                if controller is self._controller or connection.peer_address.address_bytes == bytes(
                    hci.Address(self.address)
                ):
                    controller.on_le_disconnected(connection, LINK_LOST)
        await self._settle(lambda: self._connection is None and not self._central_connected())

    async def set_advertising(self, on: bool) -> None:
        """Power the device's radio on or off (off also drops a link)."""
        self._advertising = on
        if on:
            if self._connection is None:
                await self._start_advertising()
            return
        await self._restarted()
        await self.device.stop_advertising()
        await self.link_loss()

    async def notify_pending(self) -> None:
        """Push what the model has to transmit (queued frames) to the subscribed central; returns once
        the last frame has reached it (an indication confirmed)."""
        if self._connection is None:
            return
        self._idle.clear()
        self._wake.set()
        await self._idle.wait()
        # A notification has no confirmation: let the link carry the last one to the central's host.
        await self._settle(lambda: False, rounds=AIR_HOPS)

    async def measure(self, at: datetime | None = None) -> list[Outgoing]:
        """Take a measurement now; frames the model sends live go on air. Returns them."""
        frames = self.model.measure(at or self._clock())
        await self.notify_pending()
        return frames

    def _route_live_frames(self) -> None:
        """``model.measure(at)`` (or a glucometer's ``control_test``) called by anyone — a test, the
        demo's home life — returns the frames the device sends live, and the model counts them
        delivered; on the radio they must go on air, so those methods of the model instance are
        wrapped to queue them (the class is untouched; the wrappers go at power-off).
        ``notify_pending()`` then returns once they have arrived."""
        for name in LIVE_EVENTS:
            if hasattr(self.model, name):
                setattr(self.model, name, self._on_air(getattr(self.model, name)))

    def _on_air(self, event: Callable[..., list[Outgoing]]) -> Callable[..., list[Outgoing]]:
        def event_on_air(*args: Any, **kwargs: Any) -> list[Outgoing]:
            frames = event(*args, **kwargs)
            self._send_later(frames)
            return frames

        return event_on_air

    # --- AttHandler: the model behind the GATT server -------------------------------------------

    def read(self, characteristic: str) -> bytes:
        try:
            return self.model.read(characteristic, self._clock())
        except DeviceUnavailable as exc:
            raise AttError(AttErrorCode.READ_NOT_PERMITTED, characteristic, str(exc)) from exc

    def write(self, characteristic: str, value: bytes) -> None:
        try:
            frames = self.model.write(characteristic, value, self._clock())
        except DeviceUnavailable as exc:
            raise AttError(AttErrorCode.WRITE_NOT_PERMITTED, characteristic, str(exc)) from exc
        self._send_later(frames)

    def configure(self, characteristic: str, enable: bool) -> None:
        at = self._clock()
        if enable:
            self.model.subscribe(characteristic, at)
        else:
            self.model.unsubscribe(characteristic, at)
        self._wake.set()

    # --- link events ------------------------------------------------------------------------------

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        try:
            self.model.connect(self._clock(), peer=connection.peer_address.to_string(False))
        except DeviceUnavailable:
            # A flat battery: the device goes off the air (set_advertising(True) after replacing it).
            logger.info("peripheral %s cannot take a connection (battery flat); radio off", self.address)
            self._advertising = False
            self._connection = None
            asyncio.get_running_loop().create_task(connection.disconnect(), name=f"refuse {self.address}")
            return
        connection.on(Connection.EVENT_DISCONNECTION, lambda _reason: self._on_disconnection(connection))
        connection.on(Connection.EVENT_CONNECTION_ENCRYPTION_CHANGE, lambda: self._on_encryption(connection))
        connection.on(Connection.EVENT_PAIRING, lambda _keys: self._on_paired())
        self._pump = asyncio.get_running_loop().create_task(self._run_pump(connection), name=f"pump {self.address}")

    def _on_encryption(self, connection: Connection) -> None:
        if connection is self._connection and connection.is_encrypted:
            # SMP has checked the passkey already; the model records the bond and the encrypted link.
            self.model.pair(self._clock(), self.model.security.passkey)

    def _on_paired(self) -> None:
        self.pairings += 1

    def _on_disconnection(self, connection: Connection) -> None:
        if connection is not self._connection:
            return
        self._connection = None
        self._outbox.clear()
        self._wake.clear()
        self._idle.set()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        self.model.disconnect(self._clock())
        if self._advertising:
            self._restart = asyncio.get_running_loop().create_task(
                self._start_advertising(), name=f"advertise {self.address}"
            )

    async def _restarted(self) -> None:
        if self._restart is not None:
            await self._restart
            self._restart = None

    async def _start_advertising(self) -> None:
        if self._advertising and self.device.powered_on and self._connection is None:
            with contextlib.suppress(hci.HCI_Error):
                await self.device.start_advertising(
                    advertising_interval_min=self._advertising_interval_ms,
                    advertising_interval_max=self._advertising_interval_ms,
                )

    # --- streaming --------------------------------------------------------------------------------

    def _send_later(self, frames: list[Outgoing]) -> None:
        """Frames the model sends at once, then whatever an event queued in it (``transmit``)."""
        self._outbox.extend(frames)
        self._wake.set()

    async def _run_pump(self, connection: Connection) -> None:
        """Owns this connection's stream: a failure is a simulator bug, logged once, and the device
        drops the link (a firmware fault) rather than hanging the central."""
        try:
            await self._pump_frames(connection)
        except Exception:
            logger.exception("peripheral %s: frame pump failed; dropping the link", self.address)
            self._idle.set()
            await self.link_loss()

    async def _pump_frames(self, connection: Connection) -> None:
        """Frames go out one at a time; an indication's confirmation releases the next frame."""
        while True:
            if not self._wake.is_set():
                self._idle.set()
            await self._wake.wait()
            self._idle.clear()
            self._wake.clear()
            while connection is self._connection:
                if not self._outbox:
                    self._outbox.extend(self.model.transmit(self._clock(), max_frames=1))
                if self._outbox:
                    await self._send(connection, self._outbox.popleft())
                    continue
                if self.model.close_requested:
                    logger.debug("peripheral %s closes the link: transfer done", self.address)
                    await connection.disconnect(DEVICE_CLOSED)
                    return
                break

    async def _send(self, connection: Connection, frame: Outgoing) -> None:
        characteristic = self._characteristics[frame.characteristic]
        self.sent.append(frame)
        if frame.delivery == Delivery.INDICATE:
            await self.device.indicate_subscriber(connection, characteristic, frame.data)
        else:
            await self.device.notify_subscriber(connection, characteristic, frame.data)
            # One notification per connection event: the next waits until this one has arrived, so a
            # stream can be cut between two frames as a fade cuts it.
            await self._settle(lambda: False, rounds=AIR_HOPS)

    def _central_connected(self) -> bool:
        me = bytes(hci.Address(self.address))
        return any(
            c.peer_address.address_bytes == me
            for controller in self._link.controllers
            if controller is not self._controller
            for c in controller.le_connections.values()
        )

    @staticmethod
    async def _settle(done: Callable[[], bool], rounds: int = 200) -> None:
        """Let the in-process radio deliver what is in flight (events travel by ``call_soon``)."""
        for _ in range(rounds):
            if done():
                return
            await asyncio.sleep(0)
