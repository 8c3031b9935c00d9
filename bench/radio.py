"""Virtual radio throughput: connect-indicate-disconnect cycles per second on one radio as the number of
simulated peripherals on it grows, against two baselines measured in the same run: the same cycle
with the transport-free device model alone (what the radio adds), and the radio with one peripheral
(what more devices on the air cost). Run: ``.venv/bin/python bench/radio.py [--cycles N]``.

A cycle is what a hub does with an A&D cuff holding one new reading: connect (the bond exists, so the
link is encrypted without pairing), subscribe to 0x2A35, write the Date Time, receive and confirm the
indication, and see the cuff drop the link. DESIGN.md §7 measured about 60 ms per cycle in the
prototype."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from bleak import BleakClient

from firmware_sim.devices.bp_cuff import BloodPressureCuff, and_ua651ble
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.physiology import Condition, PatientProfile, Physiology
from firmware_sim.radio import VirtualRadio

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEVICE_CLOCK = encode_date_time(datetime(2026, 1, 16, 7, 0))
PERIPHERAL_COUNTS = (1, 5, 20, 50)
ADVERTISING_INTERVAL_MS = 500.0
"""Every advertising PDU reaches every controller on the link; a longer interval keeps 50 idle
advertisers from dominating (connects do not wait for it: the radio advertises on demand)."""


def cuff(seed: int) -> BloodPressureCuff:
    patient = Physiology(PatientProfile(conditions=frozenset({Condition.HYPERTENSION})), np.random.default_rng(seed))
    return and_ua651ble(physiology=patient, clock=DeviceClock.local(T0, "America/New_York"), seed=seed)


def model_cycles(cycles: int) -> float:
    """The same cycle on the model alone: the floor of any transport."""
    model = cuff(1)
    model.connect(T0)
    model.pair(T0)
    model.disconnect(T0)
    start = time.perf_counter()
    for i in range(cycles):
        at = T0 + timedelta(minutes=i)
        model.measure(at)
        model.connect(at)
        model.pair(at)
        model.subscribe(uuids.BLOOD_PRESSURE_MEASUREMENT, at)
        model.write(uuids.DATE_TIME, DEVICE_CLOCK, at)
        while model.transmit(at, max_frames=1):
            pass
        assert model.close_requested
        model.disconnect(at)
    return cycles / (time.perf_counter() - start)


async def one_cycle(address: str, model: BloodPressureCuff, backend: type) -> None:
    model.measure(datetime.now(UTC))
    received: list[bytes] = []
    closed = asyncio.Event()
    client = BleakClient(address, lambda _c: closed.set(), backend=backend)
    await client.connect()
    await client.start_notify(uuids.BLOOD_PRESSURE_MEASUREMENT, lambda _c, data: received.append(bytes(data)))
    await client.write_gatt_char(uuids.DATE_TIME, DEVICE_CLOCK, response=True)
    await closed.wait()
    assert len(received) == 1, received


async def radio_cycles(peripherals: int, cycles: int) -> float:
    async with VirtualRadio(advertising_interval_ms=ADVERTISING_INTERVAL_MS) as radio:
        backend = radio.backends().client
        models = {f"F0:00:00:00:{i // 256:02X}:{i % 256:02X}": cuff(i + 1) for i in range(peripherals)}
        for address, model in models.items():
            await radio.add_peripheral(model, address=address)
        for address, model in models.items():  # bond every cuff first, as a hub does once
            await one_cycle(address, model, backend)
        addresses = list(models)
        start = time.perf_counter()
        for i in range(cycles):
            address = addresses[i % peripherals]
            await one_cycle(address, models[address], backend)
        return cycles / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    args = parser.parse_args(argv)
    print(f"{args.cycles} connect-indicate-disconnect cycles per row (python {sys.version.split()[0]})", flush=True)
    floor = model_cycles(args.cycles)
    print(f"{'model alone (no radio)':<28}{floor:>10,.0f} cycles/s", flush=True)
    print(f"{'peripherals on the radio':<28}{'cycles/s':>10}{'ms/cycle':>10}{'vs model':>10}{'vs 1 device':>13}")
    baseline: float | None = None
    for count in PERIPHERAL_COUNTS:
        rate = asyncio.run(radio_cycles(count, args.cycles))
        baseline = baseline or rate
        print(
            f"{count:<28}{rate:>10,.1f}{1000 / rate:>10.1f}{floor / rate:>9.0f}x{baseline / rate:>12.2f}x", flush=True
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
