"""In-process homes for gateway tests: simulated devices on the virtual radio, a real gateway on the
radio's bleak backends, the desired config published as provisioning would, and the ground truth of
every measurement frame the devices put on air (recorded from the device models' own outputs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from carehub.simulated_home import HomeSpec, build_model, desired_config, utc_now
from core.domain import METRICS
from drivers import DecodeError, decode
from firmware_sim.devices.outgoing import Outgoing
from firmware_sim.radio import VirtualRadio
from gateway.agent import Gateway
from gateway.settings import GatewaySettings

RowKey = tuple[str, datetime, int]
"""(device serial, measured_at UTC, MDC code)."""


@dataclass
class FrameLog:
    """Every frame each device put on air (the radio's own record), by serial."""

    peripherals: dict[str, Any] = field(default_factory=dict)

    @property
    def frames(self) -> dict[str, list[Outgoing]]:
        return {serial: list(p.sent) for serial, p in self.peripherals.items()}

    def intended_rows(self, zone: ZoneInfo, serials: set[str] | None = None) -> dict[RowKey, float | str]:
        """The rows the database must hold: every intact, storable measurement frame's observations,
        at the device's time read in the home's zone (device clocks in these homes are right)."""
        rows: dict[RowKey, float | str] = {}
        for serial, frames in self.frames.items():
            if serials is not None and serial not in serials:
                continue
            for frame in frames:
                intent = frame.intended
                if intent is None or frame.fault is not None or not intent.final or intent.device_time is None:
                    continue
                try:
                    if not decode(frame.characteristic, frame.data).normalise().storable:
                        continue
                except DecodeError:
                    continue
                at = intent.device_time.replace(tzinfo=zone).astimezone(UTC)
                for obs in intent.observations:
                    value: float | str = obs.special.value if obs.special is not None else float(obs.value or 0.0)
                    rows[(serial, at, METRICS[obs.metric].code)] = value
        return rows

    def garbage(self, serial: str) -> list[Outgoing]:
        return [f for f in self.frames.get(serial, []) if f.fault is not None]


def stored_rows(db: psycopg.Connection[tuple[Any, ...]]) -> dict[RowKey, float | str]:
    rows = db.execute(
        "SELECT d.serial, r.measured_at, r.metric, r.value, r.special"
        " FROM readings r JOIN devices d ON d.id = r.device_id"
    ).fetchall()
    return {
        (serial, at, metric): (special if special is not None else value) for serial, at, metric, value, special in rows
    }


@dataclass
class RunningHome:
    spec: HomeSpec
    radio: VirtualRadio
    peripherals: dict[str, Any]
    frames: FrameLog
    gateway: Gateway | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def settings(self, port: int, topic_root: str, hub_id: str, data_dir: Path, **extra: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "mqtt_port": port,
            "mqtt_username": hub_id,
            "mqtt_topic_root": topic_root,
            "mqtt_reconnect_min_s": 0.1,
            "mqtt_reconnect_max_s": 0.5,
            "gateway_data_dir": data_dir,
            "gateway_timezone": self.spec.time_zone,
            "gateway_scan_window_s": 1.0,
            "gateway_scan_pause_s": 0.0,
            "gateway_device_idle_s": 1.0,
            "gateway_reconnect_min_s": 0.2,
            "gateway_reconnect_max_s": 1.0,
        }
        values.update(extra)
        return GatewaySettings(**values)

    async def start_gateway(self, settings: GatewaySettings, *, revisit_s: float = 3600.0) -> Gateway:
        gateway = Gateway.from_settings(settings, backends=self.radio.backends())
        await self.run_gateway(gateway, revisit_s=revisit_s)
        return gateway

    async def run_gateway(self, gateway: Gateway, *, revisit_s: float) -> None:
        gateway.devices.schedule.revisit_s = revisit_s
        self.gateway = gateway
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(gateway.run(self.stop), name="gateway")

    async def stop_gateway(self) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 60)
            self.task = None


@contextlib.asynccontextmanager
async def running_home(spec: HomeSpec, now: Callable[[], datetime] = utc_now) -> AsyncIterator[RunningHome]:
    frames = FrameLog()
    async with VirtualRadio() as radio:
        peripherals: dict[str, Any] = {}
        for device in spec.devices:
            model = build_model(spec, device)
            peripherals[device.serial] = await radio.add_peripheral(model, address=device.address, clock=now)
        frames.peripherals = peripherals
        home = RunningHome(spec, radio, peripherals, frames)
        try:
            yield home
        finally:
            await home.stop_gateway()


async def until(condition: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)


__all__ = [
    "FrameLog",
    "RunningHome",
    "desired_config",
    "running_home",
    "stored_rows",
    "until",
]
