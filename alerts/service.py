"""The alert lifecycle service for the API and the operator CLI: the practice's queue, acknowledge,
resolve, snooze (pure transitions from :mod:`alerts.lifecycle` applied under a row lock, each step an
``alert_events`` row and a stream notification), and threshold overrides (OVR-1..3)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from alerts import lifecycle
from alerts.lifecycle import AlertState, Status
from alerts.rules import RULES, RULES_BY_ID, RULESET_VERSION
from alerts.secrets import seal
from alerts.store import Conn, new_id, publish, record_event


class AlertNotFound(lifecycle.TransitionRefused):
    """No alert with this id in this practice (advice: check the id and the practice)."""


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: str
    practice_id: str
    rule_id: str
    severity: str
    status: str
    subject_kind: str
    subject: str
    opened_at: datetime
    last_evidence_at: datetime
    snoozed_until: datetime | None
    escalated_at: datetime | None
    readings: int


def list_alerts(conn: Conn, practice_id: str, *, status: Sequence[str] = ("open", "acknowledged")) -> list[AlertRow]:
    """The practice's queue, most severe and newest first (§E.1: one queue sorted by urgency)."""
    rows = conn.execute(
        """SELECT a.id::text, a.practice_id::text, a.rule_id, a.severity, a.status, a.subject_kind, a.subject,
                  a.opened_at, a.last_evidence_at, a.snoozed_until, a.escalated_at,
                  (SELECT count(*) FROM alert_readings r WHERE r.alert_id = a.id)::int
             FROM alerts a
            WHERE a.practice_id = %s AND a.status = ANY(%s)
            ORDER BY CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, a.opened_at DESC""",
        (practice_id, list(status)),
    ).fetchall()
    return [AlertRow(*r) for r in rows]


def _locked_state(conn: Conn, practice_id: str, alert_id: str) -> AlertState:
    row = conn.execute(
        """SELECT status, acknowledged_at, acknowledged_by::text, acknowledge_note, resolved_at, resolved_by::text,
                  resolve_note, snoozed_until, reopened_count
             FROM alerts WHERE id = %s AND practice_id = %s FOR UPDATE""",
        (alert_id, practice_id),
    ).fetchone()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id} in this practice")
    return AlertState(Status(row[0]), *row[1:])


def _save_state(conn: Conn, alert_id: str, state: AlertState) -> None:
    conn.execute(
        """UPDATE alerts SET status = %s, acknowledged_at = %s, acknowledged_by = %s, acknowledge_note = %s,
               resolved_at = %s, resolved_by = %s, resolve_note = %s, snoozed_until = %s
           WHERE id = %s""",
        (
            state.status.value,
            state.acknowledged_at,
            state.acknowledged_by,
            state.acknowledge_note,
            state.resolved_at,
            state.resolved_by,
            state.resolve_note,
            state.snoozed_until,
            alert_id,
        ),
    )


def acknowledge(conn: Conn, practice_id: str, alert_id: str, *, by: str, at: datetime, note: str | None) -> None:
    with conn.transaction():
        state = lifecycle.acknowledge(_locked_state(conn, practice_id, alert_id), by=by, at=at, note=note)
        _save_state(conn, alert_id, state)
        record_event(conn, alert_id, practice_id, "acknowledged", at, actor=by, note=note)
        publish(conn, alert_id, "acknowledged")


def resolve(conn: Conn, practice_id: str, alert_id: str, *, by: str, at: datetime, note: str | None) -> None:
    with conn.transaction():
        state = lifecycle.resolve(_locked_state(conn, practice_id, alert_id), by=by, at=at, note=note)
        _save_state(conn, alert_id, state)
        record_event(conn, alert_id, practice_id, "resolved", at, actor=by, note=note)
        publish(conn, alert_id, "resolved")


def snooze(conn: Conn, practice_id: str, alert_id: str, *, by: str, at: datetime, until: datetime) -> None:
    with conn.transaction():
        state = lifecycle.snooze(_locked_state(conn, practice_id, alert_id), until=until, at=at)
        _save_state(conn, alert_id, state)
        record_event(conn, alert_id, practice_id, "snoozed", at, actor=by, detail={"until": until.isoformat()})
        publish(conn, alert_id, "snoozed")


