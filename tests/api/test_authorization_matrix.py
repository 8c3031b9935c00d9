"""The authorization matrix, generated from the route table: every authenticated route x every role x
own practice vs another practice, expected allowed or refused as the role_permissions table says.
Served by a real uvicorn (the alert stream is a never-ending response)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from tests.api.conftest import ROLES, World, login
from tests.api.routes import RouteCase, route_table

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def http(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, timeout=httpx.Timeout(10, read=30)) as client:
        yield client


def _call(
    http: httpx.Client, case: RouteCase, prepared: tuple[str, dict[str, Any] | None], headers: dict[str, str]
) -> tuple[int, str]:
    url, body = prepared
    if case.streams:
        with http.stream(case.method, url, headers=headers) as response:
            return response.status_code, ""  # the stream never ends; its status is the answer
    response = http.request(case.method, url, headers=headers, json=body)
    return response.status_code, response.text


def _grants(db: Conn) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in db.execute("SELECT role, permission FROM role_permissions").fetchall()}


def test_the_route_table_declares_known_permissions(app: FastAPI, db: Conn) -> None:
    cases, public = route_table(app)
    known = {r[0] for r in db.execute("SELECT name FROM permissions").fetchall()}
    assert {c.permission for c in cases} == known  # every permission is used, none is unknown
    assert sorted(public) == [
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "POST /auth/login",
        "POST /auth/logout",
        "POST /auth/refresh",
        "POST /webhooks/{vendor}",  # vendor-authenticated (api/webhooks), never by bearer token
    ]
    assert len(cases) >= 15


def test_the_permission_table_says_what_the_product_promises(db: Conn) -> None:
    grants = _grants(db)
    assert {role for role, p in grants if p == "audit.read"} == {"admin"}
    assert {role for role, p in grants if p == "users.manage"} == {"admin"}
    assert ("logistics", "readings.read") not in grants
    assert ("billing", "alerts.manage") not in grants
    assert all((role, "patients.read") in grants for role in ROLES)
    holders = {p: {role for role, q in grants if q == p} for _, p in grants}
    assert holders["billing.read"] == {"admin", "billing"}
    assert holders["care_time.write"] == {"admin", "clinician", "care_staff"}
    assert holders["care_time.read"] == {"admin", "clinician", "care_staff", "billing"}
    assert holders["conditions.manage"] == holders["enrollment.manage"] == {"admin", "clinician"}
    assert holders["devices.manage"] == holders["shipments.manage"] == {"admin", "logistics"}
    assert holders["hubs.manage"] == {"admin", "logistics"}
    # logistics moves devices and parcels but reads no clinical data
    assert {p for role, p in grants if role == "logistics"} == {
        "patients.read", "hubs.read", "hubs.manage", "devices.read", "devices.manage", "shipments.read",
        "shipments.manage",
    }  # fmt: skip


def test_every_authenticated_route_refuses_without_a_token(
    app: FastAPI, http: httpx.Client, db: Conn, two_practices: World
) -> None:
    cases, _ = route_table(app)
    for case in cases:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
            status, _ = _call(http, case, case.prepare(db, two_practices.a), headers)
            assert status == 401, f"{case} with {headers}"


@pytest.mark.parametrize("role", ROLES)
def test_matrix(role: str, app: FastAPI, http: httpx.Client, db: Conn, two_practices: World) -> None:
    cases, _ = route_table(app)
    grants = _grants(db)
    own, other = two_practices.a, two_practices.b
    headers = {"Authorization": f"Bearer {login(http, own.email(role))['access_token']}"}
    foreign_ids = [str(other.id), str(other.patient_id), str(other.device_id), other.hub_id, "MRN-B", "DoeB"]
    foreign_ids += [str(u) for u in other.users.values()]
    outcomes = []
    for case in cases:
        allowed = (role, case.permission) in grants
        status, body = _call(http, case, case.prepare(db, own), headers)
        expected = case.expected_status(role, allowed)
        outcomes.append((str(case), "own", status, expected))
        leaked = [x for x in foreign_ids if x in body]
        assert not leaked, f"{case} as {role} returned another practice's data: {leaked}"
        if case.has_path_values:
            status, _ = _call(http, case, case.prepare(db, other), headers)
            outcomes.append((str(case), "other", status, 404 if allowed else 403))
    wrong = [o for o in outcomes if o[2] != o[3]]
    assert wrong == [], f"{role}: (route, practice, got, expected) {wrong}"
