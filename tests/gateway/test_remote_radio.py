"""The gateway on the virtual radio across a Unix socket (firmware_sim.remote_radio), as the memory
benchmark runs it with the radio in another process: bonding (Just Works and passkey), notifications,
indications, RACP and the device dropping the link all cross the RPC, and the outbox gets every record."""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from carehub.local_services import MosquittoBroker
from carehub.simulated_home import DeviceSpec, HomeSpec, desired_config
from firmware_sim.remote_radio import RadioLink, RadioServer
from gateway.agent import Gateway
from tests.gateway.cloud import publish_desired
from tests.gateway.conftest import HUB_ID
from tests.gateway.radio_home import running_home, until

HOME = HomeSpec(
    devices=(
        DeviceSpec("and_ua651ble", "BP-0001", "C0:DE:00:00:00:01", stored=4, seed=11),
        DeviceSpec("contour", "GL-0001", "C0:DE:00:00:00:02", stored=9, seed=12),
        DeviceSpec("accu_chek", "92345678", "C0:DE:00:00:00:21", stored=3, seed=13),
        DeviceSpec("fingertip_oximeter", "OX-0001", "C0:DE:00:00:00:04", stored=2, seed=14),
    )
)


def test_a_gateway_reads_a_home_through_the_remote_radio(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    publish_desired(broker.port, topic_root, HUB_ID, desired_config(HOME).to_json())

    async def scenario() -> None:
        async with running_home(HOME) as home:
            stop = asyncio.Event()
            with tempfile.TemporaryDirectory(prefix="radio-") as directory:  # short: a socket path is <= 107 bytes
                socket = Path(directory) / "radio.sock"
                server = asyncio.create_task(RadioServer(home.radio.backends()).serve(socket, stop))
                await until(socket.exists, "the radio socket")
                link = await RadioLink.open(socket)
                try:
                    settings = home.settings(broker.port, topic_root, HUB_ID, tmp_path / "hub")
                    gateway = Gateway.from_settings(settings, backends=link.backends())
                    await home.run_gateway(gateway, revisit_s=3600.0)
                    serials = {d.serial for d in HOME.devices}
                    await until(lambda: {s for s, _ in gateway.devices.reports} == serials, "every device served")
                    expected = {d.serial: d.stored for d in HOME.devices}

                    def per_device() -> dict[str, int]:
                        counts: dict[str, int] = {}
                        for (body,) in gateway.outbox._conn.execute("SELECT body FROM readings").fetchall():
                            serial = json.loads(body)["device_serial"]
                            counts[serial] = counts.get(serial, 0) + 1
                        return counts

                    await until(lambda: per_device() == expected, "every stored record in the outbox")
                    storable = {
                        s: sum(1 for f in p.sent if f.intended and f.intended.final and f.fault is None)
                        for s, p in home.peripherals.items()
                    }
                    assert all(expected[s] <= storable[s] for s in serials)
                    assert home.peripherals["92345678"].model.bonds  # passkey bond through the remote agent
                    assert gateway.devices.sessions_failed == 0
                finally:
                    await home.stop_gateway()
                    await link.close()
                    stop.set()
                    await server

    asyncio.run(scenario())
