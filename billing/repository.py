"""All SQL the monthly report runs, in one place: patients, conditions, local data days, care time,
submitted codes and the fee schedule of a practice-month. Set-based (one statement per kind of fact
for the whole practice), so a 10,000-patient report is a handful of queries, not 10,000 × N.

Data days are counted in the database, in each patient's time zone (RPM-DAYS-1), from the narrow
``readings`` table: a reading counts when it has a value (no special standing in for an absent one),
carries none of :data:`billing.periods.NON_QUALIFYING_FLAGS` (manual entries, test traffic, invalid
measurements) and was stored once (``readings_once`` keeps replays out)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from billing.care_time import CareTimeEntry, time_spent_of
from billing.case import Condition, TimeSpent
from billing.fee_schedule import ConversionFactorKind, FeeSchedule, FeeScheduleError
from billing.periods import NON_QUALIFYING_FLAGS, month_bounds

Conn = psycopg.Connection[Any]

# Periods reported in a month start at most 29 days before it; a day more covers every time zone.
LOOKBACK_DAYS = 31


@dataclass(frozen=True, slots=True)
class PatientRow:
    id: UUID
    mrn: str
    time_zone: str


def _utc(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def patients(conn: Conn, practice_id: UUID) -> list[PatientRow]:
    with conn.cursor(row_factory=class_row(PatientRow)) as cur:
        cur.execute("SELECT id, mrn, time_zone FROM patients WHERE practice_id = %s ORDER BY mrn", (practice_id,))
        return cur.fetchall()


def conditions(conn: Conn, practice_id: UUID, month: date) -> dict[UUID, tuple[Condition, ...]]:
    """Diagnoses active at some point in the month, with the §B key and the clinician's chronic flag."""
    first, last = month_bounds(month)
    found: dict[UUID, list[Condition]] = defaultdict(list)
    for patient_id, code, keys, chronic in conn.execute(
        "SELECT patient_id, icd10_code, condition_keys, chronic FROM patient_conditions"
        " WHERE practice_id = %s AND (onset_on IS NULL OR onset_on <= %s)"
        " AND (resolved_on IS NULL OR resolved_on >= %s) ORDER BY patient_id, icd10_code",
        (practice_id, last, first),
    ):
        found[patient_id].append(Condition(code, keys[0] if keys else None, chronic))
    return {k: tuple(v) for k, v in found.items()}


_QUALIFYING = "r.value IS NOT NULL AND NOT (coalesce(r.flags, '{}') && %(excluded)s::text[])"


def data_days(conn: Conn, practice_id: UUID, month: date) -> dict[UUID, frozenset[date]]:
    """Each patient's local dates with a qualifying reading, from the earliest period that can end
    in ``month`` through the month's end."""
    first, last = month_bounds(month)
    params = {
        "practice": practice_id,
        "lo": _utc(first - timedelta(days=LOOKBACK_DAYS)),
        "hi": _utc(last + timedelta(days=2)),
        "excluded": sorted(NON_QUALIFYING_FLAGS),
    }
    days: dict[UUID, frozenset[date]] = {}
    for patient_id, local_days in conn.execute(
        "SELECT r.patient_id, array_agg(DISTINCT (r.measured_at AT TIME ZONE p.time_zone)::date)"
        " FROM readings r JOIN patients p ON p.id = r.patient_id"
        " WHERE r.practice_id = %(practice)s AND r.measured_at >= %(lo)s AND r.measured_at < %(hi)s"
        f" AND {_QUALIFYING} GROUP BY r.patient_id",
        params,
    ):
        days[patient_id] = frozenset(local_days)
    return days


def first_data_days(conn: Conn, practice_id: UUID, since: Mapping[UUID, date]) -> dict[UUID, date]:
    """Each given patient's first local data day on or after the given date (the RPM-DAYS-2 anchor
    when no device-period start is recorded)."""
    if not since:
        return {}
    ids = list(since)
    found: dict[UUID, date] = {}
    rows = conn.execute(
        "SELECT r.patient_id, p.time_zone, min(r.measured_at) FROM readings r JOIN patients p ON p.id = r.patient_id"
        " JOIN unnest(%(ids)s::uuid[], %(since)s::date[]) AS s (patient_id, since) ON s.patient_id = r.patient_id"
        " WHERE r.practice_id = %(practice)s"
        " AND (r.measured_at AT TIME ZONE p.time_zone)::date >= s.since"
        f" AND {_QUALIFYING} GROUP BY r.patient_id, p.time_zone",
        {
            "ids": ids,
            "since": [since[i] for i in ids],
            "practice": practice_id,
            "excluded": sorted(NON_QUALIFYING_FLAGS),
        },
    )
    from zoneinfo import ZoneInfo

    for patient_id, zone, first in rows:
        found[patient_id] = first.astimezone(ZoneInfo(zone)).date()
    return found


