"""The ingest tests' small world (one practice, two homes) plus staff and notification routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from alerts import store
from alerts.rules import Severity
from alerts.secrets import new_key, seal
from tests.ingest.conftest import World, world  # noqa: F401  (the fixture is shared)

SECRET_KEY = new_key()
"""The tests' CAREHUB_NOTIFIER_SECRET_KEY, made for this run: webhook secrets are stored sealed under
it (alerts/secrets.py)."""


@pytest.fixture
def clinician(db: psycopg.Connection[tuple[Any, ...]], world: World) -> UUID:  # noqa: F811
    user_id = uuid4()
    db.execute(
        "INSERT INTO users (id, practice_id, email, display_name, role, credential) "
        "VALUES (%s, %s, %s, 'Dr Test', 'clinician', 'physician')",
        (user_id, world.practice_id, f"{user_id.hex[:8]}@example.org"),
    )
    return user_id


def add_route(
    db: psycopg.Connection[tuple[Any, ...]],
    practice_id: UUID,
    channel: str,
    target: str,
    *,
    secret: str | None = None,
    purpose: str = "primary",
    min_severity: str = "warning",
) -> UUID:
    route_id = uuid4()
    if secret is not None:
        secret = seal(SECRET_KEY, secret)
    db.execute(
        "INSERT INTO notification_routes (id, practice_id, channel, purpose, target, secret, min_severity) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (route_id, practice_id, channel, purpose, target, secret, min_severity),
    )
    return route_id


def bp_c1(registered: World, home: int = 0, sys_mean: float = 190) -> store.AlertSpec:
    """A critical BP-C1 alert for one home's patient, as the hook would raise it."""
    return store.AlertSpec(
        practice_id=str(registered.practice_id),
        category="clinical",
        rule_id="BP-C1",
        rule_version=1,
        severity=Severity.CRITICAL,
        thresholds={"sys_ge": 180, "dia_ge": 120},
        observed={"sys_mean": sys_mean, "dia_mean": 125},
        patient_id=str(registered.homes[home].patient_id),
    )
