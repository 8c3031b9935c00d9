"""The demo dashboard: one static page and its script, served by the API (no build step, no npm).

The page signs in through ``POST /auth/login``, lists the practice's patients with their latest
readings and the open alerts, and follows ``GET /alerts/stream`` (server-sent events, read with
``fetch`` because ``EventSource`` cannot send the bearer token), refreshing what an event touches.
It holds no data of its own: everything it shows comes from the API with the signed-in user's
permissions, practice isolation and audit. Metric names come from :data:`core.domain.METRICS`."""

from __future__ import annotations

import json
from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from core.domain import METRICS

# The script is a file of its own so the page can forbid inline scripts.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}


def build_router() -> APIRouter:
    """Reads the page and the script once, when the application is built."""
    here = files(__package__)
    metrics = {str(s.code): {"name": s.metric.name, "unit": s.canonical_unit.value} for s in METRICS.values()}
    # Embedded as data (never executed): "</" cannot close the element inside JSON strings here.
    page = (here / "index.html").read_text().replace("{{METRICS_JSON}}", json.dumps(metrics).replace("</", "<\\/"))
    script = (here / "dashboard.js").read_text()
    router = APIRouter(include_in_schema=False)  # a page for people, not an API operation

    @router.get("/dashboard")
    def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers=_HEADERS)

    @router.get("/dashboard/dashboard.js")
    def dashboard_script() -> Response:
        return Response(script, media_type="text/javascript", headers=_HEADERS)

    return router
