"""The outbox → publisher → MQTT session path against real Mosquitto, a real ingest worker and
PostgreSQL: every reading arrives once, leaves the outbox only when acknowledged, survives a broker
outage, is resent when its ack never comes; desired config, reported config and commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from carehub.local_services import IngestProcess, MosquittoBroker
from core.hub_messages import HubConfig, HubState
from core.topics import HubTopic
from gateway.agent import Gateway
from gateway.outbox import OutboxReading
from gateway.settings import GatewaySettings
from tests.gateway.cloud import Watcher
from tests.gateway.conftest import HUB_ID, Home, bp_outbox_reading

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def settings_for(port: int, topic_root: str, data_dir: Path, **extra: Any) -> GatewaySettings:
    return GatewaySettings(
        mqtt_port=port,
        mqtt_username=HUB_ID,
        mqtt_topic_root=topic_root,
        mqtt_reconnect_min_s=0.1,
        mqtt_reconnect_max_s=0.5,
        gateway_data_dir=data_dir,
        **extra,
    )


def readings(n: int, start: int = 0) -> list[OutboxReading]:
    return [
        bp_outbox_reading("BP-0001", T0 + timedelta(minutes=i), 100 + i % 60, 60 + i % 30, 50 + i % 40)
        for i in range(start, start + n)
    ]


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def stored(db: psycopg.Connection[tuple[Any, ...]]) -> dict[str, dict[int, float]]:
    rows = db.execute("SELECT reading_id::text, metric, value FROM readings").fetchall()
    out: dict[str, dict[int, float]] = {}
    for rid, metric, value in rows:
        out.setdefault(rid, {})[metric] = value
    return out


def expected(rs: list[OutboxReading]) -> dict[str, dict[int, float]]:
    from core.domain import METRICS, Metric

    out: dict[str, dict[int, float]] = {}
    for r in rs:
        body = json.loads(r.body)
        out[body["reading_id"]] = {METRICS[Metric(o["code"])].code: o["value"] for o in body["observations"]}
    return out


async def run_link(gateway: Gateway, body: Callable[[], Awaitable[None]]) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.link.run(stop))
    try:
        await body()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        gateway.outbox.close()


def test_readings_arrive_once_and_leave_the_outbox_on_ack(
    home: Home,
    db: psycopg.Connection[tuple[Any, ...]],
    broker: MosquittoBroker,
    ingest: IngestProcess,
    topic_root: str,
    tmp_path: Path,
) -> None:
    gateway = Gateway.from_settings(settings_for(broker.port, topic_root, tmp_path))
    rs = readings(120)

    async def body() -> None:
        await asyncio.to_thread(gateway.outbox.add, rs, now=T0)
        gateway.publisher.kick()
        await until(lambda: asyncio.to_thread(lambda: gateway.outbox.depth() == 0), "the outbox to drain")

    asyncio.run(run_link(gateway, body))
    assert stored(db) == expected(rs)
    assert gateway.publisher.stats.acknowledged == 120
    assert gateway.publisher.stats.batches_published >= 3  # max 50 per batch


def test_a_broker_outage_piles_readings_up_and_all_arrive_later_none_twice(
    home: Home,
    db: psycopg.Connection[tuple[Any, ...]],
    database_url: str,
    private_broker: Callable[..., MosquittoBroker],
    topic_root: str,
    tmp_path: Path,
) -> None:
    own = private_broker()
    worker = IngestProcess.start(
        name="gw-outage",
        database_url=database_url,
        mqtt_port=own.port,
        workdir=tmp_path / "ingest",
        topic_root=topic_root,
        shared_group=None,
    )
    worker.wait_ready(60)
    gateway = Gateway.from_settings(settings_for(own.port, topic_root, tmp_path / "hub"))
    first, during = readings(30), readings(40, start=30)

    async def body() -> None:
        await gateway.link.connected.wait()
        await asyncio.to_thread(gateway.outbox.add, first, now=T0)
        gateway.publisher.kick()
        await until(lambda: asyncio.to_thread(lambda: gateway.outbox.depth() == 0), "the first readings")
        await asyncio.to_thread(own.stop)
        await until(lambda: asyncio.to_thread(lambda: not gateway.link.connected.is_set()), "the link to drop")
        await asyncio.to_thread(gateway.outbox.add, during, now=T0)
        gateway.publisher.kick()
        assert await asyncio.to_thread(gateway.outbox.depth) == 40  # held on the hub's disk meanwhile
        await asyncio.to_thread(own.start)
        await until(lambda: asyncio.to_thread(lambda: gateway.outbox.depth() == 0), "the backlog", 90)

    try:
        asyncio.run(run_link(gateway, body))
    finally:
        worker.stop()
    assert stored(db) == expected(first + during)
    assert db.execute("SELECT count(*) FROM readings").fetchone() == (70 * 3,)
    assert gateway.link.connects >= 2


def test_a_batch_whose_ack_never_comes_is_resent(
    home: Home,
    db: psycopg.Connection[tuple[Any, ...]],
    database_url: str,
    broker: MosquittoBroker,
    topic_root: str,
    tmp_path: Path,
) -> None:
    gateway = Gateway.from_settings(settings_for(broker.port, topic_root, tmp_path / "hub", gateway_ack_timeout_s=1.0))
    rs = readings(10)
    holder: dict[str, IngestProcess] = {}

    async def body() -> None:
        await gateway.link.connected.wait()
        await asyncio.to_thread(gateway.outbox.add, rs, now=T0)
        gateway.publisher.kick()
        # Nobody is subscribed yet: the first publish reaches no ingest worker and is never acked.
        await until(lambda: asyncio.to_thread(lambda: gateway.publisher.stats.batches_published >= 1), "a publish")
        holder["worker"] = await asyncio.to_thread(
            IngestProcess.start,
            name="gw-late",
            database_url=database_url,
            mqtt_port=broker.port,
            workdir=tmp_path / "ingest",
            topic_root=topic_root,
            shared_group=None,
        )
        await asyncio.to_thread(holder["worker"].wait_ready, 60)
        await until(lambda: asyncio.to_thread(lambda: gateway.outbox.depth() == 0), "the resend to be acked")

    try:
        asyncio.run(run_link(gateway, body))
    finally:
        if "worker" in holder:
            holder["worker"].stop()
    assert gateway.publisher.stats.resent_batches >= 1
    assert stored(db) == expected(rs)


def config(version: int) -> bytes:
    return HubConfig.model_validate(
        {
            "version": version,
            "issued_at": T0.isoformat(),
            "whitelist": [
                {"serial": "BP-0001", "kind": "bp_cuff", "address": "C0:DE:00:00:00:01", "assignment": "as-1"}
            ],
        }
    ).to_json()


def test_desired_config_is_applied_once_reported_and_commands_run_once(
    broker: MosquittoBroker, topic_root: str, tmp_path: Path
) -> None:
    watcher = Watcher(broker.port, topic_root, HUB_ID)
    gateway = Gateway.from_settings(settings_for(broker.port, topic_root, tmp_path / "hub"))
    rs = readings(3)
    gateway.outbox.add(rs, now=T0)
    gateway.outbox.acknowledge([r.reading_id for r in rs], now=T0)
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    resend = json.dumps(
        {
            "cmd_id": "c-1",
            "type": "resend_since",
            "issued_at": T0.isoformat(),
            "expires_at": expires,
            "since": (T0 + timedelta(minutes=1)).isoformat(),
        }
    ).encode()
    stale = json.dumps(
        {"cmd_id": "c-2", "type": "rebirth", "issued_at": T0.isoformat(), "expires_at": T0.isoformat()}
    ).encode()

    async def body() -> None:
        await gateway.link.connected.wait()
        watcher.publish(HubTopic.CONFIG_DESIRED, config(3), retain=True)
        await until(lambda: asyncio.sleep(0, gateway.keeper.version == 3), "config v3")
        watcher.publish(HubTopic.CONFIG_DESIRED, config(2), retain=True)  # older: ignored
        watcher.publish(HubTopic.CONFIG_DESIRED, b'{"version": "x"}', retain=True)  # invalid: refused
        watcher.publish(HubTopic.COMMAND, resend)
        watcher.publish(HubTopic.COMMAND, resend)  # redelivered: runs once, result repeated
        watcher.publish(HubTopic.COMMAND, stale)
        await until(lambda: asyncio.sleep(0, len(watcher.of(HubTopic.COMMAND_RESULT)) == 3), "3 results")
        await until(
            lambda: asyncio.sleep(
                0, any(e["type"] == "config_rejected" for m in watcher.of(HubTopic.EVENTS) for e in m["events"])
            ),
            "event",
        )

    try:
        asyncio.run(run_link(gateway, body))
    finally:
        watcher.publish(HubTopic.CONFIG_DESIRED, b"", retain=True)
        watcher.close()
    results = watcher.of(HubTopic.COMMAND_RESULT)
    assert [(r["cmd_id"], r["result"]) for r in results] == [("c-1", "ok"), ("c-1", "ok"), ("c-2", "expired")]
    assert results[0] == results[1]
    reported = watcher.of(HubTopic.CONFIG_REPORTED)
    assert reported[0]["version"] == 0
    assert reported[-1]["version"] == 3
    assert any(r["errors"] for r in reported)  # the invalid one was reported
    statuses = watcher.of(HubTopic.STATUS)
    assert [s["state"] for s in statuses] == [HubState.ONLINE.value, HubState.OFFLINE.value]
    assert statuses[0]["session"] == statuses[1]["session"] == 1
    reopened = Gateway.from_settings(settings_for(broker.port, topic_root, tmp_path / "hub"))
    assert reopened.keeper.version == 3  # the applied config survives a restart
    assert [p.reading_id for p in reopened.outbox.pending(limit=10)] == [r.reading_id for r in rs[1:]]
