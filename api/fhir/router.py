"""``/fhir``: a read-only FHIR R4 server over carehub's data (JSON only, ``application/fhir+json``).

- ``GET /fhir/Patient/{id}`` and ``GET /fhir/Device/{id}`` (a sensor by its UUID; a hub as the PHD
  gateway Device ``hub-<hub id>``) need ``patients.read``;
- ``GET /fhir/Observation?patient=…&date=ge…&date=lt…&code=…&_count=…`` (a searchset Bundle paged by ``next``
  links), ``GET /fhir/Observation/{id}`` and ``GET /fhir/Patient/{id}/$everything?start=…&end=…``
  (the Patient, its Observations in the range and the Devices they reference) need ``readings.read``.

Each request runs in one practice-scoped transaction (row-level security: another practice's id is
404, exactly as an unknown one) and leaves one audit row. Unsupported search parameters are refused
with 400 rather than silently ignored, so a client never mistakes an unfiltered result for a filtered
one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Final, TypeVar
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request

from api.fhir import repository
from api.fhir import resources as fhir
from api.fhir.outcomes import FHIR_ERROR_RESPONSES, FhirError, FhirResponse, resource_schema
from api.fhir.search import (
    InvalidSearch,
    ObservationFilter,
    code_groups,
    count,
    date_range,
    parse_cursor,
    patient_reference,
)
from api.permissions import Permission, requires
from api.scope import Authorized, Conn

router = APIRouter(prefix="/fhir", tags=["fhir"], responses=FHIR_ERROR_RESPONSES)

FhirId = Annotated[str, Path(pattern=r"^[A-Za-z0-9.-]{1,64}$", description="A FHIR logical id.")]
Count = Annotated[str | None, Query(alias="_count", pattern=r"^\d{1,4}$", description="Entries per page (max 1000).")]
PageCursor = Annotated[str | None, Query(alias="_cursor", max_length=80, description="From a `next` link.")]
Format = Annotated[str | None, Query(alias="_format", max_length=40, description="json or application/fhir+json.")]

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

_JSON_FORMATS: Final = frozenset({"json", "application/json", "application/fhir+json"})


def _ok(resource_type: str) -> dict[int | str, dict[str, object]]:
    return {
        200: {
            "description": f"A FHIR {resource_type}",
            "content": {"application/fhir+json": {"schema": resource_schema(resource_type)}},
        }
    }


def _get(path: str, permission: Permission, resource_type: str) -> Callable[[Endpoint], Endpoint]:
    """A FHIR read route: its permission, and a ``resource_type`` body as application/fhir+json."""
    return router.get(
        path, openapi_extra=requires(permission), response_class=FhirResponse, responses=_ok(resource_type)
    )


def _not_found(what: str) -> FhirError:
    return FhirError(404, f"no such {what}", "not-found")


def _check_query(request: Request, allowed: Iterable[str], fmt: str | None) -> None:
    unknown = sorted(set(request.query_params) - set(allowed) - {"_format"})
    if unknown:
        raise FhirError(400, f"unsupported search parameters: {', '.join(unknown)}", "not-supported")
    if fmt is not None and fmt.replace(" ", "+") not in _JSON_FORMATS:  # an unencoded "+" arrives as a space
        raise FhirError(406, "only JSON is served", "not-supported")


def _uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise _not_found(what) from None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _next_url(request: Request, cursor: fhir.ObservationKey | None) -> str | None:
    if cursor is None:
        return None
    return str(request.url.remove_query_params("_cursor").include_query_params(_cursor=cursor.fhir_id()))


@contextmanager
def _search_errors() -> Iterator[None]:
    """Bad search parameters answer 400 with their OperationOutcome issue type."""
    try:
        yield
    except InvalidSearch as exc:
        raise FhirError(400, exc.detail, exc.code) from exc


def _patient_page(
    conn: Conn, patient_id: UUID, wanted: ObservationFilter, after: fhir.ObservationKey | None, limit: int
) -> tuple[fhir.PatientRow, repository.ObservationPage]:
    patient = repository.get_patient(conn, patient_id)
    if patient is None:
        raise _not_found("Patient")
    if wanted.empty:
        return patient, repository.ObservationPage([], None)
    return patient, repository.observation_page(conn, patient_id, wanted, after, limit)


def _devices(conn: Conn, patient_id: UUID, rows: Sequence[fhir.ObservationRow], at: datetime) -> list[fhir.Entry]:
    """The sensor and gateway Devices the Observations of ``rows`` reference, as included entries. A
    device since reassigned to someone else does not name that patient in this patient's bundle."""
    sensors = [
        d if d.patient_id == patient_id else replace(d, patient_id=None)
        for d in repository.get_devices(conn, {r.device_id for r in rows}, at)
    ]
    hubs = {r.hub_id for r in rows if r.hub_id and fhir.gateway_representable(r.hub_id)}
    gateways = repository.get_gateways(conn, hubs)
    return [fhir.Entry(fhir.device_resource(d), "include") for d in sensors] + [
        fhir.Entry(fhir.gateway_resource(g), "include") for g in gateways
    ]


