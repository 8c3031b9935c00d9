"""Helpers for the radio tests: run a scenario inside a fresh event loop (the radio is created inside
the running loop), and compare what a driver decoded with what the simulated device intended."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from drivers.normalised import Normalised
from firmware_sim.intent import IntendedMeasurement

HANG_GUARD_S = 10.0
"""Only a guard against a hang turning into the 300 s pytest timeout; never a speed assertion."""


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def guarded() -> None:
        async with asyncio.timeout(HANG_GUARD_S * 3):
            await scenario()

    asyncio.run(guarded())


def assert_decodes_to_intent(decoded: Normalised, intended: IntendedMeasurement) -> None:
    assert decoded.kind == intended.kind
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
