"""Two practices with one staff user per role, a patient with a condition, a device with readings,
a hub and an open alert each; the API app over this test's database, with a settable clock and a
cheap argon2 profile (the production parameters are exercised by the pure password tests)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from alerts import store
from alerts.rules import Severity
from api.app import create_app
from api.auth.passwords import Passwords
from api.pool import open_pool
from api.settings import ApiSettings
from api.users.service import create_user_with_password
from carehub.local_services import MosquittoBroker, free_port
from provisioning import registry
from tests.pipeline import wait_until

ROLES = ("admin", "clinician", "care_staff", "logistics", "billing")
PASSWORD = "correct horse battery staple"
SYS = 150021  # MDC_PRESS_BLD_NONINV_SYS
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
# The clinician is a physician and care staff a nurse: both may furnish billable care time.
CREDENTIALS = {"clinician": "physician", "care_staff": "nurse"}

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Practice:
    id: uuid.UUID
    patient_id: uuid.UUID
    device_id: uuid.UUID
    hub_id: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def email(self, role: str) -> str:
        return f"{role}@{self.hub_id.lower()}.example.org"


def fast_passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


def raise_test_alert(conn: Conn, practice: Practice, rule: str, at: datetime) -> str:
    spec = store.AlertSpec(
        practice_id=str(practice.id),
        category="clinical",
        rule_id=rule,
        rule_version=1,
        severity=Severity.WARNING,
        thresholds={"max": 140},
        observed={"value": 150},
        patient_id=str(practice.patient_id),
    )
    return store.raise_alert(conn, spec, at).alert_id


def _practice(db: Conn, tag: str, passwords: Passwords) -> Practice:
    with db.transaction():
        practice_id = registry.create_practice(db, name=f"Practice {tag}", time_zone="America/Chicago")
        patient_id = registry.create_patient(
            db, practice_id=practice_id, mrn=f"MRN-{tag}", time_zone="America/Chicago", family_name=f"Doe{tag}"
        )
        db.execute(
            "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic)"
            " VALUES (%s, %s, %s, 'I50.22', true)",
            (uuid.uuid4(), practice_id, patient_id),
        )
        hub_id = f"HUB{tag}01"
        registry.create_hub(db, practice_id=practice_id, hub_id=hub_id, serial=f"SER-{tag}")
        device_id = uuid.uuid4()
        db.execute(
            "INSERT INTO devices (id, practice_id, serial, kind, connectivity) VALUES (%s, %s, %s, 'bp_cuff', 'ble')",
            (device_id, practice_id, f"BP-{tag}"),
        )
        for day in range(3):
            at = T0 - timedelta(days=day, hours=2)
            db.execute(
                "INSERT INTO readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, unit,"
                " measured_at, measured_at_source, received_at, from_device_memory)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, 'mm[Hg]', %s, 'device', %s, false)",
                (practice_id, patient_id, device_id, hub_id, uuid.uuid4(), SYS, 130 + day, at, at),
            )
        practice = Practice(practice_id, patient_id, device_id, hub_id)
        for role in ROLES:
            practice.users[role] = create_user_with_password(
                db,
                passwords,
                practice_id=practice_id,
                email=practice.email(role),
                display_name=f"{role} {tag}",
                role=role,
                credential=CREDENTIALS.get(role, "none"),
                password=PASSWORD,
                at=T0 - timedelta(days=30),
            )
        raise_test_alert(db, practice, "BP-T0", T0 - timedelta(hours=1))
    return practice


@dataclass
class World:
    a: Practice
    b: Practice


@pytest.fixture
def passwords() -> Passwords:
    return fast_passwords()


@pytest.fixture
def two_practices(db: Conn, passwords: Passwords) -> World:
    return World(_practice(db, "A", passwords), _practice(db, "B", passwords))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api_settings(database_url: str, broker: MosquittoBroker) -> ApiSettings:
    return ApiSettings(
        database_url=database_url,
        mqtt_port=broker.port,
        api_jwt_secret=SecretStr("test-signing-key-0123456789abcdef-0123456789"),
        api_login_rate_per_minute=1000,
        api_pool_min_size=1,
        api_pool_max_size=4,
    )


@pytest.fixture
def pool(api_settings: ApiSettings) -> Iterator[ConnectionPool[Conn]]:
    opened = open_pool(api_settings)
    yield opened
    opened.close()


@pytest.fixture
def make_app(pool: ConnectionPool[Conn], clock: Clock, passwords: Passwords) -> Callable[..., FastAPI]:
    def make(settings: ApiSettings) -> FastAPI:
        return create_app(settings, pool, clock=clock, passwords=passwords)

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI], api_settings: ApiSettings) -> FastAPI:
    return make_app(api_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def login(client: TestClient | Any, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(client: TestClient | Any, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login(client, email)['access_token']}"}


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    """The app behind a real uvicorn (for the streamed alert route)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20, "uvicorn")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
