"""``carehub scheduler`` — time-driven alert rules and hub presence (see :mod:`alerts.scheduler` and
:mod:`alerts.presence`). Safe to run as several replicas."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from alerts.presence import PresenceConsumer
from alerts.scheduler import Scheduler
from alerts.settings import SchedulerSettings
from carehub.runtime import migrate_if_asked, stop_on_signals
from carehub.supervision import run_supervised
from core.db import connect
from core.errors import CarehubError
from core.health import HealthServer
from core.logs import configure_logging
from core.topics import Topics

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "scheduler",
        help="time-driven alerts (confirmations, escalation, adherence, devices, hubs) and hub presence",
        description="Configuration comes from CAREHUB_* environment variables (see README).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = SchedulerSettings()
    configure_logging(settings.log_level, settings.log_format)
    stop = stop_on_signals()
    registry = CollectorRegistry()
    counters = Counter("carehub_scheduler_total", "Scheduler outcomes", ["outcome"], registry=registry)
    consumer = PresenceConsumer(
        Topics(settings.mqtt_topic_root),
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        client_id=f"scheduler-{settings.scheduler_worker_id}",
        group=settings.scheduler_shared_group,
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        session_expiry_s=settings.scheduler_session_expiry_s,
    )
    health = HealthServer(settings.health_host, settings.health_port, registry, {"mqtt": consumer.ready.is_set})
    health.start()
    scheduler = Scheduler(escalate_after=timedelta(seconds=settings.scheduler_escalate_after_s))
    try:
        migrate_if_asked(settings)
        consumer.start()
        logger.info("scheduler starting", extra={"health_port": health.port})
        next_tick = [time.monotonic()]

        def work(healthy: Callable[[], None]) -> None:
            with connect(settings.database_url, application_name="carehub-scheduler", autocommit=True) as conn:
                while not stop.is_set():
                    if time.monotonic() >= next_tick[0]:
                        result = scheduler.tick(conn, datetime.now(UTC))
                        for name in ("confirmed", "escalated", "raised", "cleared"):
                            counters.labels(name).inc(getattr(result, name))
                        next_tick[0] = time.monotonic() + settings.scheduler_tick_s
                    wait_s = max(0.0, min(1.0, next_tick[0] - time.monotonic()))
                    counters.labels("presence_messages").inc(consumer.process(conn, datetime.now(UTC), wait_s))
                    healthy()

        run_supervised("scheduler", work, stop)
    except CarehubError as exc:
        logger.exception("scheduler cannot run", extra={"error": str(exc)})
        return 1
    finally:
        consumer.stop()
        health.stop()
    return 0
