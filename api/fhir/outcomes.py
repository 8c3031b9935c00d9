"""Errors on ``/fhir`` routes as FHIR OperationOutcome resources (``application/fhir+json``), which is
what EHR clients parse; every other route keeps RFC 9457 problem details. The app's problem handlers
stay in charge of non-FHIR paths: these wrap them and answer only for ``/fhir``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.fhir.resources import operation_outcome

logger = logging.getLogger(__name__)

FHIR_JSON: Final = "application/fhir+json"
PREFIX: Final = "/fhir"

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

_ISSUE_CODES: Final = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    422: "invalid",
    429: "throttled",
    500: "exception",
}


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


class FhirError(HTTPException):
    """An error with its OperationOutcome issue type (``not-found``, ``invalid``, ``not-supported``)."""

    def __init__(self, status_code: int, detail: str, issue_code: str) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.issue_code = issue_code


def outcome_response(
    status: int, detail: str, issue_code: str | None = None, headers: dict[str, str] | None = None
) -> FhirResponse:
    code = issue_code or _ISSUE_CODES.get(status, "processing")
    return FhirResponse(operation_outcome(code, detail), status_code=status, headers=headers)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return outcome_response(exc.status_code, detail, getattr(exc, "issue_code", None), dict(exc.headers or {}))


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Where and why only; the offending value may be patient data.
    where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors())
    return outcome_response(400, f"the request is not valid: {where}")


def _unexpected(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error", exc_info=exc, extra={"method": request.method, "path": request.url.path})
    return outcome_response(500, "internal error")


def _for_fhir(fhir: Handler, other: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        chosen = fhir if request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/") else other
        result = chosen(request, exc)
        return await result if isinstance(result, Awaitable) else result

    return handle


def install_operation_outcomes(app: FastAPI) -> None:
    """Answer errors on ``/fhir`` paths with OperationOutcome; call after the problem handlers."""
    handlers: dict[Any, Handler] = {
        StarletteHTTPException: _http_error,
        RequestValidationError: _validation_error,
        Exception: _unexpected,
    }
    for exc_class, fhir in handlers.items():
        app.add_exception_handler(exc_class, _for_fhir(fhir, app.exception_handlers[exc_class]))


OUTCOME_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string"},
                    "code": {"type": "string"},
                    "diagnostics": {"type": "string"},
                },
            },
        },
    },
}

FHIR_ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    "4XX": {"description": "FHIR OperationOutcome", "content": {FHIR_JSON: {"schema": OUTCOME_SCHEMA}}},
}


def resource_schema(resource_type: str) -> dict[str, Any]:
    """The OpenAPI schema of a FHIR resource body (its full definition is the FHIR R4 specification)."""
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"const": resource_type}},
        "externalDocs": {"url": f"https://hl7.org/fhir/R4/{resource_type.lower()}.html"},
    }
