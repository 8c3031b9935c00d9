"""The virtual radio through the real bleak API: discovery, connection, reads, and the A&D cuff's
stored readings indicated after its clock is written (reference §10, §11)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDeviceNotFoundError, BleakGATTProtocolError, BleakGATTProtocolErrorCode

from drivers.blood_pressure import decode_measurement
from firmware_sim.devices.bp_cuff import and_ua651ble
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.glucometer import accu_chek_style
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.physiology import Physiology
from firmware_sim.radio import SimulatedPeripheral, VirtualRadio
from tests.firmware_sim.radio.support import HANG_GUARD_S, assert_decodes_to_intent, clock_at, run, run_on_radio

CUFF = "F0:00:00:00:00:01"
METER = "F0:00:00:00:00:02"
GAP_SERVICE = "00001800-0000-1000-8000-00805f9b34fb"
GATT_SERVICE = "00001801-0000-1000-8000-00805f9b34fb"


def test_scanner_reports_names_service_uuids_and_rssi(patient: Physiology, clock: DeviceClock, seed: int) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    meter = accu_chek_style(physiology=patient, clock=clock, seed=seed)

    async def scenario() -> None:
        async with VirtualRadio() as radio:
            await radio.add_peripheral(cuff, address=CUFF, rssi_dbm=-48)
            await radio.add_peripheral(meter, address=METER, rssi_dbm=-81)
            backends = radio.backends()
            seen: dict[str, tuple[BLEDevice, AdvertisementData]] = {}
            both = asyncio.Event()

            def detected(device: BLEDevice, adv: AdvertisementData) -> None:
                seen[device.address] = (device, adv)
                if len(seen) == 2:
                    both.set()

            async with BleakScanner(detected, backend=backends.scanner):
                await asyncio.wait_for(both.wait(), HANG_GUARD_S)
            assert {a: (d.name, ad.local_name, ad.service_uuids, ad.rssi) for a, (d, ad) in seen.items()} == {
                CUFF: ("A&D_UA-651_2345", "A&D_UA-651_2345", [uuids.BLOOD_PRESSURE_SERVICE], -48),
                METER: ("meter+92345678", "meter+92345678", [uuids.GLUCOSE_SERVICE], -81),
            }

            # A service filter passes only the devices that advertise the service, as on BlueZ.
            found = await BleakScanner.find_device_by_filter(
                lambda _d, _a: True,
                timeout=HANG_GUARD_S,
                service_uuids=[uuids.GLUCOSE_SERVICE],
                backend=backends.scanner,
            )
            assert found is not None
            assert found.address == METER

    run(scenario)


def test_connect_reads_device_information_and_battery_and_hides_gap_and_gatt(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed, serial="5110099999")

    async def scenario() -> None:
        async with VirtualRadio() as radio:
            await radio.add_peripheral(cuff, address=CUFF, clock=clock_at(t0))
            async with BleakClient(CUFF, backend=radio.backends().client) as client:
                assert client.name == "A&D_UA-651_9999"
                assert [s.uuid for s in client.services] == [
                    uuids.BLOOD_PRESSURE_SERVICE,
                    uuids.AND_VENDOR_SERVICE,
                    uuids.BATTERY_SERVICE,
                    uuids.DEVICE_INFORMATION_SERVICE,
                ]
                assert client.services.get_service(GAP_SERVICE) is None
                assert client.services.get_service(GATT_SERVICE) is None
                assert await client.read_gatt_char(uuids.MANUFACTURER_NAME) == b"A&D Medical"
                assert await client.read_gatt_char(uuids.MODEL_NUMBER) == b"UA-651BLE"
                assert await client.read_gatt_char(uuids.SERIAL_NUMBER) == b"5110099999"
                assert await client.read_gatt_char(uuids.FIRMWARE_REVISION) == b"1.4.0"
                battery = await client.read_gatt_char(uuids.BATTERY_LEVEL)
                assert list(battery) == [cuff.battery.level(t0)]
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(uuids.MODEL_NUMBER, b"x", response=True)
                assert refused.value.code == BleakGATTProtocolErrorCode.WRITE_NOT_PERMITTED
            assert not client.is_connected
            assert cuff.link is None

    run(scenario)


def test_and_cuff_indicates_stored_readings_only_after_its_clock_is_written_then_disconnects(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    cuff = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    times = [t0 + timedelta(hours=h) for h in range(4)]
    for when in times:
        assert cuff.measure(when) == []  # nobody listening: stored
    stamps = [clock.stamp(when) for when in times]  # before the collector sets the clock
    at = t0 + timedelta(days=1)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        received: list[bytes] = []
        closed = asyncio.Event()
        client = BleakClient(CUFF, lambda _c: closed.set(), backend=radio.backends().client)
        await client.connect()
        await client.start_notify(uuids.BLOOD_PRESSURE_MEASUREMENT, lambda _c, data: received.append(bytes(data)))
        # Subscribed (and bonded: the cuff's 0x05 made the client pair), but the clock is not set yet.
        await peripheral.notify_pending()
        assert received == []
        assert cuff.has_unsent_data
        assert cuff.link is not None  # still connected, waiting for its clock
        await client.write_gatt_char(uuids.DATE_TIME, encode_date_time(datetime(2026, 1, 16, 7, 0)), response=True)
        await asyncio.wait_for(closed.wait(), HANG_GUARD_S)  # the cuff drops the link when done
        assert not client.is_connected
        assert received == [frame.data for frame in peripheral.sent]
        intents = [frame.intended for frame in peripheral.sent]
        assert [i.device_time for i in intents if i is not None] == stamps
        for data, intended in zip(received, intents, strict=True):
            assert intended is not None
            assert intended.from_device_memory
            assert_decodes_to_intent(decode_measurement(data).normalise(), intended)
        assert not cuff.has_unsent_data

    run_on_radio(cuff, CUFF, at, scenario)


def test_unknown_address_is_not_found() -> None:
    async def scenario() -> None:
        async with VirtualRadio() as radio:
            client = BleakClient("F0:00:00:00:00:99", backend=radio.backends().client)
            with pytest.raises(BleakDeviceNotFoundError):
                await client.connect()

    run(scenario)


def test_two_radios_in_one_loop_are_two_homes_that_do_not_hear_each_other(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    """Many hubs in one process (the demo, the gateway benchmark) each get their own radio."""
    near = and_ua651ble(physiology=patient, clock=clock, seed=seed)
    far = accu_chek_style(physiology=patient, clock=clock, seed=seed)

    async def scenario() -> None:
        async with VirtualRadio() as home_a, VirtualRadio() as home_b:
            await home_a.add_peripheral(near, address=CUFF)
            await home_b.add_peripheral(far, address=METER)
            seen_a = await BleakScanner.discover(timeout=0.3, backend=home_a.backends().scanner)
            seen_b = await BleakScanner.discover(timeout=0.3, backend=home_b.backends().scanner)
            assert [d.address for d in seen_a] == [CUFF]
            assert [d.address for d in seen_b] == [METER]
            with pytest.raises(BleakDeviceNotFoundError):
                await BleakClient(METER, backend=home_a.backends().client).connect()
            async with BleakClient(CUFF, backend=home_a.backends().client) as client:
                assert await client.read_gatt_char(uuids.MODEL_NUMBER) == b"UA-651BLE"

    run(scenario)
