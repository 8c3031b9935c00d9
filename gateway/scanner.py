"""Scanning: notice the whitelisted devices, ignore everything else.

A whitelisted address hands the device to :class:`gateway.devices.DeviceManager`. A device that
advertises a health service (blood pressure, glucose, weight, body composition, pulse oximeter,
thermometer) but is not on this hub's whitelist is never connected; it is reported as
``device_not_whitelisted``, at most once per ``unknown_report_interval_s`` per address
(:class:`RateLimiter`), since a neighbour's cuff advertises all day."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from core.hub_messages import HubEventType, WhitelistEntry
from drivers import normalise_uuid
from gateway.config import ConfigKeeper
from gateway.devices import BleBackends
from gateway.events import EventLog

logger = logging.getLogger(__name__)

HEALTH_SERVICES = frozenset(normalise_uuid(u) for u in (0x1810, 0x1808, 0x181D, 0x181B, 0x1822, 0x1809))


@dataclass
class RateLimiter:
    """Pure: at most one report per key per ``interval_s`` (monotonic seconds passed in)."""

    interval_s: float
    max_keys: int = 1024
    _last: dict[str, float] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            return False
        if len(self._last) >= self.max_keys:
            # Forget the stalest key: a street full of phones must not grow the map forever.
            del self._last[min(self._last, key=self._last.__getitem__)]
        self._last[key] = now
        return True


@dataclass(frozen=True, slots=True)
class ScanTuning:
    window_s: float = 5.0
    pause_s: float = 5.0
    unknown_report_interval_s: float = 3600.0


class Scanner:
    def __init__(
        self,
        keeper: ConfigKeeper,
        events: EventLog,
        on_seen: Callable[[WhitelistEntry, BLEDevice], None],
        *,
        backends: BleBackends | None,
        tuning: ScanTuning,
        monotonic: Callable[[], float],
    ) -> None:
        self._keeper = keeper
        self._events = events
        self._on_seen = on_seen
        self._scanner_backend = backends.scanner if backends is not None else None
        self._tuning = tuning
        self._monotonic = monotonic
        self._unknown = RateLimiter(tuning.unknown_report_interval_s)
        self._seen = RateLimiter(tuning.unknown_report_interval_s)
        self._pending: set[asyncio.Task[object]] = set()
        self.ignored = 0
        self.adapter_up: bool | None = None
        """Whether the Bluetooth adapter took the last scan start (None before the first try)."""

    def _record(self, type_: HubEventType, device: BLEDevice, adv: AdvertisementData, **fields: object) -> None:
        task = asyncio.get_running_loop().create_task(
            self._events.record(type_, device_address=device.address.upper(), rssi_dbm=adv.rssi, **fields)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Let events recorded in the background reach the outbox (before it closes)."""
        await asyncio.gather(*self._pending, return_exceptions=True)

    def detected(self, device: BLEDevice, adv: AdvertisementData) -> None:
        entry = self._keeper.entry_for_address(device.address)
        now = self._monotonic()
        if entry is not None:
            if self._seen.allow(device.address.upper(), now):
                self._record(HubEventType.DEVICE_SEEN, device, adv, device_serial=entry.serial)
            self._on_seen(entry, device)
            return
        self.ignored += 1
        services = {normalise_uuid(u) for u in adv.service_uuids}
        if services & HEALTH_SERVICES and self._unknown.allow(device.address.upper(), now):
            self._record(HubEventType.DEVICE_NOT_WHITELISTED, device, adv)

    async def run(self, stop: asyncio.Event) -> None:
        kwargs = {"backend": self._scanner_backend} if self._scanner_backend is not None else {}
        scanner = BleakScanner(detection_callback=self.detected, **kwargs)  # type: ignore[arg-type]
        while not stop.is_set():
            await self._start(scanner)
            if not self._keeper.whitelist():
                # Nothing to look for yet (no desired config): the start only tells that the adapter
                # is up (readiness); don't keep the radio busy.
                await scanner.stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._tuning.window_s)
                continue
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._tuning.window_s)
            finally:
                await scanner.stop()
            if self._tuning.pause_s:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._tuning.pause_s)

    async def _start(self, scanner: BleakScanner) -> None:
        """Start a scan; an adapter that refuses (absent, powered off, BlueZ not running) marks the
        radio down for /readyz and fails this part, which its supervisor restarts after a pause."""
        try:
            await scanner.start()
        except BaseException:
            self.adapter_up = False
            raise
        self.adapter_up = True
