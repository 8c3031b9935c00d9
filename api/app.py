"""The application factory: :func:`create_app` wires the domain routers, the alerts router, health,
metrics, problem details and access logs over a connection pool the entry point owns. Nothing is
created at import time."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import ConnectionPool

from api.alerts_mount import mount_alerts
from api.audit.router import router as audit_router
from api.auth.passwords import Passwords
from api.auth.rate_limit import SlidingWindowLimiter
from api.auth.router import router as auth_router
from api.billing.router import router as billing_router
from api.care_time.router import router as care_time_router
from api.dashboard import build_router as build_dashboard_router
from api.devices.router import router as devices_router
from api.enrollment.router import router as enrollment_router
from api.fhir.outcomes import install_operation_outcomes
from api.fhir.router import router as fhir_router
from api.hubs.router import router as hubs_router
from api.observability import AccessLogMiddleware, ApiMetrics
from api.patients.router import router as patients_router
from api.permissions import public
from api.problems import PROBLEM_RESPONSES, install_problem_handlers
from api.readiness import Readiness, ReadinessOut, broker_ready, database_ready
from api.readings.router import router as readings_router
from api.scope import ApiContext, Conn
from api.settings import ApiSettings
from api.shipments.router import router as shipments_router
from api.users.router import router as users_router
from api.webhooks.router import router as webhooks_router
from api.webhooks.sealing import SecretBox
from api.webhooks.service import WebhookService
from ingest.hooks import StoredReadingsHook

logger = logging.getLogger(__name__)

API_VERSION = "0.1.0"


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
    install_operation_outcomes(app)
    app.add_middleware(AccessLogMiddleware, metrics=ApiMetrics(registry))

    for router in (
        auth_router,
        patients_router,
        readings_router,
        hubs_router,
        users_router,
        audit_router,
        enrollment_router,
        devices_router,
        shipments_router,
        care_time_router,
        billing_router,
    ):
        app.include_router(router)
    app.include_router(fhir_router)
    app.include_router(webhooks_router)
    mount_alerts(app, settings.database_url, pool, clock)
    app.include_router(build_dashboard_router())

    @app.get("/healthz", tags=["operations"], openapi_extra=public())
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    readiness = Readiness(
        {"database": lambda: database_ready(pool), "broker": lambda: broker_ready(settings)},
        cache_s=settings.api_readiness_cache_s,
    )

    @app.get(
        "/readyz",
        tags=["operations"],
        openapi_extra=public(),
        responses={503: {"model": ReadinessOut, "description": "A dependency is not ready (see `checks`)."}},
    )
    def readyz(response: Response) -> ReadinessOut:
        verdict = readiness.verdict()
        response.status_code = 200 if verdict.ready else 503
        return ReadinessOut(status="ready" if verdict.ready else "not_ready", checks=verdict.checks)

    @app.get("/metrics", tags=["operations"], openapi_extra=public(), response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
