"""Row-level security (migration 0400) straight in SQL, as the API role: without a practice setting
it sees nothing; with practice A it sees A's rows and never B's, and cannot write into B; every table
with a practice_id is covered, including one created after the migration once the function re-runs."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import psycopg
import pytest

from core.db import connect
from tests.api.conftest import World
from tests.pipeline import wait_until

Conn = psycopg.Connection[tuple[Any, ...]]

# Tables the two-practice world puts rows in for both practices.
POPULATED = (
    "patients",
    "patient_conditions",
    "hubs",
    "devices",
    "readings",
    "reading_daily",
    "users",
    "alerts",
    "alert_events",
    "practices",
)


@contextmanager
def as_api(db: Conn, practice: object | None = None) -> Iterator[None]:
    """One transaction as the API role, scoped to ``practice`` when given (as api.scope does)."""
    with db.transaction():
        db.execute("SET LOCAL ROLE carehub_api")
        if practice is not None:
            db.execute("SELECT set_config('carehub.practice_id', %s, true)", (str(practice),))
        yield


def _count_as_api(db: Conn, table: str, practice: object | None) -> int:
    with as_api(db, practice):
        row = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def _practices_seen(db: Conn, table: str, practice: object) -> set[str]:
    column = "id" if table == "practices" else "practice_id"
    with as_api(db, practice):
        rows = db.execute(f"SELECT DISTINCT {column}::text FROM {table}").fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("table", POPULATED)
def test_the_api_role_without_a_practice_sees_nothing(db: Conn, two_practices: World, table: str) -> None:
    owner_rows = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert owner_rows is not None
    assert owner_rows[0] >= 2  # the owner sees both practices' rows
    assert _count_as_api(db, table, None) == 0


@pytest.mark.parametrize("table", POPULATED)
def test_with_practice_a_the_api_role_sees_only_a(db: Conn, two_practices: World, table: str) -> None:
    assert _practices_seen(db, table, two_practices.a.id) == {str(two_practices.a.id)}
    assert _practices_seen(db, table, two_practices.b.id) == {str(two_practices.b.id)}


def test_the_setting_does_not_outlive_its_transaction(db: Conn, two_practices: World) -> None:
    assert _count_as_api(db, "patients", two_practices.a.id) == 1
    # SET LOCAL and set_config(..., true) ended with the transaction: back to the owner, no practice
    assert db.execute("SELECT current_user = session_user").fetchone() == (True,)
    assert _count_as_api(db, "patients", None) == 0


def test_the_api_role_cannot_write_into_another_practice(db: Conn, two_practices: World) -> None:
    with as_api(db, two_practices.a.id), pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute(
            "INSERT INTO users (id, practice_id, email, display_name, role) VALUES"
            " (gen_random_uuid(), %s, 'intruder@example.org', 'x', 'admin')",
            (two_practices.b.id,),
        )
    with as_api(db, two_practices.a.id):
        updated = db.execute("UPDATE users SET active = false WHERE practice_id = %s", (two_practices.b.id,))
        assert updated.rowcount == 0


def test_the_api_role_cannot_read_credentials_or_tokens(db: Conn, two_practices: World) -> None:
    with as_api(db, two_practices.a.id), pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("SELECT count(*) FROM refresh_tokens")
    with as_api(db, two_practices.a.id), pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("SELECT password_hash FROM users")
    with as_api(db, two_practices.a.id), pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("SELECT * FROM users")


def test_every_table_with_a_practice_id_has_the_policy(db: Conn) -> None:
    rows = db.execute(
        """SELECT c.relname, c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policy p
                  WHERE p.polrelid = c.oid AND p.polname = 'practice_isolation')
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
              AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'practice_id'
                          AND NOT a.attisdropped)"""
    ).fetchall()
    assert len(rows) > 20
    assert [r[0] for r in rows if not (r[1] and r[2])] == []
    role = db.execute(
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'carehub_api'"
    ).fetchone()
    assert role == (False, False, False)


def test_reapplying_covers_a_table_added_later(db: Conn, two_practices: World) -> None:
    db.execute("CREATE TABLE later_tenant_table (id int PRIMARY KEY, practice_id uuid NOT NULL)")
    db.execute("INSERT INTO later_tenant_table VALUES (1, %s), (2, %s)", (two_practices.a.id, two_practices.b.id))
    first = db.execute("SELECT carehub_apply_practice_isolation()").fetchone()
    again = db.execute("SELECT carehub_apply_practice_isolation()").fetchone()
    assert first == again
    assert first is not None
    assert first[0] > 20
    assert _count_as_api(db, "later_tenant_table", None) == 0
    assert _practices_seen(db, "later_tenant_table", two_practices.a.id) == {str(two_practices.a.id)}


def _role_block(role: str) -> str:
    sql = (resources.files("core.migrations") / "0400_practice_isolation.sql").read_text()
    return sql.split("-- The connecting (owner) user")[0].replace("carehub_api", role)


def test_concurrent_role_creation_in_two_databases_both_succeed(database_url: str, db: Conn) -> None:
    # Two migrations in two databases create the cluster-wide role at the same moment: the second
    # waits on the first's uncommitted role, then must carry on instead of failing. A throwaway role
    # name keeps the real one untouched for every other test running on this server.
    role = f"carehub_api_t{secrets.token_hex(4)}"
    first = connect(database_url, application_name="role-race-1")
    second = connect(database_url, application_name="role-race-2")
    errors: list[BaseException] = []

    def run_second() -> None:
        try:
            with second.transaction():
                second.execute(_role_block(role))
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    try:
        with first.transaction():
            first.execute(_role_block(role))
            racer = threading.Thread(target=run_second)
            racer.start()
            # the second transaction is now blocked on the first's uncommitted role
            wait_until(
                lambda: (
                    db.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'role-race-2'"
                        " AND wait_event_type = 'Lock'"
                    ).fetchone()
                    == (1,)
                ),
                30,
                "the second CREATE ROLE to wait",
            )
        racer.join(30)
        assert errors == []
        assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (1,)
    finally:
        first.close()
        second.close()
        db.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_role_creation_is_idempotent_across_databases(db: Conn) -> None:
    # The migration ran in the session template and again in this copy's cluster: re-running the
    # guarded block is a no-op, never "role already exists".
    db.execute(_role_block("carehub_api"))
    assert db.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'carehub_api'").fetchone() == (1,)


def test_the_alerts_service_under_the_api_role_sees_only_its_practice_even_when_asked_for_another(
    db: Conn, two_practices: World
) -> None:
    """The alerts routes run alerts.service in the API's practice transaction (migration 0406): a call
    that names the other practice finds nothing, and an alert's attached readings follow its alert."""
    from alerts import service

    a, b = two_practices.a, two_practices.b
    alert_b = db.execute("SELECT id FROM alerts WHERE practice_id = %s LIMIT 1", (b.id,)).fetchone()
    assert alert_b is not None
    db.execute("INSERT INTO alert_readings (alert_id, reading_id) VALUES (%s, gen_random_uuid())", (alert_b[0],))
    with as_api(db, a.id):
        assert service.list_alerts(db, str(b.id)) == []
        own = service.list_alerts(db, str(a.id))
        assert own
        assert {x.practice_id for x in own} == {str(a.id)}
        assert db.execute("SELECT count(*) FROM alert_readings").fetchone() == (0,)
    with as_api(db, b.id):
        assert db.execute("SELECT count(*) FROM alert_readings").fetchone() == (1,)
