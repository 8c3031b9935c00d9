"""Helpers for the radio tests: run a scenario inside a fresh event loop (the radio is created inside
the running loop), and compare what a driver decoded with what the simulated device intended."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from drivers.normalised import Normalised
from firmware_sim.devices.peripheral import SimulatedPeripheral as DeviceModel
from firmware_sim.intent import IntendedMeasurement
from firmware_sim.radio import SimulatedPeripheral, VirtualRadio

HANG_GUARD_S = 10.0
"""Only a guard against a hang turning into the 300 s pytest timeout; never a speed assertion."""


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        async with asyncio.timeout(HANG_GUARD_S * 3):
            await scenario()

    asyncio.run(guarded())


def assert_decodes_to_intent(decoded: Normalised, intended: IntendedMeasurement, *, compare_flags: bool = True) -> None:
    assert decoded.kind == intended.kind
    if compare_flags:
        assert decoded.flags == intended.flags
    assert decoded.measured_at == intended.device_time
    assert decoded.user_id == intended.user_id
    assert [(o.metric, o.unit, o.special, o.source_unit) for o in decoded.observations] == [
        (o.metric, o.unit, o.special, o.source_unit) for o in intended.observations
    ]
    for got, meant in zip(decoded.observations, intended.observations, strict=True):
        assert got.value == pytest.approx(meant.value, rel=1e-9, abs=1e-9)


def clock_at(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def run_on_radio(
    model: DeviceModel,
    address: str,
    at: datetime,
    scenario: Callable[[VirtualRadio, SimulatedPeripheral], Awaitable[None]],
) -> None:
    """Run ``scenario`` with ``model`` on a fresh radio, its events at the true time ``at``."""

    async def on_radio() -> None:
        async with VirtualRadio() as radio:
            peripheral = await radio.add_peripheral(model, address=address, clock=clock_at(at))
            await scenario(radio, peripheral)

    run(on_radio)