OVERRIDE_CREDENTIALS = frozenset({"physician", "qhp", "nurse"})
"""OVR-1: physician/QHP, or a nurse under a standing protocol (the practice's configuration decides
whether nurses are allowed; carehub's default allows them)."""


class InvalidOverride(lifecycle.TransitionRefused):
    """An override names an unknown rule or threshold, or a value that is not a finite number."""


class OverrideNotAllowed(InvalidOverride):
    """The author is not an active physician, QHP or nurse of the practice (OVR-1)."""


class PatientNotFound(lifecycle.TransitionRefused):
    """No patient with this id in this practice (advice: check the id and the practice)."""


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """One version of a threshold override with its audit trail (OVR-3): who, when, why, and the
    value it replaced."""

    id: str
    rule_id: str
    version: int
    params: dict[str, float]
    previous_params: dict[str, float] | None
    reason: str
    author_id: str
    created_at: datetime
    expires_at: datetime | None
    superseded_at: datetime | None


def list_overrides(conn: Conn, practice_id: str, patient_id: str | None) -> list[OverrideRow]:
    """Every version of the patient's overrides (or the practice defaults' with ``patient_id`` None),
    current and superseded, by rule then version."""
    if patient_id is not None:
        _require_patient(conn, practice_id, patient_id)
    rows = conn.execute(
        """SELECT id::text, rule_id, version, params, previous_params, reason, author_id::text, created_at, expires_at,
                  superseded_at
             FROM alert_threshold_overrides
            WHERE practice_id = %s AND patient_id IS NOT DISTINCT FROM %s
            ORDER BY rule_id, version""",
        (practice_id, patient_id),
    ).fetchall()
    return [OverrideRow(*r) for r in rows]


def _require_patient(conn: Conn, practice_id: str, patient_id: str) -> None:
    found = conn.execute(
        "SELECT 1 FROM patients WHERE id = %s AND practice_id = %s", (patient_id, practice_id)
    ).fetchone()
    if found is None:
        raise PatientNotFound(f"no patient {patient_id} in this practice")


