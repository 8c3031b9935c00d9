"""The application factory: :func:`create_app` wires the domain routers, the alerts router, health,
metrics, problem details and access logs over a connection pool the entry point owns. Nothing is
created at import time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import ConnectionPool

from api.alerts_mount import mount_alerts
from api.audit.router import router as audit_router
from api.auth.passwords import Passwords
from api.auth.rate_limit import SlidingWindowLimiter
from api.auth.router import router as auth_router
from api.hubs.router import router as hubs_router
from api.observability import AccessLogMiddleware, ApiMetrics
from api.patients.router import router as patients_router
from api.permissions import public
from api.problems import PROBLEM_RESPONSES, install_problem_handlers
from api.readings.router import router as readings_router
from api.scope import ApiContext, Conn
from api.settings import ApiSettings
from api.users.router import router as users_router
from api.webhooks.router import router as webhooks_router
from api.webhooks.sealing import SecretBox
from api.webhooks.service import WebhookService
from ingest.hooks import StoredReadingsHook

logger = logging.getLogger(__name__)

API_VERSION = "0.1.0"
_READY_TIMEOUT_S = 2.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: ApiSettings,
    pool: ConnectionPool[Conn],
    *,
    clock: Callable[[], datetime] = _utc_now,
    registry: CollectorRegistry | None = None,
    passwords: Passwords | None = None,
    reading_hooks: Sequence[StoredReadingsHook] = (),
) -> FastAPI:
    """``reading_hooks`` run on readings the vendor webhooks store (the same ones ``carehub ingest`` runs)."""
    registry = registry or CollectorRegistry()
    app = FastAPI(
        title="carehub API",
        version=API_VERSION,
        summary="Remote patient monitoring for practices: patients, readings, alerts, hubs, staff, audit.",
        responses=PROBLEM_RESPONSES,
    )
    app.state.context = ApiContext(
        settings=settings,
        pool=pool,
        clock=clock,
        passwords=passwords or Passwords(),
        login_limiter=SlidingWindowLimiter(settings.api_login_rate_per_minute),
    )
    secret_key = settings.webhook_secret_key
    app.state.webhooks = WebhookService(
        settings, pool, clock, SecretBox(secret_key.get_secret_value() if secret_key else None), reading_hooks
    )
    install_problem_handlers(app)
    app.add_middleware(AccessLogMiddleware, metrics=ApiMetrics(registry))

    for router in (auth_router, patients_router, readings_router, hubs_router, users_router, audit_router):
        app.include_router(router)
    app.include_router(webhooks_router)
    mount_alerts(app, settings.database_url, clock)

    @app.get("/healthz", tags=["operations"], openapi_extra=public())
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], openapi_extra=public(), responses={503: {}})
    def readyz(request: Request) -> JSONResponse:
        database = _database_ready(pool)
        body = {"status": "ready" if database else "not_ready", "checks": {"database": database}}
        return JSONResponse(body, status_code=200 if database else 503)

    @app.get("/metrics", tags=["operations"], openapi_extra=public(), response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _database_ready(pool: ConnectionPool[Conn]) -> bool:
    try:
        with pool.connection(timeout=_READY_TIMEOUT_S) as conn:
            conn.execute("SELECT 1 FROM schema_migrations LIMIT 1")
    except Exception:  # any failure means "not ready"; the probe must answer, not crash
        logger.warning("readiness: database check failed", exc_info=True)
        return False
    return True
