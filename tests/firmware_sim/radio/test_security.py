"""Pairing and bonding on the virtual radio through bleak: the glucometer's passkey bond and RACP
download (reference §5), reconnecting with the bond and no new pairing, and a passkey the hub does not
know (reference §10: BlueZ without an agent cannot pair such a device)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from bleak import BleakClient
from bleak.exc import BleakError

from drivers import racp
from drivers.glucose import decode_measurement
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.glucometer import Glucometer, accu_chek_style
from firmware_sim.gatt import uuids
from firmware_sim.physiology import Physiology
from firmware_sim.radio import SimulatedPeripheral, VirtualRadio
from tests.firmware_sim.radio.support import HANG_GUARD_S, assert_decodes_to_intent, run_on_radio

METER = "F0:00:00:00:00:02"
PASSKEY = "482913"
REPORT_ALL = bytes.fromhex("0101")
REPORT_FROM_4 = bytes.fromhex("01030104 00".replace(" ", ""))


def meter_with_records(patient: Physiology, clock: DeviceClock, seed: int, t0: datetime, count: int) -> Glucometer:
    meter = accu_chek_style(physiology=patient, clock=clock, seed=seed, passkey=PASSKEY)
    for i in range(count):
        meter.measure(t0 + timedelta(hours=6 * i))
    return meter


async def download(client: BleakClient, request: bytes) -> tuple[list[bytes], bytes]:
    """Enable the three characteristics, write a RACP request and collect measurements until the
    RACP response arrives (reference §5.3)."""
    measurements: list[bytes] = []
    done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    await client.start_notify(uuids.GLUCOSE_MEASUREMENT, lambda _c, data: measurements.append(bytes(data)))
    await client.start_notify(uuids.GLUCOSE_MEASUREMENT_CONTEXT, lambda _c, _data: None)
    await client.start_notify(uuids.RECORD_ACCESS_CONTROL_POINT, lambda _c, data: done.set_result(bytes(data)))
    await client.write_gatt_char(uuids.RECORD_ACCESS_CONTROL_POINT, request, response=True)
    return measurements, await asyncio.wait_for(done, HANG_GUARD_S)


def test_glucometer_bonds_with_its_passkey_and_reports_records_over_racp(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 6)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        radio.set_passkey(METER, PASSKEY)
        async with BleakClient(METER, backend=radio.backends().client) as client:
            measurements, response = await download(client, REPORT_ALL)
        assert racp.decode(response) == racp.decode(bytes.fromhex("06000101"))  # report complete, success
        assert peripheral.pairings == 1
        assert meter.bonds == {radio.central_address}
        sent = [f for f in peripheral.sent if f.characteristic == uuids.GLUCOSE_MEASUREMENT]
        assert measurements == [f.data for f in sent]
        assert [f.intended.sequence_number for f in sent if f.intended] == [1, 2, 3, 4, 5, 6]
        for frame in sent:
            assert frame.intended is not None
            assert_decodes_to_intent(decode_measurement(frame.data).normalise(), frame.intended)

    run_on_radio(meter, METER, t0 + timedelta(days=2), scenario)


def test_a_bonded_meter_reconnects_without_pairing_and_downloads_only_newer_records(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 6)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        radio.set_passkey(METER, PASSKEY)
        backend = radio.backends().client
        async with BleakClient(METER, backend=backend, pair=True) as client:
            await client.read_gatt_char(uuids.GLUCOSE_FEATURE)
        assert peripheral.pairings == 1
        radio.set_passkey(METER, None)  # the bond must be enough now
        async with BleakClient(METER, backend=backend, pair=True) as client:
            await client.pair()  # already bonded: returns, as bleak on BlueZ does
            measurements, _response = await download(client, REPORT_FROM_4)
        assert peripheral.pairings == 1
        sequence_numbers = [decode_measurement(m).sequence_number for m in measurements]
        assert sequence_numbers == [4, 5, 6]

    run_on_radio(meter, METER, t0 + timedelta(days=2), scenario)


def test_without_the_passkey_pairing_fails_and_the_meter_releases_nothing(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 3)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        async with BleakClient(METER, backend=radio.backends().client) as client:
            with pytest.raises(BleakError):
                await client.start_notify(uuids.GLUCOSE_MEASUREMENT, lambda _c, _d: None)
        radio.set_passkey(METER, "111111")  # the wrong code
        async with BleakClient(METER, backend=radio.backends().client) as client:
            with pytest.raises(BleakError):
                await client.pair()
        assert peripheral.pairings == 0
        assert meter.bonds == set()
        assert peripheral.sent == []

    run_on_radio(meter, METER, t0, scenario)


def test_unpair_forgets_the_hubs_bond_so_the_next_session_pairs_again(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 1)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        radio.set_passkey(METER, PASSKEY)
        backend = radio.backends().client
        async with BleakClient(METER, backend=backend, pair=True) as client:
            assert await radio.is_bonded(METER)
            await client.unpair()
        assert not await radio.is_bonded(METER)
        async with BleakClient(METER, backend=backend) as client:
            await client.read_gatt_char(uuids.GLUCOSE_FEATURE)  # not encrypted: readable
            await client.start_notify(uuids.GLUCOSE_MEASUREMENT, lambda _c, _d: None)  # pairs again
        assert peripheral.pairings == 2

    run_on_radio(meter, METER, t0, scenario)


def test_link_loss_mid_racp_report_then_the_download_resumes_after_the_last_record_received(
    patient: Physiology, clock: DeviceClock, seed: int, t0: datetime
) -> None:
    meter = meter_with_records(patient, clock, seed, t0, 6)

    async def scenario(radio: VirtualRadio, peripheral: SimulatedPeripheral) -> None:
        radio.set_passkey(METER, PASSKEY)
        backend = radio.backends().client
        first: list[bytes] = []
        two = asyncio.Event()

        def on_measurement(_c: object, data: bytearray) -> None:
            first.append(bytes(data))
            if len(first) == 2:
                two.set()

        client = BleakClient(METER, backend=backend)
        await client.connect()
        await client.start_notify(uuids.GLUCOSE_MEASUREMENT, on_measurement)
        await client.start_notify(uuids.RECORD_ACCESS_CONTROL_POINT, lambda _c, _d: None)
        await client.write_gatt_char(uuids.RECORD_ACCESS_CONTROL_POINT, REPORT_ALL, response=True)
        await asyncio.wait_for(two.wait(), HANG_GUARD_S)
        await peripheral.link_loss()
        assert not client.is_connected
        assert not meter.procedure_in_progress("racp report")  # a lost link ends the procedure
        received = [decode_measurement(m).sequence_number for m in first]
        assert 2 <= len(received) < 6
        last = received[-1]
        async with BleakClient(METER, backend=backend) as again:
            request = bytes([0x01, 0x03, 0x01]) + (last + 1).to_bytes(2, "little")  # records ≥ last + 1
            rest, response = await download(again, request)
        assert racp.decode(response) == racp.decode(bytes.fromhex("06000101"))
        assert received + [decode_measurement(m).sequence_number for m in rest] == [1, 2, 3, 4, 5, 6]
        assert peripheral.pairings == 1

    run_on_radio(meter, METER, t0, scenario)
