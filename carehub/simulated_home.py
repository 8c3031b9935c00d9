"""A simulated home for real gateways: firmware_sim device models on the virtual BLE radio, described
by a small JSON-able spec so a gateway child process (``carehub gateway run --simulated-home``), the
demo and the tests build the same devices from the same seed.

Composition-root code: it knows the radio, the device presets and the whitelist entry each needs;
``gateway/`` only ever sees bleak backend classes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import psycopg

from core.domain import DeviceKind
from core.hub_messages import HubConfig, SecurityMode, WhitelistEntry
from firmware_sim.devices.bp_cuff import and_ua651ble, omron_style
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import Security
from firmware_sim.devices.glucometer import accu_chek_style, contour_style
from firmware_sim.devices.peripheral import SimulatedPeripheral
from firmware_sim.devices.pulse_oximeter import fingertip_oximeter
from firmware_sim.devices.scale import and_uc352ble
from firmware_sim.devices.thermometer import and_ut201ble
from firmware_sim.physiology import Condition, PatientProfile, Physiology
from firmware_sim.radio import SimulatedPeripheral as RadioPeripheral
from firmware_sim.radio import VirtualRadio
from provisioning import registry

logger = logging.getLogger(__name__)


OMRON_PASSKEY = "123456"


def _omron_one_user(*, physiology: Physiology, **options: Any) -> SimulatedPeripheral:
    return omron_style(users={1: physiology}, passkey=OMRON_PASSKEY, **options)


@dataclass(frozen=True, slots=True)
class Preset:
    factory: Callable[..., SimulatedPeripheral]
    kind: DeviceKind
    security: SecurityMode
    model: str
    passkey: str | None = None
    """The code on the device's label (passkey-entry bonding), carried by the whitelist."""