def set_override(
    conn: Conn,
    practice_id: str,
    rule_id: str,
    params: Mapping[str, float],
    *,
    patient_id: str | None,
    author_id: str,
    reason: str,
    at: datetime,
    expires_at: datetime | None = None,
) -> int:
    """OVR-1..3: a new version of a patient's (or the practice's) thresholds for one rule; the active
    row is superseded and its params kept as ``previous_params``. Returns the new version.
    Only a clinician credential (physician, QHP, or nurse under a standing protocol) may set one."""
    rule = RULES_BY_ID.get(rule_id)
    if rule is None:
        raise InvalidOverride(f"no rule {rule_id!r}")
    unknown = set(params) - set(rule.defaults)
    if unknown or not params:
        raise InvalidOverride(f"rule {rule_id} has thresholds {sorted(rule.defaults)}; got {sorted(params)}")
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in params.values()):
        raise InvalidOverride(f"thresholds of {rule_id} must be finite numbers")
    if expires_at is not None and expires_at <= at:
        raise InvalidOverride("an override must expire after it is set")
    with conn.transaction():
        if patient_id is not None:
            _require_patient(conn, practice_id, patient_id)
        author = conn.execute(
            "SELECT credential FROM users WHERE id = %s AND practice_id = %s AND active", (author_id, practice_id)
        ).fetchone()
        if author is None or author[0] not in OVERRIDE_CREDENTIALS:
            raise OverrideNotAllowed("only an active physician, QHP or nurse of the practice may override thresholds")
        current = conn.execute(
            "SELECT id, version, params FROM alert_threshold_overrides WHERE practice_id = %s "
            "AND patient_id IS NOT DISTINCT FROM %s AND rule_id = %s AND superseded_at IS NULL FOR UPDATE",
            (practice_id, patient_id, rule_id),
        ).fetchone()
        last = conn.execute(
            "SELECT coalesce(max(version), 0) FROM alert_threshold_overrides WHERE practice_id = %s "
            "AND patient_id IS NOT DISTINCT FROM %s AND rule_id = %s",
            (practice_id, patient_id, rule_id),
        ).fetchone()
        version = int(last[0] if last else 0) + 1
        if current is not None:
            conn.execute("UPDATE alert_threshold_overrides SET superseded_at = %s WHERE id = %s", (at, current[0]))
        conn.execute(
            """INSERT INTO alert_threshold_overrides (id, practice_id, patient_id, rule_id, version, params,
                   previous_params, reason, author_id, created_at, expires_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                new_id(at),
                practice_id,
                patient_id,
                rule_id,
                version,
                Jsonb(dict(params)),
                Jsonb(current[2]) if current is not None else None,
                reason,
                author_id,
                at,
                expires_at,
            ),
        )
    return version


@dataclass(frozen=True, slots=True)
class RulesetApproval:
    """OVR-4: the medical director's approval of a version of carehub's default rule set."""

    ruleset_version: int
    approved_by: str
    approved_at: datetime
    note: str | None


def default_ruleset() -> dict[str, dict[str, Any]]:
    """The default rule table as approved: each rule's version, severity and default thresholds."""
    return {
        r.rule_id: {"version": r.version, "severity": r.severity.value, "thresholds": dict(r.defaults)} for r in RULES
    }


def approve_defaults(conn: Conn, practice_id: str, *, by: str, at: datetime, note: str | None) -> RulesetApproval:
    """Record that a physician of the practice (its medical director) approved the current default
    rule set (:data:`alerts.rules.RULESET_VERSION`), with the rules as they stand. Once per version."""
    if note is not None and len(note) > lifecycle.NOTE_MAX_CHARS:
        raise InvalidOverride(f"a note holds at most {lifecycle.NOTE_MAX_CHARS} characters")
    with conn.transaction():
        author = conn.execute(
            "SELECT credential FROM users WHERE id = %s AND practice_id = %s AND active", (by, practice_id)
        ).fetchone()
        if author is None or author[0] != "physician":
            raise OverrideNotAllowed("only an active physician of the practice (its medical director) may approve")
        inserted = conn.execute(
            """INSERT INTO alert_ruleset_approvals (id, practice_id, ruleset_version, rules, approved_by, approved_at,
                   note)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (practice_id, ruleset_version) DO NOTHING RETURNING id""",
            (new_id(at), practice_id, RULESET_VERSION, Jsonb(default_ruleset()), by, at, note),
        ).fetchone()
        if inserted is None:
            raise lifecycle.TransitionRefused(f"rule set version {RULESET_VERSION} is already approved")
    return RulesetApproval(RULESET_VERSION, by, at, note)


def defaults_approval(conn: Conn, practice_id: str) -> RulesetApproval | None:
    """The approval of the rule set version carehub runs now, or None: the practice runs on defaults
    its medical director has not approved yet (shown to operators; alerts still fire)."""
    row = conn.execute(
        "SELECT ruleset_version, approved_by::text, approved_at, note FROM alert_ruleset_approvals "
        "WHERE practice_id = %s AND ruleset_version = %s",
        (practice_id, RULESET_VERSION),
    ).fetchone()
    return RulesetApproval(*row) if row is not None else None


class RouteNotFound(lifecycle.TransitionRefused):
    """No webhook route with this id in this practice."""


def seal_route_secret(conn: Conn, practice_id: str, route_id: str, secret: str, *, key: str) -> None:
    """Store a webhook route's signing secret sealed under ``key`` (alerts/secrets.py)."""
    if len(secret) < 16:
        raise InvalidOverride("a webhook secret has at least 16 characters")
    updated = conn.execute(
        "UPDATE notification_routes SET secret = %s WHERE id = %s AND practice_id = %s AND channel = 'webhook'",
        (seal(key, secret), route_id, practice_id),
    ).rowcount
    if updated != 1:
        raise RouteNotFound(f"no webhook route {route_id} in this practice")
