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
from billing.case import Condition, Consent, Program, TimeSpent
from billing.enrollment import Enrollment
from billing.fee_schedule import ConversionFactorKind, FeeSchedule, FeeScheduleError
from billing.periods import NON_QUALIFYING_FLAGS, month_bounds
from core.ids import uuid7

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
        found[patient_id].append(Condition(code, tuple(keys), chronic))
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
    """Finished, non-voided care time touching the month, split at each patient's local midnight, of the
    patients in ``zones`` (those the report covers: time logged for a patient not enrolled that month,
    or outside the patient filter, is not theirs to bill)."""
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
            zone = zones.get(entry.patient_id)
            if zone is not None:
                spent[entry.patient_id].extend(time_spent_of(entry, zone))
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
    conn: Conn, *, patient_id: UUID, code: str, units: int, date_of_service: date, by: UUID, at: datetime
) -> bool:
    """Record a submitted claim line (idempotent: the same code and date again is a no-op)."""
    cur = conn.execute(
        "INSERT INTO billing_submitted_codes (id, practice_id, patient_id, code, units, date_of_service,"
        " submitted_by, submitted_at) SELECT %s, practice_id, id, %s, %s, %s, %s, %s FROM patients WHERE id = %s"
        " ON CONFLICT (patient_id, code, date_of_service) DO NOTHING",
        (uuid7(int(at.timestamp() * 1000)), code, units, date_of_service, by, at, patient_id),
    )
    return cur.rowcount == 1


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


# --- provisioning's enrollment facts (migration 0100_provisioning) ---------------------------------

# RPM-ELIG-1 / CCM-ELIG-3: a visit by the billing practice in the 12 months before the month ends.
ESTABLISHED_LOOKBACK = timedelta(days=365)


