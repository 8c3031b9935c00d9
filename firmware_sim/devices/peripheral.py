"""The transport-free core every simulated BLE peripheral shares: its GATT table, advertisement and
security (as data, :mod:`~firmware_sim.devices.gatt_table`), a link with subscriptions and
encryption, the Battery, Device Information and time characteristics, and a transmit queue for the
frames a procedure streams.

Events a radio delivers are methods; every one takes the true time ``at`` (timezone-aware) because
device logic never reads a clock:

- ``connect(at, peer)`` / ``disconnect(at)``; ``pair(at, passkey)`` bonds or re-encrypts;
- ``subscribe(uuid, at)`` is the CCCD write that enables notifications or indications;
- ``read(uuid, at) -> bytes``; ``write(uuid, data, at) -> list[Outgoing]`` (frames sent at once);
- ``measure(at) -> list[Outgoing]`` takes a measurement (frames sent live, if any);
- ``transmit(at, max_frames)`` hands streamed frames (stored records, RACP reports) to the radio one
  at a time, so a test or a transport can interleave writes such as a RACP abort.

Refusals are :class:`~firmware_sim.gatt.att.AttError` with the ATT code a real server answers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np

from firmware_sim.devices.battery import Battery
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.faults import FaultInjector, FaultPlan
from firmware_sim.devices.gatt_table import (
    READ,
    READ_WRITE,
    Advertisement,
    Characteristic,
    DeviceInformation,
    Pairing,
    Property,
    Security,
    Service,
    TimeSetting,
)
from firmware_sim.devices.outgoing import Delivery, Outgoing
from firmware_sim.errors import DeviceUnavailable, SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.gatt.date_time import (
    InvalidTimeValue,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)
from firmware_sim.intent import EncodedMeasurement

NO_SECURITY = Security()
NO_FAULTS = FaultPlan()


class PairingFailed(SimulationError):
    """SMP pairing failed (wrong passkey)."""


@dataclass
class Link:
    peer: str
    bonded: bool = False
    encrypted: bool = False
    subscriptions: set[str] = field(default_factory=set)
    clock_written: bool = False
    close_requested: bool = False
    """The device has finished and drops the link (cuffs and thermometers do; reference §10)."""


@dataclass
class _Queued:
    frame: Outgoing
    on_sent: Callable[[], None] | None = None
    procedure: str | None = None


class SimulatedPeripheral(ABC):
    """Base of the device models; subclasses add their health service and measurement logic."""

    def __init__(
        self,
        *,
        info: DeviceInformation,
        local_name: str,
        clock: DeviceClock,
        battery: Battery,
        seed: int,
        security: Security = NO_SECURITY,
        time_setting: TimeSetting = TimeSetting.CURRENT_TIME_SERVICE,
        faults: FaultPlan = NO_FAULTS,
        cts_ignores_fields: bool = False,
        announces_time: bool = False,
    ) -> None:
        self.info = info
        self.local_name = local_name
        self.clock = clock
        self.battery = battery
        self.security = security
        self.time_setting = time_setting
        self.cts_ignores_fields = cts_ignores_fields
        self.announces_time = announces_time
        """Omron (reference §11): once measurement indications are on, the device notifies its Current
        Time (when CTS notifications are on) before any record, and a collector sets the clock only
        in answer to that notification."""
        seeds = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.default_rng(seeds[0])
        self.faults = FaultInjector(faults, np.random.default_rng(seeds[1]))
        self.link: Link | None = None
        self.bonds: set[str] = set()
        self._connections = 0
        self._tx: deque[_Queued] = deque()

    @cached_property
    def _characteristics(self) -> dict[str, Characteristic]:
        return {c.uuid: c for s in self.services for c in s.characteristics}

    # --- what the device is ------------------------------------------------------------------------

    @property
    @abstractmethod
    def profile_service(self) -> Service:
        """The health service (and any characteristic a quirk puts inside it)."""

    @property
    def extra_services(self) -> tuple[Service, ...]:
        """Vendor services beside the SIG ones."""
        return ()

    @property
    def services(self) -> tuple[Service, ...]:
        common = [
            Service(
                uuids.BATTERY_SERVICE,
                (Characteristic(uuids.BATTERY_LEVEL, frozenset({Property.READ, Property.NOTIFY})),),
            ),
            Service(
                uuids.DEVICE_INFORMATION_SERVICE,
                tuple(Characteristic(u, READ) for u in self._device_information()),
            ),
        ]
        if self.time_setting == TimeSetting.CURRENT_TIME_SERVICE:
            cts = Characteristic(uuids.CURRENT_TIME, frozenset({Property.READ, Property.WRITE, Property.NOTIFY}))
            common.append(Service(uuids.CURRENT_TIME_SERVICE, (cts,)))
        return (self.profile_service, *self.extra_services, *common)

    @property
    def advertisement(self) -> Advertisement:
        return Advertisement(self.local_name, (self.profile_service.uuid,))

    def health_service(
        self, uuid: str, data: Mapping[str, frozenset[Property]], readable: tuple[str, ...] = ()
    ) -> Service:
        """A health service: its data characteristics (encrypted when the device requires a bond), its
        readable ones, and the A&D-style Date Time inside it when the device sets its clock that way."""
        encrypted = self.security.bonding_required
        characteristics = [Characteristic(u, properties, encrypted=encrypted) for u, properties in data.items()]
        characteristics += [Characteristic(u, READ) for u in readable]
        if self.time_setting == TimeSetting.DATE_TIME_IN_PROFILE:
            characteristics.append(Characteristic(uuids.DATE_TIME, READ_WRITE))
        return Service(uuid, tuple(characteristics))

    def _device_information(self) -> dict[str, str]:
        return {
            uuids.MANUFACTURER_NAME: self.info.manufacturer,
            uuids.MODEL_NUMBER: self.info.model,
            uuids.SERIAL_NUMBER: self.info.serial,
            uuids.HARDWARE_REVISION: self.info.hardware_revision,
            uuids.FIRMWARE_REVISION: self.info.firmware_revision,
        }

    # --- link -------------------------------------------------------------------------------------

    def connect(self, at: datetime, peer: str = "gateway") -> None:
        if self.link is not None:
            raise DeviceUnavailable(f"already connected to {self.link.peer}")
        self.battery.connect(at)
        self._connections += 1
        self.link = Link(peer=peer, bonded=peer in self.bonds)
        if self._connections > 1 and self.faults.replay_due():
            self._replay_stored_records(at)

    def replace_battery(self, at: datetime) -> None:
        """New cells: the clock restarts from its factory time and counts as not set (Omron, reference
        §11); stored records survive, they are in flash."""
        self.battery.replace(at)
        self.clock.reset(at)

    def disconnect(self, at: datetime) -> None:
        """Link lost or closed: streamed frames not yet handed to the radio stay unsent."""
        self._tx.clear()
        self.link = None

    def pair(self, at: datetime, passkey: str | None = None) -> None:
        """Pair and bond, or re-encrypt with an existing bond."""
        link = self._require_link()
        if not link.bonded:
            if self.security.pairing == Pairing.PASSKEY and passkey != self.security.passkey:
                raise PairingFailed("passkey entry failed: the code does not match the device's")
            self.bonds.add(link.peer)
            link.bonded = True
        link.encrypted = True

    def subscribe(self, characteristic: str, at: datetime) -> None:
        spec = self._check_access(characteristic)
        if not spec.properties & {Property.NOTIFY, Property.INDICATE}:
            raise AttError(AttErrorCode.WRITE_NOT_PERMITTED, characteristic, "no notify or indicate property")
        self._require_link().subscriptions.add(characteristic)
        self._on_subscribed(characteristic, at)

    def unsubscribe(self, characteristic: str, at: datetime) -> None:
        self._require_link().subscriptions.discard(characteristic)
        self._on_unsubscribed(characteristic, at)

    @property
    def close_requested(self) -> bool:
        return self.link is not None and self.link.close_requested

    # --- ATT --------------------------------------------------------------------------------------

    def read(self, characteristic: str, at: datetime) -> bytes:
        spec = self._check_access(characteristic)
        if Property.READ not in spec.properties:
            raise AttError(AttErrorCode.READ_NOT_PERMITTED, characteristic, "not readable")
        if characteristic == uuids.BATTERY_LEVEL:
            return bytes((self.battery.level(at),))
        if characteristic in (information := self._device_information()):
            return information[characteristic].encode()
        if characteristic == uuids.CURRENT_TIME:
            return encode_current_time(self.clock.now(at))
        if characteristic == uuids.DATE_TIME:
            return encode_date_time(self.clock.now(at))
        values = self._values()
        if characteristic not in values:
            raise AttError(AttErrorCode.READ_NOT_PERMITTED, characteristic, "no value")
        return values[characteristic]

    def write(self, characteristic: str, data: bytes, at: datetime) -> list[Outgoing]:
        spec = self._check_access(characteristic)
        if Property.WRITE not in spec.properties:
            raise AttError(AttErrorCode.WRITE_NOT_PERMITTED, characteristic, "not writable")
        if characteristic in (uuids.CURRENT_TIME, uuids.DATE_TIME):
            self._set_clock(characteristic, data, at)
            return []
        return self._write(characteristic, data, at)

    def _set_clock(self, characteristic: str, data: bytes, at: datetime) -> None:
        try:
            if characteristic == uuids.CURRENT_TIME:
                value, _reason = decode_current_time(data)
            else:
                value = decode_date_time(data)
        except InvalidTimeValue as exc:
            raise AttError(AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH, characteristic, str(exc)) from exc
        self.clock.set(at, value)
        self._require_link().clock_written = True
        self._on_clock_written(at)
        if characteristic == uuids.CURRENT_TIME and self.cts_ignores_fields:
            # Applied, but the server keeps no fractions or adjust reason and says so (reference §3.3).
            raise AttError(AttErrorCode.DATA_FIELD_IGNORED, characteristic, "fractions and adjust reason ignored")

    # --- measurements and streaming ---------------------------------------------------------------

    def measure(self, at: datetime) -> list[Outgoing]:
        """Take one measurement; returns the frames sent live (none when not connected)."""
        self.battery.measure(at)
        return self._measure(at)

    def transmit(self, at: datetime, max_frames: int | None = None) -> list[Outgoing]:
        """Hand up to ``max_frames`` queued frames to the radio (all when ``None``)."""
        sent: list[Outgoing] = []
        while self._tx and (max_frames is None or len(sent) < max_frames):
            queued = self._tx.popleft()
            if queued.on_sent is not None:
                queued.on_sent()
            sent.append(queued.frame)
        if sent and not self._tx:
            self._on_drained(at)
        return sent

    @property
    def pending_frames(self) -> int:
        return len(self._tx)

    def procedure_in_progress(self, procedure: str) -> bool:
        return any(q.procedure == procedure for q in self._tx)

    def cancel_procedure(self, procedure: str) -> None:
        self._tx = deque(q for q in self._tx if q.procedure != procedure)

    def _enqueue(
        self, frame: Outgoing, on_sent: Callable[[], None] | None = None, procedure: str | None = None
    ) -> None:
        self._tx.append(_Queued(frame, on_sent, procedure))

    def _frame(self, encoded: EncodedMeasurement) -> Outgoing:
        """A measurement frame as it goes on air, faults applied."""
        delivery = self._delivery(encoded.characteristic)
        return self.faults.corrupt(Outgoing.of(encoded, delivery))

    def _delivery(self, characteristic: str) -> Delivery:
        properties = self._characteristics[characteristic].properties
        return Delivery.INDICATE if Property.INDICATE in properties else Delivery.NOTIFY

    def is_subscribed(self, characteristic: str) -> bool:
        return self.link is not None and characteristic in self.link.subscriptions

    def _require_link(self) -> Link:
        if self.link is None:
            raise DeviceUnavailable("not connected")
        return self.link

    def _announce_time(self, at: datetime) -> None:
        """Queue the Current Time notification an Omron cuff sends when its data is subscribed."""
        if self.announces_time and self.is_subscribed(uuids.CURRENT_TIME):
            self._enqueue(Outgoing(uuids.CURRENT_TIME, Delivery.NOTIFY, encode_current_time(self.clock.now(at))))

    def _check_access(self, characteristic: str) -> Characteristic:
        link = self._require_link()
        spec = self._characteristics.get(characteristic)
        if spec is None:
            raise AttError(AttErrorCode.ATTRIBUTE_NOT_FOUND, characteristic, "no such characteristic")
        if spec.encrypted and not link.encrypted:
            code = AttErrorCode.INSUFFICIENT_ENCRYPTION if link.bonded else AttErrorCode.INSUFFICIENT_AUTHENTICATION
            raise AttError(code, characteristic, "pair (or re-encrypt) first")
        return spec

    # --- hooks ------------------------------------------------------------------------------------

    @abstractmethod
    def _measure(self, at: datetime) -> list[Outgoing]: ...

    @abstractmethod
    def _replay_stored_records(self, at: datetime) -> None:
        """The REPLAY fault on reconnect (see :mod:`firmware_sim.devices.faults`)."""

    def _values(self) -> Mapping[str, bytes]:
        """Values of the profile's readable characteristics (features, temperature type, …)."""
        return {}

    def _write(self, characteristic: str, data: bytes, at: datetime) -> list[Outgoing]:
        raise AttError(AttErrorCode.WRITE_NOT_PERMITTED, characteristic, "not writable")

    def _on_subscribed(self, characteristic: str, at: datetime) -> None:
        return None

    def _on_unsubscribed(self, characteristic: str, at: datetime) -> None:
        return None

    def _on_clock_written(self, at: datetime) -> None:
        return None

    def _on_drained(self, at: datetime) -> None:
        return None
