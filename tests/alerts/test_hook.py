"""Alert evaluation in the ingest transaction, against a real PostgreSQL: alerts commit with their
readings, later readings attach to the open alert (ALERT-3), outbox rows are written with the alert,
and a defective rule neither loses the reading nor silences the other rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

import alerts.rules
from alerts.hook import AlertEvaluation
from alerts.rules import SYS, Rule, Severity
from core.topics import Topics
from ingest.batch import BatchResult, Delivery
from ingest.validation import ValidationLimits, parse_readings_message
from ingest.writer import ReadingWriter, StorageRejected
from tests.alerts.conftest import add_route
from tests.ingest.conftest import World, bp_reading, envelope, weight_reading

TOPICS = Topics("carehub/v1")
NOW = datetime.now(UTC).replace(microsecond=0)


def write(writer: ReadingWriter, hub_id: str, *payloads: bytes) -> BatchResult:
    topic = f"carehub/v1/hub/{hub_id}/up/readings"
    parsed = [parse_readings_message(TOPICS, topic, p, now=NOW, limits=ValidationLimits()) for p in payloads]
    return writer.write(parsed, [Delivery(topic, p, NOW) for p in payloads])


@pytest.fixture
def writer(database_url: str) -> Any:
    hook = AlertEvaluation(clock=lambda: NOW)
    w = ReadingWriter(database_url, hooks=[hook])
    yield w
    w.close()


def alerts_of(db: psycopg.Connection[Any], patient_id: object) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT rule_id, severity, status, rule_version, thresholds, "
        "(SELECT count(*) FROM alert_readings r WHERE r.alert_id = a.id) FROM alerts a WHERE patient_id = %s "
        "ORDER BY rule_id",
        (patient_id,),
    ).fetchall()


def test_severe_bp_opens_one_critical_alert_and_later_readings_attach(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any]
) -> None:
    home = world.homes[0]
    route = add_route(db, world.practice_id, "email", "oncall@example.org")
    start = NOW - timedelta(minutes=10)
    first = bp_reading("BP0001", start, sys=185, dia=125)
    assert write(writer, home.hub_id, envelope([first])).accepted == 1
    assert alerts_of(db, home.patient_id) == [
        ("BP-C1", "critical", "open", 1, {"sys_ge": 180, "dia_ge": 120}, 1),
    ]
    more = [bp_reading("BP0001", start + timedelta(minutes=1 + i), sys=182 + i, dia=121) for i in range(5)]
    for r in more:
        write(writer, home.hub_id, envelope([r]))
    write(writer, home.hub_id, envelope([first]))  # a resend: a duplicate is never evaluated again
    (alert,) = alerts_of(db, home.patient_id)
    assert alert[:3] == ("BP-C1", "critical", "open")
    assert alert[5] == 6
    outbox = db.execute("SELECT route_id, channel, status, payload->>'rule_id' FROM notification_outbox").fetchall()
    assert outbox == [(route, "email", "pending", "BP-C1")]
    assert db.execute("SELECT kind FROM alert_events ORDER BY id").fetchall()[0] == ("opened",)
    # The other home is untouched.
    assert alerts_of(db, world.homes[1].patient_id) == []


def test_normal_readings_raise_nothing_and_flagged_ones_are_ignored(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any]
) -> None:
    home = world.homes[0]
    flagged = bp_reading("BP0001", NOW - timedelta(hours=1), sys=200, dia=130)
    flagged["flags"] = ["cuff_fit_loose"]
    write(writer, home.hub_id, envelope([bp_reading("BP0001", NOW - timedelta(hours=2)), flagged]))
    assert alerts_of(db, home.patient_id) == []


def test_confirm_rule_waits_in_pending_and_a_repeat_fires_it(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any]
) -> None:
    home = world.homes[0]
    t0 = NOW - timedelta(minutes=20)
    write(writer, home.hub_id, envelope([bp_reading("BP0001", t0, sys=165, dia=85)]))
    assert alerts_of(db, home.patient_id) == []
    assert db.execute("SELECT rule_id FROM alert_pending").fetchall() == [("BP-W1",)]
    write(writer, home.hub_id, envelope([bp_reading("BP0001", t0 + timedelta(minutes=15), sys=166, dia=85)]))
    (alert,) = alerts_of(db, home.patient_id)
    assert (alert[0], alert[1], alert[5]) == ("BP-W1", "warning", 2)
    assert db.execute("SELECT count(*) FROM alert_pending").fetchone() == (0,)


def test_each_metric_gets_the_history_its_rules_reach_in_one_batch(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any]
) -> None:
    """BP-I1 reads a week of SYS/DIA and HR-W1 the last half hour of pulse, from the same batch's
    history query (one window per reach)."""
    home = world.homes[0]
    week = [bp_reading("BP0001", NOW - timedelta(days=d), sys=140, dia=88) for d in (6, 4, 2)]
    for reading in week:
        write(writer, home.hub_id, envelope([reading]))
    assert alerts_of(db, home.patient_id) == []
    write(
        writer, home.hub_id, envelope([bp_reading("BP0001", NOW - timedelta(minutes=20), sys=140, dia=88, pulse=125)])
    )
    assert [a[0] for a in alerts_of(db, home.patient_id)] == ["BP-I1"]
    assert db.execute("SELECT rule_id FROM alert_pending").fetchall() == [("HR-W1",)]
    write(writer, home.hub_id, envelope([bp_reading("BP0001", NOW - timedelta(minutes=5), sys=140, dia=88, pulse=125)]))
    found = {a[0]: (a[1], a[2], a[5]) for a in alerts_of(db, home.patient_id)}
    assert found == {"BP-I1": ("info", "open", 5), "HR-W1": ("warning", "open", 2)}


def test_heart_failure_weight_gain_uses_the_patient_profile(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any]
) -> None:
    home, other = world.homes
    db.execute(
        "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic) "
        "VALUES (gen_random_uuid(), %s, %s, 'I50.22', true)",
        (world.practice_id, home.patient_id),
    )
    for h, serial in ((home, "SC0001"), (other, "SC0002")):
        write(writer, h.hub_id, envelope([weight_reading(serial, NOW - timedelta(hours=25), pounds=180)]))
        write(writer, h.hub_id, envelope([weight_reading(serial, NOW - timedelta(hours=1), pounds=183.5)]))
    assert [a[:2] for a in alerts_of(db, home.patient_id)] == [("WT-C1", "critical")]
    assert alerts_of(db, other.patient_id) == []


def test_a_defective_rule_is_recorded_and_the_reading_and_other_rules_survive(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(inputs: object, params: object) -> None:
        raise ZeroDivisionError("rule arithmetic went wrong")

    defect = Rule("BP-X9", 1, Severity.CRITICAL, "broken", frozenset({SYS}), {"x": 1}, broken)
    monkeypatch.setattr(alerts.rules, "RULES", (defect, *alerts.rules.RULES))
    home = world.homes[0]
    result = write(writer, home.hub_id, envelope([bp_reading("BP0001", NOW - timedelta(minutes=5), sys=190, dia=100)]))
    assert result.accepted == 1
    assert [a[0] for a in alerts_of(db, home.patient_id)] == ["BP-C1"]
    assert db.execute("SELECT rule_id, error FROM alert_evaluation_failures").fetchall() == [
        ("BP-X9", "ZeroDivisionError: rule arithmetic went wrong")
    ]


class FailsAfterAlerts:
    """A later hook that fails: the whole transaction, readings and alerts, must roll back."""

    name = "fails-after-alerts"

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[Any]) -> None:
        raise ZeroDivisionError("a later hook failed")


def test_a_rolled_back_reading_never_has_an_alert(database_url: str, world: World, db: psycopg.Connection[Any]) -> None:
    w = ReadingWriter(database_url, hooks=[AlertEvaluation(clock=lambda: NOW), FailsAfterAlerts()])
    try:
        with pytest.raises(StorageRejected):
            write(
                w, world.homes[0].hub_id, envelope([bp_reading("BP0001", NOW - timedelta(minutes=3), sys=200, dia=130)])
            )
    finally:
        w.close()
    assert db.execute("SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM alerts)").fetchone() == (0, 0)


def test_a_patient_whose_findings_cannot_be_stored_does_not_cost_the_others_theirs(
    writer: ReadingWriter, world: World, db: psycopg.Connection[Any]
) -> None:
    broken_patient = str(world.homes[0].patient_id)
    # A non-transient database error for one patient's alert rows, as a violated constraint would raise.
    db.execute(
        f"""CREATE FUNCTION refuse_alert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.patient_id = '{broken_patient}'::uuid THEN
                    RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$"""
    )
    db.execute("CREATE TRIGGER refuse_alert BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION refuse_alert()")
    at = NOW - timedelta(minutes=4)
    # Both homes in one batch, so one transaction: the broken patient's findings roll back to the
    # savepoint and the batch is redone patient by patient.
    messages = [
        (f"carehub/v1/hub/{home.hub_id}/up/readings", envelope([bp_reading(serial, at, sys=190, dia=100)]))
        for home, serial in zip(world.homes, ("BP0001", "BP0002"), strict=True)
    ]
    parsed = [parse_readings_message(TOPICS, t, p, now=NOW, limits=ValidationLimits()) for t, p in messages]
    result = writer.write(parsed, [Delivery(t, p, NOW) for t, p in messages])
    assert result.accepted == 2
    assert alerts_of(db, world.homes[0].patient_id) == []
    assert [a[0] for a in alerts_of(db, world.homes[1].patient_id)] == ["BP-C1"]
    failures = db.execute("SELECT rule_id, error LIKE 'CheckViolation%%' FROM alert_evaluation_failures").fetchall()
    assert failures == [("*", True)]


def _alert_state(db: psycopg.Connection[Any], patient_id: object) -> list[Any]:
    """Everything evaluation leaves for a patient, without ids: alerts with their evidence, the
    measured times of their readings and their events, and the confirmations waiting."""
    alerts = db.execute(
        """SELECT a.rule_id, a.severity, a.status, a.late, a.thresholds, a.observed, a.reopened_count,
                  (SELECT array_agg(DISTINCT r.measured_at ORDER BY r.measured_at) FROM alert_readings ar
                     JOIN readings r ON r.reading_id = ar.reading_id WHERE ar.alert_id = a.id),
                  (SELECT array_agg(e.kind ORDER BY e.id) FROM alert_events e WHERE e.alert_id = a.id)
             FROM alerts a WHERE a.patient_id = %s ORDER BY a.rule_id""",
        (patient_id,),
    ).fetchall()
    pending = db.execute(
        """SELECT p.rule_id, p.severity, p.late, p.thresholds, p.observed, p.confirm_by,
                  (SELECT array_agg(DISTINCT r.measured_at ORDER BY r.measured_at) FROM readings r
                    WHERE r.reading_id = ANY(p.reading_ids))
             FROM alert_pending p WHERE p.patient_id = %s ORDER BY p.rule_id""",
        (patient_id,),
    ).fetchall()
    return [alerts, pending]


BP_VALUES = [(122, 78, 70), (140, 88, 72), (185, 125, 80), (165, 102, 70), (85, 55, 45), (120, 75, 125),
             (179, 119, 70), (180, 120, 70), (134, 84, 70), (136, 86, 50), (160, 100, 120), (79, 59, 131),
             (118, 74, 125), (121, 77, 45)]  # fmt: skip


@pytest.mark.parametrize("guess", ["hook's own", "everyone restless", "no one restless"])
def test_the_shortcuts_leave_the_same_alerts_as_the_straightforward_evaluation(
    database_url: str, world: World, db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, guess: str
) -> None:
    """The same random readings (boundaries, sets, trends, late and out-of-order ones, flagged ones,
    heart-failure weights) for both homes, one written through the default hook (calm readings
    skipped, far history first as extremes), the other through ``shortcuts=False``: the same alerts,
    evidence and waiting confirmations. Whatever the hook guesses about who is restless (it only
    decides which history is fetched first as extremes)."""
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    for home in world.homes:
        db.execute(
            "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic) "
            "VALUES (gen_random_uuid(), %s, %s, 'I50.22', true)",
            (world.practice_id, home.patient_id),
        )
    shortcut = AlertEvaluation(clock=lambda: NOW)
    if guess != "hook's own":
        everyone = guess == "everyone restless"
        monkeypatch.setattr(
            shortcut, "_expected", lambda groups, *_: {g.patient_id for g in groups} if everyone else set()
        )
    writers = [
        ReadingWriter(database_url, hooks=[shortcut]),
        ReadingWriter(database_url, hooks=[AlertEvaluation(clock=lambda: NOW, shortcuts=False)]),
    ]
    try:
        at, pounds = NOW - timedelta(days=9), 180.0
        while at < NOW - timedelta(minutes=15):
            batch: list[tuple[str, datetime, Any]] = []
            for _ in range(rng.randint(1, 6)):
                # hours apart over the week, minutes apart in the last hours: confirmations still open
                steps = [1, 4, 9, 11, 25, 40, 180, 600] if at < NOW - timedelta(hours=3) else [1, 3, 4, 9, 11]
                at += timedelta(minutes=rng.choice(steps), seconds=rng.randint(0, 59))
                when = at - timedelta(hours=rng.choice([26, 50])) if rng.random() < 0.1 else at  # late
                if rng.random() < 0.3:
                    pounds += rng.choice([-3, -2, 0, 0.5, 1, 2, 3])
                    batch.append(("weight", when, pounds))
                else:
                    values = BP_VALUES[0] if rng.random() < 0.85 else rng.choice(BP_VALUES)  # mostly normal
                    batch.append(("bp", when, (*values, rng.random() < 0.1)))
            for n, (home, writer) in enumerate(zip(world.homes, writers, strict=True), start=1):
                readings = []
                for kind, when, value in batch:
                    if kind == "weight":
                        readings.append(weight_reading(f"SC000{n}", when, pounds=value))
                        continue
                    sys, dia, pulse, flagged = value
                    readings.append(bp_reading(f"BP000{n}", when, sys=sys, dia=dia, pulse=pulse))
                    if flagged:
                        readings[-1]["flags"] = ["cuff_fit_loose"]
                write(writer, home.hub_id, envelope(readings))
    finally:
        for writer in writers:
            writer.close()
    fast, slow = (_alert_state(db, home.patient_id) for home in world.homes)
    assert fast == slow
    assert fast[0], "the sequence raised no alert: the comparison would be vacuous"
