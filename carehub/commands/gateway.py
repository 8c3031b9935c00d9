"""``carehub gateway run`` — the hub agent (see :mod:`gateway.agent`).

On a hub the BLE backend is bleak's default (BlueZ). ``--simulated-home`` (demo and tests) serves a
simulated home's devices on the virtual BLE radio inside this process instead; the gateway code is
the same either way."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

from core.errors import CarehubError
from core.health import HealthServer
from core.logs import configure_logging
from gateway.agent import Gateway
from gateway.metrics import gateway_registry
from gateway.settings import GatewaySettings

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="the hub agent: BLE devices -> durable outbox -> MQTT",
        description="Configuration comes from CAREHUB_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="gateway_command", metavar="ACTION", required=True)
    run_parser = commands.add_parser("run", help="run the agent until SIGTERM")
    run_parser.add_argument(
        "--simulated-home",
        type=Path,
        default=None,
        metavar="SPEC.json",
        help="demo/tests: serve this simulated home on the virtual BLE radio instead of the Bluetooth adapter",
    )
    run_parser.add_argument(
        "--radio-socket",
        type=Path,
        default=None,
        metavar="PATH",
        help="tests/benchmarks: use the virtual radio served by 'carehub gateway radio' on this Unix socket",
    )
    run_parser.set_defaults(handler=run)
    radio_parser = commands.add_parser(
        "radio", help="tests/benchmarks: serve a simulated home's radio to a gateway in another process"
    )
    radio_parser.add_argument("--simulated-home", type=Path, required=True, metavar="SPEC.json")
    radio_parser.add_argument("--socket", type=Path, required=True, metavar="PATH")
    radio_parser.set_defaults(handler=radio)


async def _serve(settings: GatewaySettings, simulated_home: Path | None, radio_socket: Path | None = None) -> None:
    stop = _stop_on_signals()
    if radio_socket is not None:
        from firmware_sim.remote_radio import RadioLink  # a small RPC client: no bumble in this process

        link = await RadioLink.open(radio_socket)
        try:
            await _run_gateway(settings, link.backends(), stop)
        finally:
            await link.close()
        return
    if simulated_home is None:
        await _run_gateway(settings, None, stop)
        return
    from carehub.simulated_home import serve_simulated_home  # device models load only for simulated homes

    await serve_simulated_home(settings, simulated_home, stop, _run_gateway)


async def _run_gateway(settings: GatewaySettings, backends: Any, stop: asyncio.Event) -> None:
    gateway = Gateway.from_settings(settings, backends=backends)
    health = HealthServer(
        settings.health_host,
        settings.health_port,
        gateway_registry(gateway),
        gateway.readiness,
    )
    health.start()
    logger.info("gateway running", extra={"hub_id": settings.hub_id(), "health_port": health.port})
    try:
        await gateway.run(stop)
    finally:
        health.stop()
        logger.info("gateway stopped", extra={"hub_id": settings.hub_id()})


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop


def radio(args: argparse.Namespace) -> int:
    from carehub.simulated_home import serve_radio

    async def serve() -> None:
        await serve_radio(args.simulated_home, args.socket, _stop_on_signals())

    asyncio.run(serve())
    return 0


def run(args: argparse.Namespace) -> int:
    settings = GatewaySettings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(_serve(settings, args.simulated_home, args.radio_socket))
    except CarehubError as exc:
        logger.exception("gateway cannot run", extra={"error": str(exc)})
        return 1
    return 0
