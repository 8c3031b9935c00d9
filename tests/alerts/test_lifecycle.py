"""The lifecycle: pure transitions, then the repository and the operator CLI on a real database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from alerts import lifecycle, service, store
from alerts.lifecycle import AlertState, Status, TransitionRefused
from alerts.rules import Action, Finding, Severity
from carehub.cli import main
from tests.alerts.conftest import add_route, bp_c1
from tests.ingest.conftest import World

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def cli_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``carehub alerts …`` reads the database from the environment."""
    monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)


def test_open_acknowledged_resolved() -> None:
    acked = lifecycle.acknowledge(AlertState(Status.OPEN), by="u1", at=T0, note="calling")
    assert (acked.status, acked.acknowledged_by, acked.acknowledge_note) == (Status.ACKNOWLEDGED, "u1", "calling")
    done = lifecycle.resolve(acked, by="u2", at=T0 + timedelta(minutes=5), note="BP rechecked 138/84")
    assert (done.status, done.resolved_by, done.acknowledged_by) == (Status.RESOLVED, "u2", "u1")
    with pytest.raises(TransitionRefused):
        lifecycle.acknowledge(done, by="u1", at=T0)
    with pytest.raises(TransitionRefused):
        lifecycle.resolve(done, by="u1", at=T0)


def test_resolving_an_open_alert_acknowledges_it_too() -> None:
    done = lifecycle.resolve(AlertState(Status.OPEN), by="u1", at=T0)
    assert (done.acknowledged_at, done.resolved_at) == (T0, T0)


@pytest.mark.parametrize(
    ("minutes", "ok"), [(0, False), (1, True), (7 * 24 * 60, True), (7 * 24 * 60 + 1, False)]
)  # fmt: skip
def test_snooze_ends_in_the_future_and_within_a_week(minutes: int, ok: bool) -> None:
    state = AlertState(Status.OPEN)
    if ok:
        assert lifecycle.snooze(state, until=T0 + timedelta(minutes=minutes), at=T0).snoozed_until is not None
    else:
        with pytest.raises(TransitionRefused):
            lifecycle.snooze(state, until=T0 + timedelta(minutes=minutes), at=T0)


@pytest.mark.parametrize(("hours", "reopens"), [(11.9, True), (12, True), (12.1, False)])
def test_reopen_window(hours: float, reopens: bool) -> None:
    resolved = AlertState(Status.RESOLVED, resolved_at=T0)
    assert lifecycle.may_reopen(resolved, at=T0 + timedelta(hours=hours)) is reopens


@pytest.mark.parametrize(
    ("status", "minutes", "snoozed", "escalated", "due"),
    [
        (Status.OPEN, 119, False, False, False),
        (Status.OPEN, 120, False, False, True),
        (Status.OPEN, 121, False, False, True),
        (Status.ACKNOWLEDGED, 121, False, False, False),
        (Status.OPEN, 121, True, False, False),
        (Status.OPEN, 121, False, True, False),
    ],
)
def test_alert_4_escalation_is_due(status: Status, minutes: int, snoozed: bool, escalated: bool, due: bool) -> None:
    state = AlertState(status, snoozed_until=T0 + timedelta(days=1) if snoozed else None)
    at = T0 + timedelta(minutes=minutes)
    assert (
        lifecycle.due_for_escalation(
            state, severity="critical", opened_at=T0, escalated=escalated, at=at, after=timedelta(hours=2)
        )
        is due
    )


def spec(world: World) -> store.AlertSpec:
    return bp_c1(world)


