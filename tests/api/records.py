"""Records in the states the domain routes act on (an RPM-enrolled patient, a device in stock, assigned,
shipped, in transit or delivered, a shipment, a care time entry), created through provisioning's and
billing's own services as the practice's staff would, with the database owner's connection."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

from api.webhooks import repository as webhook_repository
from api.webhooks.authentication import Scheme, secret_digest
from api.webhooks.sealing import SecretBox
from billing import care_time
from billing.care_time import Activity
from billing.case import Program as BillingProgram
from core.domain import DeviceKind
from provisioning import enrollment, registry, shipping
from provisioning.eligibility import Program
from provisioning.shipping import CarrierEvent, CarrierStatus
from provisioning.tracking_numbers import Carrier, ups_valid
from tests.api.conftest import T0, Practice
from tests.provisioning.conftest import enroll_rpm_ready_patient

Conn = psycopg.Connection[tuple[Any, ...]]

_serials = itertools.count(1)
MONTH = "2026-03"  # T0's month


def ups_number(n: int) -> str:
    """A UPS tracking number with a valid check digit (``1Z`` + 15 characters + check)."""
    body = f"1Z5R8939{n:09d}"
    for check in range(10):
        if ups_valid(f"{body}{check}"):
            return f"{body}{check}"
    raise AssertionError("no check digit fits")  # pragma: no cover - one of ten always does


def mbi(n: int) -> str:
    """A Medicare beneficiary identifier in the CMS format (C A AN N A AN N A A N N)."""
    digits = f"{n:04d}"
    return f"1AA{digits[0]}AA{digits[1]}AA{digits[2]}{digits[3]}"


def enrolled_patient(db: Conn, practice: Practice) -> UUID:
    """A patient with an MBI, an address, a visit, hypertension, RPM consent and an RPM enrollment."""
    n = next(_serials)
    return enroll_rpm_ready_patient(
        db, practice_id=practice.id, clinician=practice.users["clinician"], consent_by=practice.users["care_staff"],
        now=T0, mrn=f"P{n:06d}", mbi=mbi(n),
    )  # fmt: skip


def device_in_stock(db: Conn, practice: Practice, kind: DeviceKind = DeviceKind.BP_CUFF) -> UUID:
    n = next(_serials)
    address = ":".join(f"{b:02X}" for b in (0xC0, 0xFF, (n >> 24) & 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))
    return registry.create_device(
        db, practice_id=practice.id, serial=f"TEST-{n:06d}", kind=kind, ble_address=address
    ).id


def serial(db: Conn, device_id: UUID) -> str:
    row = db.execute("SELECT serial FROM devices WHERE id = %s", (device_id,)).fetchone()
    assert row is not None
    return str(row[0])


@dataclass(frozen=True)
class Deployed:
    patient_id: UUID
    device_id: UUID
    shipment_id: UUID | None = None


def assigned(db: Conn, practice: Practice) -> Deployed:
    patient_id = enrolled_patient(db, practice)
    device_id = device_in_stock(db, practice)
    shipping.assign_device(
        db, serial=serial(db, device_id), patient_id=patient_id, at=T0 - timedelta(days=2),
        actor_id=practice.users["logistics"],
    )  # fmt: skip
    return Deployed(patient_id, device_id)


def shipped(db: Conn, practice: Practice) -> Deployed:
    """Assigned and labelled (custody ``label_created``), shipped yesterday by UPS."""
    a = assigned(db, practice)
    shipment_id = shipping.create_shipment(
        db, patient_id=a.patient_id, serials=[serial(db, a.device_id)], carrier=Carrier.UPS,
        tracking_number=ups_number(next(_serials)), ship_date=T0.date() - timedelta(days=1),
        at=T0 - timedelta(days=1), actor_id=practice.users["logistics"],
    )  # fmt: skip
    return Deployed(a.patient_id, a.device_id, shipment_id)


def in_transit(db: Conn, practice: Practice) -> Deployed:
    s = shipped(db, practice)
    row = db.execute("SELECT tracking_number FROM shipments WHERE id = %s", (s.shipment_id,)).fetchone()
    assert row is not None
    shipping.record_carrier_event(
        db,
        CarrierEvent(
            source="easypost", event_id=f"evt_{next(_serials)}", carrier=Carrier.UPS, tracking_number=row[0],
            status=CarrierStatus.IN_TRANSIT, occurred_at=T0 - timedelta(hours=20),
        ),
    )  # fmt: skip
    return s


def delivered(db: Conn, practice: Practice) -> Deployed:
    s = shipped(db, practice)
    assert s.shipment_id is not None
    shipping.mark_shipment(
        db, s.shipment_id, CarrierStatus.DELIVERED, at=T0 - timedelta(hours=12), actor_id=practice.users["logistics"]
    )
    return s


def care_slot() -> datetime:
    """A start time no other slot overlaps (30 minutes apart, weeks before T0, in T0's month or the one before)."""
    return T0 - timedelta(days=25) + timedelta(minutes=30 * next(_serials))


def care_entry(db: Conn, practice: Practice, patient_id: UUID | None = None) -> UUID:
    """A finished 10-minute RPM data review by the practice's clinician."""
    return care_time.add_manual(
        db, patient_id=patient_id or practice.patient_id, performer_id=practice.users["clinician"],
        program=BillingProgram.RPM, activity=Activity.DATA_REVIEW, interactive=False, started_at=care_slot(),
        minutes=10, at=T0,
    ).id  # fmt: skip


def running_timer(db: Conn, practice: Practice) -> UUID:
    """A patient call timed since an hour before T0, by a nurse of its own (a running timer blocks its
    performer's later time)."""
    n = next(_serials)
    nurse = registry.create_user(
        db, practice_id=practice.id, email=f"nurse{n}@example.org", display_name=f"Nurse {n}", role="care_staff",
        credential="nurse",
    )  # fmt: skip
    return care_time.start_timer(
        db, patient_id=practice.patient_id, performer_id=nurse, program=BillingProgram.RPM,
        activity=Activity.PATIENT_CALL, interactive=True, at=T0 - timedelta(hours=1),
    ).id  # fmt: skip


def condition(db: Conn, practice: Practice, code: str = "J44.9") -> tuple[UUID, UUID]:
    """(patient, condition): a new patient of the practice with one diagnosis."""
    patient_id = registry.create_patient(
        db, practice_id=practice.id, mrn=f"P{next(_serials):06d}", time_zone="America/Chicago"
    )
    enrollment.add_condition(db, patient_id, icd10_code=code, chronic=True, recorded_by=practice.users["clinician"])
    row = db.execute(
        "SELECT id FROM patient_conditions WHERE patient_id = %s AND icd10_code = %s", (patient_id, code)
    ).fetchone()
    assert row is not None
    return patient_id, UUID(str(row[0]))


def consent(db: Conn, practice: Practice, program: Program = Program.CCM) -> UUID:
    return enrollment.record_consent(
        db, practice.patient_id, program=program, modality="written", obtained_at=T0 - timedelta(days=3),
        obtained_by=practice.users["care_staff"], text_version="ccm-v2", cost_sharing_explained=True,
    )  # fmt: skip


def webhook_credential(
    db: Conn, box: SecretBox, practice_id: UUID, vendor: str, scheme: Scheme, key: str, secret: str
) -> None:
    """A vendor or carrier credential as ``carehub webhooks add-credential`` stores it: a signing key
    sealed under ``box``, any other secret as its SHA-256."""
    webhook_repository.create_credential(
        db,
        credential_id=uuid4(),
        practice_id=practice_id,
        vendor=vendor,
        scheme=scheme,
        key_id=key,
        secret_sha256=None if scheme.sealed else secret_digest(secret),
        secret_encrypted=box.seal(secret) if scheme.sealed else None,
    )
