"""One connection to one whitelisted device, through the bleak API (any backend): bond when the
device needs it, read Device Information and battery, read the device clock and measure its offset,
subscribe to every measurement characteristic, set the clock, download stored glucometer records
with RACP after the last sequence number already in the outbox, and turn every frame into a reading
in the outbox — or, for a frame no decoder accepts, a ``frame_rejected`` event with its bytes.

Protocol facts this follows (``reference/ble-health-profiles.md``):

- §10: every callback is registered before any write that makes the device send (RACP write, clock
  write on A&D-style cuffs); notify and indicate use the same ``start_notify``; the device usually
  drops the link when done, which is the end of the transfer and not an error.
- §5: RACP "report stored records ≥ last forwarded + 1" (all records the first time); the download is
  over at the RACP response (success or no records found). The outbox commits each record together
  with the new cursor, so a lost link or a killed gateway resumes at the right record.
- §11: A&D-style devices keep Date Time 0x2A08 inside the health service and release stored readings
  only after it is written, so the clock is written after subscribing and before waiting for data.
- §12: the clock offset is measured before the clock is written; stamps are corrected as
  :mod:`gateway.readings` documents.

Characteristics are found by UUID wherever they are: bumble shows GAP/GATT services BlueZ hides,
and devices put Date Time in different services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from core.hub_messages import HubEventType, SecurityMode, WhitelistEntry
from core.ids import uuid7
from drivers import DecodeError, decode, normalise_uuid
from drivers.date_time import CurrentTime, DateTime, DateTimeValue
from drivers.glucose import GlucoseContext, GlucoseMeasurement, with_context
from drivers.racp import OpCode, Operator, RacpRequest, RacpResponse
from drivers.registry import Frame
from gateway.events import EventLog
from gateway.glucose_context import ContextJoin, Joined
from gateway.outbox import AddResult, Outbox, OutboxReading
from gateway.racp_plan import NEWEST_RECORD, Progress, plan_download
from gateway.readings import ClockView, DeviceRef, build_reading, device_time_as_utc

logger = logging.getLogger(__name__)


def uuid16(value: int) -> str:
    return normalise_uuid(value)


BATTERY_LEVEL = uuid16(0x2A19)
CURRENT_TIME = uuid16(0x2A2B)
DATE_TIME = uuid16(0x2A08)
RACP = uuid16(0x2A52)
GLUCOSE_MEASUREMENT = uuid16(0x2A18)
DEVICE_INFORMATION = {
    uuid16(0x2A29): "manufacturer",
    uuid16(0x2A24): "model",
    uuid16(0x2A25): "serial",
    uuid16(0x2A26): "firmware",
}
MEASUREMENTS = frozenset(
    uuid16(u)
    for u in (
        0x2A35,  # Blood Pressure Measurement
        0x2A18,  # Glucose Measurement
        0x2A34,  # Glucose Measurement Context
        0x2A9D,  # Weight Measurement
        0x2A9C,  # Body Composition Measurement
        0x2A5E,  # PLX Spot-check Measurement
        0x2A5F,  # PLX Continuous Measurement
        0x2A1C,  # Temperature Measurement
    )
)
RACP_RESPONSE_TIMEOUT_S = 30.0
OMRON_CLOCK_SLACK = timedelta(minutes=10)
"""Omron cuffs: a clock within 10 minutes is left alone (blessed-android, reference §11)."""
OMRON_NAME_PREFIX = "blesmart_"


def announces_time(name: str | None, model: str | None) -> bool:
    """Omron BP cuffs (advertised as ``BLESmart_…``/``BLEsmart_…``, or named Omron in the whitelist's
    model) announce their Current Time by notification and expect the clock to be set only then."""
    return (name or "").casefold().startswith(OMRON_NAME_PREFIX) or "omron" in (model or "").casefold()


def same_serial(reported: str, whitelisted: str) -> bool:
    """Device Information strings are padded with spaces or NULs by some firmware; case is not
    significant in serial numbers printed on labels."""
    return reported.strip(" \x00").casefold() == whitelisted.strip().casefold()


class DeviceSessionError(Exception):
    """A session step failed (connect, pair, GATT); the manager retries with backoff."""


class DeviceRefused(DeviceSessionError):
    """The device is not the one the whitelist names (its Device Information serial differs): nothing
    is read from it and it is not bonded; the manager backs off as after any failed session."""


class PasskeyAgent(Protocol):
    """The hub's pairing agent (BlueZ: an ``org.bluez.Agent1``; bleak registers none, reference §10):
    it answers a device's passkey request with the code it was given for that address."""

    def set_passkey(self, address: str, passkey: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionTuning:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    connect_timeout_s: float = 20.0
    idle_s: float = 10.0
    clock_threshold: timedelta = timedelta(seconds=60)
    reconnect_min_s: float = 2.0
    reconnect_max_s: float = 300.0
    revisit_s: float = 30.0
    """After a good session, a device still advertising is not connected again for this long."""
    high_water: int = 40_000
    context_wait_s: float = 2.0
    """How long a glucose measurement flagged "context follows" waits for its context."""


@dataclass
class SessionReport:
    readings_added: int = 0
    duplicates: int = 0
    refused: int = 0
    rejected_frames: int = 0
    racp_records: int = 0
    racp_finished: bool = False
    clock_offset_s: float | None = None
    clock_written: bool = False
    paired: bool = False
    battery_pct: int | None = None


@dataclass
class _Received:
    uuid: str
    data: bytes
    at: datetime


RACP_DONE = "racp-done"
SESSION_END = "session-end"
"""Markers queued behind the frames: the RACP response arrived; the session is ending."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    frame: _Received
    value: Frame
    probing: bool
    """Part of the newest-record probe that precedes a download (does not move the cursor)."""
    reporting: bool
    """Part of a RACP report (from the device's memory)."""


class DeviceSession:
    """One connection; :meth:`run` returns a report or raises :class:`DeviceSessionError`."""

    def __init__(
        self,
        entry: WhitelistEntry,
        ble_device: BLEDevice,
        *,
        outbox: Outbox,
        events: EventLog,
        tuning: SessionTuning,
        client_backend: type[BaseBleakClient] | None,
        now: Callable[[], datetime],
        force_clock: bool,
        on_stored: Callable[[AddResult], None],
        agent: PasskeyAgent | None = None,
    ) -> None:
        self.entry = entry
        self.ble_device = ble_device
        self._outbox = outbox
        self._events = events
        self._tuning = tuning
        self._client_backend = client_backend
        self._now = now
        self._force_clock = force_clock
        self._on_stored = on_stored
        self._agent = agent
        self.report = SessionReport()
        self._device = DeviceRef(entry.serial, entry.address)
        self._frames: asyncio.Queue[_Received] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._racp_done = asyncio.Event()
        self._clock = ClockView(tuning.zone, threshold=tuning.clock_threshold)
        self._connected_at = now()
        self._last_frame_at = 0.0
        self._clock_char: str | None = None
        self._probing = False
        self._reporting = False
        self._probe_newest: int | None = None
        self._clock_task: asyncio.Future[None] | None = None
        self._context: ContextJoin[_Decoded] = ContextJoin(timedelta(seconds=tuning.context_wait_s))

    def _event_fields(self) -> dict[str, Any]:
        return {"device_serial": self.entry.serial, "device_address": self.entry.address}

    async def run(self) -> SessionReport:
        self._arm_passkey()
        kwargs: dict[str, Any] = {"timeout": self._tuning.connect_timeout_s}
        if self._client_backend is not None:
            kwargs["backend"] = self._client_backend
        try:
            client = await establish_connection(
                BleakClient,
                self.ble_device,
                self.entry.serial,
                disconnected_callback=lambda _c: self._disconnected.set(),
                max_attempts=2,
                **kwargs,
            )
        except (BleakError, TimeoutError) as exc:
            raise DeviceSessionError(f"connect failed: {exc}") from exc
        self._connected_at = self._now()
        writer = asyncio.create_task(self._write_frames(), name=f"frames-{self.entry.serial}")
        try:
            await self._events.record(HubEventType.DEVICE_CONNECTED, **self._event_fields())
            await self._converse(client)
        except (BleakError, TimeoutError, EOFError) as exc:
            if not self._disconnected.is_set():
                raise DeviceSessionError(f"GATT failed: {exc}") from exc
            logger.info("device dropped the link", extra={"device_serial": self.entry.serial, "error": str(exc)})
        finally:
            if self._clock_task is not None and not self._clock_task.done():
                self._clock_task.cancel()  # the link ended before the clock write: next connection
            with contextlib.suppress(BleakError, TimeoutError, EOFError):
                await client.disconnect()
            await self._frames.join()
            self._frames.put_nowait(_Received(SESSION_END, b"", self._now()))
            await self._frames.join()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            await self._events.record(HubEventType.DEVICE_DISCONNECTED, **self._event_fields())
        if self.report.racp_records or self.report.racp_finished:
            await self._events.record(
                HubEventType.RECORDS_DOWNLOADED, count=self.report.racp_records, **self._event_fields()
            )
        return self.report

    async def _converse(self, client: BleakClient) -> None:
        chars = {normalise_uuid(c.uuid): c for s in client.services for c in s.characteristics}
        # Identity first: a device that is not the whitelisted one is neither bonded nor read.
        await self._check_identity(await self._read_information(client, chars))
        await self._bond_if_needed(client)
        await self._read_battery(client, chars)
        clock_char = CURRENT_TIME if CURRENT_TIME in chars else DATE_TIME if DATE_TIME in chars else None
        self._clock_char = clock_char
        announced = clock_char == CURRENT_TIME and announces_time(self.ble_device.name, self.entry.model)
        if announced:
            # Omron (reference §11): no read, no write now; the cuff notifies its time once its records
            # are subscribed, and the clock is set in answer to that, only when it is well off.
            self._clock = ClockView(self._tuning.zone, threshold=max(self._tuning.clock_threshold, OMRON_CLOCK_SLACK))
            await client.start_notify(
                chars[CURRENT_TIME], self._time_announcer(client), bluez={"use_start_notify": True}
            )
        elif clock_char is not None:
            await self._read_clock(client, clock_char)
        for uuid, char in chars.items():
            if uuid in MEASUREMENTS and {"notify", "indicate"} & set(char.properties):
                await client.start_notify(char, self._on_frame, bluez={"use_start_notify": True})
        racp = chars.get(RACP)
        if racp is not None:
            await client.start_notify(racp, self._on_racp, bluez={"use_start_notify": True})
        if clock_char is not None and not announced and self._should_write_clock():
            await self._write_clock(client, clock_char)
        if racp is not None:
            await self._download(client, racp)
        await self._wait_idle()
        if self._clock_task is not None:
            await self._clock_task

    def _time_announcer(self, client: BleakClient) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def on_time(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            if self._clock_task is not None:
                return  # only the first announcement of a connection counts
            # The offset is taken here, before any record that followed the announcement is turned
            # into a reading; the write goes out at once, while the cuff is still sending.
            offset = self._announced_offset(bytes(data), self._now())
            self._clock_task = asyncio.ensure_future(self._answer_time(client, offset))

        return on_time

    def _announced_offset(self, data: bytes, at: datetime) -> timedelta | None:
        try:
            value = decode(CURRENT_TIME, data)
        except DecodeError as exc:
            logger.info("device clock unreadable", extra={"device_serial": self.entry.serial, "error": str(exc)})
            return None
        device_time = value.date_time.value if isinstance(value, CurrentTime) else None
        if device_time is None:
            return None  # unset clock: stamps are checked one by one
        offset = at - device_time_as_utc(device_time, self._tuning.zone)
        self._clock = ClockView(self._tuning.zone, offset, self._clock.threshold)
        self.report.clock_offset_s = offset.total_seconds()
        return offset

    async def _answer_time(self, client: BleakClient, offset: timedelta | None) -> None:
        if self.entry.set_clock and (self._force_clock or offset is None or abs(offset) > self._clock.threshold):
            with contextlib.suppress(BleakError):  # the link may be gone already: next time
                await self._write_clock(client, CURRENT_TIME)
        if offset is not None:
            await self._events.record(
                HubEventType.DEVICE_CLOCK, clock_offset_s=round(offset.total_seconds(), 3), **self._event_fields()
            )

    def _arm_passkey(self) -> None:
        """A passkey device (code on its label, in the whitelist) gets its code from the hub's agent
        whenever it asks during this connection: for the bond, or when the stack pairs on its own
        after an "insufficient authentication" answer."""
        if self.entry.passkey is None or self.entry.security is not SecurityMode.BONDED:
            return
        if self._agent is None:
            # An agent outside this process (``bluetoothctl`` with an agent, reference §10) may answer.
            logger.warning("passkey device without an in-process pairing agent", extra=self._event_fields())
            return
        self._agent.set_passkey(self.entry.address or self.ble_device.address, self.entry.passkey)

    async def _bond_if_needed(self, client: BleakClient) -> None:
        if self.entry.security is not SecurityMode.BONDED:
            return
        key = f"bonded:{self.entry.serial}"
        if await asyncio.to_thread(self._outbox.get_state, key) is not None:
            return  # the backend re-encrypts with the stored keys (BlueZ does; pairing again would prompt)
        await client.pair()
        await asyncio.to_thread(self._outbox.set_state, key, self._now().isoformat())
        self.report.paired = True
        await self._events.record(HubEventType.DEVICE_PAIRED, **self._event_fields())

    async def _read_information(self, client: BleakClient, chars: dict[str, BleakGATTCharacteristic]) -> dict[str, str]:
        info: dict[str, str] = {}
        for uuid, name in DEVICE_INFORMATION.items():
            if uuid in chars:
                with contextlib.suppress(BleakError):
                    info[name] = bytes(await client.read_gatt_char(chars[uuid])).decode("utf-8", "replace")[:64]
        if info:
            logger.info("device information", extra={"device_serial": self.entry.serial, **info})
        return info

    async def _check_identity(self, info: dict[str, str]) -> None:
        """A device whose Device Information serial (0x2A25) is not the whitelisted serial is refused:
        the address was reused, spoofed or typed wrong, and its readings would land on someone else's
        record. A device without a readable serial is taken by its address alone."""
        reported = info.get("serial")
        if reported is None or same_serial(reported, self.entry.serial):
            return
        await self._events.record(
            HubEventType.DEVICE_SERIAL_MISMATCH,
            detail=f"Device Information serial {reported.strip()[:40]!r} is not the whitelisted serial",
            **self._event_fields(),
        )
        raise DeviceRefused(f"Device Information serial {reported.strip()[:40]!r} != whitelisted {self.entry.serial!r}")

    async def _read_battery(self, client: BleakClient, chars: dict[str, BleakGATTCharacteristic]) -> None:
        if BATTERY_LEVEL not in chars:
            return
        try:
            data = bytes(await client.read_gatt_char(chars[BATTERY_LEVEL]))
            level = decode(BATTERY_LEVEL, data).normalise().battery_pct
        except (BleakError, DecodeError) as exc:
            logger.info("battery unreadable", extra={"device_serial": self.entry.serial, "error": str(exc)})
            return
        if level is not None:
            self.report.battery_pct = level
            await self._events.record(HubEventType.DEVICE_BATTERY, battery_pct=level, **self._event_fields())

    async def _read_clock(self, client: BleakClient, uuid: str) -> None:
        try:
            data = bytes(await client.read_gatt_char(uuid))
            value = decode(uuid, data)
        except (BleakError, DecodeError) as exc:
            logger.info("device clock unreadable", extra={"device_serial": self.entry.serial, "error": str(exc)})
            return
        device_time = value.date_time.value if isinstance(value, CurrentTime | DateTimeValue) else None
        if device_time is None:
            return  # unknown date: the clock is unset; stamps are checked one by one
        offset = self._now() - device_time_as_utc(device_time, self._tuning.zone)
        self._clock = ClockView(self._tuning.zone, offset, self._tuning.clock_threshold)
        self.report.clock_offset_s = offset.total_seconds()
        await self._events.record(
            HubEventType.DEVICE_CLOCK, clock_offset_s=round(offset.total_seconds(), 3), **self._event_fields()
        )

    def _should_write_clock(self) -> bool:
        if not self.entry.set_clock:
            return False
        if self._force_clock or self._clock.offset is None:
            return True
        # A&D-style devices (Date Time 0x2A08 inside the health service) hold their data until the
        # clock is written, on every connection.
        return abs(self._clock.offset) > self._tuning.clock_threshold or self._clock_char == DATE_TIME

    async def _write_clock(self, client: BleakClient, uuid: str) -> None:
        local = self._now().astimezone(self._tuning.zone).replace(tzinfo=None, microsecond=0)
        data = CurrentTime.at(local).encode() if uuid == CURRENT_TIME else DateTime.from_datetime(local).encode()
        try:
            await client.write_gatt_char(uuid, data, response=True)
        except BleakError as exc:
            # Some CTS servers answer 0x80 "data field ignored" after applying the time (reference §3.3).
            if "0x80" not in str(exc) and "128" not in str(exc):
                logger.info("clock write refused", extra={"device_serial": self.entry.serial, "error": str(exc)})
                return
        self._clock = ClockView(self._clock.zone, self._clock.offset, self._clock.threshold, written=True)
        self.report.clock_written = True

    async def _racp(self, client: BleakClient, racp: BleakGATTCharacteristic, request: RacpRequest) -> None:
        self._racp_done.clear()
        self._reporting = True
        try:
            await self._racp_exchange(client, racp, request)
        finally:
            self._reporting = False

    async def _racp_exchange(self, client: BleakClient, racp: BleakGATTCharacteristic, request: RacpRequest) -> None:
        await client.write_gatt_char(racp, request.encode(), response=True)
        done = asyncio.ensure_future(self._racp_done.wait())
        lost = asyncio.ensure_future(self._disconnected.wait())
        try:
            await asyncio.wait((done, lost), timeout=RACP_RESPONSE_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            lost.cancel()
        if self._racp_done.is_set():
            return
        if self._disconnected.is_set():
            # What arrived is committed with its cursor; the next connection resumes after it.
            raise DeviceSessionError("link lost during the RACP download")
        with contextlib.suppress(BleakError):
            await client.write_gatt_char(racp, RacpRequest(OpCode.ABORT_OPERATION, Operator.NULL).encode())
        raise DeviceSessionError("no RACP response")

    async def _download(self, client: BleakClient, racp: BleakGATTCharacteristic) -> None:
        """Reference §5.5 steps 5-8: all records the first time, then those after the cursor, read
        across a uint16 wrap of the sequence numbers; a meter whose numbers went back was reset and
        is read again in full (deduplication drops what the outbox already holds). See
        :mod:`gateway.racp_plan`."""
        cursor = await asyncio.to_thread(self._outbox.racp_cursor, self.entry.serial)
        newest: int | None = None
        if cursor is not None:
            self._probing = True
            try:
                await self._racp(client, racp, NEWEST_RECORD)
            finally:
                self._probing = False
            newest = self._probe_newest
        plan = plan_download(cursor, newest)
        if plan.progress is Progress.RESET:
            logger.warning(
                "glucometer sequence numbers went back: reading its memory again",
                extra={"device_serial": self.entry.serial, "cursor": cursor, "newest": newest},
            )
        elif plan.progress is Progress.WRAPPED:
            logger.info(
                "glucometer sequence numbers wrapped",
                extra={"device_serial": self.entry.serial, "cursor": cursor, "newest": newest},
            )
        if not plan.requests:
            self.report.racp_finished = True
        for request in plan.requests:
            await self._racp(client, racp, request)
            if not self.report.racp_finished and plan.fallback:
                # A meter without the range operators: the plan's wider request (duplicates are dropped).
                for wider in plan.fallback:
                    await self._racp(client, racp, wider)
                return

    def _on_racp(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            value = decode(RACP, bytes(data))
        except DecodeError:
            self._frames.put_nowait(_Received(RACP, bytes(data), self._now()))
            return
        if isinstance(value, RacpResponse):
            self.report.racp_finished = value.finished
            if not value.finished:
                logger.warning(
                    "RACP download refused",
                    extra={"device_serial": self.entry.serial, "response": value.response.name},
                )
            # Records sent before the response are queued ahead of this marker; the waiter drains them.
            self._frames.put_nowait(_Received(RACP_DONE, b"", self._now()))

    def _on_frame(self, char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._frames.put_nowait(_Received(normalise_uuid(char.uuid), bytes(data), self._now()))

    async def _wait_idle(self) -> None:
        """Until the device drops the link, or nothing has arrived for ``idle_s``."""
        loop = asyncio.get_running_loop()
        self._last_frame_at = loop.time()
        while not self._disconnected.is_set():
            remaining = self._last_frame_at + self._tuning.idle_s - loop.time()
            if remaining <= 0 and self._frames.empty():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), max(0.05, min(remaining, 0.5)))

    async def _write_frames(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait_s = self._context.next_due_s(self._now())
            try:
                first = await (self._frames.get() if wait_s is None else asyncio.wait_for(self._frames.get(), wait_s))
            except TimeoutError:
                await self._store([])  # a measurement whose context never came
                continue
            batch = [first]
            while not self._frames.empty():
                batch.append(self._frames.get_nowait())
            try:
                await self._store(batch)
            finally:
                for _ in batch:
                    self._frames.task_done()
                self._last_frame_at = loop.time()

    async def _store(self, batch: list[_Received]) -> None:
        ready = self._context.due(self._now())
        done = False
        for frame in batch:
            if frame.uuid in (RACP_DONE, SESSION_END):
                done = done or frame.uuid == RACP_DONE
                ready += self._context.drain()  # the report or the session is over: no context will come
                continue
            decoded = await self._decode(frame)
            if decoded is None:
                continue
            if isinstance(decoded.value, GlucoseMeasurement):
                ready += self._context.measurement(decoded.value, decoded, frame.at)
            elif isinstance(decoded.value, GlucoseContext):
                ready += self._context.context(decoded.value)
            else:
                ready.append(Joined(decoded, None))
        readings = [reading for joined in ready if (reading := self._build(joined)) is not None]
        if readings:
            result = await asyncio.to_thread(self._outbox.add, readings, now=self._now())
            self.report.readings_added += result.added
            self.report.duplicates += result.duplicates
            self.report.refused += result.refused
            self.report.racp_records += sum(1 for r in readings if r.racp_sequence is not None)
            self._on_stored(result)
        if done:
            self._racp_done.set()

    async def _decode(self, frame: _Received) -> _Decoded | None:
        try:
            value = decode(frame.uuid, frame.data)
        except DecodeError as exc:
            self.report.rejected_frames += 1
            logger.warning("frame rejected", extra={"device_serial": self.entry.serial, "reason": str(exc)[:200]})
            await self._events.record(
                HubEventType.FRAME_REJECTED,
                detail=f"{type(exc).__name__}: {exc}"[:500],
                characteristic=frame.uuid,
                frame_hex=frame.data[:512].hex(),
                **self._event_fields(),
            )
            return None
        if isinstance(value, GlucoseMeasurement) and self._probing:
            self._probe_newest = value.sequence_number
        return _Decoded(frame, value, probing=self._probing, reporting=self._reporting)

    def _build(self, joined: Joined[_Decoded]) -> OutboxReading | None:
        decoded = joined.item
        normalised = decoded.value.normalise()
        if joined.context is not None:
            normalised = with_context(normalised, joined.context)
        value = decoded.value
        sequence = value.sequence_number if isinstance(value, GlucoseMeasurement) else None
        at = decoded.frame.at
        reading_id = str(uuid7(int(at.timestamp() * 1000), os.urandom(10)))
        return build_reading(
            normalised,
            device=self._device,
            reading_id=reading_id,
            received_at=at,
            connected_at=self._connected_at,
            clock=self._clock,
            racp_sequence=sequence,
            battery_pct=self.report.battery_pct,
            moves_cursor=not decoded.probing,
            from_memory=decoded.reporting,
        )
