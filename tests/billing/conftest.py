"""A practice with two patients and three users: a nurse, a physician and a biller (no credential)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import pytest

from core.ids import uuid7
from provisioning import registry

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True)
class Clinic:
    practice_id: UUID
    patient: UUID
    other_patient: UUID
    nurse: UUID
    physician: UUID
    biller: UUID


def create_user(db: Conn, practice_id: UUID, name: str, role: str, credential: str) -> UUID:
    user_id = uuid7(1_790_000_000_000)
    db.execute(
        "INSERT INTO users (id, practice_id, email, display_name, role, credential) VALUES (%s, %s, %s, %s, %s, %s)",
        (user_id, practice_id, f"{name}.{user_id.hex[:8]}@example.org", name, role, credential),
    )
    return user_id


@pytest.fixture
def clinic(db: Conn) -> Clinic:
    practice = registry.create_practice(db, name="Billing Test Practice", time_zone="America/Chicago")
    patient = registry.create_patient(db, practice_id=practice, mrn="B1", time_zone="America/Chicago")
    other = registry.create_patient(db, practice_id=practice, mrn="B2", time_zone="America/New_York")
    return Clinic(
        practice,
        patient,
        other,
        create_user(db, practice, "nurse", "care_staff", "nurse"),
        create_user(db, practice, "doctor", "clinician", "physician"),
        create_user(db, practice, "biller", "billing", "none"),
    )
