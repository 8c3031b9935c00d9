"""A practice with staff, device models and an enrollable patient, for provisioning tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from core.domain import DeviceKind
from provisioning import enrollment, inventory, registry
from provisioning.eligibility import Program
from provisioning.enrollment import Address
from provisioning.inventory import Connectivity, DeviceModel, FdaStatus

Conn = psycopg.Connection[tuple[Any, ...]]
NOW = datetime.now(UTC).replace(microsecond=0)
HOME = Address("12 Elm Street", "Springfield", "IL", "62704")


@dataclass(frozen=True)
class Clinic:
    practice_id: UUID
    logistics: UUID
    clinician: UUID
    cuff_model: DeviceModel
    scale_model: DeviceModel
    cell_model: DeviceModel


@pytest.fixture
def clinic(db: Conn) -> Clinic:
    practice = registry.create_practice(db, name="Provisioning Practice", time_zone="America/Chicago")
    logistics = registry.create_user(
        db, practice_id=practice, email="lee@clinic.example", display_name="Lee", role="logistics"
    )
    clinician = registry.create_user(
        db,
        practice_id=practice,
        email="dr@clinic.example",
        display_name="Dr Ray",
        role="clinician",
        credential="physician",
    )
    cuff = inventory.register_model(
        db,
        vendor="A&D",
        model="UA-651BLE",
        kind=DeviceKind.BP_CUFF,
        connectivity=Connectivity.BLE,
        fda_status=FdaStatus.CLEARED_510K,
        fda_reference="K140283",
    )
    scale = inventory.register_model(
        db,
        vendor="A&D",
        model="UC-352BLE",
        kind=DeviceKind.SCALE,
        connectivity=Connectivity.BLE,
        fda_status=FdaStatus.EXEMPT,
    )
    cell = inventory.register_model(
        db,
        vendor="BodyTrace",
        model="BT105",
        kind=DeviceKind.SCALE,
        connectivity=Connectivity.CELLULAR,
        fda_status=FdaStatus.EXEMPT,
    )
    return Clinic(practice, logistics, clinician, cuff, scale, cell)


def rpm_ready_patient(db: Conn, clinic: Clinic, mrn: str = "MRN-100", mbi: str = "1EG4-TE5-MK73") -> UUID:
    """A patient who passes every RPM rule and is enrolled from 30 days ago."""
    return enroll_rpm_ready_patient(
        db,
        practice_id=clinic.practice_id,
        clinician=clinic.clinician,
        consent_by=clinic.logistics,
        now=NOW,
        mrn=mrn,
        mbi=mbi,
    )


def enroll_rpm_ready_patient(
    db: Conn, *, practice_id: UUID, clinician: UUID, consent_by: UUID, now: datetime, mrn: str, mbi: str
) -> UUID:
    """A patient of ``practice_id`` who passes every RPM rule on ``now`` and is enrolled from 30 days before."""
    patient = registry.create_patient(db, practice_id=practice_id, mrn=mrn, time_zone="America/Chicago")
    enrollment.update_patient(db, patient, mbi=mbi, address=HOME, last_visit_on=date(2025, 6, 1))
    enrollment.add_condition(db, patient, icd10_code="I10", chronic=True, recorded_by=clinician)
    enrollment.record_consent(
        db,
        patient,
        program=Program.RPM,
        modality="verbal",
        obtained_at=now - timedelta(days=40),
        obtained_by=consent_by,
        text_version="rpm-2026.1",
        cost_sharing_explained=True,
    )
    enrollment.enroll(
        db,
        patient,
        program=Program.RPM,
        starts_on=(now - timedelta(days=30)).date(),
        ordering_user_id=clinician,
        condition_icd10="I10",
        ordering_npi="1234567893",
    )
    return patient
