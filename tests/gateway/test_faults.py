"""Faults a home throws at the gateway, on the virtual radio through the real bleak API: a device
that is not whitelisted, a garbage frame, a device that replays its whole memory, a wrong or reset
device clock, and link loss in the middle of a RACP download."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from carehub.local_services import IngestProcess, MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from firmware_sim.devices.outgoing import Fault
from gateway.agent import Gateway
from tests.gateway.cloud import Watcher, publish_desired
from tests.gateway.conftest import HUB_ID, register_home
from tests.gateway.radio_home import RunningHome, running_home, stored_rows, until

NOW = datetime.now(UTC).replace(microsecond=0)
PLX = "00002a5e-0000-1000-8000-00805f9b34fb"
GLUCOSE_MEASUREMENT = "00002a18-0000-1000-8000-00805f9b34fb"


def bodies(gateway: Gateway, serial: str | None = None) -> list[dict[str, Any]]:
    out = [json.loads(p.body) for p in gateway.outbox.pending(limit=100_000)]
    out += _history(gateway)
    return [b for b in out if serial is None or b["device_serial"] == serial]


def _history(gateway: Gateway) -> list[dict[str, Any]]:
    # Acknowledged readings stay in the outbox as history; requeue nothing, just read them.
    conn = gateway.outbox._conn  # the test inspects the file it owns
    rows = conn.execute("SELECT body FROM readings WHERE acked_at IS NOT NULL").fetchall()
    return [json.loads(r[0]) for r in rows]


def sessions(gateway: Gateway, serial: str) -> int:
    return sum(1 for s, _ in gateway.devices.reports if s == serial)


async def start(home: RunningHome, port: int, topic_root: str, data_dir: Path, **extra: Any) -> Gateway:
    return await home.start_gateway(home.settings(port, topic_root, HUB_ID, data_dir, **extra), revisit_s=0.3)


def test_a_device_that_is_not_whitelisted_is_never_connected_and_reported_once(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(
        devices=(
            DeviceSpec("fingertip_oximeter", "OX-0001", "C0:DE:00:00:00:04", stored=1),
            DeviceSpec("fingertip_oximeter", "OX-NEIGHBOUR", "C0:DE:00:00:00:99", stored=2),
        )
    )
    ours = HomeSpec(devices=spec.devices[:1], time_zone=spec.time_zone, t0=spec.t0)
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(ours).to_json())
    watcher = Watcher(broker.port, topic_root, HUB_ID)

    async def scenario() -> None:
        async with running_home(spec) as home:
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub", gateway_scan_window_s=0.3)
            await until(lambda: sessions(gateway, "OX-0001") >= 1, "our oximeter's session")
            # Several scan windows, each seeing the neighbour advertise many times.
            await until(lambda: gateway.scanner.ignored >= 30, "the neighbour to be seen many times")
            await until(lambda: watcher.events("device_not_whitelisted"), "the report")
            assert home.peripherals["OX-NEIGHBOUR"].model._connections == 0
            assert home.peripherals["OX-NEIGHBOUR"].sent == []

    try:
        asyncio.run(scenario())
        reports = watcher.events("device_not_whitelisted")
        assert [(e["device_address"], e.get("device_serial")) for e in reports] == [("C0:DE:00:00:00:99", None)]
    finally:
        watcher.close()


def test_a_garbage_frame_is_reported_with_its_bytes_and_the_session_goes_on(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("fingertip_oximeter", "OX-0001", "C0:DE:00:00:00:04", stored=4),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    watcher = Watcher(broker.port, topic_root, HUB_ID)

    async def scenario() -> None:
        async with running_home(spec) as home:
            oximeter = home.peripherals["OX-0001"]
            oximeter.model.faults.force(Fault.TRUNCATED)  # the first frame on air is cut short
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub")
            await until(lambda: sessions(gateway, "OX-0001") >= 1, "the oximeter's session")
            await until(lambda: watcher.events("frame_rejected"), "the frame_rejected event")
            bad = [f for f in oximeter.sent if f.fault is not None]
            assert len(bad) == 1
            [event] = watcher.events("frame_rejected")
            assert (event["frame_hex"], event["characteristic"], event["device_serial"]) == (
                bad[0].data.hex(),
                PLX,
                "OX-0001",
            )
            assert event["detail"].startswith(("TruncatedFrame", "MissingField"))
            assert len(bodies(gateway, "OX-0001")) == 3  # the three intact records went on

    try:
        asyncio.run(scenario())
    finally:
        watcher.close()


def test_a_device_replaying_its_memory_on_every_connection_adds_no_rows(
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    ingest: IngestProcess,
    topic_root: str,
    tmp_path: Path,
) -> None:
    spec = HomeSpec(devices=(DeviceSpec("fingertip_oximeter", "OX-0001", "C0:DE:00:00:00:04", stored=3),))
    register_home(db, spec)
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    zone = spec.time_zone

    async def scenario() -> None:
        async with running_home(spec) as home:
            oximeter = home.peripherals["OX-0001"]
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub")
            for round_ in range(1, 4):
                await until(lambda r=round_: sessions(gateway, "OX-0001") >= r, f"session {round_}")  # type: ignore[misc]
                oximeter.model.faults.force(Fault.REPLAY)  # the next connection re-sends everything
                oximeter.model.measure(datetime.now(UTC) - timedelta(seconds=10 * (4 - round_)))
            await until(lambda: sessions(gateway, "OX-0001") >= 4, "the last session")
            await until(lambda: gateway.outbox.depth() == 0, "the acks")
            replayed = sum(r.duplicates for s, r in gateway.devices.reports if s == "OX-0001")
            assert replayed >= 3 + 4 + 5  # every replay came back and was recognised on the hub
            from zoneinfo import ZoneInfo

            assert sorted(stored_rows(db)) == sorted(home.frames.intended_rows(ZoneInfo(zone)))
            assert len(bodies(gateway, "OX-0001")) == 6

    asyncio.run(scenario())
    count, distinct = db.execute("SELECT count(*), count(DISTINCT reading_id) FROM readings").fetchone()  # type: ignore[misc]
    assert (count, distinct) == (6 * 2, 6)


def test_a_wrong_or_reset_device_clock_is_corrected_and_says_so(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    spec = HomeSpec(
        devices=(
            DeviceSpec("fingertip_oximeter", "OX-SLOW", "C0:DE:00:00:00:04", stored=3, clock_error_s=-7200),
            DeviceSpec("fingertip_oximeter", "OX-RESET", "C0:DE:00:00:00:05", stored=0),
        )
    )
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())
    t0 = datetime.fromisoformat(spec.t0)

    async def scenario() -> None:
        async with running_home(spec) as home:
            reset = home.peripherals["OX-RESET"].model
            reset.replace_battery(t0 - timedelta(hours=5))  # the clock restarts from its factory time
            true_times = [t0 - timedelta(minutes=m) for m in (40, 20)]
            for at in true_times:
                reset.measure(at)
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub")
            await until(lambda: sessions(gateway, "OX-SLOW") and sessions(gateway, "OX-RESET"), "both sessions")
            slow = bodies(gateway, "OX-SLOW")
            expected = [t0 - timedelta(minutes=20 * n) for n in (3, 2, 1)]
            assert [b["measured_at_source"] for b in slow] == ["device_clock_corrected"] * 3
            got = sorted(datetime.fromisoformat(b["measured_at"]) for b in slow)
            assert all(abs(g - e) < timedelta(seconds=2) for g, e in zip(got, expected, strict=True)), got
            after_reset = bodies(gateway, "OX-RESET")
            assert [b["measured_at_source"] for b in after_reset] == ["device_clock_corrected"] * 2
            got = sorted(datetime.fromisoformat(b["measured_at"]) for b in after_reset)
            assert all(abs(g - e) < timedelta(seconds=2) for g, e in zip(got, true_times, strict=True)), got
            # The hub wrote the clock: the next measurement carries a right stamp as sent.
            slow_model = home.peripherals["OX-SLOW"].model
            slow_model.measure(datetime.now(UTC))
            await until(lambda: len(bodies(gateway, "OX-SLOW")) == 4, "the fresh reading")
            fresh = bodies(gateway, "OX-SLOW")[-1]
            assert fresh["measured_at_source"] == "device_clock"

    asyncio.run(scenario())


def test_link_loss_mid_racp_download_resumes_after_the_last_stored_record(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    total = 150
    spec = HomeSpec(devices=(DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=total, open_link=True),))
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(spec).to_json())

    async def scenario() -> None:
        async with running_home(spec) as home:
            meter = home.peripherals["GL-0001"]
            budget = [40]  # records the device may still put on air before the fade
            transmit = meter.model.transmit

            def transmit_within_budget(at: datetime, max_frames: int | None = None) -> list[Any]:
                if budget[0] <= 0:
                    return []  # the device holds the rest: the pump idles until the link fades
                frames = list(transmit(at, max_frames))
                budget[0] -= sum(1 for f in frames if f.characteristic == GLUCOSE_MEASUREMENT)
                return frames

            meter.model.transmit = transmit_within_budget
            # A slow first retry leaves time to look at what the faded session left behind.
            gateway = await start(home, broker.port, topic_root, tmp_path / "hub", gateway_reconnect_min_s=3.0)
            await until(lambda: len(bodies(gateway, "GL-0001")) == 40, "40 records on the hub")
            await meter.link_loss()  # mid-report: the meter still has 110 records to send
            await until(lambda: gateway.devices.sessions_failed == 1, "the faded session to end")
            budget[0] = 10**9  # the radio is fine again
            held_at_loss = len(bodies(gateway, "GL-0001"))
            cursor_at_loss = gateway.outbox.racp_cursor("GL-0001")
            assert held_at_loss == 40
            assert cursor_at_loss == held_at_loss  # records 1..n committed with the cursor at n
            await until(lambda: len(bodies(gateway, "GL-0001")) >= total, "the rest of the records", 120)
            await until(lambda: any(r.racp_finished for s, r in gateway.devices.reports if s == "GL-0001"), "done")
            await asyncio.sleep(0.5)
            times = [b["measured_at"] for b in bodies(gateway, "GL-0001")]
            assert len(times) == len(set(times)) == total  # every record once
            assert gateway.outbox.racp_cursor("GL-0001") == max(
                f.intended.sequence_number for f in meter.sent if f.intended and f.intended.sequence_number is not None
            )
            resumed = [r for s, r in gateway.devices.reports if s == "GL-0001" and r.racp_finished]
            assert resumed[0].readings_added <= total - held_at_loss + 1  # not the whole memory again
            assert gateway.devices.sessions_failed == 1  # the faded session

    asyncio.run(scenario())
