"""The hub agent: one outbox, one MQTT session, one scanner and the device sessions, wired together
and supervised until the stop event.

The BLE backend is handed in by the composition root as bleak backend classes (:class:`BleBackends`);
``None`` means bleak's default for the platform (BlueZ on a hub). Nothing here knows which it is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.commands import CommandRunner
from gateway.config import ConfigKeeper
from gateway.devices import BleBackends, DeviceManager, SessionTuning
from gateway.events import EventLog
from gateway.mqtt_session import HubLink, LinkConfig
from gateway.outbox import Outbox
from gateway.publisher import Publisher, PublisherConfig
from gateway.scanner import Scanner, ScanTuning
from gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite3"
HISTORY_PRUNE_INTERVAL_S = 3600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Gateway:
    """Everything one hub runs. Build with :meth:`from_settings`; run with :meth:`run`."""

    outbox: Outbox
    publisher: Publisher
    events: EventLog
    keeper: ConfigKeeper
    link: HubLink
    devices: DeviceManager
    scanner: Scanner
    min_free_bytes: int = 0
    """Free disk space the outbox needs to count as writable (readiness)."""
    readiness: dict[str, Callable[[], bool]] = field(init=False)

    def __post_init__(self) -> None:
        # What /readyz checks: the MQTT session is up, a reading can be committed durably now, and
        # the Bluetooth adapter took the last scan start.
        self.readiness = {
            "mqtt": self.link.connected.is_set,
            "outbox": lambda: self.outbox.writable(min_free_bytes=self.min_free_bytes),
            "radio": lambda: self.scanner.adapter_up is True,
        }

    @classmethod
    def from_settings(
        cls,
        settings: GatewaySettings,
        *,
        backends: BleBackends | None = None,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> Gateway:
        outbox = Outbox.open(
            settings.gateway_data_dir / OUTBOX_FILE,
            max_readings=settings.gateway_outbox_max_readings,
            policy=settings.gateway_outbox_overflow_policy,
            history=timedelta(days=settings.gateway_outbox_history_days),
            max_events=settings.gateway_events_max,
        )
        publisher = Publisher(
            outbox,
            PublisherConfig(
                max_batch=settings.gateway_publish_max_batch,
                window_batches=settings.gateway_publish_window_batches,
                ack_timeout_s=settings.gateway_ack_timeout_s,
            ),
            monotonic=monotonic,
            now=now,
        )
        events = EventLog(outbox, now)
        keeper = ConfigKeeper(outbox, now)
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        link = HubLink(
            LinkConfig(
                hub_id=settings.hub_id(),
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                username=settings.mqtt_username or settings.hub_id(),
                password=password,
                topic_root=settings.mqtt_topic_root,
                keepalive_s=settings.mqtt_keepalive_s,
                session_expiry_s=settings.gateway_session_expiry_s,
                reconnect_min_s=settings.mqtt_reconnect_min_s,
                reconnect_max_s=settings.mqtt_reconnect_max_s,
                firmware=settings.gateway_firmware,
            ),
            outbox,
            publisher,
            events,
            keeper,
            now=now,
        )
        devices = DeviceManager(
            outbox,
            events,
            keeper,
            publisher,
            backends=backends,
            tuning=SessionTuning(
                zone=ZoneInfo(settings.gateway_timezone),
                connect_timeout_s=settings.gateway_connect_timeout_s,
                idle_s=settings.gateway_device_idle_s,
                clock_threshold=timedelta(seconds=settings.gateway_clock_set_threshold_s),
                reconnect_min_s=settings.gateway_reconnect_min_s,
                reconnect_max_s=settings.gateway_reconnect_max_s,
                revisit_s=settings.gateway_revisit_s,
                high_water=int(settings.gateway_outbox_max_readings * settings.gateway_outbox_high_water_ratio),
            ),
            now=now,
            monotonic=monotonic,
        )
        link.commands = CommandRunner(outbox, devices, now=now, resend=publisher.kick, rebirth=link.rebirth)
        scanner = Scanner(
            keeper,
            events,
            devices.seen,
            backends=backends,
            tuning=ScanTuning(
                window_s=settings.gateway_scan_window_s,
                pause_s=settings.gateway_scan_pause_s,
                unknown_report_interval_s=settings.gateway_unknown_report_interval_s,
            ),
            monotonic=monotonic,
        )
        min_free = int(settings.gateway_outbox_min_free_mb * 1024 * 1024)
        return cls(outbox, publisher, events, keeper, link, devices, scanner, min_free_bytes=min_free)

    async def _prune(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            pruned = await asyncio.to_thread(self.outbox.prune_history, now=self.publisher.now())
            if pruned:
                logger.info("outbox history pruned", extra={"readings": pruned})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HISTORY_PRUNE_INTERVAL_S)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; each part is supervised (restarted with a log line if it fails)."""
        parts: dict[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = {
            "mqtt": self.link.run,
            "scanner": self.scanner.run,
            "devices": self.devices.run,
            "outbox-history": self._prune,
        }
        tasks = [asyncio.create_task(supervise(name, part, stop), name=name) for name, part in parts.items()]
        try:
            await stop.wait()
        finally:
            # The MQTT session publishes "offline" on stop: give it a moment before cancelling.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.scanner.settle()
            await self.devices.settle()
            self.outbox.close()


async def supervise(name: str, part: Callable[[asyncio.Event], Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Run ``part`` until ``stop``; a crash is logged once and the part restarted after a pause."""
    failures = 0
    while not stop.is_set():
        try:
            await part(stop)
        except asyncio.CancelledError:
            raise
        except Exception:  # a supervisor: any failure of a part is logged and the part restarted
            failures += 1
            logger.exception("gateway part failed; restarting", extra={"part": name, "failures": failures})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(60.0, 1.0 * failures))
        else:
            if failures:
                logger.info("gateway part recovered", extra={"part": name})
            if not stop.is_set():
                await asyncio.sleep(0.1)
