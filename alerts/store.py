"""The alerts repository: alert rows, their readings and events, pending confirmations, overrides,
and the notification outbox, all written on the caller's connection and transaction.

Whoever raises an alert (the ingest hook, the scheduler) does it in the same transaction as its cause,
so a committed reading always has its alert and its outbox rows, and a rolled-back one never does.
``pg_notify`` on :data:`STREAM_CHANNEL` is transactional too: listeners hear about an alert only once
it is committed (the SSE stream, :mod:`alerts.stream`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from alerts import lifecycle
from alerts.lifecycle import AlertState, Status
from alerts.rules import DISQUALIFYING_FLAGS, Finding, Patient, Profile, Sample, Severity
from core.ids import uuid7

Conn = psycopg.Connection[Any]

STREAM_CHANNEL = "carehub_alerts"
"""PostgreSQL NOTIFY channel carrying one JSON object per alert change (no patient data beyond ids)."""


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """What to raise: the subject (patient, device or hub), the rule and its evidence (ALERT-5)."""

    practice_id: str
    category: str
    rule_id: str
    rule_version: int
    severity: Severity
    thresholds: Mapping[str, Any]
    observed: Mapping[str, Any]
    reading_ids: Sequence[str] = ()
    late: bool = False
    patient_id: str | None = None
    device_id: str | None = None
    hub_id: str | None = None

    @property
    def subject(self) -> tuple[str, str]:
        if self.patient_id is not None:
            return "patient", self.patient_id
        if self.device_id is not None:
            return "device", self.device_id
        if self.hub_id is not None:
            return "hub", self.hub_id
        raise ValueError("an alert needs a patient, device or hub")


@dataclass(frozen=True, slots=True)
class Raised:
    """What raising did: ``opened`` a new alert, ``reopened`` a recently resolved one, or ``attached``
    the evidence to the active one (ALERT-3)."""

    alert_id: str
    outcome: str


def new_id(at: datetime) -> UUID:
    return uuid7(int(at.timestamp() * 1000))


def raise_alert(conn: Conn, spec: AlertSpec, at: datetime) -> Raised:
    """Open an alert, or attach to the active one for the same subject and rule, or reopen one resolved
    within :data:`lifecycle.REOPEN_WITHIN`. Safe under concurrency: the partial unique index
    ``alerts_one_active`` decides between two transactions raising the same alert at once."""
    kind, subject = spec.subject
    for _ in range(3):
        active = conn.execute(
            "SELECT id FROM alerts WHERE practice_id = %s AND subject = %s AND rule_id = %s AND status <> 'resolved' "
            "FOR UPDATE",
            (spec.practice_id, subject, spec.rule_id),
        ).fetchone()
        if active is not None:
            alert_id = str(active[0])
            _attach(conn, alert_id, spec, at)
            return Raised(alert_id, "attached")
        reopened = _reopen_recent(conn, spec, subject, at)
        if reopened is not None:
            return Raised(reopened, "reopened")
        alert_id = str(new_id(at))
        inserted = conn.execute(
            """INSERT INTO alerts (id, practice_id, subject_kind, subject, patient_id, device_id, hub_id, category,
                   rule_id, rule_version, severity, thresholds, observed, late, opened_at, last_evidence_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (practice_id, subject, rule_id) WHERE status <> 'resolved' DO NOTHING
               RETURNING id""",
            (
                alert_id,
                spec.practice_id,
                kind,
                subject,
                spec.patient_id,
                spec.device_id,
                spec.hub_id,
                spec.category,
                spec.rule_id,
                spec.rule_version,
                spec.severity.value,
                Jsonb(dict(spec.thresholds)),
                Jsonb(dict(spec.observed)),
                spec.late,
                at,
                at,
            ),
        ).fetchone()
        if inserted is None:
            continue  # another transaction opened it first: attach on the next pass
        _link_readings(conn, alert_id, spec.reading_ids, at)
        event_id = record_event(conn, alert_id, spec.practice_id, "opened", at, detail={"rule_id": spec.rule_id})
        enqueue(conn, alert_id, event_id, spec.practice_id, spec.severity, purpose="primary", at=at)
        publish(conn, alert_id, "opened")
        return Raised(alert_id, "opened")
    raise RuntimeError("alert raise did not converge")  # three conflicts in a row: a bug, not a race


_ATTACH = """
WITH linked AS (
    INSERT INTO alert_readings (alert_id, reading_id, attached_at)
    SELECT %(id)s, r, %(at)s FROM unnest(%(readings)s::uuid[]) r
    ON CONFLICT DO NOTHING
    RETURNING 1
), counted AS (
    SELECT count(*)::int AS added FROM linked
), before AS (
    SELECT severity FROM alerts WHERE id = %(id)s
), updated AS (
    UPDATE alerts a SET last_evidence_at = greatest(a.last_evidence_at, %(at)s), observed = %(observed)s,
           severity = CASE WHEN %(rank)s > array_position(ARRAY['info', 'warning', 'critical'], a.severity)
                           THEN %(severity)s ELSE a.severity END,
           late = a.late AND %(late)s
     WHERE a.id = %(id)s
    RETURNING a.severity
), attached AS (
    INSERT INTO alert_events (alert_id, practice_id, kind, at, detail)
    SELECT %(id)s, %(practice)s, 'attached', %(at)s, jsonb_build_object('readings', added)
      FROM counted WHERE added > 0
    RETURNING id
)
SELECT (SELECT added FROM counted), (SELECT severity FROM before), (SELECT severity FROM updated),
       (SELECT pg_notify(%(channel)s, %(notice)s) FROM counted WHERE added > 0)
"""
"""Attaching evidence to an active alert in one round trip (the hot path when a patient keeps sending
out-of-range readings): link the readings, refresh the evidence, raise the severity if the new finding
is more severe, record the ``attached`` event and notify the stream, only when something was added."""


def _attach(conn: Conn, alert_id: str, spec: AlertSpec, at: datetime) -> None:
    notice = json.dumps({"alert_id": alert_id, "change": "attached", "at_ms": int(time.time() * 1000)})
    row = conn.execute(
        _ATTACH,
        {
            "id": alert_id,
            "at": at,
            "readings": list(dict.fromkeys(spec.reading_ids)),
            "observed": Jsonb(dict(spec.observed)),
            "rank": spec.severity.rank + 1,
            "severity": spec.severity.value,
            "late": spec.late,
            "practice": spec.practice_id,
            "channel": STREAM_CHANNEL,
            "notice": notice,
        },
    ).fetchone()
    # A later, more severe finding of the same rule (a current reading after a late, downgraded one)
    # raised the alert's severity: notify again. A less severe one never lowers it.
    if row is not None and row[1] != row[2]:
        event_id = record_event(conn, alert_id, spec.practice_id, "upgraded", at, detail={"from": row[1], "to": row[2]})
        enqueue(conn, alert_id, event_id, spec.practice_id, spec.severity, purpose="primary", at=at)
        publish(conn, alert_id, "upgraded")


def _reopen_recent(conn: Conn, spec: AlertSpec, subject: str, at: datetime) -> str | None:
    row = conn.execute(
        "SELECT id, resolved_at, reopened_count FROM alerts WHERE practice_id = %s AND subject = %s AND rule_id = %s "
        "AND status = 'resolved' ORDER BY resolved_at DESC LIMIT 1 FOR UPDATE",
        (spec.practice_id, subject, spec.rule_id),
    ).fetchone()
    if row is None:
        return None
    state = AlertState(Status.RESOLVED, resolved_at=row[1], reopened_count=row[2])
    if not lifecycle.may_reopen(state, at=at):
        return None
    new = lifecycle.reopen(state, at=at)
    alert_id = str(row[0])
    conn.execute(
        """UPDATE alerts SET status = 'open', acknowledged_at = NULL, acknowledged_by = NULL, acknowledge_note = NULL,
               resolved_at = NULL, resolved_by = NULL, resolve_note = NULL, snoozed_until = NULL, escalated_at = NULL,
               reopened_count = %s, last_evidence_at = %s, observed = %s, severity = %s, late = %s
           WHERE id = %s""",
        (new.reopened_count, at, Jsonb(dict(spec.observed)), spec.severity.value, spec.late, alert_id),
    )
    _link_readings(conn, alert_id, spec.reading_ids, at)
    event_id = record_event(conn, alert_id, spec.practice_id, "reopened", at, detail={"rule_id": spec.rule_id})
    enqueue(conn, alert_id, event_id, spec.practice_id, spec.severity, purpose="primary", at=at)
    publish(conn, alert_id, "reopened")
    return alert_id


def _link_readings(conn: Conn, alert_id: str, reading_ids: Iterable[str], at: datetime) -> int:
    ids = list(dict.fromkeys(reading_ids))
    if not ids:
        return 0
    cur = conn.execute(
        "INSERT INTO alert_readings (alert_id, reading_id, attached_at) SELECT %s, r, %s FROM unnest(%s::uuid[]) r "
        "ON CONFLICT DO NOTHING",
        (alert_id, at, ids),
    )
    return cur.rowcount


def record_event(
    conn: Conn,
    alert_id: str,
    practice_id: str,
    kind: str,
    at: datetime,
    *,
    actor: str | None = None,
    note: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    row = conn.execute(
        "INSERT INTO alert_events (alert_id, practice_id, kind, at, actor, note, detail) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (alert_id, practice_id, kind, at, actor, note, Jsonb(dict(detail or {}))),
    ).fetchone()
    assert row is not None
    return int(row[0])


def publish(conn: Conn, alert_id: str, change: str) -> None:
    """Tell stream listeners (after commit) that an alert changed."""
    payload = json.dumps({"alert_id": alert_id, "change": change, "at_ms": int(time.time() * 1000)})
    conn.execute("SELECT pg_notify(%s, %s)", (STREAM_CHANNEL, payload))


def _routes(conn: Conn, practice_id: str, purpose: str) -> list[tuple[Any, str, str]]:
    rows = conn.execute(
        "SELECT id, channel, min_severity FROM notification_routes WHERE practice_id = %s AND purpose = %s AND active",
        (practice_id, purpose),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def enqueue(
    conn: Conn,
    alert_id: str,
    event_id: int,
    practice_id: str,
    severity: Severity,
    *,
    purpose: str,
    at: datetime,
    routes: Sequence[tuple[Any, str, str]] | None = None,
) -> int:
    """Outbox rows for every active route of the practice with this purpose whose minimum severity the
    alert meets (``routes``: the practice's routes of that purpose, when the caller already has them).
    The payload is built now, from the committed alert (what the practice configured)."""
    if routes is None:
        routes = _routes(conn, practice_id, purpose)
    wanted = [(r[0], r[1]) for r in routes if Severity(r[2]).rank <= severity.rank]
    if not wanted:
        return 0
    payload = notification_payload(conn, alert_id, event_id)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO notification_outbox (practice_id, alert_id, event_id, route_id, channel, payload, "
            "next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(practice_id, alert_id, event_id, route_id, channel, Jsonb(payload), at) for route_id, channel in wanted],
        )
    return len(wanted)


def notification_payload(conn: Conn, alert_id: str, event_id: int) -> dict[str, Any]:
    """The message body: ids, rule, severity, evidence and times; never a patient name, DOB or MRN."""
    with conn.cursor(row_factory=dict_row) as cur:
        alert = cur.execute(
            """SELECT a.id::text AS alert_id, a.practice_id::text AS practice_id, a.subject_kind,
                      a.patient_id::text AS patient_id, a.device_id::text AS device_id, a.hub_id, a.category,
                      a.rule_id, a.rule_version, a.severity, a.thresholds, a.observed, a.late, a.status,
                      a.opened_at, e.kind AS event, e.id AS event_id
                 FROM alerts a JOIN alert_events e ON e.alert_id = a.id
                WHERE a.id = %s AND e.id = %s""",
            (alert_id, event_id),
        ).fetchone()
        assert alert is not None
        readings = cur.execute(
            "SELECT reading_id::text AS reading_id FROM alert_readings WHERE alert_id = %s ORDER BY attached_at",
            (alert_id,),
        ).fetchall()
    alert["opened_at"] = alert["opened_at"].isoformat()
    alert["reading_ids"] = [r["reading_id"] for r in readings]
    return dict(alert)


# ---- reads for the rule engine ----------------------------------------------------------------


_CONTEXT = """
SELECT 0 AS part, NULL::text, NULL::text, NULL::text[], NULL::jsonb, false, set_config('jit', 'off', true)
UNION ALL
SELECT 1, patient_id::text, NULL, condition_keys, NULL, false, NULL
  FROM patient_conditions
 WHERE patient_id = ANY(%(ids)b::uuid[]) AND (resolved_on IS NULL OR resolved_on > %(at)s::date)
UNION ALL
SELECT 2, p.id::text, o.rule_id, NULL, o.params, o.patient_id IS NOT NULL, NULL
  FROM patients p
  JOIN alert_threshold_overrides o
    ON o.practice_id = p.practice_id AND (o.patient_id IS NULL OR o.patient_id = p.id)
 WHERE p.id = ANY(%(ids)b::uuid[]) AND o.superseded_at IS NULL AND (o.expires_at IS NULL OR o.expires_at > %(at)s)
UNION ALL
SELECT 3, patient_id::text, rule_id, NULL, NULL, false, NULL
  FROM alert_pending
 WHERE patient_id = ANY(%(ids)b::uuid[])
UNION ALL
SELECT DISTINCT 4, patient_id::text, NULL, NULL::text[], NULL::jsonb, false, NULL
  FROM alerts
 WHERE patient_id = ANY(%(ids)b::uuid[]) AND category = 'clinical' AND status <> 'resolved'
   AND last_evidence_at > %(evidence_since)s
 ORDER BY part, 6
"""
"""Everything the ingest hook reads per patient before the history, in one round trip: profiles
(unresolved conditions), active overrides (practice defaults before the patient's own, so the
patient's win when applied in order, OVR-2), waiting confirmations, patients with an active clinical
alert that had evidence recently; and ``jit = off`` for the rest of the transaction."""

RECENT_EVIDENCE = timedelta(days=7)
"""An active clinical alert with evidence this recent marks its patient as likely restless
(:attr:`BatchContext.alerted`): BP-I1, the longest common window, reaches back a week."""


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What the ingest hook knows of a batch's patients before their history."""

    patients: dict[str, Patient]
    pending: set[tuple[str, str]]
    """(patient id, rule id) of every confirmation waiting for these patients."""
    alerted: set[str]
    """Patients with an active clinical alert whose latest evidence is within :data:`RECENT_EVIDENCE`:
    a hint only (likely not calm), never a reason for a finding."""


def batch_context(conn: Conn, patient_ids: Iterable[str], at: datetime) -> BatchContext:
    """Per patient the profile (condition keys of unresolved conditions) and active overrides, practice
    defaults first then the patient's own, so the patient's win (OVR-2); the confirmations waiting;
    and the patients recently alerted. One statement (it was three round trips per batch).

    It also sets ``jit = off`` until the transaction ends: the hook's history lookups are short indexed
    scans, and with a few hundred windows the planner's estimate crosses ``jit_above_cost`` and JIT
    compilation (~130 ms measured) would dwarf the query (~15 ms); the ingest transaction's remaining
    statements are plain inserts."""
    ids = list(set(patient_ids))
    keys: dict[str, set[str]] = {p: set() for p in ids}
    overrides: dict[str, dict[str, dict[str, float]]] = {p: {} for p in ids}
    pending: set[tuple[str, str]] = set()
    alerted: set[str] = set()
    params = {"ids": ids, "at": at, "evidence_since": at - RECENT_EVIDENCE}
    for part, patient_id, rule_id, condition_keys, values, _, _ in conn.execute(_CONTEXT, params):
        if part == 1:
            keys[patient_id].update(condition_keys)
        elif part == 2:
            overrides[patient_id].setdefault(rule_id, {}).update({k: float(v) for k, v in values.items()})
        elif part == 3:
            pending.add((patient_id, rule_id))
        elif part == 4:
            alerted.add(patient_id)
    patients = {p: Patient(Profile(frozenset(keys[p])), overrides[p]) for p in ids}
    return BatchContext(patients, pending, alerted)


def patient_contexts(conn: Conn, patient_ids: Iterable[str], at: datetime) -> dict[str, Patient]:
    """Profile and active overrides of each patient (:func:`batch_context` without the confirmations)."""
    return batch_context(conn, patient_ids, at).patients


Window = tuple[str, datetime, datetime, Iterable[int]]
"""(patient id, since, until, metrics): the accepted observations of those metrics in (since, until]."""

_WINDOWS = """
     FROM unnest(%b::uuid[], %b::timestamptz[], %b::timestamptz[], %b::text[]) AS w(patient_id, since, until, metrics)
    CROSS JOIN LATERAL unnest(w.metrics::int[]) AS m(metric)
    CROSS JOIN LATERAL (
          SELECT r.patient_id, r.reading_id, r.device_id, r.metric, r.measured_at,
                 coalesce(r.value, CASE r.special WHEN '+INF' THEN 'Infinity'::float8 ELSE '-Infinity'::float8 END)
                   AS value
            FROM readings r
           WHERE r.patient_id = w.patient_id AND r.metric = m.metric
             AND r.measured_at > w.since AND r.measured_at <= w.until
             AND NOT coalesce(r.flags && %b::text[], false)
             AND (r.value IS NOT NULL OR r.special IN ('+INF', '-INF'))
          OFFSET 0) r"""
"""Accepted observations in windows (one index range scan per window and metric): no disqualifying
flags (ALERT-1), glucose meter LO/HI as -inf/+inf, other specials left out. The arrays go in binary
(``%b``): psycopg's text format quotes each element (about 9 µs per window against 1 µs, measured),
which was a visible part of the hook's fixed cost per batch."""


def _window_params(windows: Sequence[Window]) -> tuple[Any, ...]:
    return (
        [w[0] for w in windows],
        [w[1] for w in windows],
        [w[2] for w in windows],
        ["{" + ",".join(str(m) for m in sorted(w[3])) + "}" for w in windows],
        sorted(DISQUALIFYING_FLAGS),
    )


_ROWS = "SELECT r.patient_id::text, r.reading_id::text, r.device_id::text, r.metric, r.value, r.value, r.measured_at"
_EXTENTS = "SELECT r.patient_id::text, NULL::text, NULL::text, r.metric, min(r.value), max(r.value), NULL::timestamptz"


def history(
    conn: Conn, rows: Sequence[Window] = (), extents: Sequence[Window] = ()
) -> tuple[dict[str, list[Sample]], dict[str, dict[int, tuple[float, float]]]]:
    """In one query: the accepted observations of the ``rows`` windows per patient, each window its own
    (since, until] and metrics (a patient may have several windows, for disjoint metrics), as
    :data:`_WINDOWS` selects them; and per patient and metric, (min, max) of what the ``extents``
    windows would return: enough to show most readings calm (:func:`alerts.calm.calm`) without
    moving a week of rows. No statement when both are empty."""
    parts: list[str] = []
    params: tuple[Any, ...] = ()
    if rows:
        parts.append(_ROWS + _WINDOWS)
        params += _window_params(rows)
    if extents:
        parts.append(_EXTENTS + _WINDOWS + " GROUP BY r.patient_id, r.metric")
        params += _window_params(extents)
    found: dict[str, list[Sample]] = {}
    coarse: dict[str, dict[int, tuple[float, float]]] = {}
    if not parts:
        return found, coarse
    for patient_id, reading_id, device_id, metric, low, high, measured_at in conn.execute(
        " UNION ALL ".join(f"({part})" for part in parts), params
    ):
        if reading_id is None:
            coarse.setdefault(patient_id, {})[metric] = (low, high)
            continue
        samples = found.get(patient_id)
        if samples is None:
            samples = found[patient_id] = []
        samples.append(Sample(reading_id, device_id, metric, low, measured_at))
    return found, coarse


def histories(conn: Conn, windows: Sequence[Window]) -> dict[str, list[Sample]]:
    """Accepted observations per patient in ``windows`` (:func:`history`)."""
    return history(conn, rows=windows)[0]


# ---- findings -> rows --------------------------------------------------------------------------


def apply_finding(
    conn: Conn, practice_id: str, patient_id: str, finding: Finding, at: datetime, *, pending_exists: bool = True
) -> Raised | None:
    """Fire (raise the alert and drop any pending confirmation), pend, or cancel a pending one.
    ``pending_exists=False`` (the caller knows none waits) saves the delete on the hot path."""
    if finding.action == "cancel":
        conn.execute("DELETE FROM alert_pending WHERE patient_id = %s AND rule_id = %s", (patient_id, finding.rule_id))
        return None
    if finding.action == "pend":
        assert finding.confirm_by is not None
        conn.execute(
            """INSERT INTO alert_pending (practice_id, patient_id, rule_id, rule_version, severity, thresholds,
                   observed, reading_ids, late, first_at, confirm_by)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s::uuid[], %s, %s, %s)
               ON CONFLICT (patient_id, rule_id) DO UPDATE SET
                   reading_ids = (SELECT array_agg(DISTINCT r)
                                    FROM unnest(alert_pending.reading_ids || excluded.reading_ids) r),
                   observed = excluded.observed""",
            (
                practice_id,
                patient_id,
                finding.rule_id,
                finding.rule_version,
                finding.severity.value,
                Jsonb(dict(finding.thresholds)),
                Jsonb(dict(finding.observed)),
                list(finding.reading_ids),
                finding.late,
                at,
                finding.confirm_by,
            ),
        )
        return None
    pending = None
    if pending_exists:
        pending = conn.execute(
            "DELETE FROM alert_pending WHERE patient_id = %s AND rule_id = %s RETURNING reading_ids::text[]",
            (patient_id, finding.rule_id),
        ).fetchone()
    earlier = list(pending[0]) if pending is not None else []
    spec = AlertSpec(
        practice_id=practice_id,
        category="clinical",
        rule_id=finding.rule_id,
        rule_version=finding.rule_version,
        severity=finding.severity,
        thresholds=finding.thresholds,
        observed=finding.observed,
        reading_ids=[*earlier, *finding.reading_ids],
        late=finding.late,
        patient_id=patient_id,
    )
    return raise_alert(conn, spec, at)


@dataclass(frozen=True, slots=True)
class ClinicalFire:
    """A FIRE finding of the ingest hook for one patient, and whether a confirmation may be waiting."""

    practice_id: str
    patient_id: str
    finding: Finding
    pending_exists: bool = True


_TAKE_PENDING = """
DELETE FROM alert_pending p USING unnest(%s::uuid[], %s::text[]) AS k(patient_id, rule_id)
 WHERE p.patient_id = k.patient_id AND p.rule_id = k.rule_id
RETURNING p.patient_id::text, p.rule_id, p.reading_ids::text[]
"""

_SETTLE = """
WITH k AS (
    SELECT * FROM unnest(%(practices)s::uuid[], %(subjects)s::text[], %(rules)s::text[])
                  AS k(practice_id, subject, rule_id)
), active AS (
    SELECT a.id, a.subject, a.rule_id
      FROM alerts a JOIN k ON a.practice_id = k.practice_id AND a.subject = k.subject AND a.rule_id = k.rule_id
     WHERE a.status <> 'resolved'
     ORDER BY a.id
       FOR UPDATE OF a
)
SELECT 0 AS part, id::text, subject, rule_id, NULL::uuid, NULL::text FROM active
UNION ALL
SELECT DISTINCT 1, NULL, a.subject, a.rule_id, NULL::uuid, NULL
  FROM alerts a JOIN k ON a.practice_id = k.practice_id AND a.subject = k.subject AND a.rule_id = k.rule_id
 WHERE a.status = 'resolved' AND a.resolved_at >= %(resolved_since)s
UNION ALL
SELECT 2, p.practice, r.channel, r.min_severity, r.id, NULL
  FROM (SELECT DISTINCT unnest(%(practices)s::text[]) AS practice) p
  JOIN notification_routes r ON r.practice_id = p.practice::uuid
 WHERE r.purpose = 'primary' AND r.active
"""
"""What a batch's fires meet, in one round trip: every active alert they attach to, locked in id order
(two ingest workers attaching to the same alerts take the locks in the same order, so they queue
instead of deadlocking); which of them would reopen a recently resolved alert
(:func:`lifecycle.may_reopen`: those go one by one); the practices' primary routes, for the alerts
to open."""


_ATTACH_MANY = """
WITH input AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(practices)s::uuid[], %(observed)s::jsonb[], %(ranks)s::int[],
                         %(severities)s::text[], %(lates)s::boolean[])
             AS i(id, practice_id, observed, rank, severity, late)
), linked AS (
    INSERT INTO alert_readings (alert_id, reading_id, attached_at)
    SELECT l.alert_id, l.reading_id, %(at)s FROM unnest(%(link_alerts)s::uuid[], %(link_readings)s::uuid[])
                                                AS l(alert_id, reading_id)
    ON CONFLICT DO NOTHING
    RETURNING alert_id
), counted AS (
    SELECT alert_id, count(*)::int AS added FROM linked GROUP BY alert_id
), before AS (
    SELECT a.id, a.severity FROM alerts a JOIN input i ON i.id = a.id
), updated AS (
    UPDATE alerts a SET last_evidence_at = greatest(a.last_evidence_at, %(at)s), observed = i.observed,
           severity = CASE WHEN i.rank > array_position(ARRAY['info', 'warning', 'critical'], a.severity)
                           THEN i.severity ELSE a.severity END,
           late = a.late AND i.late
      FROM input i
     WHERE a.id = i.id
    RETURNING a.id, a.severity
), attached AS (
    INSERT INTO alert_events (alert_id, practice_id, kind, at, detail)
    SELECT c.alert_id, i.practice_id, 'attached', %(at)s, jsonb_build_object('readings', c.added)
      FROM counted c JOIN input i ON i.id = c.alert_id
    RETURNING 1
)
SELECT b.id::text, b.severity, u.severity,
       CASE WHEN c.added > 0 THEN pg_notify(%(channel)s, json_build_object('alert_id', b.id, 'change', 'attached',
                                                                          'at_ms', %(at_ms)s)::text) END
  FROM before b JOIN updated u ON u.id = b.id LEFT JOIN counted c ON c.alert_id = b.id
"""
""":data:`_ATTACH` for every active alert of a batch at once: link the readings, refresh the evidence,
raise severities, record ``attached`` events and notify the stream where something was added."""


def raise_clinical(conn: Conn, fires: Sequence[ClinicalFire], at: datetime) -> None:
    """Apply a batch's FIRE findings with a fixed number of statements: take the waiting confirmations
    they settle, lock the active alerts they attach to and attach to all of them in one statement
    (the hot path: a patient who keeps sending out-of-range readings); only the alerts to open or
    reopen go one by one through :func:`raise_alert`. Same outcome as :func:`apply_finding` per fire."""
    if not fires:
        return
    if len({(f.patient_id, f.finding.rule_id) for f in fires}) != len(fires):
        raise ValueError("one fire per patient and rule: merge them first (alerts.hook.merge)")
    earlier: dict[tuple[str, str], list[str]] = {}
    waiting = [f for f in fires if f.pending_exists]
    if waiting:
        for patient_id, rule_id, reading_ids in conn.execute(
            _TAKE_PENDING, ([f.patient_id for f in waiting], [f.finding.rule_id for f in waiting])
        ):
            earlier[(patient_id, rule_id)] = list(reading_ids)
    specs = [
        AlertSpec(
            practice_id=f.practice_id,
            category="clinical",
            rule_id=f.finding.rule_id,
            rule_version=f.finding.rule_version,
            severity=f.finding.severity,
            thresholds=f.finding.thresholds,
            observed=f.finding.observed,
            reading_ids=[*earlier.get((f.patient_id, f.finding.rule_id), ()), *f.finding.reading_ids],
            late=f.finding.late,
            patient_id=f.patient_id,
        )
        for f in fires
    ]
    active: dict[tuple[str, str], str] = {}
    recent: set[tuple[str, str]] = set()
    routes: dict[str, list[tuple[Any, str, str]]] = {}
    settle = {
        "practices": [s.practice_id for s in specs],
        "subjects": [s.subject[1] for s in specs],
        "rules": [s.rule_id for s in specs],
        "resolved_since": at - lifecycle.REOPEN_WITHIN,
    }
    for part, key, subject, rule_id, route_id, _ in conn.execute(_SETTLE, settle):
        if part == 0:
            active[(subject, rule_id)] = key
        elif part == 1:
            recent.add((subject, rule_id))
        else:  # a route: key = practice, subject = channel, rule_id = minimum severity
            routes.setdefault(key, []).append((route_id, subject, rule_id))
    attach = [(active[(s.subject[1], s.rule_id)], s) for s in specs if (s.subject[1], s.rule_id) in active]
    if attach:
        _attach_many(conn, attach, at)
    new = [s for s in specs if (s.subject[1], s.rule_id) not in active]
    if not new:
        return
    opened = _open_many(conn, [s for s in new if (s.subject[1], s.rule_id) not in recent], at, routes)
    for spec in new:  # reopen, or attach to one another transaction opened meanwhile
        if (spec.subject[1], spec.rule_id) not in opened:
            raise_alert(conn, spec, at)


_OPEN_MANY = """
WITH opened AS (
    INSERT INTO alerts (id, practice_id, subject_kind, subject, patient_id, category, rule_id, rule_version, severity,
                        thresholds, observed, late, opened_at, last_evidence_at)
    SELECT i.id, i.practice_id, 'patient', i.patient_id::text, i.patient_id, 'clinical', i.rule_id, i.rule_version,
           i.severity, i.thresholds, i.observed, i.late, %(at)s, %(at)s
      FROM unnest(%(ids)s::uuid[], %(practices)s::uuid[], %(patients)s::uuid[], %(rules)s::text[], %(versions)s::int[],
                  %(severities)s::text[], %(thresholds)s::jsonb[], %(observed)s::jsonb[], %(lates)s::boolean[])
           AS i(id, practice_id, patient_id, rule_id, rule_version, severity, thresholds, observed, late)
     ORDER BY i.id
    ON CONFLICT (practice_id, subject, rule_id) WHERE status <> 'resolved' DO NOTHING
    RETURNING id, practice_id, rule_id
), linked AS (
    INSERT INTO alert_readings (alert_id, reading_id, attached_at)
    SELECT l.alert_id, l.reading_id, %(at)s
      FROM unnest(%(link_alerts)s::uuid[], %(link_readings)s::uuid[]) AS l(alert_id, reading_id)
      JOIN opened o ON o.id = l.alert_id
    ON CONFLICT DO NOTHING
), events AS (
    INSERT INTO alert_events (alert_id, practice_id, kind, at, detail)
    SELECT o.id, o.practice_id, 'opened', %(at)s, jsonb_build_object('rule_id', o.rule_id) FROM opened o ORDER BY o.id
    RETURNING id, alert_id
)
SELECT e.alert_id::text, e.id, pg_notify(%(channel)s, json_build_object('alert_id', e.alert_id, 'change', 'opened',
                                                                        'at_ms', %(at_ms)s)::text)
  FROM events e
"""
"""Open a batch's new clinical alerts in one statement: the alert rows (the partial unique index still
decides a race with another transaction: the loser is left out and attaches one by one), their
readings, their ``opened`` events, and a stream notice each."""


def _open_many(
    conn: Conn, specs: Sequence[AlertSpec], at: datetime, routes: Mapping[str, Sequence[tuple[Any, str, str]]]
) -> set[tuple[str, str]]:
    """Open clinical alerts for ``specs`` (patients without an active or recently resolved alert of the
    rule) and enqueue their notifications (``routes``: the primary routes per practice of ``specs``);
    returns the (subject, rule id) of those opened."""
    if not specs:
        return set()
    ids = {str(new_id(at)): spec for spec in specs}
    params = _many_params(list(ids.items()), at) | {
        "patients": [s.patient_id for s in ids.values()],
        "rules": [s.rule_id for s in ids.values()],
        "versions": [s.rule_version for s in ids.values()],
        "thresholds": [Jsonb(dict(s.thresholds)) for s in ids.values()],
    }
    rows = conn.execute(_OPEN_MANY, params).fetchall()
    for alert_id, event_id, _ in rows:
        spec = ids[alert_id]
        enqueue(
            conn,
            alert_id,
            event_id,
            spec.practice_id,
            spec.severity,
            purpose="primary",
            at=at,
            routes=routes.get(spec.practice_id, ()),
        )
    return {(ids[alert_id].subject[1], ids[alert_id].rule_id) for alert_id, _, _ in rows}


def _many_params(alerts: Sequence[tuple[str, AlertSpec]], at: datetime) -> dict[str, Any]:
    """The arrays :data:`_OPEN_MANY` and :data:`_ATTACH_MANY` share, one element per (alert id, spec)."""
    links = [(alert_id, r) for alert_id, spec in alerts for r in dict.fromkeys(spec.reading_ids)]
    return {
        "ids": [a for a, _ in alerts],
        "practices": [s.practice_id for _, s in alerts],
        "observed": [Jsonb(dict(s.observed)) for _, s in alerts],
        "severities": [s.severity.value for _, s in alerts],
        "lates": [s.late for _, s in alerts],
        "link_alerts": [a for a, _ in links],
        "link_readings": [r for _, r in links],
        "at": at,
        "at_ms": int(time.time() * 1000),
        "channel": STREAM_CHANNEL,
    }


def _attach_many(conn: Conn, attach: Sequence[tuple[str, AlertSpec]], at: datetime) -> None:
    params = _many_params(attach, at) | {"ranks": [s.severity.rank + 1 for _, s in attach]}
    rows = conn.execute(_ATTACH_MANY, params).fetchall()
    upgraded = {alert_id: (before, after) for alert_id, before, after, _ in rows if before != after}
    for alert_id, spec in attach:
        if alert_id in upgraded:  # a more severe finding raised the alert's severity: notify again
            before, after = upgraded[alert_id]
            event_id = record_event(
                conn, alert_id, spec.practice_id, "upgraded", at, detail={"from": before, "to": after}
            )
            enqueue(conn, alert_id, event_id, spec.practice_id, spec.severity, purpose="primary", at=at)
            publish(conn, alert_id, "upgraded")


def resolve_cleared(conn: Conn, practice_id: str, alert_id: str, *, at: datetime) -> None:
    """The system resolves an operational or adherence alert whose condition cleared (no user)."""
    conn.execute(
        "UPDATE alerts SET status = 'resolved', resolved_at = %s, resolve_note = 'condition cleared', "
        "acknowledged_at = coalesce(acknowledged_at, %s) WHERE id = %s",
        (at, at, alert_id),
    )
    record_event(conn, alert_id, practice_id, "resolved", at, note="condition cleared")
    publish(conn, alert_id, "resolved")
