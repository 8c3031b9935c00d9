"""``carehub ingest`` — run one ingest worker (see :mod:`ingest.service`)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from carehub.runtime import migrate_if_asked, stop_on_signals, tune_gc_for_throughput
from core.errors import CarehubError
from core.logs import configure_logging
from ingest.hooks import StoredReadingsHook
from ingest.service import IngestService
from ingest.settings import IngestSettings
from provisioning.activation import ActivationHook

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="run an ingest worker: MQTT readings -> PostgreSQL, exactly once",
        description="Configuration comes from CAREHUB_* environment variables (see README).",
    )
    parser.set_defaults(handler=run)


def stored_readings_hooks(settings: IngestSettings) -> list[StoredReadingsHook]:
    """The work each ingest transaction does for the readings it stored, in the order it runs
    (see :mod:`ingest.hooks`). Alert evaluation and device activation register here."""
    return [ActivationHook()]


def run(args: argparse.Namespace) -> int:
    settings = IngestSettings()
    configure_logging(settings.log_level, settings.log_format)
    stop = stop_on_signals()
    try:
        migrate_if_asked(settings)
        service = IngestService(settings, hooks=stored_readings_hooks(settings))
        tune_gc_for_throughput()
        service.run(stop)
    except CarehubError as exc:
        logger.exception("ingest cannot run", extra={"error": str(exc)})
        return 1
    return 0
