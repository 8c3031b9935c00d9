"""Which whitelisted device to connect to, when, and the sessions that do it.

The scanner reports each advertisement of a whitelisted device; :class:`ConnectSchedule` (pure)
decides whether a session may start now: never two sessions with one device, a failed session backs
off exponentially with jitter, and a device that is still advertising after a good session is left
alone for ``revisit_s``. Connects are made one at a time (a BLE controller, and bumble, handle one
pending connection; BlueZ queues them the same way)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bleak import BleakClient
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from core.hub_messages import HubEventType, WhitelistEntry
from gateway.backoff import backoff_delay_s
from gateway.config import ConfigKeeper
from gateway.device_session import DeviceSession, DeviceSessionError, PasskeyAgent, SessionReport, SessionTuning
from gateway.events import EventLog
from gateway.outbox import AddResult, Outbox
from gateway.publisher import Publisher

logger = logging.getLogger(__name__)

__all__ = ["BleBackends", "ConnectSchedule", "DeviceManager", "PasskeyAgent", "SessionTuning"]


class BleBackends(Protocol):
    """bleak backend classes chosen by the composition root (the virtual radio's, or none for BlueZ),
    and the pairing agent that goes with them."""

    @property
    def scanner(self) -> type[BaseBleakScanner]: ...

    @property
    def client(self) -> type[BaseBleakClient]: ...

    @property
    def agent(self) -> PasskeyAgent | None: ...


@dataclass
class _DeviceState:
    failures: int = 0
    not_before: float = 0.0
    running: bool = False


@dataclass
class ConnectSchedule:
    """Pure: when each device may be connected again. Times are monotonic seconds, passed in."""

    min_s: float
    max_s: float
    revisit_s: float
    states: dict[str, _DeviceState] = field(default_factory=dict)

    def may_start(self, serial: str, now: float) -> bool:
        state = self.states.setdefault(serial, _DeviceState())
        return not state.running and now >= state.not_before

    def started(self, serial: str) -> None:
        self.states.setdefault(serial, _DeviceState()).running = True

    def finished(self, serial: str, now: float, *, ok: bool, jitter: float) -> float:
        """Record the outcome; returns the seconds until the device may be tried again."""
        state = self.states.setdefault(serial, _DeviceState())
        state.running = False
        if ok:
            state.failures = 0
            delay = self.revisit_s
        else:
            state.failures += 1
            delay = backoff_delay_s(state.failures, min_s=self.min_s, max_s=self.max_s, jitter=jitter)
        state.not_before = now + delay
        return delay

    def allow_now(self, serial: str) -> None:
        self.states.setdefault(serial, _DeviceState()).not_before = 0.0


class DeviceManager:
    def __init__(
        self,
        outbox: Outbox,
        events: EventLog,
        keeper: ConfigKeeper,
        publisher: Publisher,
        *,
        backends: BleBackends | None,
        tuning: SessionTuning,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self._outbox = outbox
        self._events = events
        self._keeper = keeper
        self._publisher = publisher
        self._client_backend = backends.client if backends is not None else None
        self._agent = backends.agent if backends is not None else None
        self.tuning = tuning
        self._now = now
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.schedule = ConnectSchedule(tuning.reconnect_min_s, tuning.reconnect_max_s, tuning.revisit_s)
        self._connect_lock = asyncio.Lock()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._clock_sync_pending: set[str] = set()
        self._above_high_water = False
        self._background: set[asyncio.Task[object]] = set()
        self.reports: list[tuple[str, SessionReport]] = []
        self.sessions_failed = 0

    # scanner side --------------------------------------------------------------------------------

    def seen(self, entry: WhitelistEntry, device: BLEDevice) -> None:
        """A whitelisted device advertised: start a session if the schedule allows it."""
        if not self.schedule.may_start(entry.serial, self._monotonic()):
            return
        self.schedule.started(entry.serial)
        self._tasks[entry.serial] = asyncio.create_task(self._session(entry, device), name=f"device-{entry.serial}")

    async def _session(self, entry: WhitelistEntry, device: BLEDevice) -> None:
        ok = False
        try:
            async with self._connect_lock:
                session = DeviceSession(
                    entry,
                    device,
                    outbox=self._outbox,
                    events=self._events,
                    tuning=self.tuning,
                    client_backend=self._client_backend,
                    now=self._now,
                    force_clock=entry.serial in self._clock_sync_pending,
                    on_stored=self._stored,
                    agent=self._agent,
                )
                report = await session.run()
            if report.clock_written:
                self._clock_sync_pending.discard(entry.serial)
            self.reports.append((entry.serial, report))
            ok = True
            logger.info(
                "device session done",
                extra={
                    "device_serial": entry.serial,
                    "added": report.readings_added,
                    "duplicates": report.duplicates,
                    "rejected_frames": report.rejected_frames,
                    "racp_records": report.racp_records,
                },
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the supervisor of sessions: a backend may raise anything; retry later
            self.sessions_failed += 1
            if isinstance(exc, DeviceSessionError):
                logger.warning("device session failed", extra={"device_serial": entry.serial, "error": str(exc)[:300]})
            else:
                logger.exception("device session crashed", extra={"device_serial": entry.serial})
            await self._events.record(
                HubEventType.DEVICE_ERROR,
                device_serial=entry.serial,
                device_address=entry.address,
                detail=f"{type(exc).__name__}: {exc}"[:500],
            )
        finally:
            self.schedule.finished(entry.serial, self._monotonic(), ok=ok, jitter=self._rng.random())
            self._tasks.pop(entry.serial, None)

    def _stored(self, result: AddResult) -> None:
        if result.added:
            self._publisher.kick()
        if result.refused or result.dropped:
            self._in_background(
                self._events.record(HubEventType.OUTBOX_OVERFLOW, count=result.refused + result.dropped)
            )
        above = result.depth >= self.tuning.high_water
        if above and not self._above_high_water:
            self._in_background(self._events.record(HubEventType.OUTBOX_HIGH_WATER, count=result.depth))
        self._above_high_water = above

    def _in_background(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settle(self) -> None:
        """Let events recorded in the background reach the outbox (before it closes)."""
        await asyncio.gather(*self._background, return_exceptions=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Owns the session tasks: cancels them on stop."""
        try:
            await stop.wait()
        finally:
            tasks = list(self._tasks.values())
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @property
    def active(self) -> int:
        return len(self._tasks)

    # commands (gateway.commands.DeviceControl) ---------------------------------------------------

    def request_time_sync(self) -> None:
        self._clock_sync_pending |= {e.serial for e in self._keeper.whitelist()}

    def download_all(self, serial: str) -> bool:
        if self._keeper.entry_for_serial(serial) is None:
            return False
        self._outbox.reset_racp_cursor(serial)
        self.schedule.allow_now(serial)
        return True

    async def unpair(self, serial: str) -> bool:
        entry = self._keeper.entry_for_serial(serial)
        if entry is None or entry.address is None:
            return False
        await asyncio.to_thread(self._outbox.delete_state, f"bonded:{serial}")
        kwargs = {"backend": self._client_backend} if self._client_backend is not None else {}
        try:
            await BleakClient(entry.address, **kwargs).unpair()  # type: ignore[arg-type]
        except (BleakError, NotImplementedError) as exc:
            logger.info("unpair at the BLE stack failed", extra={"device_serial": serial, "error": str(exc)})
        await self._events.record(HubEventType.DEVICE_UNPAIRED, device_serial=serial, device_address=entry.address)
        return True
