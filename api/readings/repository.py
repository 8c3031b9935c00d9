"""Reading queries for one patient (under ``carehub_api``; row-level security scopes the practice)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from psycopg.rows import class_row

from api.readings.schemas import DailySummaryOut, ReadingOut
from api.scope import Conn

_READING_COLUMNS = (
    "reading_id, device_id, metric, value, special, unit, measured_at, measured_at_source, from_device_memory"
)


def readings_between(
    conn: Conn, patient_id: UUID, start: datetime, end: datetime, metric: int | None, limit: int
) -> list[ReadingOut]:
    with conn.cursor(row_factory=class_row(ReadingOut)) as cur:
        return cur.execute(
            f"SELECT {_READING_COLUMNS} FROM readings"
            " WHERE patient_id = %s AND measured_at >= %s AND measured_at < %s"
            " AND (%s::integer IS NULL OR metric = %s::integer)"
            " ORDER BY measured_at DESC, metric LIMIT %s",
            (patient_id, start, end, metric, metric, limit),
        ).fetchall()


def latest_per_metric(conn: Conn, patient_id: UUID) -> list[ReadingOut]:
    with conn.cursor(row_factory=class_row(ReadingOut)) as cur:
        return cur.execute(
            f"SELECT DISTINCT ON (metric) {_READING_COLUMNS} FROM readings"
            " WHERE patient_id = %s ORDER BY metric, measured_at DESC",
            (patient_id,),
        ).fetchall()


def daily_between(conn: Conn, patient_id: UUID, first: date, last: date, metric: int | None) -> list[DailySummaryOut]:
    with conn.cursor(row_factory=class_row(DailySummaryOut)) as cur:
        return cur.execute(
            "SELECT metric, day, observations, values_count, min_value, max_value, mean_value,"
            " first_measured_at, last_measured_at FROM reading_daily"
            " WHERE patient_id = %s AND day >= %s AND day <= %s AND (%s::integer IS NULL OR metric = %s::integer)"
            " ORDER BY day, metric",
            (patient_id, first, last, metric, metric),
        ).fetchall()
