"""``carehub api`` — the practice-facing HTTP API (:mod:`api`), served by uvicorn.

Configuration from ``CAREHUB_*`` variables (:class:`api.settings.ApiSettings`); uvicorn turns SIGTERM
into a graceful shutdown (in-flight requests finish), after which the pool is closed."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import psycopg
import uvicorn
from pydantic import ValidationError

from api.app import create_app
from api.pool import open_pool
from api.settings import ApiSettings
from carehub.commands.ingest import stored_readings_hooks
from carehub.runtime import migrate_if_asked
from core.errors import CarehubError
from core.logs import configure_logging
from ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "api",
        help="serve the practice-facing HTTP API (patients, readings, alerts, hubs, users, audit)",
        description="Configuration comes from CAREHUB_* environment variables (see README).",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        for error in exc.errors():
            print(f"error: {error['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        migrate_if_asked(settings)
        pool = open_pool(settings)
    except CarehubError as exc:
        logger.exception("api cannot start", extra={"error": str(exc)})
        return 1
    try:
        app = create_app(settings, pool, reading_hooks=stored_readings_hooks(IngestSettings()))
        try:  # envelopes accepted but never processed (a crash between the commit and processing)
            app.state.webhooks.reprocess()
        except psycopg.Error:
            logger.exception("webhook envelopes could not be reprocessed at start; run carehub webhooks reprocess")
        config = uvicorn.Config(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,  # our JSON logging; uvicorn's own access log is replaced by api.access
            access_log=False,
            proxy_headers=False,
        )
        logger.info("api starting", extra={"host": settings.api_host, "port": settings.api_port})
        uvicorn.Server(config).run()
    finally:
        pool.close()
    return 0
