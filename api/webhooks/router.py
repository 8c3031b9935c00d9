"""``POST /webhooks/{vendor}`` for cellular vendors' readings and carriers' tracking events
(:mod:`api.webhooks.carriers`): not user-authenticated (``public`` in the permission sense; the vendor
authenticates with its own scheme, see :mod:`api.webhooks.authentication`). Thin: the raw bytes are
read here under the size limit and handed to :class:`api.webhooks.service.WebhookService`.

Answers: 200 processed (with counts), 202 stored and queued, 401 refused, 409 replayed, 413 too
large (not stored), 422 stored but nothing in it decodes (dead-lettered; a resend would not help),
404 unknown vendor, 503 the envelope could not be stored (nothing acknowledged: retry)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.permissions import public
from api.problems import problem_response
from api.scope import client_address
from api.webhooks.authentication import QUERY_TOKEN
from api.webhooks.carriers import CARRIERS
from api.webhooks.service import EnvelopeNotStored, Status, WebhookService
from drivers.vendors import VENDORS

router = APIRouter(tags=["webhooks"])

SOURCES = frozenset(VENDORS) | CARRIERS
"""Cellular vendors (readings) and carriers (tracking events)."""


class WebhookReceipt(BaseModel):
    envelope_id: int
    status: str
    readings_stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    not_readings: dict[str, int] = {}
    carrier_events: dict[str, int] = {}


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/webhooks/{vendor}",
    openapi_extra=public(),
    response_model=WebhookReceipt,
    responses={202: {"model": WebhookReceipt}, 401: {}, 404: {}, 409: {}, 413: {}, 422: {}, 503: {}},
    summary="Receive a cellular vendor's or a carrier's webhook (raw body stored first, then authenticated, applied)",
)
async def receive_webhook(
    vendor: Annotated[str, Path(max_length=40, description=f"one of {', '.join(sorted(SOURCES))}")],
    request: Request,
) -> Any:
    service: WebhookService = request.app.state.webhooks
    if vendor not in SOURCES:
        return problem_response(request, 404, "no such vendor")
    try:
        body = await _read_body(request, service.settings.webhook_max_body_bytes)
    except _TooLarge:
        return problem_response(
            request, 413, f"the body exceeds {service.settings.webhook_max_body_bytes} bytes and was not stored"
        )
    headers = {name.lower(): value for name, value in request.headers.items()}
    token = request.query_params.get("token")
    if token is not None:
        headers[QUERY_TOKEN] = token
    try:
        receipt = await run_in_threadpool(service.receive, vendor, headers, body, client_address(request))
    except EnvelopeNotStored:
        return problem_response(request, 503, "the request could not be stored; retry", headers={"Retry-After": "30"})
    if receipt.status is Status.REFUSED:
        return problem_response(request, 401, receipt.detail)
    if receipt.status is Status.REPLAYED:
        return problem_response(request, 409, receipt.detail)
    if receipt.status is Status.UNDECODABLE:
        return problem_response(request, 422, f"stored as envelope {receipt.envelope_id}; nothing in it decodes")
    body_out = WebhookReceipt(envelope_id=receipt.envelope_id, status=receipt.status.value)
    if receipt.outcome is not None:
        body_out.readings_stored = receipt.outcome.readings_stored
        body_out.duplicates = receipt.outcome.duplicates
        body_out.rejected = receipt.outcome.rejected
        body_out.not_readings = receipt.outcome.not_readings
        body_out.carrier_events = receipt.outcome.carrier_events
    return JSONResponse(body_out.model_dump(), status_code=202 if receipt.status is Status.QUEUED else 200)
