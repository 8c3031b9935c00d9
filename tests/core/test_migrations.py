"""Migrations on a real PostgreSQL: apply on an empty database, re-apply is a no-op, concurrent
runners, changed files, both storage variants, partition maintenance and the daily summary."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from core.db import connect, create_database, drop_database, with_database
from core.domain import DEVICE_READING_KINDS
from core.migrate import MigrationError, discover, migrate, plan


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    name = f"carehub_test_empty_{secrets.token_hex(4)}"
    create_database(pg_admin_url, name)
    yield with_database(pg_admin_url, name)
    drop_database(pg_admin_url, name)


def _tables(conn: psycopg.Connection[tuple[Any, ...]]) -> set[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'readings_p%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def test_apply_on_empty_database_then_reapply_is_a_no_op(empty_db_url: str) -> None:
    with connect(empty_db_url, application_name="t", autocommit=True) as conn:
        first = migrate(conn)
        assert first.storage == "postgres"
        assert first.applied == tuple(m.label for m in plan("postgres"))
        assert first.applied[:2] == ("0001_core", "0002_readings (postgres)")
        tables = _tables(conn)
        assert {
            "practices",
            "patients",
            "hubs",
            "devices",
            "device_patient_assignments",
            "device_hub_assignments",
            "readings",
            "readings_default",
            "reading_daily_summary",
            "dead_letters",
            "schema_migrations",
        } <= tables
        before = conn.execute("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1").fetchall()
        second = migrate(conn)
        assert second.applied == ()
        assert second.already_applied == len(first.applied)
        assert (
            conn.execute("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1").fetchall() == before
        )
        assert _tables(conn) == tables


def test_concurrent_runners_apply_each_migration_once(empty_db_url: str) -> None:
    reports = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with connect(empty_db_url, application_name="t", autocommit=True) as conn:
                reports.append(migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r.applied) for r in reports) == [0, 0, len(plan("postgres"))]


def test_changed_applied_migration_is_an_error(empty_db_url: str) -> None:
    with connect(empty_db_url, application_name="t", autocommit=True) as conn:
        migrate(conn)
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn)


def test_timescaledb_requested_without_the_extension_is_refused(empty_db_url: str) -> None:
    with connect(empty_db_url, application_name="t", autocommit=True) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        if available:
            pytest.skip("this server has TimescaleDB; the refusal only applies where it is missing")
        with pytest.raises(MigrationError, match="timescaledb extension is not installed"):
            migrate(conn, storage="timescaledb")


def test_recorded_storage_cannot_be_switched(empty_db_url: str) -> None:
    with connect(empty_db_url, application_name="t", autocommit=True) as conn:
        migrate(conn, storage="postgres")
        with pytest.raises(MigrationError, match="uses postgres storage"):
            migrate(conn, storage="timescaledb")


def test_timescaledb_path_applies_where_the_extension_exists(empty_db_url: str) -> None:
    with connect(empty_db_url, application_name="t", autocommit=True) as conn:
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
        if not available:
            pytest.skip("TimescaleDB is not installed on this server (the docker-compose image has it)")
        report = migrate(conn, storage="timescaledb")
        assert report.storage == "timescaledb"
        row = conn.execute("SELECT carehub_storage(), count(*) FROM timescaledb_information.hypertables").fetchone()
        assert row == ("timescaledb", 1)


def _columns(sql: str, table: str) -> list[str]:
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\)", sql, re.S)
    assert body is not None
    names = []
    for line in body.group(1).splitlines():
        word = line.strip().split(" ", 1)[0]
        if word and word.isidentifier() and word.upper() not in {"CHECK", "CONSTRAINT", "UNIQUE", "PRIMARY"}:
            names.append(word)
    return names


def test_storage_variants_define_the_same_readings_columns_and_functions() -> None:
    variants = discover()[2]
    pg_sql, ts_sql = variants["postgres"].sql, variants["timescaledb"].sql  # type: ignore[index]
    assert _columns(pg_sql, "readings") == _columns(ts_sql, "readings")
    for name in ("carehub_storage()", "carehub_ensure_reading_partitions(", "CREATE VIEW reading_daily AS"):
        assert name in pg_sql
        assert name in ts_sql
    ts_plan, pg_plan = plan("timescaledb"), plan("postgres")
    assert [m.version for m in ts_plan] == [m.version for m in pg_plan]
    assert [m.variant for m in ts_plan if m.variant] == ["timescaledb"]
    assert [m.variant for m in pg_plan if m.variant] == ["postgres"]


def test_device_kind_table_matches_the_domain(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    rows = db.execute("SELECT device_kind, reading_kind FROM device_kind_reading_kinds").fetchall()
    in_db = {(str(d), str(r)) for d, r in rows}
    in_code = {(d.value, r.value) for d, kinds in DEVICE_READING_KINDS.items() for r in kinds}
    assert in_db == in_code


PRACTICE = uuid4()


def _insert_reading(
    conn: psycopg.Connection[tuple[Any, ...]],
    at: datetime,
    value: float | None = 120.0,
    patient: object = None,
    device: object = None,
    metric: int = 150021,
) -> None:
    conn.execute(
        "INSERT INTO readings (practice_id, patient_id, device_id, reading_id, metric, value, special, unit,"
        " measured_at, measured_at_source, received_at, from_device_memory)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, 'mm[Hg]', %s, 'device_clock', %s, false)"
        " ON CONFLICT DO NOTHING",
        (
            PRACTICE,
            patient or uuid4(),
            device or uuid4(),
            uuid4(),
            metric,
            value,
            None if value is not None else "NaN",
            at,
            at,
        ),
    )


def test_partitions_are_created_ahead_and_stray_rows_move_out_of_default(
    db: psycopg.Connection[tuple[Any, ...]],
) -> None:
    far = datetime(2031, 5, 17, 12, 0, tzinfo=UTC)
    _insert_reading(db, far)
    assert db.execute("SELECT count(*) FROM readings_default").fetchone() == (1,)
    row = db.execute("SELECT carehub_ensure_reading_partitions(%s, %s)", (far, far + timedelta(days=1))).fetchone()
    assert row == (1,)
    assert db.execute("SELECT count(*) FROM readings_default").fetchone() == (0,)
    assert db.execute("SELECT count(*) FROM readings_p2031_05").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM readings").fetchone() == (1,)
    # idempotent, and an empty range is a caller error
    assert db.execute(
        "SELECT carehub_ensure_reading_partitions(%s, %s)", (far, far + timedelta(days=1))
    ).fetchone() == (0,)
    with pytest.raises(psycopg.errors.RaiseException, match="partition range is empty"):
        db.execute("SELECT carehub_ensure_reading_partitions(%s, %s)", (far, far))


def test_daily_summary_counts_only_inserted_rows_and_matches_a_rebuild(
    db: psycopg.Connection[tuple[Any, ...]],
) -> None:
    patient, device = uuid4(), uuid4()
    base = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    for minutes, value in [(0, 120.0), (5, 140.0), (10, None), (60 * 30, 110.0)]:
        _insert_reading(db, base + timedelta(minutes=minutes), value, patient, device)
    _insert_reading(db, base, 999.0, patient, device)  # a duplicate key: skipped, must not count
    maintained = db.execute(
        "SELECT day, observations, values_count, min_value, max_value, mean_value FROM reading_daily"
        " WHERE patient_id = %s ORDER BY day",
        (patient,),
    ).fetchall()
    day = base.date()
    assert maintained == [
        (day, 3, 2, 120.0, 140.0, 130.0),
        (day + timedelta(days=1), 1, 1, 110.0, 110.0, 110.0),
    ]
    db.execute("SELECT carehub_rebuild_reading_daily(%s, %s)", (day - timedelta(days=1), day + timedelta(days=3)))
    rebuilt = db.execute(
        "SELECT day, observations, values_count, min_value, max_value, mean_value FROM reading_daily"
        " WHERE patient_id = %s ORDER BY day",
        (patient,),
    ).fetchall()
    assert rebuilt == maintained


def test_second_row_for_same_device_metric_and_time_is_impossible(
    db: psycopg.Connection[tuple[Any, ...]],
) -> None:
    device, at = uuid4(), datetime.now(UTC)
    _insert_reading(db, at, 120.0, device=device)
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(
            "INSERT INTO readings (practice_id, patient_id, device_id, reading_id, metric, value, unit,"
            " measured_at, measured_at_source, received_at, from_device_memory)"
            " VALUES (%s, %s, %s, %s, 150021, 130, 'mm[Hg]', %s, 'device_clock', %s, false)",
            (uuid4(), uuid4(), device, uuid4(), at, at),
        )


def test_assignments_cannot_overlap_or_cross_practices(db: psycopg.Connection[tuple[Any, ...]]) -> None:
    p1, p2, dev, pat1, pat2 = uuid4(), uuid4(), uuid4(), uuid4(), uuid4()
    db.execute("INSERT INTO practices (id, name, time_zone) VALUES (%s, 'A', 'UTC'), (%s, 'B', 'UTC')", (p1, p2))
    db.execute(
        "INSERT INTO patients (id, practice_id, mrn, time_zone) VALUES (%s, %s, '1', 'UTC'), (%s, %s, '2', 'UTC')",
        (pat1, p1, pat2, p2),
    )
    db.execute(
        "INSERT INTO devices (id, practice_id, serial, kind, connectivity) VALUES (%s, %s, 'D1', 'scale', 'ble')",
        (dev, p1),
    )
    insert = (
        "INSERT INTO device_patient_assignments (id, practice_id, device_id, patient_id, valid_from, valid_to)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
    )
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    db.execute(insert, (uuid4(), p1, dev, pat1, t0, t0 + timedelta(days=10)))
    with pytest.raises(psycopg.errors.ExclusionViolation):
        db.execute(insert, (uuid4(), p1, dev, pat1, t0 + timedelta(days=9), None))
    db.execute(insert, (uuid4(), p1, dev, pat1, t0 + timedelta(days=10), None))  # back to back is fine
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute(insert, (uuid4(), p1, uuid4(), pat2, t0 - timedelta(days=30), t0 - timedelta(days=20)))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute("INSERT INTO practices (id, name, time_zone) VALUES (%s, 'C', 'Mars/Olympus')", (uuid4(),))