def time_spent(
    conn: Conn, practice_id: UUID, month: date, zones: Mapping[UUID, str]
) -> dict[UUID, tuple[TimeSpent, ...]]:
    """Finished, non-voided care time touching the month, split at each patient's local midnight."""
    first, last = month_bounds(month)
    spent: dict[UUID, list[TimeSpent]] = defaultdict(list)
    with conn.cursor(row_factory=class_row(CareTimeEntry)) as cur:
        cur.execute(
            "SELECT id, practice_id, patient_id, performer_id, program, performer_role, activity, interactive, source,"
            " started_at, ended_at, note, version, voided_at FROM care_time_entries"
            " WHERE practice_id = %s AND voided_at IS NULL AND ended_at IS NOT NULL"
            " AND started_at < %s AND ended_at > %s ORDER BY started_at",
            (practice_id, _utc(last + timedelta(days=2)), _utc(first - timedelta(days=1))),
        )
        for entry in cur:
            spent[entry.patient_id].extend(time_spent_of(entry, zones[entry.patient_id]))
    return {k: tuple(v) for k, v in spent.items()}


def setup_billed(conn: Conn, practice_id: UUID, episode_starts: Mapping[UUID, date | None]) -> set[UUID]:
    """Patients whose 99453 was already submitted in the current episode (RPM-SETUP-1)."""
    billed: set[UUID] = set()
    for patient_id, dos in conn.execute(
        "SELECT patient_id, max(date_of_service) FROM billing_submitted_codes"
        " WHERE practice_id = %s AND code = '99453' GROUP BY patient_id",
        (practice_id,),
    ):
        start = episode_starts.get(patient_id)
        if start is None or dos >= start:
            billed.add(patient_id)
    return billed


def record_submitted(
    conn: Conn,
    *,
    practice_id: UUID,
    patient_id: UUID,
    code: str,
    units: int,
    date_of_service: date,
    by: UUID,
    at: datetime,
    line_id: UUID,
) -> None:
    conn.execute(
        "INSERT INTO billing_submitted_codes (id, practice_id, patient_id, code, units, date_of_service,"
        " submitted_by, submitted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (patient_id, code, date_of_service) DO NOTHING",
        (line_id, practice_id, patient_id, code, units, date_of_service, by, at),
    )


def fee_schedule(conn: Conn, year: int, kind: ConversionFactorKind) -> FeeSchedule:
    row = conn.execute(
        "SELECT factor FROM billing_conversion_factors WHERE year = %s AND kind = %s", (year, kind.value)
    ).fetchone()
    if row is None:
        raise FeeScheduleError(f"no {kind.value} conversion factor loaded for {year}")
    rvus: dict[str, Decimal] = dict(
        conn.execute("SELECT code, rvu FROM billing_fee_rvus WHERE year = %s", (year,)).fetchall()
    )
    return FeeSchedule(year, Decimal(row[0]), rvus)


def load_fee_schedule(
    conn: Conn,
    *,
    year: int,
    rvus: Mapping[str, Decimal],
    factors: Iterable[tuple[ConversionFactorKind, Decimal]],
    source: str,
) -> None:
    """Replace a year's schedule in one transaction (a new CMS quarterly release)."""
    with conn.transaction():
        conn.execute("DELETE FROM billing_fee_rvus WHERE year = %s", (year,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO billing_fee_rvus (year, code, rvu, source) VALUES (%s, %s, %s, %s)",
                [(year, code, rvu, source) for code, rvu in sorted(rvus.items())],
            )
        for kind, factor in factors:
            conn.execute(
                "INSERT INTO billing_conversion_factors (year, kind, factor, source) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (year, kind) DO UPDATE SET factor = excluded.factor, source = excluded.source",
                (year, kind.value, factor, source),
            )
