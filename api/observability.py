"""Access logs and Prometheus metrics for the API, as a plain ASGI middleware (it does not buffer
streamed responses such as the alert stream).

The access log carries the method, the route *template* (``/patients/{patient_id}``), the status and
the duration: never a query string (it can hold a name or an MRN filter) nor a body."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("api.access")

_UNMATCHED = "<unmatched>"


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "carehub_api_requests_total",
            "API requests by route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "carehub_api_request_duration_seconds",
            "API request duration until the response started",
            ["method", "route"],
            registry=registry,
        )


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500, "elapsed_s": 0.0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["elapsed_s"] = time.perf_counter() - started
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = str(getattr(route, "path", _UNMATCHED))
            method = str(scope.get("method", ""))
            elapsed_s = float(status["elapsed_s"]) or time.perf_counter() - started
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.duration.labels(method, template).observe(elapsed_s)
            client = scope.get("client")
            logger.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status["code"],
                    "duration_ms": round(elapsed_s * 1000, 2),
                    "client": client[0] if client else None,
                },
            )
