"""``carehub demo`` — the whole system on embedded defaults (see :mod:`carehub.demo`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.logs import configure_logging


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole system locally: private database and broker, ingest, simulated hubs",
        description="Needs nothing configured. Uses CAREHUB_DATABASE_URL when set; Mosquitto from PATH "
        "when present, else an in-process broker. Ctrl-C stops everything cleanly.",
    )
    parser.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    parser.add_argument("--hubs", type=int, default=25, metavar="N", help="simulated homes (default 25)")
    parser.add_argument("--rate", type=float, default=20.0, metavar="R", help="readings per second, fleet-wide")
    parser.add_argument("--workers", type=int, default=2, metavar="W", help="ingest worker processes")
    parser.add_argument("--broker", choices=("auto", "mosquitto", "amqtt"), default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--ble-homes",
        type=int,
        default=3,
        metavar="H",
        help="homes with real gateways on the virtual BLE radio (default 3; needs mosquitto)",
    )
    parser.add_argument(
        "--api-port", type=int, default=8000, metavar="P", help="API and dashboard port (default 8000; 0: any free)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from carehub.demo import DemoOptions, run_demo  # the simulator and brokers load only for the demo

    configure_logging("WARNING", "text")
    summary = run_demo(
        DemoOptions(
            hubs=args.hubs,
            readings_per_s=args.rate,
            workers=args.workers,
            duration_s=args.duration,
            broker=args.broker,
            seed=args.seed,
            radio_homes=args.ble_homes,
            api_port=args.api_port,
        )
    )
    print(json.dumps(summary), flush=True)
    return 0
