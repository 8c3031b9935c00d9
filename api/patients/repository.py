"""Patient queries. They run under ``carehub_api`` in a practice-scoped transaction: row-level
security confines them to the user's practice, so no practice filter is repeated here."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fastapi import HTTPException
from psycopg import sql
from psycopg.rows import class_row

from api.patients.schemas import PatientOut, PatientSort
from api.scope import Conn

_SORT_COLUMNS = {
    PatientSort.FAMILY_NAME: ("family_name", "ASC"),
    PatientSort.FAMILY_NAME_DESC: ("family_name", "DESC"),
    PatientSort.MRN: ("mrn", "ASC"),
    PatientSort.MRN_DESC: ("mrn", "DESC"),
    PatientSort.CREATED_AT: ("created_at", "ASC"),
    PatientSort.CREATED_AT_DESC: ("created_at", "DESC"),
}

_SELECT = """
SELECT p.id, p.mrn, p.given_name, p.family_name, p.birth_date, p.time_zone, p.created_at,
       coalesce((SELECT array_agg(DISTINCT k ORDER BY k) FROM patient_conditions c, unnest(c.condition_keys) k
                  WHERE c.patient_id = p.id AND c.resolved_on IS NULL), '{}') AS condition_keys
  FROM patients p
"""


@dataclass(frozen=True, slots=True)
class PatientFilter:
    name: str | None = None
    mrn: str | None = None
    condition: str | None = None


def _where(f: PatientFilter) -> tuple[sql.Composable, list[object]]:
    clauses: list[sql.Composable] = []
    params: list[object] = []
    if f.name:
        clauses.append(sql.SQL("(p.family_name ILIKE %s OR p.given_name ILIKE %s)"))
        pattern = f.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern, pattern]
    if f.mrn:
        clauses.append(sql.SQL("p.mrn = %s"))
        params.append(f.mrn)
    if f.condition:
        clauses.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM patient_conditions c WHERE c.patient_id = p.id"
                " AND c.resolved_on IS NULL AND %s = ANY(c.condition_keys))"
            )
        )
        params.append(f.condition)
    if not clauses:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


def list_patients(
    conn: Conn, f: PatientFilter, sort: PatientSort, limit: int, offset: int
) -> tuple[list[PatientOut], int]:
    where, params = _where(f)
    column, direction = _SORT_COLUMNS[sort]
    query = (
        sql.SQL(_SELECT)
        + where
        + sql.SQL(" ORDER BY {} {} NULLS LAST, p.id LIMIT %s OFFSET %s").format(
            sql.Identifier("p", column), sql.SQL(direction)
        )
    )
    with conn.cursor(row_factory=class_row(PatientOut)) as cur:
        rows = cur.execute(query, [*params, limit, offset]).fetchall()
    count = conn.execute(sql.SQL("SELECT count(*) FROM patients p") + where, params).fetchone()
    return rows, int(count[0]) if count else 0


def get_patient(conn: Conn, patient_id: UUID) -> PatientOut | None:
    with conn.cursor(row_factory=class_row(PatientOut)) as cur:
        return cur.execute(sql.SQL(_SELECT) + sql.SQL(" WHERE p.id = %s"), (patient_id,)).fetchone()


def patient_visible(conn: Conn, patient_id: UUID) -> bool:
    return conn.execute("SELECT EXISTS (SELECT 1 FROM patients WHERE id = %s)", (patient_id,)).fetchone() == (True,)


def require_patient(conn: Conn, patient_id: UUID) -> None:
    """404 unless the patient is visible to the request's practice (row-level security decides)."""
    if not patient_visible(conn, patient_id):
        raise HTTPException(status_code=404, detail="no such patient")