def test_repository_lifecycle_and_reopen(db: psycopg.Connection[Any], world: World, clinician: UUID) -> None:
    practice, user = str(world.practice_id), str(clinician)
    with db.transaction():
        first = store.raise_alert(db, spec(world), T0)
    assert first.outcome == "opened"
    service.acknowledge(db, practice, first.alert_id, by=user, at=T0 + timedelta(minutes=3), note="calling patient")
    with db.transaction():
        assert store.raise_alert(db, spec(world), T0 + timedelta(minutes=4)) == store.Raised(first.alert_id, "attached")
    service.resolve(db, practice, first.alert_id, by=user, at=T0 + timedelta(minutes=30), note="recheck normal")
    with pytest.raises(TransitionRefused):
        service.acknowledge(db, practice, first.alert_id, by=user, at=T0 + timedelta(minutes=31), note=None)
    with db.transaction():
        again = store.raise_alert(db, spec(world), T0 + timedelta(hours=2))
    assert again == store.Raised(first.alert_id, "reopened")
    service.resolve(db, practice, first.alert_id, by=user, at=T0 + timedelta(hours=3), note=None)
    with db.transaction():
        later = store.raise_alert(db, spec(world), T0 + timedelta(hours=16))
    assert later.outcome == "opened"
    assert later.alert_id != first.alert_id
    kinds = db.execute("SELECT kind, actor FROM alert_events WHERE alert_id = %s ORDER BY id", (first.alert_id,))
    assert [k for k, _ in kinds] == ["opened", "acknowledged", "resolved", "reopened", "resolved"]


def test_another_practice_cannot_touch_the_alert(db: psycopg.Connection[Any], world: World, clinician: UUID) -> None:
    with db.transaction():
        raised = store.raise_alert(db, spec(world), T0)
    other = "00000000-0000-7000-8000-000000000000"
    with pytest.raises(service.AlertNotFound):
        service.acknowledge(db, other, raised.alert_id, by=str(clinician), at=T0, note=None)


def test_overrides_are_versioned_with_the_previous_value(
    db: psycopg.Connection[Any], world: World, clinician: UUID
) -> None:
    practice, patient = str(world.practice_id), str(world.homes[0].patient_id)
    kw: dict[str, Any] = {"patient_id": patient, "author_id": str(clinician), "at": T0}
    assert service.set_override(db, practice, "BP-C1", {"sys_ge": 190}, reason="baseline 170s", **kw) == 1
    assert service.set_override(db, practice, "BP-C1", {"sys_ge": 185}, reason="reviewed", **kw) == 2
    rows = db.execute(
        "SELECT version, params, previous_params, superseded_at IS NULL FROM alert_threshold_overrides ORDER BY version"
    ).fetchall()
    assert rows == [(1, {"sys_ge": 190}, None, False), (2, {"sys_ge": 185}, {"sys_ge": 190}, True)]
    assert store.patient_contexts(db, [patient], T0)[patient].overrides == {"BP-C1": {"sys_ge": 185.0}}
    with pytest.raises(service.InvalidOverride):
        service.set_override(db, practice, "BP-C1", {"sys_gt": 185}, reason="typo", **kw)
    with pytest.raises(service.InvalidOverride):
        service.set_override(db, practice, "BP-Z9", {"sys_ge": 185}, reason="no such rule", **kw)
    billing = UUID(int=clinician.int + 1)
    db.execute(
        "INSERT INTO users (id, practice_id, email, display_name, role) "
        "VALUES (%s, %s, 'b@example.org', 'B', 'billing')",
        (billing, world.practice_id),
    )
    with pytest.raises(service.InvalidOverride):
        service.set_override(db, practice, "BP-C1", {"sys_ge": 170}, reason="x", **(kw | {"author_id": str(billing)}))


