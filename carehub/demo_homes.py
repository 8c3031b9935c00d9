"""Simulated homes with real gateways for ``carehub demo``: each home is a virtual BLE radio with a
cuff, a glucometer, a scale and an oximeter (firmware_sim models), and a real :class:`gateway.agent.Gateway`
on that radio's bleak backends, so a demo reading travels the same path as in a patient's home:
device → GATT → gateway outbox → MQTT → ingest → PostgreSQL, and back as an ack.

The desired configuration (the whitelist) is published retained as provisioning publishes it, with
the provisioning service's own broker identity."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from uuid import UUID

import aiomqtt
import psycopg
from pydantic import SecretStr

from carehub.simulated_home import (
    HomeSpec,
    build_model,
    demo_home,
    desired_config,
    measure_now_and_then,
    register_home,
    utc_now,
)
from core.topics import HubTopic, Topics
from firmware_sim.radio import VirtualRadio
from gateway.agent import Gateway
from gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)

PROVISIONING_USERNAME = "carehub-provisioning"


@dataclass(frozen=True, slots=True)
class RadioHome:
    hub_id: str
    spec: HomeSpec
    password: str


def enrol_radio_homes(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    practice_id: UUID,
    count: int,
    passwords: list[str],
    assigned_from: datetime,
    seed: int,
) -> list[RadioHome]:
    homes = []
    for index in range(count):
        hub_id = f"hub-radio-{index + 1:04d}"
        spec = demo_home(index + 1, seed=seed)
        register_home(
            conn,
            spec,
            practice_id=practice_id,
            hub_id=hub_id,
            mrn=f"DEMO-R{index + 1:04d}",
            assigned_from=assigned_from,
        )
        homes.append(RadioHome(hub_id, spec, passwords[index]))
    return homes


@dataclass
class RadioHomes:
    """The running homes; counters for the demo's progress line."""

    homes: list[RadioHome]
    gateways: list[Gateway] = field(default_factory=list)
    settings_overrides: dict[str, object] = field(default_factory=dict)
    """Extra GatewaySettings fields for every gateway (the benchmark shortens scan and idle times)."""
    running: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when every home is built and its gateway started."""

    def acknowledged(self) -> int:
        return sum(g.publisher.stats.acknowledged for g in self.gateways)

    def sessions(self) -> int:
        return sum(len(g.devices.reports) for g in self.gateways)

    async def publish_desired(self, port: int, password: str, topic_root: str) -> None:
        topics = Topics(topic_root)
        async with aiomqtt.Client("127.0.0.1", port, username=PROVISIONING_USERNAME, password=password) as client:
            for home in self.homes:
                config = desired_config(home.spec).to_json()
                await client.publish(topics.hub(home.hub_id, HubTopic.CONFIG_DESIRED), config, qos=1, retain=True)

    async def run(self, *, port: int, topic_root: str, workdir: Path, stop: asyncio.Event) -> None:
        """Build every home (radio, devices, gateway with its outbox) first, then start them all at
        once (``running`` is set then): building 50 radios takes tens of seconds on a loaded machine,
        and a home built early must not run while the others are still being built."""
        async with contextlib.AsyncExitStack() as stack:
            starts = []
            for home in self.homes:
                radio = await stack.enter_async_context(VirtualRadio())
                peripherals = [
                    await radio.add_peripheral(build_model(home.spec, d), address=d.address, clock=utc_now)
                    for d in home.spec.devices
                ]
                values: dict[str, object] = {
                    "mqtt_port": port,
                    "mqtt_username": home.hub_id,
                    "mqtt_password": SecretStr(home.password),
                    "mqtt_topic_root": topic_root,
                    "gateway_data_dir": workdir / "gateways" / home.hub_id,
                    "gateway_timezone": home.spec.time_zone,
                    "gateway_ack_timeout_s": 10.0,
                }
                values.update(self.settings_overrides)
                settings = GatewaySettings(**values)  # type: ignore[arg-type]
                gateway = Gateway.from_settings(settings, backends=radio.backends())
                self.gateways.append(gateway)
                starts.append((home, gateway, peripherals))
            tasks = []
            for home, gateway, peripherals in starts:
                tasks.append(asyncio.create_task(gateway.run(stop), name=f"gateway-{home.hub_id}"))
                life = measure_now_and_then(peripherals, home.spec, utc_now, stop)
                tasks.append(asyncio.create_task(life, name=f"life-{home.hub_id}"))
            self.running.set()
            await asyncio.gather(*tasks)