@_get("/Patient/{patient_id}", Permission.PATIENTS_READ, "Patient")
def read_patient(request: Request, patient_id: FhirId, scope: Authorized, fmt: Format = None) -> FhirResponse:
    _check_query(request, (), fmt)
    pid = _uuid(patient_id, "Patient")
    with scope.transaction() as conn:
        row = repository.get_patient(conn, pid)
        if row is None:
            raise _not_found("Patient")
        scope.audit(conn, "fhir.patient_read", patient_id=pid)
    return FhirResponse(fhir.patient_resource(row))


@_get("/Device/{device_id}", Permission.PATIENTS_READ, "Device")
def read_device(request: Request, device_id: FhirId, scope: Authorized, fmt: Format = None) -> FhirResponse:
    _check_query(request, (), fmt)
    hub_id = fhir.hub_id_of(device_id)
    with scope.transaction() as conn:
        if hub_id is not None:
            gateways = repository.get_gateways(conn, [hub_id])
            if not gateways:
                raise _not_found("Device")
            resource, patient = fhir.gateway_resource(gateways[0]), None
        else:
            devices = repository.get_devices(conn, [_uuid(device_id, "Device")], scope.at)
            if not devices:
                raise _not_found("Device")
            resource, patient = fhir.device_resource(devices[0]), devices[0].patient_id
        # A sensor names the patient it is assigned to: reading it is a read of patient data.
        scope.audit(conn, "fhir.device_read", patient_id=patient)
    return FhirResponse(resource)


@_get("/Observation", Permission.READINGS_READ, "Bundle")
def search_observations(
    request: Request,
    scope: Authorized,
    patient: Annotated[
        str | None, Query(max_length=200, description="Patient id or `Patient/<id>` (required).")
    ] = None,
    subject: Annotated[str | None, Query(max_length=200, description="Same as `patient`.")] = None,
    date: Annotated[
        list[str] | None,
        Query(description="`[eq|ge|gt|le|lt]` and a date or date-time with offset; repeat to bound both ends."),
    ] = None,
    code: Annotated[
        list[str] | None,
        Query(description="`[system|]code` of Observation.code (MDC or LOINC); commas for any of several."),
    ] = None,
    page_size: Count = None,
    cursor: PageCursor = None,
    fmt: Format = None,
) -> FhirResponse:
    _check_query(request, ("patient", "subject", "date", "code", "_count", "_cursor"), fmt)
    if (patient is None) == (subject is None):
        raise FhirError(400, "search Observations by exactly one of patient or subject", "required")
    with _search_errors():
        target = patient_reference(patient or subject or "")
        wanted = ObservationFilter(date_range(date or []), code_groups(code or []))
        limit, after = count(page_size), parse_cursor(cursor)
    pid = _uuid(target, "Patient")
    with scope.transaction() as conn:
        _, page = _patient_page(conn, pid, wanted, after, limit)
        scope.audit(conn, "fhir.observation_search", patient_id=pid)
    entries = [fhir.Entry(o, "match") for o in fhir.observations(page.rows)]
    return FhirResponse(fhir.searchset(_base(request), str(request.url), _next_url(request, page.next_cursor), entries))


@_get("/Observation/{observation_id}", Permission.READINGS_READ, "Observation")
def read_observation(request: Request, observation_id: FhirId, scope: Authorized, fmt: Format = None) -> FhirResponse:
    _check_query(request, (), fmt)
    key = fhir.ObservationKey.parse(observation_id)
    if key is None or fhir.observation_group(key.group) != key.group:
        raise _not_found("Observation")
    with scope.transaction() as conn:
        rows = repository.observation_rows(conn, key)
        found = fhir.observations(rows)
        if len(found) != 1:
            raise _not_found("Observation")
        scope.audit(conn, "fhir.observation_read", patient_id=rows[0].patient_id)
    return FhirResponse(found[0])


@_get("/Patient/{patient_id}/$everything", Permission.READINGS_READ, "Bundle")
def patient_everything(
    request: Request,
    patient_id: FhirId,
    scope: Authorized,
    start: Annotated[str | None, Query(max_length=40, description="First date (or date-time) included.")] = None,
    end: Annotated[str | None, Query(max_length=40, description="Last date (or date-time) included.")] = None,
    page_size: Count = None,
    cursor: PageCursor = None,
    fmt: Format = None,
) -> FhirResponse:
    """FHIR ``Patient/$everything`` (R4 operation): the Patient (first page), its Observations measured
    from ``start`` to ``end`` inclusive at their precision, and the sensor and gateway Devices each
    page's Observations reference, paged by ``_count`` Observations."""
    _check_query(request, ("start", "end", "_count", "_cursor"), fmt)
    bounds = ([f"ge{start}"] if start else []) + ([f"le{end}"] if end else [])
    with _search_errors():
        wanted = ObservationFilter(date_range(bounds))
        limit, after = count(page_size), parse_cursor(cursor)
    pid = _uuid(patient_id, "Patient")
    with scope.transaction() as conn:
        patient, page = _patient_page(conn, pid, wanted, after, limit)
        included = _devices(conn, pid, page.rows, scope.at)
        scope.audit(conn, "fhir.patient_everything", patient_id=pid)
    entries = [fhir.Entry(fhir.patient_resource(patient), "match")] if after is None else []
    entries += [fhir.Entry(o, "match") for o in fhir.observations(page.rows)] + included
    return FhirResponse(fhir.searchset(_base(request), str(request.url), _next_url(request, page.next_cursor), entries))