@pytest.mark.usefixtures("cli_database")
def test_cli_lists_acknowledges_and_resolves(
    db: psycopg.Connection[Any],
    world: World,
    clinician: UUID,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with db.transaction():
        raised = store.raise_alert(db, spec(world), T0)
    practice = str(world.practice_id)
    assert main(["alerts", "list", "--practice", practice]) == 0
    assert raised.alert_id in capsys.readouterr().out
    assert main(["alerts", "ack", raised.alert_id, "--practice", practice, "--user", str(clinician)]) == 0
    assert main(["alerts", "ack", raised.alert_id, "--practice", practice, "--user", str(clinician)]) == 2
    assert main(["alerts", "resolve", raised.alert_id, "--practice", practice, "--user", str(clinician)]) == 0
    status = db.execute("SELECT status FROM alerts WHERE id = %s", (raised.alert_id,)).fetchone()
    assert status == ("resolved",)


def test_a_more_severe_finding_upgrades_the_open_alert_and_notifies(db: psycopg.Connection[Any], world: World) -> None:
    route = add_route(db, world.practice_id, "email", "team@example.org")
    late = replace(bp_c1(world), severity=Severity.WARNING, late=True)
    with db.transaction():
        first = store.raise_alert(db, late, T0)
    with db.transaction():
        store.raise_alert(db, bp_c1(world), T0 + timedelta(minutes=1))
        store.raise_alert(db, late, T0 + timedelta(minutes=2))  # a later late one never lowers it
    row = db.execute("SELECT severity, late FROM alerts WHERE id = %s", (first.alert_id,)).fetchone()
    assert row == ("critical", False)
    kinds = db.execute(
        "SELECT e.kind FROM notification_outbox o JOIN alert_events e ON e.id = o.event_id ORDER BY o.id"
    )
    assert [k for (k,) in kinds] == ["opened", "upgraded"]
    assert db.execute("SELECT DISTINCT route_id FROM notification_outbox").fetchall() == [(route,)]


def test_a_batch_of_fires_attaches_upgrades_and_opens_as_one_by_one_would(
    db: psycopg.Connection[Any], world: World, database_url: str
) -> None:
    """store.raise_clinical (the ingest hook's set-based path): patient 0 has an open, late (warning)
    BP-C1 that a current critical fire attaches to and upgrades; patient 1 has a waiting BP-W1
    confirmation that its fire settles by opening the alert with both sets' readings."""
    route = add_route(db, world.practice_id, "email", "team@example.org")
    first, earlier, r1, r2, r3 = (str(uuid4()) for _ in range(5))
    with db.transaction():
        opened = store.raise_alert(
            db, replace(bp_c1(world), severity=Severity.WARNING, late=True, reading_ids=[first]), T0
        )
    patient_1 = str(world.homes[1].patient_id)
    db.execute(
        """INSERT INTO alert_pending (practice_id, patient_id, rule_id, rule_version, severity, thresholds, observed,
               reading_ids, late, first_at, confirm_by)
           VALUES (%s, %s, 'BP-W1', 1, 'warning', '{}', '{}', %s::uuid[], false, %s, %s)""",
        (world.practice_id, patient_1, [earlier], T0, T0 + timedelta(minutes=30)),
    )
    critical = Finding("BP-C1", 1, Severity.CRITICAL, Action.FIRE, {"sys_ge": 180}, {"sys_mean": 200}, (r1, r2))
    warning = Finding("BP-W1", 1, Severity.WARNING, Action.FIRE, {"sys_ge": 160}, {"sys_mean": 165}, (r3,))
    practice = str(world.practice_id)
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {store.STREAM_CHANNEL}")
        with db.transaction():
            store.raise_clinical(
                db,
                [
                    store.ClinicalFire(practice, str(world.homes[0].patient_id), critical, pending_exists=False),
                    store.ClinicalFire(practice, patient_1, warning, pending_exists=True),
                ],
                T0 + timedelta(minutes=5),
            )
        changes = sorted(
            (json.loads(n.payload)["alert_id"], json.loads(n.payload)["change"])
            for n in listener.notifies(timeout=1, stop_after=3)
        )
    upgraded = db.execute(
        "SELECT severity, late, observed, last_evidence_at FROM alerts WHERE id = %s", (opened.alert_id,)
    ).fetchone()
    assert upgraded == ("critical", False, {"sys_mean": 200}, T0 + timedelta(minutes=5))
    linked = db.execute(
        "SELECT reading_id::text FROM alert_readings WHERE alert_id = %s ORDER BY attached_at, reading_id",
        (opened.alert_id,),
    ).fetchall()
    assert {r for (r,) in linked} == {first, r1, r2}
    events = db.execute(
        "SELECT kind, detail FROM alert_events WHERE alert_id = %s ORDER BY id", (opened.alert_id,)
    ).fetchall()
    assert events == [
        ("opened", {"rule_id": "BP-C1"}),
        ("attached", {"readings": 2}),
        ("upgraded", {"from": "warning", "to": "critical"}),
    ]
    (new_alert, new_readings) = db.execute(
        "SELECT a.id::text, array_agg(r.reading_id::text ORDER BY r.reading_id) FROM alerts a "
        "JOIN alert_readings r ON r.alert_id = a.id WHERE a.patient_id = %s AND a.rule_id = 'BP-W1' GROUP BY a.id",
        (patient_1,),
    ).fetchone()
    assert new_readings == sorted([earlier, r3])
    assert db.execute("SELECT count(*) FROM alert_pending").fetchone() == (0,)
    outbox = db.execute(
        "SELECT o.alert_id::text, e.kind, o.route_id FROM notification_outbox o "
        "JOIN alert_events e ON e.id = o.event_id ORDER BY o.id"
    ).fetchall()
    assert outbox == [
        (opened.alert_id, "opened", route),
        (opened.alert_id, "upgraded", route),
        (new_alert, "opened", route),
    ]
    # The first alert's "opened" was committed before the listener started.
    assert changes == sorted([(opened.alert_id, "attached"), (opened.alert_id, "upgraded"), (new_alert, "opened")])


def test_a_batch_of_fires_reopens_a_recently_resolved_alert_and_opens_after_an_older_one(
    db: psycopg.Connection[Any], world: World
) -> None:
    """store.raise_clinical: patient 0's BP-C1 was resolved 2 h before the batch (within
    lifecycle.REOPEN_WITHIN: reopened, same alert), patient 1's 13 h before (a new alert is opened),
    and both have a route's notification."""
    route = add_route(db, world.practice_id, "email", "team@example.org")
    practice = str(world.practice_id)
    at = T0 + timedelta(hours=14)
    with db.transaction():
        first = [store.raise_alert(db, bp_c1(world, home), T0).alert_id for home in (0, 1)]
        store.resolve_cleared(db, practice, first[0], at=at - timedelta(hours=2))
        store.resolve_cleared(db, practice, first[1], at=at - timedelta(hours=13))
    fires = [
        store.ClinicalFire(
            practice,
            str(world.homes[home].patient_id),
            Finding("BP-C1", 1, Severity.CRITICAL, Action.FIRE, {"sys_ge": 180}, {"sys_mean": 200}, (str(uuid4()),)),
            pending_exists=False,
        )
        for home in (0, 1)
    ]
    with db.transaction():
        store.raise_clinical(db, fires, at)
    alerts = db.execute(
        "SELECT patient_id::text, id::text, status, reopened_count FROM alerts ORDER BY patient_id, opened_at"
    ).fetchall()
    by_patient: dict[str, list[tuple[str, str, int]]] = {}
    for patient_id, alert_id, status, reopened in alerts:
        by_patient.setdefault(patient_id, []).append((alert_id, status, reopened))
    assert by_patient[str(world.homes[0].patient_id)] == [(first[0], "open", 1)]
    (old, new_alert) = by_patient[str(world.homes[1].patient_id)]
    assert old == (first[1], "resolved", 0)
    assert new_alert[1:] == ("open", 0)
    outbox = db.execute(
        "SELECT o.alert_id::text, e.kind, o.route_id FROM notification_outbox o "
        "JOIN alert_events e ON e.id = o.event_id WHERE e.at = %s",
        (at,),
    ).fetchall()
    assert sorted(outbox) == sorted([(first[0], "reopened", route), (new_alert[0], "opened", route)])


def test_a_batch_never_carries_two_fires_of_one_rule_for_one_patient(db: psycopg.Connection[Any], world: World) -> None:
    fire = Finding("BP-C1", 1, Severity.CRITICAL, Action.FIRE, {}, {}, (str(uuid4()),))
    patient = str(world.homes[0].patient_id)
    with pytest.raises(ValueError, match="one fire per patient and rule"):
        store.raise_clinical(db, [store.ClinicalFire(str(world.practice_id), patient, fire)] * 2, T0)


@pytest.mark.usefixtures("cli_database")
def test_cli_sets_and_lists_a_patients_threshold_override(
    db: psycopg.Connection[Any],
    world: World,
    clinician: UUID,
    capsys: pytest.CaptureFixture[str],
) -> None:
    practice, patient = str(world.practice_id), str(world.homes[0].patient_id)
    base = ["alerts", "override", "--practice", practice, "--patient", patient, "--user", str(clinician)]
    assert main([*base, "--rule", "BP-W1", "--set", "sys_ge=150", "--set", "dia_ge=95", "--reason", "frail"]) == 0
    assert capsys.readouterr().out.strip() == "BP-W1 override version 1"
    assert main([*base, "--rule", "BP-W1", "--set", "sys_ge=155", "--reason", "reviewed"]) == 0
    assert main([*base, "--rule", "BP-W1", "--set", "sys_gt=155", "--reason", "typo"]) == 2
    capsys.readouterr()
    assert main(["alerts", "overrides", "--practice", practice, "--patient", patient]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"BP-W1     v1 superseded {{'dia_ge': 95.0, 'sys_ge': 150.0}} (was None) by {clinician} "
    )
    assert lines[1].startswith(
        f"BP-W1     v2 active     {{'sys_ge': 155.0}} (was {{'dia_ge': 95.0, 'sys_ge': 150.0}}) by {clinician} "
    )
    assert lines[1].endswith(": reviewed")
    with pytest.raises(SystemExit):
        main([*base, "--rule", "BP-W1", "--set", "sys_ge", "--reason", "no value"])


@pytest.mark.usefixtures("cli_database")
def test_the_medical_director_approves_the_default_rule_set_once_per_version(
    db: psycopg.Connection[Any],
    world: World,
    clinician: UUID,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """OVR-4: until a physician of the practice approves, operators see the defaults are unapproved;
    the approval records who, when and the rules exactly as approved; a second one is refused."""
    practice = str(world.practice_id)
    assert service.defaults_approval(db, practice) is None
    assert main(["alerts", "defaults", "--practice", practice]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rule set version 1: NOT approved by the practice's medical director yet (OVR-4)"
    assert out[1] == "BP-C1     v1 critical {'sys_ge': 180, 'dia_ge': 120}"
    assert len(out) == 1 + 21
    nurse = uuid4()
    db.execute(
        "INSERT INTO users (id, practice_id, email, display_name, role, credential) "
        "VALUES (%s, %s, 'rn@example.org', 'RN', 'clinician', 'nurse')",
        (nurse, world.practice_id),
    )
    with pytest.raises(service.OverrideNotAllowed):
        service.approve_defaults(db, practice, by=str(nurse), at=T0, note=None)
    approval = service.approve_defaults(db, practice, by=str(clinician), at=T0, note="reviewed at onboarding")
    assert service.defaults_approval(db, practice) == approval
    stored = db.execute("SELECT rules, approved_by, note FROM alert_ruleset_approvals").fetchone()
    assert stored == (service.default_ruleset(), clinician, "reviewed at onboarding")
    assert stored[0]["WT-C1"] == {"version": 1, "severity": "critical", "thresholds": {"gain_lb": 3}}
    assert main(["alerts", "approve-defaults", "--practice", practice, "--user", str(clinician)]) == 2
    assert main(["alerts", "defaults", "--practice", practice]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"rule set version 1: approved by {clinician} at {T0.isoformat()}"
