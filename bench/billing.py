"""Billing benchmark: the monthly report of a practice with 10,000 enrolled patients, a month of
readings (about 3 blood-pressure readings a day each, 3 observation rows per reading) and care
time, against the same report computed naively per patient, in one run on one database.

Contenders, each in its own child process so its peak RSS is its own:
  (a) carehub: ``billing.report.build_report`` (set-based SQL, data days counted in the database);
  (b) naive: per patient, fetch its readings, care time and conditions with three queries, count
      local days in Python, run the same engine.
Both must produce identical codes and amounts for every patient (checked, not assumed).

Seeding: patients, conditions and care time through SQL (care time with its audit trigger);
readings by COPY straight into ``readings`` (the report, not ingest, is measured here). Each
patient gets a random engagement (0-30 days with data, some manual and test-flagged readings).

Prints each contender's time and peak RSS, and the ratio b/a. Goal for (a): under 10 s and
under 500 MB on this machine.
Usage: .venv/bin/python bench/billing.py [--patients N] [--seed S] [--naive-patients N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from billing.care_time import CareTimeEntry, time_spent_of
from billing.case import Condition, TimeSpent
from billing.engine import decide
from billing.fee_schedule import ConversionFactorKind
from billing.periods import ReadingFact, ReadingSource, local_data_days
from billing.report import build_case, build_report
from billing.repository import DatabaseEnrollments, fee_schedule, first_data_days, setup_billed
from billing.rules_2026 import RULES_2026
from core.db import connect, create_database, drop_database, with_database
from core.domain import METRICS, Metric
from core.migrate import migrate

MONTH = date(2026, 11, 1)
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu")
CODES = [METRICS[m].code for m in (Metric.MDC_PRESS_BLD_NONINV_SYS, Metric.MDC_PRESS_BLD_NONINV_DIA)]
PULSE = METRICS[Metric.MDC_PULS_RATE_NON_INV].code
NURSES = 60


def say(text: str) -> None:
    print(text, flush=True)


# ----------------------------------------------------------------------------------------- seeding


def seed(url: str, patients: int, rng: random.Random) -> tuple[UUID, int]:
    with connect(url, application_name="bench-billing", autocommit=True) as conn:
        migrate(conn)
        conn.execute("SELECT carehub_ensure_reading_partitions('2026-09-01', '2027-01-01')")
        practice = uuid4()
        conn.execute("INSERT INTO practices (id, name, time_zone) VALUES (%s, 'Bench', 'America/Chicago')", (practice,))
        nurses = [uuid4() for _ in range(NURSES)]
        doctor = uuid4()
        with conn.cursor().copy("COPY users (id, practice_id, email, display_name, role, credential) FROM STDIN") as cp:
            for i, nurse in enumerate(nurses):
                cp.write_row((nurse, practice, f"nurse{i}@bench.example", f"nurse {i}", "care_staff", "nurse"))
            cp.write_row((doctor, practice, "doctor@bench.example", "doctor", "clinician", "physician"))
        ids = [uuid4() for _ in range(patients)]
        zones = {pid: rng.choice(ZONES) for pid in ids}
        with conn.cursor().copy("COPY patients (id, practice_id, mrn, time_zone) FROM STDIN") as cp:
            for n, pid in enumerate(ids):
                cp.write_row((pid, practice, f"M{n:06d}", zones[pid]))
        with conn.cursor().copy(
            "COPY patient_conditions (id, practice_id, patient_id, icd10_code, chronic) FROM STDIN"
        ) as cp:
            for pid in ids:
                for code in rng.sample(["I10", "E11.9", "I50.9", "J44.9", "N18.3"], rng.choice([1, 2, 2, 3])):
                    cp.write_row((uuid4(), practice, pid, code, True))
        devices = {pid: uuid4() for pid in ids}
        seed_enrollment(conn, practice, ids, devices, doctor)
        rows = 0
        t0 = time.perf_counter()
        with conn.cursor().copy(
            "COPY readings (practice_id, patient_id, device_id, reading_id, metric, value, unit, measured_at,"
            " measured_at_source, received_at, from_device_memory, flags) FROM STDIN"
        ) as cp:
            for pid in ids:
                device = devices[pid]
                zone = ZoneInfo(zones[pid])
                engaged = rng.choice([0, 3, 8, 12, 14, 15, 16, 17, 22, 28, 30, 30, 30])
                for day in sorted(rng.sample(range(30), engaged)):
                    for hour in (7, 13, 21)[: rng.choice([2, 3, 3, 4])]:
                        at = datetime(2026, 11, 1 + day, hour, rng.randrange(60), tzinfo=zone).astimezone(UTC)
                        flags = (
                            ["manual_entry"]
                            if rng.random() < 0.03
                            else (["test_data"] if rng.random() < 0.01 else None)
                        )
                        reading = uuid4()
                        for metric_code, value, unit in (
                            (CODES[0], 128.0, "mm[Hg]"),
                            (CODES[1], 82.0, "mm[Hg]"),
                            (PULSE, 70.0, "/min"),
                        ):
                            cp.write_row(
                                (
                                    practice,
                                    pid,
                                    device,
                                    reading,
                                    metric_code,
                                    value,
                                    unit,
                                    at,
                                    "device_clock",
                                    at,
                                    False,
                                    flags,
                                )
                            )
                            rows += 1
        say(f"  {rows:,} reading rows copied in {time.perf_counter() - t0:.1f} s")
        # care time: RPM for most, CCM for some; each nurse's entries are back to back, never overlapping
        slot: dict[UUID, datetime] = defaultdict(lambda: datetime(2026, 11, 1, 14, tzinfo=UTC))
        entries = 0
        with conn.transaction():
            for n, pid in enumerate(ids):
                nurse = nurses[n % NURSES]  # one nurse per patient: the patient's entries never overlap
                for program, minutes in (
                    ("RPM", rng.choice([0, 5, 12, 21, 25, 41, 65])),
                    ("CCM", rng.choice([0, 0, 22, 45])),
                ):
                    if not minutes:
                        continue
                    start = slot[nurse]
                    slot[nurse] = start + timedelta(minutes=minutes)
                    conn.execute(
                        "INSERT INTO care_time_entries (id, practice_id, patient_id, performer_id, program,"
                        " performer_role, activity, interactive, source, started_at, ended_at, created_by,"
                        " created_at, updated_by, updated_at) VALUES (%s, %s, %s, %s, %s, 'clinical_staff',"
                        " 'patient_call', %s, 'manual', %s, %s, %s, %s, %s, %s)",
                        (
                            uuid4(),
                            practice,
                            pid,
                            nurse,
                            program,
                            rng.random() < 0.8,
                            start,
                            start + timedelta(minutes=minutes),
                            nurse,
                            start,
                            nurse,
                            start,
                        ),
                    )
                    entries += 1
        conn.execute("ANALYZE")
    say(f"  {patients:,} patients, {entries:,} care time entries")
    return practice, rows


def seed_enrollment(conn: Any, practice: UUID, ids: list[UUID], devices: dict[UUID, UUID], doctor: UUID) -> None:
    """Provisioning's records (migration 0100) for every patient: last visit, RPM and CCM consent and
    enrollment from 1 October, a care plan, and the cuff set up and activated on 1 November."""
    conn.execute("UPDATE patients SET last_visit_on = '2026-09-01' WHERE practice_id = %s", (practice,))
    consented = datetime(2026, 10, 1, 17, tzinfo=UTC)
    with conn.cursor().copy(
        "COPY consents (id, practice_id, patient_id, program, modality, obtained_at, obtained_by, text_version,"
        " cost_sharing_explained) FROM STDIN"
    ) as cp:
        for pid in ids:
            for program in ("rpm", "ccm"):
                cp.write_row((uuid4(), practice, pid, program, "verbal", consented, doctor, "v1", True))
    with conn.cursor().copy(
        "COPY program_enrollments (id, practice_id, patient_id, program, starts_on, ordering_user_id,"
        " condition_icd10) FROM STDIN"
    ) as cp:
        for pid in ids:
            for program in ("rpm", "ccm"):
                cp.write_row((uuid4(), practice, pid, program, date(2026, 10, 1), doctor, "I10"))
    with conn.cursor().copy(
        "COPY care_plans (id, practice_id, patient_id, established_on, recorded_by, recorded_at) FROM STDIN"
    ) as cp:
        for pid in ids:
            cp.write_row((uuid4(), practice, pid, date(2026, 10, 1), doctor, consented))
    activated = datetime(2026, 11, 1, 12, tzinfo=UTC)
    with conn.cursor().copy(
        "COPY devices (id, practice_id, serial, kind, connectivity, activated_at) FROM STDIN"
    ) as cp:
        for pid in ids:
            cp.write_row((devices[pid], practice, f"BENCH-{devices[pid].hex[:20]}", "bp_cuff", "ble", activated))
    with conn.cursor().copy(
        "COPY device_patient_assignments (id, practice_id, device_id, patient_id, valid_from) FROM STDIN"
    ) as cp:
        for pid in ids:
            cp.write_row((uuid4(), practice, devices[pid], pid, datetime(2026, 10, 1, tzinfo=UTC)))
    with conn.cursor().copy(
        "COPY device_setups (id, practice_id, patient_id, device_id, performed_by, performed_at, modality) FROM STDIN"
    ) as cp:
        for pid in ids:
            cp.write_row((uuid4(), practice, pid, devices[pid], doctor, activated, "phone"))


# --------------------------------------------------------------------------------------- contenders


def carehub_report(url: str, practice: UUID) -> dict[str, list[tuple[str, int, str]]]:
    with connect(url, application_name="bench-billing", autocommit=True) as conn:
        fees = fee_schedule(conn, 2026, ConversionFactorKind.NON_QP)
        report = build_report(
            conn,
            practice_id=practice,
            month=MONTH,
            as_of=date(2026, 11, 30),
            rules=RULES_2026,
            fees=fees,
            enrollments=DatabaseEnrollments(conn),
        )
    return {
        str(p.patient_id): [(c.code.value, c.units, str(c.amount)) for c in p.result.codes] for p in report.patients
    }


def naive_report(url: str, practice: UUID, limit: int) -> dict[str, list[tuple[str, int, str]]]:
    """What a straightforward implementation does: one patient at a time, three queries each (the
    enrollment facts are read the same way as carehub's, once)."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    with connect(url, application_name="bench-billing-naive", autocommit=True) as conn:
        enrolled = DatabaseEnrollments(conn).enrollments(practice, MONTH)
        fees = fee_schedule(conn, 2026, ConversionFactorKind.NON_QP)
        people = conn.execute(
            "SELECT id, time_zone FROM patients WHERE practice_id = %s ORDER BY mrn LIMIT %s", (practice, limit)
        ).fetchall()
        for pid, zone in people:
            enrollment = enrolled[pid]
            readings = [
                ReadingFact(
                    at,
                    ReadingSource.MANUAL if flags and "manual_entry" in flags else ReadingSource.DEVICE,
                    frozenset(flags or ()),
                    value is None,
                )
                for at, flags, value in conn.execute(
                    "SELECT measured_at, flags, value FROM readings WHERE patient_id = %s"
                    " AND measured_at >= %s AND measured_at < %s",
                    (pid, datetime(2026, 9, 30, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)),
                )
            ]
            spent: list[TimeSpent] = []
            for row in conn.execute(
                "SELECT id, practice_id, patient_id, performer_id, program, performer_role, activity, interactive,"
                " source, started_at, ended_at, note, version, voided_at FROM care_time_entries"
                " WHERE patient_id = %s AND voided_at IS NULL AND ended_at IS NOT NULL",
                (pid,),
            ):
                spent.extend(time_spent_of(CareTimeEntry(*row), zone))
            conditions = tuple(
                Condition(code, tuple(keys), chronic)
                for code, keys, chronic in conn.execute(
                    "SELECT icd10_code, condition_keys, chronic FROM patient_conditions WHERE patient_id = %s"
                    " ORDER BY icd10_code",
                    (pid,),
                )
            )
            anchor = enrollment.device_period_start
            if anchor is None:
                anchor = first_data_days(conn, practice, {pid: min(c.on for c in enrollment.consents)}).get(pid)
            case = build_case(
                MONTH, enrollment, conditions, local_data_days(readings, zone), tuple(spent), anchor,
                pid in setup_billed(conn, practice, {pid: enrollment.rpm_episode_start}),
            )  # fmt: skip
            result = decide(case, RULES_2026, fees)
            out[str(pid)] = [(c.code.value, c.units, str(c.amount)) for c in result.codes]
    return out


def run_contender(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.contender == "carehub":
        result = carehub_report(args.url, UUID(args.practice))
    else:
        result = naive_report(args.url, UUID(args.practice), args.naive_patients)
    elapsed = time.perf_counter() - t0
    Path(args.out).write_text(json.dumps({"elapsed_s": elapsed, "result": result}))
    return 0


def measure(name: str, base: list[str]) -> tuple[float, float, dict[str, Any]]:
    """Run one contender as a child process; its own peak RSS comes from wait4's rusage."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    child = subprocess.Popen([sys.executable, __file__, "--contender", name, "--out", str(out), *base])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"contender {name} failed with exit code {child.returncode}")
    data = json.loads(out.read_text())
    out.unlink()
    return data["elapsed_s"], usage.ru_maxrss / 1024, data["result"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--naive-patients", type=int, default=0, help="patients for the naive contender (0: all)")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CAREHUB_BENCH_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"),
    )
    parser.add_argument("--contender", choices=("carehub", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--practice", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contender:
        return run_contender(args)

    naive_n = args.naive_patients or args.patients
    say(f"seed {args.seed}; {args.patients:,} patients, naive contender over {naive_n:,}")
    rng = random.Random(args.seed)
    name = f"carehub_bench_billing_{secrets.token_hex(3)}"
    create_database(args.admin_url, name)
    try:
        url = with_database(args.admin_url, name)
        say("seeding…")
        practice, rows = seed(url, args.patients, rng)
        base = ["--url", url, "--practice", str(practice)]
        say("running (b) naive per patient…")
        naive_s, naive_rss, naive = measure("naive", [*base, "--naive-patients", str(naive_n)])
        say("running (a) carehub report…")
        carehub_s, carehub_rss, carehub = measure("carehub", base)
        mismatches = [pid for pid, codes in naive.items() if carehub.get(pid) != codes]
        lines = sum(len(v) for v in carehub.values())
        say("")
        say(f"{'contender':<34} {'patients':>9} {'time':>9} {'peak RSS':>9}")
        say(f"{'(a) carehub report':<34} {len(carehub):>9,} {carehub_s:>8.2f}s {carehub_rss:>6.0f} MB")
        say(f"{'(b) naive, per patient':<34} {len(naive):>9,} {naive_s:>8.2f}s {naive_rss:>6.0f} MB")
        per_patient_ratio = (naive_s / len(naive)) / (carehub_s / len(carehub))
        say("")
        say(f"{rows:,} reading rows; {lines:,} claim lines proposed")
        say(f"b/a per patient = {per_patient_ratio:.1f}x; (a) goal: < 10 s and < 500 MB")
        say(f"naive and carehub agree on {len(naive) - len(mismatches):,} of {len(naive):,} patients")
        return 1 if mismatches else 0
    finally:
        drop_database(args.admin_url, name)


if __name__ == "__main__":
    raise SystemExit(main())
