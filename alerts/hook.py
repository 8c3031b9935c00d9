"""Reading-driven alert evaluation inside the ingest transaction (an :mod:`ingest.hooks` hook).

For each newly stored reading, in measured order: load the patient's profile and overrides, the
accepted history the reading's rules need, run :func:`alerts.rules.evaluate`, and apply its findings
through :mod:`alerts.store` on the same connection. The alert, its readings and its outbox rows
therefore commit or roll back with the reading.

Failure policy (chosen so that a rule defect never loses a reading): a rule that raises is skipped
for that reading, logged, counted, and recorded in ``alert_evaluation_failures``; the other rules
still run. The findings of the whole batch are stored in one savepoint; if that fails with a
non-transient database error (a constraint, a bad value), it rolls back and the batch is redone
patient by patient, each in its own savepoint, so only the patient whose findings cannot be stored
loses them (recorded the same way) and every reading still commits. Transient database errors
(connection lost, deadlock, serialization) propagate, so ingest retries the whole batch."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg

from alerts import store
from alerts.calm import calm, restless
from alerts.rules import (
    DIA,
    GLUCOSE,
    PULSE,
    RULES,
    SPO2,
    SYS,
    TEMP,
    WEIGHT,
    Action,
    Finding,
    History,
    NewReading,
    Patient,
    Rule,
    Sample,
    evaluable,
    evaluate,
)
from ingest.hooks import StoredReading

logger = logging.getLogger(__name__)

LOOKBACK: dict[int, timedelta] = {
    SYS: timedelta(days=7),
    DIA: timedelta(days=7),
    **{m: timedelta(hours=24) for m in GLUCOSE},
    **{m: timedelta(hours=1) for m in PULSE},
}
"""How far back each metric's rules look for every patient (BP-I1 7 days, GLU-W2 24 h). Weight (8 days,
WT-W1), SpO2 (14 days, SPO2-W1c) and temperature (30 days, TEMP-W2) reach back that far only for the
patients whose profile or opt-in enables those rules (see :func:`lookback`)."""

EVALUATED_METRICS = frozenset(m for rule in RULES for m in rule.metrics)


@dataclass
class EvaluationCounters:
    readings: int = 0
    findings: int = 0
    rule_errors: int = 0
    store_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


def new_reading(reading: StoredReading) -> NewReading:
    values: dict[int, float] = {}
    for obs in reading.observations:
        if obs.metric not in EVALUATED_METRICS:
            continue
        if obs.value is not None:
            values[obs.metric] = obs.value
        elif obs.metric in GLUCOSE and obs.special in ("+INF", "-INF"):
            values[obs.metric] = math.inf if obs.special == "+INF" else -math.inf
    return NewReading(
        reading_id=reading.reading_id,
        device_id=reading.device_id,
        measured_at=reading.measured_at,
        received_at=reading.received_at,
        flags=frozenset(reading.flags),
        values=values,
    )


def lookback(metric: int, patient: Patient) -> timedelta:
    if metric == WEIGHT:
        return timedelta(days=8) if patient.profile.heart_failure else timedelta(0)
    if metric == SPO2:
        return timedelta(days=14) if patient.profile.chronic_lung else timedelta(minutes=30)
    if metric == TEMP:
        return timedelta(days=30) if patient.overrides.get("TEMP-W2", {}).get("enabled", 0) >= 1 else timedelta(hours=1)
    return LOOKBACK.get(metric, timedelta(hours=1))


def related_metrics(metrics: Iterable[int]) -> frozenset[int]:
    """Every metric a rule touching ``metrics`` reads (a BP reading's rules also read pulse)."""
    present = frozenset(metrics)
    found = _RELATED.get(present)
    if found is None:
        found = _RELATED[present] = frozenset(m for rule in RULES if rule.metrics & present for m in rule.metrics)
    return found


_RELATED: dict[frozenset[int], frozenset[int]] = {}
"""Cache of :func:`related_metrics` (a few metric combinations occur; the rule table is fixed)."""


NEAR = timedelta(hours=1)
"""History windows reaching back at most this far are fetched as rows at once; longer ones first as
their extremes only (:func:`alerts.store.extents`), see :meth:`AlertEvaluation._evaluate`."""


class _Coarse:
    """A patient's history as :func:`alerts.calm.calm` sees it in phase 1: rows for the near
    windows, and for each metric of a far window the (min, max) of the whole window, whatever part
    of it is asked for (a superset, so a reading calm here is calm against the rows too)."""

    __slots__ = ("_extents", "_history")

    def __init__(self, history: History, extents: dict[int, tuple[float, float]]) -> None:
        self._history = history
        self._extents = extents

    def extent(self, metric: int, since: datetime, until: datetime) -> tuple[float, float] | None:
        if metric in self._extents:
            return self._extents[metric]
        return self._history.extent(metric, since, until)


RECENTLY_RESTLESS_MAX = 100_000
"""Bound of :attr:`AlertEvaluation._recently_restless` (a guess only: forgetting costs one query phase)."""


@dataclass
class _Patient:
    practice_id: str
    patient_id: str
    readings: list[NewReading]


def merge(earlier: Finding | None, later: Finding) -> Finding:
    """One FIRE finding standing for two of the same rule: every reading, the latest evidence, the
    higher severity (a late, downgraded reading never lowers a current one)."""
    if earlier is None:
        return later
    severity = max(earlier.severity, later.severity, key=lambda s: s.rank)
    return replace(
        later,
        severity=severity,
        reading_ids=tuple(dict.fromkeys(earlier.reading_ids + later.reading_ids)),
        late=earlier.late and later.late,
    )


class AlertEvaluation:
    """The ``alerts`` hook. ``clock`` gives the evaluation time (injected; confirmation windows and
    late-reading labels are measured against it).

    Per transaction it makes a fixed number of queries whatever the batch size (profiles and
    overrides, pending confirmations, the history windows of every patient in the batch, and the
    batch's fires set-based: :func:`alerts.store.raise_clinical`), plus one statement per
    confirmation started or cancelled, per alert reopened, and per fire followed in the same batch by
    a new confirmation of its rule.

    ``shortcuts=False`` evaluates every reading with every rule on rows of every window (no
    :func:`alerts.calm.calm` skip, no :func:`alerts.calm.restless` selection): the straightforward
    evaluation the tests compare the default against."""

    name = "alerts"

    def __init__(self, clock: Callable[[], datetime], *, shortcuts: bool = True) -> None:
        self._clock = clock
        self._shortcuts = shortcuts
        self.counters = EvaluationCounters()
        self._recently_restless: dict[str, None] = {}
        """Patients with a reading the rules judged in their latest batch (insertion-ordered set, at
        most :data:`RECENTLY_RESTLESS_MAX`): a guess that saves their far windows' extremes (phase 1)."""

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[StoredReading]) -> None:
        now = self._clock()
        groups: dict[str, _Patient] = {}
        for stored in sorted(readings, key=lambda r: r.measured_at):
            reading = new_reading(stored)
            if reading.values and evaluable(reading):
                group = groups.setdefault(stored.patient_id, _Patient(stored.practice_id, stored.patient_id, []))
                group.readings.append(reading)
        if not groups:
            return
        try:
            with conn.transaction():
                self._evaluate(conn, list(groups.values()), now)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error:
            logger.exception("storing alert findings failed; retrying patient by patient")
        else:
            return
        for group in groups.values():  # isolate the patient whose findings cannot be stored
            try:
                with conn.transaction():
                    self._evaluate(conn, [group], now)
            except (psycopg.OperationalError, psycopg.InterfaceError):
                raise
            except psycopg.Error as exc:
                logger.exception(
                    "storing alert findings failed; readings kept", extra={"readings": len(group.readings)}
                )
                self.counters.add(store_errors=1)
                error = f"{type(exc).__name__}: {exc}"[:2000]
                self._record_failures(conn, group.practice_id, [(r.reading_id, "*", error) for r in group.readings])

    def _evaluate(self, conn: psycopg.Connection[Any], groups: list[_Patient], now: datetime) -> None:
        # Profiles, overrides and waiting confirmations in one round trip (it also sets jit off for
        # the transaction's remaining lookups).
        context = store.batch_context(conn, [g.patient_id for g in groups], now)
        patients = context.patients
        waiting_of: dict[str, set[str]] = {}
        for patient_id, rule_id in context.pending:
            waiting_of.setdefault(patient_id, set()).add(rule_id)
        restless_groups, rows = self._unsettled(conn, groups, patients, waiting_of, context.alerted)
        batch_fires: list[store.ClinicalFire] = []
        evaluated = sum(len(g.readings) for g in groups) - sum(len(g.readings) for g in restless_groups)
        findings_count = 0
        judged: set[str] = set()
        for g in restless_groups:
            patient = patients[g.patient_id]
            history = History(rows.get(g.patient_id, ()))
            # Rule ids with a confirmation waiting for this patient, kept current as findings apply:
            # only those can be cancelled, so the engine makes no cancel finding for the others.
            waiting = waiting_of.get(g.patient_id, set())
            failures: list[tuple[str, str, str]] = []
            fires: dict[str, Finding] = {}
            for reading in g.readings:
                if self._shortcuts and calm(reading, history, patient, waiting):  # provably no finding: skip the rules
                    evaluated += 1
                    continue
                judged.add(g.patient_id)

                def on_rule_error(
                    rule: Rule,
                    exc: Exception,
                    reading_id: str = reading.reading_id,
                    failures: list[tuple[str, str, str]] = failures,
                ) -> None:
                    logger.error(
                        "alert rule failed; reading kept, rule skipped",
                        exc_info=exc,
                        extra={"rule_id": rule.rule_id, "reading_id": reading_id},
                    )
                    failures.append((reading_id, rule.rule_id, f"{type(exc).__name__}: {exc}"[:2000]))

                findings = evaluate(
                    reading,
                    history,
                    patient,
                    now,
                    on_rule_error=on_rule_error,
                    waiting=waiting,
                    only=restless(reading, history, patient) if self._shortcuts else None,
                )
                for finding in findings:
                    if finding.action is Action.FIRE:
                        # Fires of one rule in one batch become one raise with all their readings
                        # (ALERT-3 attaches them anyway): one set of statements, not one per reading.
                        fires[finding.rule_id] = merge(fires.get(finding.rule_id), finding)
                        continue
                    if finding.action is Action.CANCEL and (finding.rule_id not in waiting or finding.rule_id in fires):
                        # Nothing is waiting, or the fire held for this rule takes what waits (applied
                        # one by one, the fire would have deleted it before this cancel): no statement.
                        continue
                    if finding.rule_id in fires:  # a new confirmation starts after the alert fired
                        self._fire(conn, g, fires.pop(finding.rule_id), waiting, now)
                    store.apply_finding(conn, g.practice_id, g.patient_id, finding, now)
                    if finding.action is Action.PEND:
                        waiting.add(finding.rule_id)
                    else:
                        waiting.discard(finding.rule_id)
                evaluated += 1
                findings_count += len(findings)
            for finding in fires.values():
                batch_fires.append(store.ClinicalFire(g.practice_id, g.patient_id, finding, finding.rule_id in waiting))
                waiting.discard(finding.rule_id)
            if failures:
                self.counters.add(rule_errors=len(failures))
                self._record_failures(conn, g.practice_id, failures)
        store.raise_clinical(conn, batch_fires, now)
        self.counters.add(readings=evaluated, findings=findings_count)
        self._remember_restless(groups, judged)

    def _remember_restless(self, groups: list[_Patient], judged: set[str]) -> None:
        recent = self._recently_restless
        for g in groups:
            if g.patient_id in judged:
                recent[g.patient_id] = None
            else:
                recent.pop(g.patient_id, None)
        while len(recent) > RECENTLY_RESTLESS_MAX:
            try:
                del recent[next(iter(recent))]  # the oldest
            except (StopIteration, KeyError, RuntimeError):  # another writer thread changed it meanwhile
                break

    def _unsettled(
        self,
        conn: psycopg.Connection[Any],
        groups: list[_Patient],
        patients: dict[str, Patient],
        waiting_of: dict[str, set[str]],
        alerted: set[str],
    ) -> tuple[list[_Patient], dict[str, list[Sample]]]:
        """The patients that need evaluating, and their history. Phase 1: the near windows' rows and
        the far windows' extremes only. A patient all of whose readings are calm even against the
        extremes of the whole window (a superset of what each reading's bands reach) has no finding;
        only the others get their far windows' rows (phase 2)."""
        near, far = self._windows(groups, patients)
        if not self._shortcuts:
            return groups, store.history(conn, rows=near + far)[0]
        expected = self._expected(groups, waiting_of, alerted)
        rows, coarse = store.history(
            conn,
            rows=near + [w for w in far if w[0] in expected],
            extents=[w for w in far if w[0] not in expected],
        )
        restless_groups: list[_Patient] = []
        for g in groups:
            if g.patient_id in expected:
                restless_groups.append(g)
                continue
            view = _Coarse(History(rows.get(g.patient_id, ())), coarse.get(g.patient_id, {}))
            patient, waiting = patients[g.patient_id], waiting_of.get(g.patient_id, set())
            if not all(calm(r, view, patient, waiting) for r in g.readings):
                restless_groups.append(g)
        unexpected = {g.patient_id for g in restless_groups} - expected
        for patient_id, samples in store.history(conn, rows=[w for w in far if w[0] in unexpected])[0].items():
            rows.setdefault(patient_id, []).extend(samples)
        return restless_groups, rows

    def _expected(self, groups: list[_Patient], waiting_of: dict[str, set[str]], alerted: set[str]) -> set[str]:
        """The patients likely restless: restless in a recent batch of this worker, with an active
        clinical alert fed this week (a hypertensive patient's BP-I1 attaches each BP reading) or with
        a confirmation waiting. Phase 1 fetches their far rows at once instead of extremes that would
        only send them to phase 2. Only a guess: they are still judged reading by reading (calm,
        restless), so the findings are the same whatever it says (tested with every guess)."""
        recent = self._recently_restless
        return {
            g.patient_id
            for g in groups
            if g.patient_id in recent or g.patient_id in waiting_of or g.patient_id in alerted
        }

    @staticmethod
    def _windows(groups: list[_Patient], patients: dict[str, Patient]) -> tuple[list[store.Window], list[store.Window]]:
        """The history windows of a batch: (near, far), far for those reaching back more than
        :data:`NEAR` (BP-I1's week, GLU-W2's day, the weight, SpO2 and temperature trends)."""
        near: list[store.Window] = []
        far: list[store.Window] = []
        for g in groups:
            # One window per distinct reach, not the longest for all: a BP reading's pulse needs an
            # hour of history, not the week BP-I1 needs for SYS/DIA.
            reach: dict[timedelta, set[int]] = {}
            for m in related_metrics({m for r in g.readings for m in r.values}):
                reach.setdefault(lookback(m, patients[g.patient_id]), set()).add(m)
            for back, metrics in reach.items():
                window = (g.patient_id, g.readings[0].measured_at - back, g.readings[-1].measured_at, metrics)
                (far if back > NEAR else near).append(window)
        return near, far

    @staticmethod
    def _fire(conn: psycopg.Connection[Any], g: _Patient, finding: Finding, waiting: set[str], now: datetime) -> None:
        store.apply_finding(conn, g.practice_id, g.patient_id, finding, now, pending_exists=finding.rule_id in waiting)
        waiting.discard(finding.rule_id)

    @staticmethod
    def _record_failures(conn: psycopg.Connection[Any], practice_id: str, failures: list[tuple[str, str, str]]) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO alert_evaluation_failures (practice_id, reading_id, rule_id, error) "
                "VALUES (%s, %s, %s, %s)",
                [(practice_id, reading_id, rule_id, error) for reading_id, rule_id, error in failures],
            )
