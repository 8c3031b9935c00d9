"""Patient enrollment: demographics that logistics and billing need (MBI, address, last visit),
diagnoses (ICD-10-CM codes; condition keys derived by the database from the §B prefix table),
consent records, and program enrollments gated by :mod:`provisioning.eligibility`.

Patient data (MBI, address) never reaches a log line or an error message here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import errors as pg_errors

from provisioning.eligibility import (
    ConditionFact,
    ConsentFact,
    Eligibility,
    PatientFacts,
    Program,
    ccm_eligibility,
    rpm_eligibility,
)
from provisioning.identifiers import InvalidIdentifier, normalise_mbi
from provisioning.registry import Conn, RegistryError, UnknownRecord, new_id


class EnrollmentError(RegistryError):
    """An enrollment step was refused."""


class ConditionAlreadyRecorded(EnrollmentError):
    """The patient already has a diagnosis with this code."""


class InvalidCondition(EnrollmentError):
    """The code is not an ICD-10-CM code, or the dates are not in order."""


class ConditionAlreadyResolved(EnrollmentError):
    """The diagnosis was resolved before."""


class NoConsentInForce(EnrollmentError):
    """There is no unrevoked consent to revoke."""


class AlreadyEnrolled(EnrollmentError):
    """An enrollment in the program already covers part of the period."""


class NoOpenEnrollment(EnrollmentError):
    """There is no open enrollment in the program to end."""


class NotEligible(EnrollmentError):
    def __init__(self, eligibility: Eligibility) -> None:
        rules = "; ".join(f"{f.rule}: {f.detail}" for f in eligibility.blocking)
        super().__init__(f"not eligible for {eligibility.program.value.upper()}: {rules}")
        self.eligibility = eligibility


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    city: str
    state: str
    postal_code: str
    line2: str | None = None


def _patient_practice(conn: Conn, patient_id: UUID) -> UUID:
    row = conn.execute("SELECT practice_id FROM patients WHERE id = %s", (patient_id,)).fetchone()
    if row is None:
        raise UnknownRecord(f"no patient {patient_id}")
    practice: UUID = row[0]
    return practice


def patient_by_mrn(conn: Conn, practice_id: UUID, mrn: str) -> UUID:
    row = conn.execute("SELECT id FROM patients WHERE practice_id = %s AND mrn = %s", (practice_id, mrn)).fetchone()
    if row is None:
        raise UnknownRecord("no patient with that MRN in the practice")
    patient: UUID = row[0]
    return patient


def update_patient(
    conn: Conn,
    patient_id: UUID,
    *,
    mbi: str | None = None,
    address: Address | None = None,
    last_visit_on: date | None = None,
    birth_date: date | None = None,
) -> None:
    """Set the given fields (others unchanged). The MBI is validated by its CMS format."""
    mbi_value = normalise_mbi(mbi) if mbi is not None else None
    if address is not None and not (len(address.state) == 2 and address.state.isalpha()):
        raise InvalidIdentifier("state is a two-letter USPS code")
    try:
        with conn.transaction():
            cur = conn.execute(
                """
                UPDATE patients SET
                    mbi = coalesce(%(mbi)s, mbi),
                    address_line1 = CASE WHEN %(has_addr)s THEN %(line1)s ELSE address_line1 END,
                    address_line2 = CASE WHEN %(has_addr)s THEN %(line2)s ELSE address_line2 END,
                    city = CASE WHEN %(has_addr)s THEN %(city)s ELSE city END,
                    state = CASE WHEN %(has_addr)s THEN %(state)s ELSE state END,
                    postal_code = CASE WHEN %(has_addr)s THEN %(postal)s ELSE postal_code END,
                    last_visit_on = coalesce(%(visit)s, last_visit_on),
                    birth_date = coalesce(%(birth)s, birth_date)
                 WHERE id = %(id)s
                """,
                {
                    "mbi": mbi_value,
                    "has_addr": address is not None,
                    "line1": address.line1 if address else None,
                    "line2": address.line2 if address else None,
                    "city": address.city if address else None,
                    "state": address.state.upper() if address else None,
                    "postal": address.postal_code if address else None,
                    "visit": last_visit_on,
                    "birth": birth_date,
                    "id": patient_id,
                },
            )
    except pg_errors.UniqueViolation as exc:
        raise EnrollmentError("another patient of the practice has this MBI") from exc
    except pg_errors.CheckViolation as exc:
        raise EnrollmentError(f"patient field refused: {exc.diag.constraint_name}") from exc
    if cur.rowcount != 1:
        raise UnknownRecord(f"no patient {patient_id}")


def patient_address(conn: Conn, patient_id: UUID) -> Address | None:
    row = conn.execute(
        "SELECT address_line1, city, state, postal_code, address_line2 FROM patients WHERE id = %s", (patient_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return Address(row[0], row[1], row[2], row[3], row[4])


def add_condition(
    conn: Conn,
    patient_id: UUID,
    *,
    icd10_code: str,
    chronic: bool,
    recorded_by: UUID,
    onset_on: date | None = None,
    description: str | None = None,
) -> tuple[str, ...]:
    """Record a diagnosis; returns the condition keys the database derived for it."""
    practice = _patient_practice(conn, patient_id)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic, onset_on,"
                " description, recorded_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING condition_keys",
                (
                    new_id(),
                    practice,
                    patient_id,
                    icd10_code.strip().upper(),
                    chronic,
                    onset_on,
                    description,
                    recorded_by,
                ),
            ).fetchone()
    except pg_errors.UniqueViolation as exc:
        raise ConditionAlreadyRecorded(f"condition {icd10_code} is already recorded for the patient") from exc
    except pg_errors.CheckViolation as exc:
        raise InvalidCondition(f"{icd10_code!r} is not an ICD-10-CM code") from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise EnrollmentError("the recording user must be staff of the patient's practice") from exc
    return tuple(row[0]) if row else ()


def resolve_condition(conn: Conn, patient_id: UUID, condition_id: UUID, *, resolved_on: date) -> None:
    """Mark a diagnosis resolved from ``resolved_on`` (it stops counting from that day; the row stays)."""
    row = conn.execute(
        "SELECT resolved_on, onset_on FROM patient_conditions WHERE id = %s AND patient_id = %s FOR UPDATE",
        (condition_id, patient_id),
    ).fetchone()
    if row is None:
        raise UnknownRecord("no such condition for the patient")
    if row[0] is not None:
        raise ConditionAlreadyResolved(f"the condition was resolved on {row[0].isoformat()}")
    if row[1] is not None and resolved_on < row[1]:
        raise InvalidCondition(f"a condition is resolved on or after its onset ({row[1].isoformat()})")
    conn.execute("UPDATE patient_conditions SET resolved_on = %s WHERE id = %s", (resolved_on, condition_id))


def record_consent(
    conn: Conn,
    patient_id: UUID,
    *,
    program: Program,
    modality: str,
    obtained_at: datetime,
    obtained_by: UUID,
    text_version: str,
    cost_sharing_explained: bool,
) -> UUID:
    practice = _patient_practice(conn, patient_id)
    consent_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO consents (id, practice_id, patient_id, program, modality, obtained_at, obtained_by,"
                " text_version, cost_sharing_explained) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    consent_id,
                    practice,
                    patient_id,
                    program.value,
                    modality,
                    obtained_at,
                    obtained_by,
                    text_version,
                    cost_sharing_explained,
                ),
            )
    except pg_errors.CheckViolation as exc:
        raise EnrollmentError(f"consent refused: {exc.diag.constraint_name}") from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise EnrollmentError("the user who obtained consent must be staff of the patient's practice") from exc
    return consent_id


def revoke_consent(conn: Conn, patient_id: UUID, *, program: Program, at: datetime, strict: bool = False) -> int:
    """Revoke the patient's consents to ``program`` in force at ``at``; with ``strict``, having none
    is an error (:class:`NoConsentInForce`) rather than zero rows."""
    cur = conn.execute(
        "UPDATE consents SET revoked_at = %s WHERE patient_id = %s AND program = %s AND revoked_at IS NULL"
        " AND obtained_at <= %s",
        (at, patient_id, program.value, at),
    )
    if strict and cur.rowcount == 0:
        raise NoConsentInForce(f"no {program.value} consent in force to revoke")
    return cur.rowcount


def patient_facts(conn: Conn, patient_id: UUID) -> PatientFacts:
    row = conn.execute("SELECT last_visit_on, mbi IS NOT NULL FROM patients WHERE id = %s", (patient_id,)).fetchone()
    if row is None:
        raise UnknownRecord(f"no patient {patient_id}")
    conditions = conn.execute(
        """
        SELECT c.icd10_code, c.condition_keys, c.chronic,
               (SELECT p.chronic_default FROM icd10_condition_prefixes p
                 WHERE carehub_icd10_normalise(c.icd10_code) LIKE p.prefix || '%%'
                 ORDER BY length(p.prefix) DESC LIMIT 1),
               c.onset_on, c.resolved_on
          FROM patient_conditions c WHERE c.patient_id = %s ORDER BY c.icd10_code
        """,
        (patient_id,),
    ).fetchall()
    consents = conn.execute(
        "SELECT program, obtained_at, revoked_at, cost_sharing_explained FROM consents WHERE patient_id = %s"
        " ORDER BY obtained_at",
        (patient_id,),
    ).fetchall()
    return PatientFacts(
        last_visit_on=row[0],
        has_mbi=bool(row[1]),
        conditions=tuple(ConditionFact(c[0], tuple(c[1]), c[2], c[3], c[4], c[5]) for c in conditions),
        consents=tuple(ConsentFact(Program(c[0]), c[1], c[2], c[3]) for c in consents),
    )


def check_eligibility(conn: Conn, patient_id: UUID, program: Program, *, on: date, condition_icd10: str) -> Eligibility:
    facts = patient_facts(conn, patient_id)
    if program is Program.RPM:
        return rpm_eligibility(facts, on=on, condition_icd10=condition_icd10)
    return ccm_eligibility(facts, on=on)


def enroll(
    conn: Conn,
    patient_id: UUID,
    *,
    program: Program,
    starts_on: date,
    ordering_user_id: UUID,
    condition_icd10: str,
    ordering_npi: str | None = None,
) -> UUID:
    """Enroll the patient if every eligibility rule passes on ``starts_on``; otherwise :class:`NotEligible`."""
    eligibility = check_eligibility(conn, patient_id, program, on=starts_on, condition_icd10=condition_icd10)
    if not eligibility.eligible:
        raise NotEligible(eligibility)
    practice = _patient_practice(conn, patient_id)
    enrollment_id = new_id()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO program_enrollments (id, practice_id, patient_id, program, starts_on, ordering_user_id,"
                " ordering_npi, condition_icd10) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    enrollment_id,
                    practice,
                    patient_id,
                    program.value,
                    starts_on,
                    ordering_user_id,
                    ordering_npi,
                    condition_icd10.strip().upper(),
                ),
            )
    except pg_errors.ExclusionViolation as exc:
        raise AlreadyEnrolled(f"the patient is already enrolled in {program.value.upper()} for that period") from exc
    except pg_errors.ForeignKeyViolation as exc:
        raise EnrollmentError("the ordering practitioner must be staff of the patient's practice") from exc
    except pg_errors.CheckViolation as exc:
        raise EnrollmentError(f"enrollment refused: {exc.diag.constraint_name}") from exc
    return enrollment_id


def end_enrollment(
    conn: Conn, patient_id: UUID, *, program: Program, ends_on: date, reason: str, strict: bool = False
) -> int:
    """End the open enrollment in ``program`` on ``ends_on``; with ``strict``, having none that started by
    then is an error (:class:`NoOpenEnrollment`) rather than zero rows."""
    try:
        with conn.transaction():
            cur = conn.execute(
                "UPDATE program_enrollments SET ends_on = %s, end_reason = %s"
                " WHERE patient_id = %s AND program = %s AND ends_on IS NULL AND starts_on <= %s",
                (ends_on, reason, patient_id, program.value, ends_on),
            )
    except pg_errors.CheckViolation as exc:
        raise EnrollmentError(f"enrollment end refused: {exc.diag.constraint_name}") from exc
    if strict and cur.rowcount == 0:
        raise NoOpenEnrollment(f"no open {program.value} enrollment that started by {ends_on.isoformat()}")
    return cur.rowcount


def enrolled_on(conn: Conn, patient_id: UUID, program: Program, on: date) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM program_enrollments WHERE patient_id = %s AND program = %s"
        " AND starts_on <= %s AND (ends_on IS NULL OR ends_on >= %s))",
        (patient_id, program.value, on, on),
    ).fetchone()
    return bool(row and row[0])


def patient_summary(conn: Conn, patient_id: UUID) -> dict[str, Any]:
    """What staff need to see before shipping: identifiers on file (the MBI itself is not echoed),
    the shipping city, diagnoses with their condition keys, consents, enrollments and current devices."""
    row = conn.execute(
        "SELECT mrn, time_zone, mbi IS NOT NULL, city, state, last_visit_on FROM patients WHERE id = %s",
        (patient_id,),
    ).fetchone()
    if row is None:
        raise UnknownRecord(f"no patient {patient_id}")

    def rows(sql: str) -> list[dict[str, Any]]:
        cur = conn.execute(sql, (patient_id,))
        names = [c.name for c in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    return {
        "mrn": row[0],
        "time_zone": row[1],
        "mbi_on_file": row[2],
        "city": row[3],
        "state": row[4],
        "last_visit_on": row[5],
        "conditions": rows(
            "SELECT icd10_code, condition_keys, chronic, resolved_on FROM patient_conditions"
            " WHERE patient_id = %s ORDER BY icd10_code"
        ),
        "consents": rows(
            "SELECT program, modality, obtained_at, text_version, revoked_at FROM consents"
            " WHERE patient_id = %s ORDER BY obtained_at"
        ),
        "enrollments": rows(
            "SELECT program, starts_on, ends_on, condition_icd10, end_reason FROM program_enrollments"
            " WHERE patient_id = %s ORDER BY starts_on"
        ),
        "devices": rows(
            "SELECT d.serial, d.kind, d.custody_state, a.valid_from AS assigned_at FROM device_patient_assignments a"
            " JOIN devices d ON d.id = a.device_id WHERE a.patient_id = %s AND a.valid_to IS NULL ORDER BY d.serial"
        ),
    }
