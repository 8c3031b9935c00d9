"""The API's connection pool (opened by the entry point, passed to :func:`api.app.create_app`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from api.settings import ApiSettings
from core.db import DatabaseUnavailable


def open_pool(settings: ApiSettings) -> ConnectionPool[psycopg.Connection[tuple[Any, ...]]]:
    """A pool with carehub's session settings (UTC, statement timeout), opened and warmed up."""
    options = f"-c TimeZone=UTC -c statement_timeout={int(settings.db_statement_timeout_s * 1000)}"
    pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
        settings.database_url,
        min_size=settings.api_pool_min_size,
        max_size=max(settings.api_pool_min_size, settings.api_pool_max_size),
        kwargs={
            "application_name": "carehub-api",
            "options": options,
            "connect_timeout": max(1, round(settings.db_connect_timeout_s)),
        },
        open=False,
        name="carehub-api",
    )
    pool.open()
    try:
        pool.wait(timeout=settings.db_connect_timeout_s * 2)
    except Exception as exc:
        pool.close()
        raise DatabaseUnavailable(f"the API cannot connect to the database: {exc}") from exc
    return pool
