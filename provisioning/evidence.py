"""The audit evidence per patient and device (``reference/cellular-and-logistics.md`` §3.6, "minimum
evidence set per patient-device"): which unit a patient had on which days, how it got there, when it
was delivered, when it was set up with the patient (99453: who, when, how; :func:`record_setup`) and
when it first transmitted, and the consent and order behind it. The device ↔ patient history
survives refurbishment and reissue because assignments are never deleted.

Per 30-day-period day counts and billed codes belong to billing and are not assembled here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from psycopg import errors as pg_errors

from provisioning.registry import Conn, RegistryError, device_by_serial, new_id


@dataclass(frozen=True, slots=True)
class DeviceEvidence:
    patient_id: UUID
    mrn: str
    device_serial: str
    imei: str | None
    ble_address: str | None
    vendor: str | None
    model: str | None
    fda_status: str | None
    assigned_at: datetime
    assignment_ended_at: datetime | None
    assignment_end_reason: str | None
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    delivered_event: str | None
    first_reading_at: datetime | None
    first_reading_id: str | None
    setup_at: datetime | None
    setup_by: UUID | None
    setup_modality: str | None
    consent_at: datetime | None
    consent_modality: str | None
    ordering_practitioner: UUID | None
    ordering_npi: str | None
    condition_icd10: str | None
    program_start: date | None


_EVIDENCE = """
SELECT p.id, p.mrn, d.serial, d.imei, d.ble_address, m.vendor, coalesce(m.model, d.model), m.fda_status,
       a.valid_from, a.valid_to,
       (SELECT e.reason FROM device_custody_events e
         WHERE e.device_id = d.id AND a.valid_to IS NOT NULL AND e.at <= a.valid_to
           AND e.action IN ('report_faulty', 'report_lost', 'unenroll', 'receive_return')
         ORDER BY e.at DESC, e.id DESC LIMIT 1),
       s.carrier, s.tracking_number,
       (SELECT min(e.at) FROM device_custody_events e WHERE e.device_id = d.id AND e.action = 'carrier_scan'
           AND e.at >= a.valid_from AND (a.valid_to IS NULL OR e.at < a.valid_to)),
       s.delivered_at, s.delivered_event,
       act.at, act.evidence ->> 'reading_id', su.performed_at, su.performed_by, su.modality,
       c.obtained_at, c.modality, en.ordering_user_id, en.ordering_npi, en.condition_icd10, en.starts_on
  FROM device_patient_assignments a
  JOIN devices d ON d.id = a.device_id
  JOIN patients p ON p.id = a.patient_id
  LEFT JOIN device_models m ON m.id = d.model_id
  LEFT JOIN LATERAL (
        SELECT sh.carrier, sh.tracking_number, sh.delivered_at, sh.delivered_event
          FROM shipment_devices sd JOIN shipments sh ON sh.id = sd.shipment_id
         WHERE sd.device_id = d.id AND sh.patient_id = p.id AND sh.direction = 'outbound'
           AND sh.created_at >= a.created_at - interval '1 day'
         ORDER BY sh.created_at DESC LIMIT 1) s ON true
  LEFT JOIN LATERAL (
        SELECT e.at, e.evidence FROM device_custody_events e
         WHERE e.device_id = d.id AND e.action = 'activate' AND e.at >= a.valid_from
           AND (a.valid_to IS NULL OR e.at < a.valid_to)
         ORDER BY e.at LIMIT 1) act ON true
  LEFT JOIN LATERAL (
        SELECT ds.performed_at, ds.performed_by, ds.modality FROM device_setups ds
         WHERE ds.device_id = d.id AND ds.patient_id = p.id AND ds.performed_at >= a.valid_from
           AND (a.valid_to IS NULL OR ds.performed_at < a.valid_to)
         ORDER BY ds.performed_at LIMIT 1) su ON true
  LEFT JOIN LATERAL (
        SELECT co.obtained_at, co.modality FROM consents co
         WHERE co.patient_id = p.id AND co.program = 'rpm' AND co.obtained_at <= coalesce(a.valid_to, 'infinity')
         ORDER BY co.obtained_at LIMIT 1) c ON true
  LEFT JOIN LATERAL (
        SELECT pe.ordering_user_id, pe.ordering_npi, pe.condition_icd10, pe.starts_on FROM program_enrollments pe
         WHERE pe.patient_id = p.id AND pe.program = 'rpm' AND pe.starts_on <= a.valid_from::date
         ORDER BY pe.starts_on DESC LIMIT 1) en ON true
 WHERE a.practice_id = %(practice)s AND (%(patient)s::uuid IS NULL OR a.patient_id = %(patient)s)
 ORDER BY p.mrn, a.valid_from, d.serial
"""


def device_evidence(conn: Conn, practice_id: UUID, patient_id: UUID | None = None) -> list[DeviceEvidence]:
    rows = conn.execute(_EVIDENCE, {"practice": practice_id, "patient": patient_id}).fetchall()
    return [DeviceEvidence(*row) for row in rows]


class SetupRefused(RegistryError):
    """A set-up record was refused."""


def record_setup(conn: Conn, *, serial: str, performed_by: UUID, performed_at: datetime, modality: str) -> UUID:
    """Record 99453 set-up and education for the patient the unit is assigned to at ``performed_at``."""
    device = device_by_serial(conn, serial)
    row = conn.execute(
        "SELECT patient_id FROM device_patient_assignments WHERE device_id = %(d)s AND valid_from <= %(at)s"
        " AND (valid_to IS NULL OR %(at)s < valid_to)",
        {"d": device.id, "at": performed_at},
    ).fetchone()
    if row is None:
        raise SetupRefused(f"device {serial} was not assigned to a patient at that time")
    setup_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO device_setups (id, practice_id, patient_id, device_id, performed_by, performed_at,"
                " modality) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (setup_id, device.practice_id, row[0], device.id, performed_by, performed_at, modality),
            )
    except pg_errors.CheckViolation as exc:
        raise SetupRefused("modality is in_person, video or phone") from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise SetupRefused("the person doing the set-up must be staff of the device's practice") from exc
    return setup_id
