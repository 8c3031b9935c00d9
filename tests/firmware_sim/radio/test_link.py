"""Links on the virtual radio: loss mid-transfer (prompt disconnect, nothing lost on the device),
several devices connected at once through the connect queue, a device whose radio is off, and live
frames from a measurement taken while connected."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from drivers.glucose import decode_measurement
from firmware_sim.devices.bp_cuff import BloodPressureCuff, and_ua651ble
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.glucometer import contour_style
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.physiology import Physiology
from firmware_sim.radio import SimulatedPeripheral, VirtualRadio
from tests.firmware_sim.radio.support import HANG_GUARD_S, assert_decodes_to_intent, clock_at, run, run_on_radio

CUFF = "F0:00:00:00:00:01"
DEVICE_CLOCK = encode_date_time(datetime(2026, 1, 20, 7, 0))


def cuff_with_records(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime, count: int, serial: str = "5110012345"
) -> BloodPressureCuff:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed, serial=serial)
    for hours in range(count):
        cuff.measure(t0 + timedelta(hours=hours))
    return cuff


async def download(client: BleakClient, received: list[bytes], after: int | None = None) -> asyncio.Event:
    """The A&D flow: subscribe, write the clock; returns an event set once ``after`` frames arrived."""
    enough = asyncio.Event()

    def on_frame(_c: object, data: bytearray) -> None:
        received.append(bytes(data))
        if after is not None and len(received) >= after:
            enough.set()

    await client.start_notify(uuids.BLOOD_PRESSURE_MEASUREMENT, on_frame)
    await client.write_gatt_char(uuids.DATE_TIME, DEVICE_CLOCK, response=True)
    return enough


def test_link_loss_mid_transfer_disconnects_at_once_and_the_cuff_keeps_what_was_not_delivered(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = cuff_with_records(patient, clock, seed, t0, 6)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        backend = radio.backends().client
        lost = asyncio.Event()
        first: list[bytes] = []
        client = BleakClient(CUFF, lambda _c: lost.set(), backend=backend)
        await client.connect()
        enough = await download(client, first, after=2)
        await asyncio.wait_for(enough.wait(), HANG_GUARD_S)
        await peripheral.link_loss()
        assert lost.is_set()  # both sides saw it: no 30 s supervision wait
        with pytest.raises(BleakError):
            await client.read_gatt_char(uuids.BATTERY_LEVEL)
        assert len(cuff.memory.unsent()) == 6 - len(first)
        assert first == [f.data for f in peripheral.sent]

        # The next session delivers the rest, and only the rest.
        rest: list[bytes] = []
        done = asyncio.Event()
        async with BleakClient(CUFF, lambda _c: done.set(), backend=backend) as again:
            await download(again, rest)
            await asyncio.wait_for(done.wait(), HANG_GUARD_S)
        assert first + rest == [f.data for f in peripheral.sent]
        assert len(first + rest) == 6
        assert len(set(first + rest)) == 6
        assert not cuff.has_unsent_data

    run_on_radio(cuff, CUFF, t0 + timedelta(days=1), scenario)


def test_a_request_in_flight_when_the_link_drops_fails_at_once(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = cuff_with_records(patient, clock, seed, t0, 0)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        async with BleakClient(CUFF, backend=radio.backends().client) as client:
            read = asyncio.ensure_future(client.read_gatt_char(uuids.MODEL_NUMBER))
            await asyncio.sleep(0)  # the Read Request is on its way; the response never comes
            await peripheral.link_loss()
            # Without the guard this waits for bumble's 30 s ATT timeout, beyond the hang guard.
            with pytest.raises(BleakError):
                await asyncio.wait_for(read, HANG_GUARD_S)

    run_on_radio(cuff, CUFF, t0, scenario)


def test_several_cuffs_download_at_once_through_the_connect_queue(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuffs = {
        f"F0:00:00:00:01:0{i}": cuff_with_records(patient, clock, seed + i, t0, 2 + i, serial=f"511000000{i}")
        for i in range(4)
    }

    async def scenario() -> None:
        async with VirtualRadio() as radio:
            backend = radio.backends().client
            peripherals = {a: await radio.add_peripheral(c, address=a, clock=clock_at(t0)) for a, c in cuffs.items()}

            async def session(address: str) -> list[bytes]:
                received: list[bytes] = []
                done = asyncio.Event()
                async with BleakClient(address, lambda _c: done.set(), backend=backend) as client:
                    await download(client, received)
                    await asyncio.wait_for(done.wait(), HANG_GUARD_S)
                return received

            results = await asyncio.gather(*(session(a) for a in cuffs))
            for address, received in zip(cuffs, results, strict=True):
                assert received == [f.data for f in peripherals[address].sent]
                assert len(received) == 2 + int(address[-1])
                assert not cuffs[address].has_unsent_data

    run(scenario)


def test_a_device_with_its_radio_off_cannot_be_reached_until_it_advertises_again(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = cuff_with_records(patient, clock, seed, t0, 0)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        backend = radio.backends().client
        await peripheral.set_advertising(False)
        with pytest.raises(TimeoutError):
            await BleakClient(CUFF, backend=backend, timeout=0.2).connect()
        assert cuff.link is None
        await peripheral.set_advertising(True)
        async with BleakClient(CUFF, backend=backend) as client:
            assert await client.read_gatt_char(uuids.MODEL_NUMBER) == b"UA-651BLE"

    run_on_radio(cuff, CUFF, t0, scenario)


def test_a_measurement_taken_while_connected_is_notified_live(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = contour_style(physiology=patient, clock=clock, seed=seed)  # notifies new records; Just Works bond

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        received: list[bytes] = []
        async with BleakClient(CUFF, backend=radio.backends().client) as client:
            await client.start_notify(uuids.GLUCOSE_MEASUREMENT, lambda _c, data: received.append(bytes(data)))
            frames = await peripheral.measure(t0 + timedelta(minutes=5))
            assert len(frames) == 1
            assert received == [frames[0].data]
            intended = frames[0].intended
            assert intended is not None
            assert not intended.from_device_memory
            assert_decodes_to_intent(decode_measurement(received[0]).normalise(), intended)
            # The model driven directly (a test, the demo's home life): its live frame goes on air too.
            more = meter.measure(t0 + timedelta(minutes=10))
            await peripheral.notify_pending()
            control = meter.control_test(t0 + timedelta(minutes=15))
            await peripheral.notify_pending()
            assert len(more) == 1
            assert len(control) == 1
            assert received == [frames[0].data, more[0].data, control[0].data]
        assert peripheral.pairings == 1
        await radio.remove_peripheral(CUFF)
        assert "measure" not in vars(meter)  # the model is handed back unwrapped
        assert "control_test" not in vars(meter)

    run_on_radio(meter, CUFF, t0, scenario)


def test_bleak_retry_connector_establishes_a_connection_on_the_radio(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    """The gateway connects through bleak-retry-connector; on Linux it also asks BlueZ about stale
    connections, which must not break (or hang) on a machine without BlueZ."""
    cuff = cuff_with_records(patient, clock, seed, t0, 0)

    async def scenario(radio: VirtualRadio, _peripheral: SimulatedPeripheral) -> None:
        backends = radio.backends()
        device = await BleakScanner.find_device_by_address(CUFF, timeout=HANG_GUARD_S, backend=backends.scanner)
        assert device is not None
        client = await establish_connection(BleakClient, device, "cuff", backend=backends.client)
        try:
            assert await client.read_gatt_char(uuids.MODEL_NUMBER) == b"UA-651BLE"
        finally:
            await client.disconnect()
        assert cuff.link is None

    run_on_radio(cuff, CUFF, t0, scenario)


def test_a_cuff_with_a_flat_battery_drops_the_link_and_goes_off_the_air(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = cuff_with_records(patient, clock, seed, t0, 0)
    cuff.battery.level_pct = 0.0

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        client = BleakClient(CUFF, backend=radio.backends().client)
        with pytest.raises(BleakError):  # the link drops during service discovery
            await client.connect()
        assert not client.is_connected
        assert cuff.link is None
        await peripheral.settle()
        assert not peripheral.advertising
        with pytest.raises(TimeoutError):
            await BleakClient(CUFF, backend=radio.backends().client, timeout=0.2).connect()

    run_on_radio(cuff, CUFF, t0, scenario)


def test_a_connect_that_times_out_after_it_started_leaves_no_pending_connection_behind(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    cuff = cuff_with_records(patient, clock, seed, t0, 0)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:

        def vanish() -> None:  # the cuff's radio dies the instant the hub starts connecting
            for advertising_set in peripheral.controller.advertising_sets.values():
                advertising_set.stop()

        monkeypatch.setattr(peripheral, "advertise_now", vanish)
        with pytest.raises(TimeoutError):
            await BleakClient(CUFF, backend=radio.backends().client, timeout=0.3).connect()
        assert radio.controller.pending_le_connection is None
        assert cuff.link is None
        monkeypatch.undo()
        await peripheral.set_advertising(False)
        await peripheral.set_advertising(True)  # back on the air: the hub connects normally
        async with BleakClient(CUFF, backend=radio.backends().client) as client:
            assert await client.read_gatt_char(uuids.MODEL_NUMBER) == b"UA-651BLE"

    run_on_radio(cuff, CUFF, t0, scenario)
