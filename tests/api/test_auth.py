"""Login, lockout, rate limit, refresh rotation and revocation against the real database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.settings import ApiSettings
from tests.api.conftest import PASSWORD, Clock, World, login

Conn = psycopg.Connection[tuple[Any, ...]]


def _login(client: TestClient, email: str, password: str = PASSWORD) -> int:
    status: int = client.post("/auth/login", json={"email": email, "password": password}).status_code
    return status


def test_login_issues_tokens_that_authenticate(client: TestClient, two_practices: World) -> None:
    tokens = login(client, two_practices.a.email("clinician"))
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    response = client.get("/patients", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
    assert [p["mrn"] for p in response.json()["items"]] == ["MRN-A"]


def test_wrong_password_unknown_email_and_deactivated_user_are_refused_alike(
    client: TestClient, two_practices: World, db: Conn
) -> None:
    db.execute("UPDATE users SET active = false WHERE id = %s", (two_practices.a.users["billing"],))
    answers = [
        client.post("/auth/login", json={"email": e, "password": p})
        for e, p in (
            (two_practices.a.email("clinician"), "wrong password here"),
            ("nobody@example.org", PASSWORD),
            (two_practices.a.email("billing"), PASSWORD),
        )
    ]
    assert {(r.status_code, r.json()["detail"]) for r in answers} == {(401, "invalid credentials")}
    assert all(r.headers["content-type"] == "application/problem+json" for r in answers)


def test_five_failures_lock_the_account_until_the_lockout_ends(
    client: TestClient, two_practices: World, clock: Clock, db: Conn
) -> None:
    email = two_practices.a.email("clinician")
    assert [_login(client, email, "not the password!") for _ in range(5)] == [401] * 5
    assert _login(client, email) == 401  # the right password is refused while locked
    clock.advance(899)
    assert _login(client, email) == 401
    clock.advance(1)
    assert _login(client, email) == 200
    row = db.execute("SELECT failed_logins, locked_until FROM users WHERE lower(email) = %s", (email,)).fetchone()
    assert row == (0, None)


def test_a_success_resets_the_failure_count(client: TestClient, two_practices: World) -> None:
    email = two_practices.a.email("clinician")
    for _ in range(2):
        assert [_login(client, email, "not the password!") for _ in range(4)] == [401] * 4
        assert _login(client, email) == 200


def test_login_is_rate_limited_per_client(
    make_app: Callable[..., FastAPI], api_settings: ApiSettings, two_practices: World
) -> None:
    app = make_app(api_settings.model_copy(update={"api_login_rate_per_minute": 3}))
    with TestClient(app, raise_server_exceptions=False) as client:
        codes = [_login(client, two_practices.a.email("admin")) for _ in range(4)]
        assert codes == [200, 200, 200, 429]


def test_an_expired_access_token_is_refused(client: TestClient, two_practices: World, clock: Clock) -> None:
    headers = {"Authorization": f"Bearer {login(client, two_practices.a.email('admin'))['access_token']}"}
    assert client.get("/patients", headers=headers).status_code == 200
    clock.advance(900 + 6)
    response = client.get("/patients", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_deactivating_a_user_stops_their_live_access_token(client: TestClient, two_practices: World, db: Conn) -> None:
    headers = {"Authorization": f"Bearer {login(client, two_practices.a.email('clinician'))['access_token']}"}
    db.execute("UPDATE users SET active = false WHERE id = %s", (two_practices.a.users["clinician"],))
    assert client.get("/patients", headers=headers).status_code == 401


def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    client: TestClient, two_practices: World, db: Conn
) -> None:
    first = login(client, two_practices.a.email("clinician"))
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert client.get("/patients", headers=headers).status_code == 200
    # the spent token again: refused, and its successor is revoked with it (a copy is in the wild)
    assert client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]}).status_code == 401
    reasons = db.execute("SELECT revoked_reason, count(*) FROM refresh_tokens GROUP BY 1").fetchall()
    assert reasons == [("reuse_detected", 2)]
    # only digests are stored
    stored = db.execute("SELECT token_sha256 FROM refresh_tokens").fetchall()
    assert all(len(r[0]) == 32 for r in stored)


def test_logout_revokes_the_refresh_token(client: TestClient, two_practices: World) -> None:
    tokens = login(client, two_practices.a.email("clinician"))
    assert client.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_a_refresh_token_expires(client: TestClient, two_practices: World, clock: Clock) -> None:
    tokens = login(client, two_practices.a.email("clinician"))
    clock.advance(14 * 24 * 3600)
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_admins_create_users_in_their_own_practice_only(client: TestClient, two_practices: World, db: Conn) -> None:
    headers = {"Authorization": f"Bearer {login(client, two_practices.a.email('admin'))['access_token']}"}
    body = {"email": "new@a.example.org", "display_name": "New Nurse", "role": "care_staff", "password": "x" * 12}
    created = client.post("/users", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert "password" not in created.text
    assert "argon2" not in created.text
    practice = db.execute("SELECT practice_id FROM users WHERE email = 'new@a.example.org'").fetchone()
    assert practice == (two_practices.a.id,)
    assert _login(client, "new@a.example.org", "x" * 12) == 200
    assert client.post("/users", json=body, headers=headers).status_code == 409
    weak = client.post("/users", json=body | {"email": "w@a.example.org", "password": "short"}, headers=headers)
    assert weak.status_code == 422


def test_deactivating_a_user_through_the_api_ends_their_session(client: TestClient, two_practices: World) -> None:
    a = two_practices.a
    admin = {"Authorization": f"Bearer {login(client, a.email('admin'))['access_token']}"}
    clinician = login(client, a.email("clinician"))
    changed = client.patch(f"/users/{a.users['clinician']}", json={"active": False}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["active"] is False
    assert client.get("/patients", headers={"Authorization": f"Bearer {clinician['access_token']}"}).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": clinician["refresh_token"]}).status_code == 401
    assert client.patch(f"/users/{a.users['admin']}", json={"active": False}, headers=admin).status_code == 409
    promoted = client.patch(f"/users/{a.users['billing']}", json={"role": "clinician"}, headers=admin)
    assert promoted.json()["role"] == "clinician"