class DatabaseEnrollments:
    """The :class:`billing.enrollment.EnrollmentSource` over provisioning's tables.

    - enrolled: a ``program_enrollments`` row overlapping the month (its order names the ordering
      practitioner and the condition: RPM-ELIG-3); its ``starts_on`` opens the RPM episode;
    - consent: ``consents`` with cost-sharing explained, not revoked before the month, dated by the
      patient's local date of ``obtained_at`` (a revocation takes effect at the end of its month);
    - established: ``patients.last_visit_on`` within the 12 months before the month ends;
    - device-period anchor: the patient's first device activation (``devices.activated_at``, the
      first accepted reading) in the episode, as a local date;
    - the set-up and education visit behind 99453: the first ``device_setups`` row (0101) in the
      RPM episode;
    - care plan (CCM-ELIG-2) and complex CCM (CCM-TIME-3): ``care_plans`` and
      ``ccm_complexity_attestations`` (migration 0350).
    Other services billed outside carehub (APCM, PCM, RTM, ESRD, home health) and other
    practitioners' programs are not recorded anywhere yet; they are taken as none."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def enrollments(self, practice_id: UUID, month: date) -> dict[UUID, Enrollment]:
        first, last = month_bounds(month)
        programs: dict[UUID, set[Program]] = defaultdict(set)
        episode: dict[UUID, date] = {}
        for patient_id, program, starts_on in self._conn.execute(
            "SELECT patient_id, program, starts_on FROM program_enrollments WHERE practice_id = %s"
            " AND starts_on <= %s AND (ends_on IS NULL OR ends_on >= %s)",
            (practice_id, last, first),
        ):
            programs[patient_id].add(Program(program.upper()))
            if program == "rpm":
                episode[patient_id] = starts_on
        consents: dict[UUID, list[Consent]] = defaultdict(list)
        for consent_id, patient_id, program, on in self._conn.execute(
            "SELECT c.id, c.patient_id, c.program, (c.obtained_at AT TIME ZONE p.time_zone)::date"
            " FROM consents c JOIN patients p ON p.id = c.patient_id WHERE c.practice_id = %s"
            " AND c.cost_sharing_explained"
            " AND (c.revoked_at IS NULL OR (c.revoked_at AT TIME ZONE p.time_zone)::date >= %s)"
            " ORDER BY c.obtained_at",
            (practice_id, first),
        ):
            consents[patient_id].append(Consent(Program(program.upper()), on, str(consent_id)))
        established = {
            pid
            for (pid,) in self._conn.execute(
                "SELECT id FROM patients WHERE practice_id = %s AND last_visit_on BETWEEN %s AND %s",
                (practice_id, last - ESTABLISHED_LOOKBACK, last),
            )
        }
        care_plan = {
            pid
            for (pid,) in self._conn.execute(
                "SELECT DISTINCT patient_id FROM care_plans WHERE practice_id = %s AND established_on <= %s"
                " AND (ended_on IS NULL OR ended_on >= %s)",
                (practice_id, last, first),
            )
        }
        complex_ = {
            pid
            for (pid,) in self._conn.execute(
                "SELECT patient_id FROM ccm_complexity_attestations WHERE practice_id = %s AND month = %s",
                (practice_id, first),
            )
        }
        activated = dict(
            self._conn.execute(
                "SELECT a.patient_id, min((d.activated_at AT TIME ZONE p.time_zone)::date)"
                " FROM device_patient_assignments a JOIN devices d ON d.id = a.device_id"
                " JOIN patients p ON p.id = a.patient_id"
                " JOIN program_enrollments e ON e.patient_id = a.patient_id AND e.program = 'rpm'"
                " AND e.starts_on <= %(last)s AND (e.ends_on IS NULL OR e.ends_on >= %(first)s)"
                " WHERE a.practice_id = %(practice)s AND d.activated_at IS NOT NULL"
                # the activation of this patient's issue of the unit, not of a later patient's
                " AND d.activated_at >= a.valid_from AND (a.valid_to IS NULL OR d.activated_at < a.valid_to)"
                " AND (d.activated_at AT TIME ZONE p.time_zone)::date >= e.starts_on"
                " GROUP BY a.patient_id",
                {"practice": practice_id, "first": first, "last": last},
            ).fetchall()
        )
        setups = dict(
            self._conn.execute(
                "SELECT DISTINCT ON (s.patient_id) s.patient_id, s.id::text FROM device_setups s"
                " JOIN patients p ON p.id = s.patient_id"
                " JOIN program_enrollments e ON e.patient_id = s.patient_id AND e.program = 'rpm'"
                " AND e.starts_on <= %(last)s AND (e.ends_on IS NULL OR e.ends_on >= %(first)s)"
                " WHERE s.practice_id = %(practice)s AND (s.performed_at AT TIME ZONE p.time_zone)::date"
                " BETWEEN e.starts_on AND %(last)s ORDER BY s.patient_id, s.performed_at",
                {"practice": practice_id, "first": first, "last": last},
            ).fetchall()
        )
        return {
            pid: Enrollment(
                patient_id=pid,
                programs=frozenset(progs),
                established=pid in established,
                consents=tuple(consents.get(pid, ())),
                care_plan=pid in care_plan,
                ccm_complex=pid in complex_,
                rpm_order_on_file=Program.RPM in progs,
                device_period_start=activated.get(pid),
                rpm_episode_start=episode.get(pid),
                setup_record=setups.get(pid),
            )
            for pid, progs in programs.items()
        }


def record_care_plan(
    conn: Conn, *, patient_id: UUID, established_on: date, recorded_by: UUID, at: datetime,
    shared_with_patient_on: date | None = None,
) -> UUID:  # fmt: skip
    plan_id = uuid7(int(at.timestamp() * 1000))
    conn.execute(
        "INSERT INTO care_plans (id, practice_id, patient_id, established_on, shared_with_patient_on, recorded_by,"
        " recorded_at) SELECT %s, practice_id, id, %s, %s, %s, %s FROM patients WHERE id = %s",
        (plan_id, established_on, shared_with_patient_on, recorded_by, at, patient_id),
    )
    return plan_id


def attest_ccm_complexity(
    conn: Conn, *, patient_id: UUID, month: date, mdm: str, care_plan_change: str, by: UUID, at: datetime
) -> None:
    conn.execute(
        "INSERT INTO ccm_complexity_attestations (practice_id, patient_id, month, mdm, care_plan_change, attested_by,"
        " attested_at) SELECT practice_id, id, %s, %s, %s, %s, %s FROM patients WHERE id = %s",
        (month.replace(day=1), mdm, care_plan_change, by, at, patient_id),
    )
