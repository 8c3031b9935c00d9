"""Reads of a patient's diagnoses, consents and enrollments (row-level security scopes the practice)."""

from __future__ import annotations

from uuid import UUID

from psycopg.rows import class_row

from api.enrollment.schemas import ConditionOut, ConsentOut, EnrollmentOut
from api.scope import Conn


def conditions(conn: Conn, patient_id: UUID, condition_id: UUID | None = None) -> list[ConditionOut]:
    with conn.cursor(row_factory=class_row(ConditionOut)) as cur:
        return cur.execute(
            "SELECT id, icd10_code, condition_keys, description, chronic, onset_on, resolved_on, recorded_by,"
            " recorded_at FROM patient_conditions WHERE patient_id = %(p)s AND (%(c)s::uuid IS NULL OR id = %(c)s)"
            " ORDER BY resolved_on IS NOT NULL, icd10_code",
            {"p": patient_id, "c": condition_id},
        ).fetchall()


def consents(conn: Conn, patient_id: UUID, consent_id: UUID | None = None) -> list[ConsentOut]:
    with conn.cursor(row_factory=class_row(ConsentOut)) as cur:
        return cur.execute(
            "SELECT id, program, modality, obtained_at, obtained_by, text_version, cost_sharing_explained,"
            " revoked_at FROM consents WHERE patient_id = %(p)s AND (%(c)s::uuid IS NULL OR id = %(c)s)"
            " ORDER BY obtained_at, id",
            {"p": patient_id, "c": consent_id},
        ).fetchall()


def enrollments(conn: Conn, patient_id: UUID) -> list[EnrollmentOut]:
    with conn.cursor(row_factory=class_row(EnrollmentOut)) as cur:
        return cur.execute(
            "SELECT id, program, starts_on, ends_on, ordering_user_id, condition_icd10, end_reason"
            " FROM program_enrollments WHERE patient_id = %s ORDER BY starts_on, id",
            (patient_id,),
        ).fetchall()
