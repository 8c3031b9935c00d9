"""Device quirks through the real bleak API on the virtual radio (reference §5, §10, §11):
passkey entry from the whitelist, a glucose measurement joined with its context, a meter whose RACP
sequence numbers wrap, a device whose Device Information serial is not the whitelisted one, and the
Omron rule of setting the clock only in answer to the cuff's own time notification."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from carehub.local_services import MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from drivers.glucose import Meal
from firmware_sim.devices.glucometer import Glucometer
from firmware_sim.gatt import uuids
from firmware_sim.radio.radio import CENTRAL_ADDRESS
from gateway.agent import Gateway
from tests.gateway.cloud import Watcher, publish_desired
from tests.gateway.conftest import HUB_ID
from tests.gateway.radio_home import RunningHome, running_home, until

GLUCOSE_CONTEXT = uuids.GLUCOSE_MEASUREMENT_CONTEXT
MEAL_FLAGS = {
    Meal.PREPRANDIAL: "meal_preprandial",
    Meal.POSTPRANDIAL: "meal_postprandial",
    Meal.FASTING: "meal_fasting",
    Meal.CASUAL: "meal_casual",
    Meal.BEDTIME: "meal_bedtime",
}


def bodies(gateway: Gateway, serial: str) -> list[dict[str, Any]]:
    pending = [json.loads(p.body) for p in gateway.outbox.pending(limit=100_000)]
    acked = gateway.outbox._conn.execute("SELECT body FROM readings WHERE acked_at IS NOT NULL").fetchall()
    return [b for b in pending + [json.loads(r[0]) for r in acked] if b["device_serial"] == serial]


def reports(gateway: Gateway, serial: str) -> list[Any]:
    return [r for s, r in gateway.devices.reports if s == serial]


async def start(home: RunningHome, port: int, topic_root: str, data_dir: Path, **extra: Any) -> Gateway:
    settings = home.settings(port, topic_root, HUB_ID, data_dir, **extra)
    return await home.start_gateway(settings, revisit_s=3600.0)


def test_a_passkey_device_bonds_with_the_code_from_the_whitelist(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("accu_chek", "92345678", "C0:DE:00:00:00:21", stored=3),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())

    async def scenario() -> None:
        async with running_home(spec) as home:
            meter = home.peripherals["92345678"]
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub")
            await until(lambda: reports(gateway, "92345678"), "the meter's session")
            [report] = reports(gateway, "92345678")
            assert (report.paired, report.readings_added, report.racp_finished) == (True, 3, True)
            assert meter.model.bonds == {CENTRAL_ADDRESS}
            assert meter.pairings == 1

    asyncio.run(scenario())


def test_a_wrong_passkey_never_bonds_and_reads_nothing(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("accu_chek", "92345678", "C0:DE:00:00:00:21", stored=3),))
    config = desired_config(spec)
    config.whitelist[0] = config.whitelist[0].model_copy(update={"passkey": "428913"})  # a typo at enrolment
    publish_desired(broker.port, topic_root, HUB_ID, config.to_json())

    async def scenario() -> None:
        async with running_home(spec) as home:
            meter = home.peripherals["92345678"]
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub", gateway_reconnect_min_s=5.0)
            await until(lambda: gateway.devices.sessions_failed >= 1, "the failed pairing")
            assert meter.model.bonds == set()
            assert bodies(gateway, "92345678") == []
            assert not [f for f in meter.sent if f.characteristic == uuids.GLUCOSE_MEASUREMENT]

    asyncio.run(scenario())


def _drop_context_frames(model: Glucometer) -> None:
    """The meter sets "context follows" on its live records but the contexts never reach the hub."""
    frames_of = model._record_frames

    def without_context(record: Any, *, from_memory: bool) -> list[Any]:
        return [f for f in frames_of(record, from_memory=from_memory) if f.characteristic != GLUCOSE_CONTEXT]

    model._record_frames = without_context  # type: ignore[method-assign]


def test_a_glucose_context_travels_with_its_measurement(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=12, open_link=True),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())

    async def scenario() -> None:
        async with running_home(spec) as home:
            meter = home.peripherals["GL-0001"]
            model: Glucometer = meter.model
            meals = Counter(MEAL_FLAGS[r.context.meal] for r in model.records if r.context and r.context.meal)
            assert sum(meals.values()) >= 3, "the seed gives records with a meal"
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub", gateway_device_idle_s=5.0)
            await until(lambda: len(bodies(gateway, "GL-0001")) == 12, "the 12 records")
            got = Counter(f for b in bodies(gateway, "GL-0001") for f in b.get("flags", []) if f.startswith("meal_"))
            assert got == meals
            # A live record whose context never arrives is stored without it once the wait is over,
            # while the meter is still connected (not only when the session ends).
            _drop_context_frames(model)
            model.context_rate = 1.0
            await meter.measure()
            await until(lambda: len(bodies(gateway, "GL-0001")) == 13, "the live record", 10)
            assert meter.connected
            live = bodies(gateway, "GL-0001")[-1]
            assert not [f for f in live.get("flags", []) if f.startswith("meal_")]

    asyncio.run(scenario())


def test_a_glucometer_whose_sequence_numbers_wrap_sends_only_the_new_records(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=4, open_link=True),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())

    async def scenario() -> None:
        async with running_home(spec) as home:
            meter = home.peripherals["GL-0001"]
            model: Glucometer = meter.model
            # Years of use: the memory holds records 65530..65533.
            model.records = [r.renumbered(65530 + i) for i, r in enumerate(model.records)]
            model.next_sequence_number = 65534
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub", gateway_device_idle_s=0.5)
            await until(lambda: reports(gateway, "GL-0001"), "the first download")
            assert gateway.outbox.racp_cursor("GL-0001") == 65533
            await until(lambda: not meter.connected, "the meter to be released")
            now = datetime.now(UTC)
            for minutes in (25, 20, 15, 10, 5):  # numbered 65534, 65535, 0, 1, 2
                model.measure(now - timedelta(minutes=minutes))
            assert [r.sequence_number for r in model.records[-5:]] == [65534, 65535, 0, 1, 2]
            gateway.devices.schedule.allow_now("GL-0001")
            await until(lambda: len(reports(gateway, "GL-0001")) == 2, "the second download")
            second = reports(gateway, "GL-0001")[1]
            # Exactly the five new records were reported; the one duplicate is the newest record, which
            # the probe before the report ("last record") had already brought in.
            assert (second.racp_records, second.duplicates, second.racp_finished) == (5, 1, True)
            assert gateway.outbox.racp_cursor("GL-0001") == 2
            assert len(bodies(gateway, "GL-0001")) == 9

    asyncio.run(scenario())


def test_a_device_whose_serial_is_not_the_whitelisted_one_is_refused_and_reported(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("and_ua651ble", "BP-0001", "C0:DE:00:00:00:01", stored=2),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    watcher = Watcher(broker.port, topic_root, HUB_ID)

    async def scenario() -> None:
        async with running_home(spec) as home:
            cuff = home.peripherals["BP-0001"]
            # Another cuff on the whitelisted address (a swapped device, a typo at enrolment).
            cuff.model.info = type(cuff.model.info)("A&D Medical", "UA-651BLE", "BP-9999")
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub", gateway_reconnect_min_s=5.0)
            await until(lambda: watcher.events("device_serial_mismatch"), "the mismatch event")
            [event] = watcher.events("device_serial_mismatch")
            assert (event["device_serial"], event["device_address"]) == ("BP-0001", "C0:DE:00:00:00:01")
            assert "'BP-9999'" in event["detail"]
            assert gateway.devices.sessions_failed == 1
            assert cuff.model.bonds == set()  # never bonded
            assert cuff.sent == []
            assert bodies(gateway, "BP-0001") == []

    try:
        asyncio.run(scenario())
    finally:
        watcher.close()


def test_an_omron_cuff_gets_its_clock_set_only_in_answer_to_its_time_notification_and_only_when_far_off(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(
        devices=(
            DeviceSpec("omron", "OM-FAR", "C0:DE:00:00:00:31", stored=2, clock_error_s=-3 * 3600),
            DeviceSpec("omron", "OM-NEAR", "C0:DE:00:00:00:32", stored=2, clock_error_s=-5 * 60),
        )
    )
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    t0 = datetime.fromisoformat(spec.t0)

    async def scenario() -> None:
        async with running_home(spec) as home:
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub")
            await until(lambda: reports(gateway, "OM-FAR") and reports(gateway, "OM-NEAR"), "both sessions")
            for serial in ("OM-FAR", "OM-NEAR"):
                cuff = home.peripherals[serial]
                assert cuff.sent[0].characteristic == uuids.CURRENT_TIME  # the announcement came first
                assert cuff.model.bonds == {CENTRAL_ADDRESS}  # passkey bond with the code from the whitelist
            far, near = reports(gateway, "OM-FAR")[0], reports(gateway, "OM-NEAR")[0]
            assert (far.clock_written, near.clock_written) == (True, False)
            assert abs(far.clock_offset_s - 3 * 3600) < 5
            assert abs(near.clock_offset_s - 300) < 5
            now = datetime.now(UTC)
            far_clock = home.peripherals["OM-FAR"].model.clock.now(now)
            near_clock = home.peripherals["OM-NEAR"].model.clock.now(now)
            zone_now = now.astimezone(ZoneInfo(spec.time_zone)).replace(tzinfo=None)  # device clocks are local
            assert abs((far_clock - zone_now).total_seconds()) < 5  # set
            assert abs((near_clock - zone_now).total_seconds() + 300) < 5  # left 5 minutes slow
            # Records from the far-off clock are corrected; the near one's stamps are used as sent.
            expected = sorted(t0 - timedelta(minutes=20 * n) for n in (2, 1))
            far_bodies = bodies(gateway, "OM-FAR")
            assert [b["measured_at_source"] for b in far_bodies] == ["device_clock_corrected"] * 2
            got = sorted(datetime.fromisoformat(b["measured_at"]) for b in far_bodies)
            assert all(abs(g - e) < timedelta(seconds=5) for g, e in zip(got, expected, strict=True)), got
            assert [b["measured_at_source"] for b in bodies(gateway, "OM-NEAR")] == ["device_clock"] * 2

    asyncio.run(scenario())
