"""``carehub scheduler``'s time-driven work, one transaction per task per tick:

- confirmation windows that expired (§C.2 ``confirm``: fire on the single set at the 30-minute mark),
- escalation of unacknowledged critical alerts to the practice's on-call routes (ALERT-4),
- hub offline / lost (DEV-3, DEV-4), device battery, clock offset and silence (DEV-1, 2, 4, 5; a
  cellular device is silent when its heartbeats stopped too),
- adherence ADH-1 / ADH-2 (no reading for 3 / 7 consecutive local days) and ADH-3 / ADH-4 (the 30-day
  device period can no longer reach 16 / 2 data days),
- care time ADH-5 / ADH-6 (RPM minutes without an interactive communication from local day 25; fewer
  than 20 CCM minutes from local day 20), from billing's care time of the patient's local month.

Several replicas may run at once. Each task takes a transaction-scoped advisory lock with
``pg_try_advisory_xact_lock`` and is skipped by a replica that does not get it; underneath, rows are
claimed with ``FOR UPDATE SKIP LOCKED`` and the partial unique index ``alerts_one_active`` makes a
second open alert for the same subject and rule impossible, so nothing fires twice. Operational and
adherence alerts whose condition has cleared (hub back online, readings again) are resolved by the
system with a note."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg

from alerts import operational, store
from alerts.operational import Decision
from alerts.rules import DISQUALIFYING_FLAGS, Finding, Severity
from alerts.rules import Action as FindingAction
from billing import repository

logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


@dataclass
class TickResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    confirmed: int = 0
    escalated: int = 0
    raised: int = 0
    cleared: int = 0


class Scheduler:
    def __init__(self, *, escalate_after: timedelta, batch_rows: int = 500) -> None:
        self._escalate_after = escalate_after
        self._batch_rows = batch_rows

    def tick(self, conn: Conn, now: datetime) -> TickResult:
        result = TickResult()
        tasks: list[tuple[str, Callable[[Conn, datetime, TickResult], None]]] = [
            ("confirmations", self._confirmations),
            ("escalation", self._escalation),
            ("hubs", self._hubs),
            ("devices", self._devices),
            ("adherence", self._adherence),
            ("care_time", self._care_time),
        ]
        for name, task in tasks:
            with conn.transaction():
                got = conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (f"carehub_scheduler:{name}",))
                row = got.fetchone()
                if not (row and row[0]):
                    result.skipped.append(name)
                    continue
                task(conn, now, result)
                result.ran.append(name)
        return result

    def _confirmations(self, conn: Conn, now: datetime, result: TickResult) -> None:
        rows = conn.execute(
            """DELETE FROM alert_pending WHERE (patient_id, rule_id) IN (
                   SELECT patient_id, rule_id FROM alert_pending WHERE confirm_by <= %s
                    ORDER BY confirm_by LIMIT %s FOR UPDATE SKIP LOCKED)
               RETURNING practice_id::text, patient_id::text, rule_id, rule_version, severity, thresholds, observed,
                         reading_ids::text[], late""",
            (now, self._batch_rows),
        ).fetchall()
        for practice_id, patient_id, rule_id, version, severity, thresholds, observed, reading_ids, late in rows:
            finding = Finding(
                rule_id, version, Severity(severity), FindingAction.FIRE, thresholds, observed, tuple(reading_ids), late
            )
            store.apply_finding(conn, practice_id, patient_id, finding, now)
            result.confirmed += 1

    def _escalation(self, conn: Conn, now: datetime, result: TickResult) -> None:
        rows = conn.execute(
            """SELECT id::text, practice_id::text FROM alerts
                WHERE status = 'open' AND severity = 'critical' AND escalated_at IS NULL AND opened_at <= %s
                  AND (snoozed_until IS NULL OR snoozed_until <= %s)
                ORDER BY opened_at LIMIT %s FOR UPDATE SKIP LOCKED""",
            (now - self._escalate_after, now, self._batch_rows),
        ).fetchall()
        for alert_id, practice_id in rows:
            conn.execute("UPDATE alerts SET escalated_at = %s WHERE id = %s", (now, alert_id))
            event_id = store.record_event(conn, alert_id, practice_id, "escalated", now)
            store.enqueue(conn, alert_id, event_id, practice_id, Severity.CRITICAL, purpose="on_call", at=now)
            store.publish(conn, alert_id, "escalated")
            result.escalated += 1
            logger.info("alert escalated", extra={"alert_id": alert_id})

    def _hubs(self, conn: Conn, now: datetime, result: TickResult) -> None:
        decisions: dict[tuple[str, str], store.AlertSpec] = {}
        for hub_id, practice_id, state, changed_at in conn.execute(
            "SELECT hub_id, practice_id::text, state, changed_at FROM hub_presence"
        ):
            decision = operational.hub_missing(state, changed_at, now)
            if decision is not None:
                decisions[(hub_id, decision.rule_id)] = _spec(decision, practice_id, "operational", hub_id=hub_id)
        self._sync(conn, now, result, "hub", ("DEV-3", "DEV-4"), decisions)

    def _devices(self, conn: Conn, now: datetime, result: TickResult) -> None:
        decisions: dict[tuple[str, str], store.AlertSpec] = {}
        for device_id, practice_id, pct, offset_s, battery_mv, estimated in conn.execute(
            "SELECT device_id::text, practice_id::text, battery_pct, clock_offset_s, battery_mv, battery_estimated"
            "  FROM device_telemetry"
        ):
            for decision in (
                operational.battery(pct, battery_mv if estimated else None) if pct is not None else None,
                operational.clock_offset(offset_s) if offset_s is not None else None,
            ):
                if decision is not None:
                    decisions[(device_id, decision.rule_id)] = _spec(
                        decision, practice_id, "operational", device_id=device_id
                    )
        silent = conn.execute(
            """SELECT a.device_id::text, a.practice_id::text, a.valid_from, h.state = 'online',
                      (SELECT max(r.measured_at) FROM readings r WHERE r.device_id = a.device_id
                          AND r.measured_at > %s)
                 FROM device_patient_assignments a
                 JOIN device_hub_assignments ha ON ha.device_id = a.device_id AND ha.valid_from <= %s
                      AND (ha.valid_to IS NULL OR ha.valid_to > %s)
                 JOIN hub_presence h ON h.hub_id = ha.hub_id
                WHERE a.valid_from <= %s AND (a.valid_to IS NULL OR a.valid_to > %s)""",
            (now - operational.DEVICE_SILENT_CRITICAL - timedelta(days=1), now, now, now, now),
        ).fetchall()
        for device_id, practice_id, since, hub_online, last_at in silent:
            decision = operational.device_silent(last_at, since, bool(hub_online), now)
            if decision is not None:
                decisions[(device_id, decision.rule_id)] = _spec(
                    decision, practice_id, "operational", device_id=device_id
                )
        cellular = conn.execute(
            """SELECT a.device_id::text, a.practice_id::text, a.valid_from, t.last_event_at,
                      t.last_heartbeat_at IS NOT NULL,
                      (SELECT max(r.measured_at) FROM readings r WHERE r.device_id = a.device_id
                          AND r.measured_at > %s)
                 FROM device_patient_assignments a
                 JOIN devices d ON d.id = a.device_id AND d.connectivity = 'cellular' AND d.blocked_at IS NULL
                 JOIN device_telemetry t ON t.device_id = a.device_id
                WHERE a.valid_from <= %s AND (a.valid_to IS NULL OR a.valid_to > %s)""",
            (now - operational.DEVICE_SILENT_CRITICAL - timedelta(days=1), now, now),
        ).fetchall()
        for device_id, practice_id, since, heard_at, heartbeats_known, last_at in cellular:
            decision = operational.cellular_silent(last_at, heard_at, heartbeats_known, since, now)
            if decision is not None:
                decisions[(device_id, decision.rule_id)] = _spec(
                    decision, practice_id, "operational", device_id=device_id
                )
        self._sync(conn, now, result, "device", ("DEV-1", "DEV-2", "DEV-4", "DEV-5"), decisions)

    def _adherence(self, conn: Conn, now: datetime, result: TickResult) -> None:
        rows = conn.execute(
            """SELECT p.id::text, p.practice_id::text, p.time_zone, (min(a.valid_from) AT TIME ZONE p.time_zone)::date,
                      ((SELECT max(r.measured_at) FROM readings r WHERE r.patient_id = p.id AND r.measured_at > %s)
                         AT TIME ZONE p.time_zone)::date,
                      (%s::timestamptz AT TIME ZONE p.time_zone)::date,
                      ((SELECT min(d.first_measured_at) FROM reading_daily d WHERE d.patient_id = p.id)
                         AT TIME ZONE p.time_zone)::date
                 FROM patients p
                 JOIN device_patient_assignments a ON a.patient_id = p.id
                WHERE a.valid_from <= %s AND (a.valid_to IS NULL OR a.valid_to > %s)
                GROUP BY p.id""",
            (now - timedelta(days=operational.ADHERENCE_WARNING_DAYS + 2), now, now, now),
        ).fetchall()
        decisions: dict[tuple[str, str], store.AlertSpec] = {}
        periods: list[tuple[str, str, date, date, date]] = []
        for patient_id, practice_id, _tz, start_day, last_day, today, anchor in rows:
            decision = operational.adherence(operational.missed_days(last_day, start_day, today))
            if decision is not None:
                decisions[(patient_id, decision.rule_id)] = _spec(
                    decision, practice_id, "adherence", patient_id=patient_id
                )
            if anchor is not None:
                period_start, period_end = operational.device_period(anchor, today)
                periods.append((patient_id, practice_id, period_start, period_end, today))
        days = data_days(conn, [(p[0], p[2]) for p in periods])
        for patient_id, practice_id, _start, period_end, today in periods:
            counted = days.get(patient_id, set())
            reach = operational.billing_reach(len(counted), today in counted, today, period_end)
            if reach is not None:
                decisions[(patient_id, reach.rule_id)] = _spec(reach, practice_id, "adherence", patient_id=patient_id)
        self._sync(conn, now, result, "patient", ("ADH-1", "ADH-2", "ADH-3", "ADH-4"), decisions)

    def _care_time(self, conn: Conn, now: datetime, result: TickResult) -> None:
        """ADH-5 for patients with an active RPM enrollment, ADH-6 for an active CCM one, on their
        local date. Minutes come from :func:`billing.repository.time_spent` (finished, non-voided
        entries split at local midnight), one query per practice and local month."""
        rows = conn.execute(
            """SELECT p.id::text, p.practice_id::text, t.today,
                      bool_or(e.program = 'rpm'), bool_or(e.program = 'ccm')
                 FROM patients p
                 CROSS JOIN LATERAL (SELECT (%s::timestamptz AT TIME ZONE p.time_zone)::date AS today) t
                 JOIN program_enrollments e ON e.patient_id = p.id AND e.starts_on <= t.today
                      AND (e.ends_on IS NULL OR e.ends_on >= t.today)
                WHERE extract(day FROM t.today) >= %s
                GROUP BY p.id, t.today""",
            (now, min(operational.ADH5_FROM_DAY, operational.ADH6_FROM_DAY)),
        ).fetchall()
        by_month: dict[tuple[str, date], list[tuple[str, date, bool, bool]]] = {}
        for patient_id, practice_id, today, rpm, ccm in rows:
            by_month.setdefault((practice_id, today.replace(day=1)), []).append((patient_id, today, rpm, ccm))
        decisions: dict[tuple[str, str], store.AlertSpec] = {}
        zones: dict[str, dict[UUID, str]] = {}
        for (practice_id, month), patients in by_month.items():
            if practice_id not in zones:
                zones[practice_id] = {p.id: p.time_zone for p in repository.patients(conn, UUID(practice_id))}
            spent = repository.time_spent(conn, UUID(practice_id), month, zones[practice_id])
            for patient_id, today, rpm, ccm in patients:
                care = operational.month_care_time(spent.get(UUID(patient_id), ()), today)
                for decision in (
                    operational.rpm_without_interaction(care, today) if rpm else None,
                    operational.ccm_minutes_short(care, today) if ccm else None,
                ):
                    if decision is not None:
                        decisions[(patient_id, decision.rule_id)] = _spec(
                            decision, practice_id, "adherence", patient_id=patient_id
                        )
        self._sync(conn, now, result, "patient", ("ADH-5", "ADH-6"), decisions)

    def _sync(
        self,
        conn: Conn,
        now: datetime,
        result: TickResult,
        subject_kind: str,
        rule_ids: Iterable[str],
        decisions: dict[tuple[str, str], store.AlertSpec],
    ) -> None:
        """Raise every decision (one active alert per subject and rule), and resolve active alerts of
        these rules whose condition no longer holds."""
        for spec in decisions.values():
            if store.raise_alert(conn, spec, now).outcome != "attached":
                result.raised += 1
        active = conn.execute(
            "SELECT id::text, practice_id::text, subject, rule_id FROM alerts "
            "WHERE subject_kind = %s AND rule_id = ANY(%s) AND status <> 'resolved' FOR UPDATE SKIP LOCKED",
            (subject_kind, list(rule_ids)),
        ).fetchall()
        for alert_id, practice_id, subject, rule_id in active:
            if (subject, rule_id) not in decisions:
                store.resolve_cleared(conn, practice_id, alert_id, at=now)
                result.cleared += 1


def data_days(conn: Conn, periods: Sequence[tuple[str, date]]) -> dict[str, set[date]]:
    """Distinct local dates with a qualifying reading (RPM-DAYS-1; no manual, questionable or invalid
    reading, RPM-DEV-2/3) per patient since the start of their current period."""
    if not periods:
        return {}
    rows = conn.execute(
        """SELECT r.patient_id::text, (r.measured_at AT TIME ZONE p.time_zone)::date
             FROM unnest(%s::uuid[], %s::date[]) AS w(patient_id, start_day)
             JOIN patients p ON p.id = w.patient_id
             JOIN readings r ON r.patient_id = w.patient_id
                  AND r.measured_at >= (w.start_day::timestamp AT TIME ZONE p.time_zone)
            WHERE NOT coalesce(r.flags && %s::text[], false)
            GROUP BY 1, 2""",
        ([p[0] for p in periods], [p[1] for p in periods], sorted(DISQUALIFYING_FLAGS)),
    ).fetchall()
    found: dict[str, set[date]] = {}
    for patient_id, day in rows:
        found.setdefault(patient_id, set()).add(day)
    return found


def _spec(decision: Decision, practice_id: str, category: str, **subject: str) -> store.AlertSpec:
    return store.AlertSpec(
        practice_id=practice_id,
        category=category,
        rule_id=decision.rule_id,
        rule_version=operational.RULE_VERSION,
        severity=decision.severity,
        thresholds=decision.thresholds,
        observed=decision.observed,
        **subject,  # type: ignore[arg-type]
    )