PRESETS: dict[str, Preset] = {
    "and_ua651ble": Preset(and_ua651ble, DeviceKind.BP_CUFF, SecurityMode.BONDED, "UA-651BLE"),
    "contour": Preset(contour_style, DeviceKind.GLUCOMETER, SecurityMode.BONDED, "Contour Next One"),
    "and_uc352ble": Preset(and_uc352ble, DeviceKind.SCALE, SecurityMode.BONDED, "UC-352BLE"),
    "fingertip_oximeter": Preset(fingertip_oximeter, DeviceKind.PULSE_OXIMETER, SecurityMode.NONE, "PO60"),
    "and_ut201ble": Preset(and_ut201ble, DeviceKind.THERMOMETER, SecurityMode.BONDED, "UT-201BLE"),
    "omron": Preset(_omron_one_user, DeviceKind.BP_CUFF, SecurityMode.BONDED, "BP7350", passkey=OMRON_PASSKEY),
    "accu_chek": Preset(accu_chek_style, DeviceKind.GLUCOMETER, SecurityMode.BONDED, "Accu-Chek Guide", "482913"),
}
"""Presets a gateway can serve unattended; the passkey ones bond with the code on their label, which
the whitelist carries."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    preset: str
    serial: str
    address: str
    stored: int = 0
    """Measurements taken before the gateway first meets the device (its memory)."""
    clock_error_s: float = 0.0
    seed: int = 1
    open_link: bool = False
    """Serve without bonding even when the preset bonds (lets a test drop and remake links quickly)."""


@dataclass(frozen=True, slots=True)
class HomeSpec:
    devices: tuple[DeviceSpec, ...]
    time_zone: str = "America/New_York"
    t0: str = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat())
    """When the stored measurements end (RFC 3339); fixed so a restarted process rebuilds the same memory."""
    measure_every_s: float | None = None
    """Take a new measurement on a random device this often (the demo); None for none."""
    seed: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> HomeSpec:
        raw = json.loads(text)
        raw["devices"] = tuple(DeviceSpec(**d) for d in raw["devices"])
        return cls(**raw)

    @classmethod
    def load(cls, path: Path) -> HomeSpec:
        return cls.from_json(path.read_text())


def whitelist_entry(spec: DeviceSpec) -> WhitelistEntry:
    preset = PRESETS[spec.preset]
    return WhitelistEntry(
        serial=spec.serial,
        kind=preset.kind,
        address=spec.address,
        assignment=f"as-{spec.serial}",
        security=SecurityMode.NONE if spec.open_link else preset.security,
        model=preset.model,
        passkey=None if spec.open_link else preset.passkey,
    )


def desired_config(home: HomeSpec, *, version: int = 1, issued_at: datetime | None = None) -> HubConfig:
    return HubConfig(
        version=version,
        issued_at=issued_at or datetime.now(UTC),
        whitelist=[whitelist_entry(d) for d in home.devices],
    )


def register_home(
    conn: psycopg.Connection[Any],
    home: HomeSpec,
    *,
    practice_id: UUID,
    hub_id: str,
    mrn: str,
    assigned_from: datetime,
) -> UUID:
    """Enrol the home as provisioning does: a patient, the hub, the devices assigned to both."""
    patient = registry.create_patient(conn, practice_id=practice_id, mrn=mrn, time_zone=home.time_zone)
    hub = registry.create_hub(conn, practice_id=practice_id, hub_id=hub_id, serial=f"SER-{hub_id}")
    for spec in home.devices:
        preset = PRESETS[spec.preset]
        device = registry.create_device(
            conn, practice_id=practice_id, serial=spec.serial, kind=preset.kind, ble_address=spec.address
        )
        registry.assign_device_to_patient(conn, device=device, patient_id=patient, valid_from=assigned_from)
        registry.assign_device_to_hub(conn, device=device, hub_id=hub, valid_from=assigned_from)
    return patient


def demo_home(index: int, *, stored: int = 3, measure_every_s: float | None = 20.0, seed: int = 1) -> HomeSpec:
    """A home with a cuff, a glucometer, a scale and an oximeter; addresses and serials from ``index``."""
    presets = ("and_ua651ble", "contour", "and_uc352ble", "fingertip_oximeter")
    prefixes = ("BP", "GL", "SC", "OX")
    devices = tuple(
        DeviceSpec(
            preset,
            f"{prefix}-R{index:04d}",
            f"C0:DE:{(index >> 8) & 0xFF:02X}:{index & 0xFF:02X}:00:{n + 1:02X}",
            stored=stored,
            seed=seed * 1000 + index * 10 + n,
        )
        for n, (preset, prefix) in enumerate(zip(presets, prefixes, strict=True))
    )
    return HomeSpec(devices=devices, measure_every_s=measure_every_s, seed=seed * 1000 + index)


def build_model(home: HomeSpec, spec: DeviceSpec) -> SimulatedPeripheral:
    """The device with its memory filled: ``stored`` measurements, 20 minutes apart, ending at t0."""
    t0 = datetime.fromisoformat(home.t0)
    first = t0 - timedelta(minutes=20 * spec.stored + 60)
    profile = PatientProfile(
        conditions=frozenset({Condition.HYPERTENSION, Condition.DIABETES}), time_zone=home.time_zone
    )
    physiology = Physiology(profile, np.random.default_rng(spec.seed))
    clock = DeviceClock.local(first, home.time_zone, error=timedelta(seconds=spec.clock_error_s))
    options: dict[str, Any] = {"security": Security()} if spec.open_link else {}
    model = PRESETS[spec.preset].factory(
        physiology=physiology, clock=clock, seed=spec.seed, serial=spec.serial, **options
    )
    for n in range(spec.stored):
        model.measure(t0 - timedelta(minutes=20 * (spec.stored - n)))
    return model


async def measure_now_and_then(
    peripherals: list[RadioPeripheral], home: HomeSpec, now: Callable[[], datetime], stop: asyncio.Event
) -> None:
    """Demo life: every ``measure_every_s`` one device measures; a connected one pushes it at once."""
    if not home.measure_every_s or not peripherals:
        return
    rng = random.Random(home.seed)  # noqa: S311 - simulation, not cryptography
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.expovariate(1 / home.measure_every_s))
        if stop.is_set():
            return
        await rng.choice(peripherals).measure(now())


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def living_home(spec_path: Path, stop: asyncio.Event) -> AsyncIterator[VirtualRadio]:
    """The home's devices on a virtual radio in this loop, measuring now and then until ``stop``."""
    home = HomeSpec.load(spec_path)
    async with VirtualRadio() as radio:
        peripherals = [
            await radio.add_peripheral(build_model(home, d), address=d.address, clock=utc_now) for d in home.devices
        ]
        life = asyncio.create_task(measure_now_and_then(peripherals, home, utc_now, stop), name="home-life")
        try:
            yield radio
        finally:
            life.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await life


async def serve_simulated_home(
    settings: Any,
    spec_path: Path,
    stop: asyncio.Event,
    run_gateway: Callable[[Any, Any, asyncio.Event], Any],
) -> None:
    """Run the gateway on the bleak backends of the home's radio, in this process, until ``stop``."""
    async with living_home(spec_path, stop) as radio:
        await run_gateway(settings, radio.backends(), stop)


async def serve_radio(spec_path: Path, socket_path: Path, stop: asyncio.Event) -> None:
    """The simulated home's radio and devices in this process, served to a gateway in another
    (``carehub gateway run --radio-socket``) over :mod:`firmware_sim.remote_radio`."""
    from firmware_sim.remote_radio import RadioServer

    async with living_home(spec_path, stop) as radio:
        await RadioServer(radio.backends()).serve(socket_path, stop)
