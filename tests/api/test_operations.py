"""Operations surface: health, readiness against the database, Prometheus metrics by route template,
problem details, the published OpenAPI 3.1 document, access logs without query strings, and the
``carehub users create`` / ``carehub api`` entry points."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from api.app import create_app
from api.readiness import Readiness, Verdict
from api.settings import ApiSettings
from carehub.cli import main
from carehub.local_services import MosquittoBroker
from tests.api.conftest import World, bearer, fast_passwords, login

Conn = psycopg.Connection[tuple[Any, ...]]


def test_health_readiness_and_metrics(client: TestClient, two_practices: World) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"database": True, "broker": True}}
    headers = bearer(client, two_practices.a.email("clinician"))
    assert client.get(f"/patients/{two_practices.a.patient_id}", headers=headers).status_code == 200
    metrics = client.get("/metrics").text
    assert 'carehub_api_requests_total{method="GET",route="/patients/{patient_id}",status="200"} 1.0' in metrics
    assert str(two_practices.a.patient_id) not in metrics


def test_readiness_fails_when_the_database_is_gone(api_settings: ApiSettings) -> None:
    unreachable = api_settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/none"})
    pool: ConnectionPool[Conn] = ConnectionPool(unreachable.database_url, min_size=1, open=False)
    pool.open(wait=False)
    try:
        with TestClient(create_app(unreachable, pool), raise_server_exceptions=False) as client:
            response = client.get("/readyz")
    finally:
        pool.close()
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "checks": {"database": False, "broker": True}}


def test_readiness_checks_the_broker_with_the_api_credentials(
    api_settings: ApiSettings,
    pool: ConnectionPool[Conn],
    private_broker: Callable[..., MosquittoBroker],
) -> None:
    broker = private_broker(credentials={"carehub-api": "api broker password"})
    settings = api_settings.model_copy(
        update={
            "mqtt_port": broker.port,
            "mqtt_username": "carehub-api",
            "mqtt_password": SecretStr("api broker password"),
            "api_readiness_cache_s": 0.0,
        }
    )
    wrong = settings.model_copy(update={"mqtt_password": SecretStr("not the password")})
    with TestClient(create_app(settings, pool)) as client, TestClient(create_app(wrong, pool)) as refused:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (
            200,
            {"status": "ready", "checks": {"database": True, "broker": True}},
        )
        denied = refused.get("/readyz")
        assert (denied.status_code, denied.json()["checks"]) == (503, {"database": True, "broker": False})
        broker.stop()
        gone = client.get("/readyz")
        assert (gone.status_code, gone.json()) == (
            503,
            {"status": "not_ready", "checks": {"database": True, "broker": False}},
        )
        broker.start()
        assert client.get("/readyz").status_code == 200


def test_readiness_reuses_a_recent_verdict() -> None:
    calls: list[str] = []
    now = [100.0]
    broker_up = [True]

    def broker() -> bool:
        calls.append("broker")
        return broker_up[0]

    readiness = Readiness({"broker": broker}, cache_s=2.0, monotonic=lambda: now[0])
    assert readiness.verdict() == Verdict({"broker": True})
    broker_up[0] = False
    now[0] = 101.9
    assert readiness.verdict() == Verdict({"broker": True})  # cached: probes do not hammer the broker
    now[0] = 102.0
    assert not readiness.verdict().ready
    assert calls == ["broker", "broker"]


def test_errors_are_problem_details(client: TestClient, two_practices: World) -> None:
    headers = bearer(client, two_practices.a.email("clinician"))
    missing = client.get(f"/patients/{two_practices.b.patient_id}", headers=headers)
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no such patient",
        "instance": f"/patients/{two_practices.b.patient_id}",
    }
    invalid = client.get("/patients", params={"limit": 0, "name": "Secret Name"}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [
        {"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1", "type": "greater_than_equal"}
    ]
    assert "Secret Name" not in invalid.text


def test_the_openapi_document_is_3_1_with_bearer_security(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An access token from POST /auth/login.",
    }
    patients = document["paths"]["/patients"]["get"]
    assert patients["x-carehub-permission"] == "patients.read"
    assert {p["name"] for p in patients["parameters"]} == {"limit", "offset", "sort", "name", "mrn", "condition"}


def test_access_logs_carry_the_route_template_not_the_query(
    client: TestClient, two_practices: World, caplog: pytest.LogCaptureFixture
) -> None:
    headers = bearer(client, two_practices.a.email("clinician"))
    with caplog.at_level(logging.INFO, logger="api.access"):
        client.get("/patients", params={"name": "DoeA"}, headers=headers)
    lines = [r for r in caplog.records if r.name == "api.access"]
    assert [(r.__dict__["method"], r.__dict__["route"], r.__dict__["status"]) for r in lines] == [
        ("GET", "/patients", 200)
    ]
    assert "DoeA" not in caplog.text


def test_patients_filter_sort_and_paginate(client: TestClient, db: Conn, two_practices: World) -> None:
    a = two_practices.a
    for mrn, family in (("MRN-A2", "Adams"), ("MRN-A3", "Zed")):
        db.execute(
            "INSERT INTO patients (id, practice_id, mrn, family_name, time_zone) VALUES"
            " (gen_random_uuid(), %s, %s, %s, 'UTC')",
            (a.id, mrn, family),
        )
    headers = bearer(client, a.email("clinician"))

    def mrns(**params: Any) -> tuple[list[str], int]:
        body = client.get("/patients", params=params, headers=headers).json()
        return [p["mrn"] for p in body["items"]], body["total"]

    assert mrns() == (["MRN-A2", "MRN-A", "MRN-A3"], 3)
    assert mrns(sort="-family_name") == (["MRN-A3", "MRN-A", "MRN-A2"], 3)
    assert mrns(limit=1, offset=1) == (["MRN-A"], 3)
    assert mrns(condition="heart_failure") == (["MRN-A"], 1)
    assert mrns(name="ad") == (["MRN-A2"], 1)
    assert mrns(mrn="MRN-A3") == (["MRN-A3"], 1)


def test_readings_range_daily_and_latest(client: TestClient, two_practices: World) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))
    base = f"/patients/{a.patient_id}/readings"
    readings = client.get(base, headers=headers).json()
    assert [r["value"] for r in readings] == [130.0, 131.0, 132.0]  # newest first
    window = client.get(base, params={"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z"}, headers=headers)
    assert [r["value"] for r in window.json()] == [131.0]
    daily = client.get(f"{base}/daily", headers=headers).json()
    assert [(d["day"], d["mean_value"]) for d in daily] == [
        ("2026-02-28", 132.0),
        ("2026-03-01", 131.0),
        ("2026-03-02", 130.0),
    ]
    latest = client.get(f"{base}/latest", headers=headers).json()
    assert [(r["metric"], r["value"], r["unit"]) for r in latest] == [(150021, 130.0, "mm[Hg]")]
    backwards = client.get(base, params={"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, headers=headers)
    assert backwards.status_code == 422


def test_users_create_bootstraps_an_admin_who_can_log_in(
    database_url: str, db: Conn, two_practices: World, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a very long bootstrap password\n"))
    args = ["users", "create", "--practice-id", str(two_practices.b.id), "--email", "boss@b.example.org"]
    assert main([*args, "--name", "Boss", "--role", "admin", "--password-stdin"]) == 0
    row = db.execute("SELECT practice_id, role FROM users WHERE email = 'boss@b.example.org'").fetchone()
    assert row == (two_practices.b.id, "admin")
    assert login(client, "boss@b.example.org", "a very long bootstrap password")["token_type"] == "Bearer"


def test_carehub_api_refuses_to_start_without_a_signing_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CAREHUB_API_JWT_SECRET", raising=False)
    monkeypatch.delenv("CAREHUB_API_DEMO_MODE", raising=False)
    assert main(["api"]) == 2
    assert "CAREHUB_API_JWT_SECRET is required" in capsys.readouterr().err


def test_fast_passwords_are_still_argon2id() -> None:
    assert fast_passwords().hash("twelve chars ok").startswith("$argon2id$")
