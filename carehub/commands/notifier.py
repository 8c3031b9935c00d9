"""``carehub notifier`` — deliver the alert outbox (see :mod:`alerts.notifier`)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter

from alerts.notifier import Notifier
from alerts.settings import NotifierSettings
from carehub.runtime import migrate_if_asked, stop_on_signals
from carehub.supervision import run_supervised
from core.db import connect
from core.errors import CarehubError
from core.health import HealthServer
from core.logs import configure_logging

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "notifier",
        help="deliver alert notifications (signed webhooks, email) from the outbox, with retries",
        description="Configuration comes from CAREHUB_* environment variables (see README).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = NotifierSettings()
    configure_logging(settings.log_level, settings.log_format)
    stop = stop_on_signals()
    registry = CollectorRegistry()
    outcomes = Counter(
        "carehub_notifications_total", "Notification attempts by outcome", ["outcome"], registry=registry
    )
    state = {"database": False}
    health = HealthServer(settings.health_host, settings.health_port, registry, {"database": lambda: state["database"]})
    health.start()
    logger.info("notifier starting", extra={"health_port": health.port})
    try:
        migrate_if_asked(settings)

        def deliver(healthy: Callable[[], None]) -> None:
            with (
                connect(settings.database_url, application_name="carehub-notifier", autocommit=True) as conn,
                httpx.Client(timeout=settings.notifier_http_timeout_s) as http,
            ):
                state["database"] = True
                notifier = Notifier(settings, http)
                try:
                    while not stop.is_set():
                        result = notifier.deliver_due(conn, datetime.now(UTC))
                        healthy()
                        outcomes.labels("delivered").inc(result.delivered)
                        outcomes.labels("retried").inc(result.retried)
                        outcomes.labels("dead").inc(result.dead)
                        if result.delivered + result.retried + result.dead < settings.notifier_batch_rows:
                            stop.wait(settings.notifier_poll_interval_s)
                finally:
                    state["database"] = False

        run_supervised("notifier", deliver, stop)
    except CarehubError as exc:
        logger.exception("notifier cannot run", extra={"error": str(exc)})
        return 1
    finally:
        health.stop()
    return 0
