"""schemathesis against the API's published OpenAPI 3.1 document (issue 8): every operation the app
publishes when the test runs (read from ``/openapi.json``, not a fixed list), over a real database
with two practices of data, authenticated as an admin and as a clinician. No response may be a server
error, break its declared schema, carry a status code the operation does not declare, or a content
type it does not declare.

Each operation is driven three ways: schema-conforming input, input that breaks the schema, and
schema-conforming input with path values that exist in the caller's practice (a patient, hub, user,
alert), so the success bodies are checked as well as the 404s random identifiers get.

Bounded: a few examples per operation and way, derandomized (Hypothesis derives the examples from the
test, so a run is repeatable). Every failing operation is reported, with the reproducing call."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import World, bearer

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
MAX_EXAMPLES = 6

# The alert stream is a server-sent-events response that never ends by design (it is read with a
# bounded client in tests/alerts and tests/api); a generated call to it would block the run.
EXCLUDED_PATHS = ("/alerts/stream",)

bounded = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def known_path_values(world: World) -> dict[str, str]:
    """Identifiers that exist in practice A (the caller's), by the path parameter names routes use."""
    a = world.a
    return {
        "patient_id": str(a.patient_id),
        "hub_id": a.hub_id,
        "user_id": str(a.users["billing"]),
        "device_id": str(a.device_id),
    }


def _run(operation: Any, headers: dict[str, str], mode: GenerationMode, path_values: dict[str, str] | None) -> None:
    @bounded
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_values))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


def conformance_failures(app: FastAPI, world: World, role: str, alert_id: str) -> list[str]:
    with TestClient(app) as client:
        headers = bearer(client, world.a.email(role))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    known = {**known_path_values(world), "alert_id": alert_id}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in EXCLUDED_PATHS:
            continue
        operations += 1
        names = {p.name for p in operation.path_parameters}
        runs: list[tuple[GenerationMode, dict[str, str] | None]] = [
            (GenerationMode.POSITIVE, None),
            (GenerationMode.NEGATIVE, None),
        ]
        if names & known.keys():
            runs.append((GenerationMode.POSITIVE, {k: v for k, v in known.items() if k in names}))
        for mode, path_values in runs:
            try:
                _run(operation, headers, mode, path_values)
            except Unsatisfiable:
                # Only for negative input to an operation that takes no input: nothing to break.
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no positive input could be generated"
            except Exception as exc:
                where = (
                    f"{operation.method.upper()} {operation.path} ({mode.value}{', known ids' if path_values else ''})"
                )
                failures.append(f"{where}:\n{exc}")
    assert operations > 0
    return failures


def test_every_operation_conforms_as_an_admin(app: FastAPI, two_practices: World) -> None:
    failures = conformance_failures(app, two_practices, "admin", _open_alert(app, two_practices, "admin"))
    assert not failures, "\n\n".join(failures)


def test_every_operation_conforms_as_a_clinician(app: FastAPI, two_practices: World) -> None:
    failures = conformance_failures(app, two_practices, "clinician", _open_alert(app, two_practices, "clinician"))
    assert not failures, "\n\n".join(failures)


def _open_alert(app: FastAPI, world: World, role: str) -> str:
    with TestClient(app) as client:
        alerts = client.get("/alerts", headers=bearer(client, world.a.email(role))).json()
    assert alerts, "the fixture raises an open alert in practice A"
    return str(alerts[0]["id"])


@pytest.fixture(autouse=True)
def _quiet_access_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
