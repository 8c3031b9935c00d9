"""Reading-driven alert evaluation inside the ingest transaction (an :mod:`ingest.hooks` hook).

For each newly stored reading, in measured order: load the patient's profile and overrides, the
accepted history the reading's rules need, run :func:`alerts.rules.evaluate`, and apply its findings
through :mod:`alerts.store` on the same connection. The alert, its readings and its outbox rows
therefore commit or roll back with the reading.

Failure policy (chosen so that a rule defect never loses a reading): a rule that raises is skipped
for that reading, logged with ``logger.exception``, counted, and recorded in
``alert_evaluation_failures``; the other rules still run. Persisting one patient's findings runs in a
savepoint: if it fails with a non-transient database error (a constraint, a bad value) the savepoint
rolls back, the failure is recorded the same way, and the readings still commit. Transient database
errors (connection lost, deadlock, serialization) propagate, so ingest retries the whole batch."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import psycopg

from alerts import store
from alerts.rules import (
    DIA,
    GLUCOSE,
    PULSE,
    RULES,
    SPO2,
    SYS,
    TEMP,
    WEIGHT,
    NewReading,
    Patient,
    Rule,
    evaluable,
    evaluate,
)
from ingest.hooks import StoredReading

logger = logging.getLogger(__name__)

LOOKBACK: dict[int, timedelta] = {
    SYS: timedelta(days=7),
    DIA: timedelta(days=7),
    WEIGHT: timedelta(days=8),
    SPO2: timedelta(days=14),
    TEMP: timedelta(days=30),
    **{m: timedelta(hours=24) for m in GLUCOSE},
    **{m: timedelta(hours=1) for m in PULSE},
}
"""How far back each metric's rules look (BP-I1 7 days, WT-W1 8 days, SPO2-W1c 14, TEMP-W2 30)."""

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


class AlertEvaluation:
    """The ``alerts`` hook. ``clock`` gives the evaluation time (injected; the scheduler's and the
    engine's windows are measured against it)."""

    name = "alerts"

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.counters = EvaluationCounters()

    def on_stored(self, conn: psycopg.Connection[Any], readings: list[StoredReading]) -> None:
        now = self._clock()
        candidates = [r for r in readings if any(o.metric in EVALUATED_METRICS for o in r.observations)]
        if not candidates:
            return
        patients = store.patient_contexts(conn, {r.patient_id for r in candidates}, now)
        candidates.sort(key=lambda r: (r.patient_id, r.measured_at))
        for patient_id, group in groupby(candidates, key=lambda r: r.patient_id):
            self._evaluate_patient(conn, patients[patient_id], list(group), now)

    def _evaluate_patient(
        self, conn: psycopg.Connection[Any], patient: Patient, readings: list[StoredReading], now: datetime
    ) -> None:
        practice_id, patient_id = readings[0].practice_id, readings[0].patient_id
        failures: list[tuple[str, str, str]] = []
        try:
            with conn.transaction():
                for stored in readings:
                    reading = new_reading(stored)
                    if not reading.values or not evaluable(reading):
                        continue
                    lookback = max(LOOKBACK[m] for m in reading.values)
                    past = store.history(conn, patient_id, EVALUATED_METRICS, reading.measured_at, lookback)
                    past = [s for s in past if s.reading_id != reading.reading_id]

                    def on_rule_error(rule: Rule, exc: Exception, reading_id: str = reading.reading_id) -> None:
                        logger.error(
                            "alert rule failed; reading kept, rule skipped",
                            exc_info=exc,
                            extra={"rule_id": rule.rule_id, "reading_id": reading_id},
                        )
                        failures.append((reading_id, rule.rule_id, f"{type(exc).__name__}: {exc}"))

                    findings = evaluate(reading, past, patient, now, on_rule_error=on_rule_error)
                    for finding in findings:
                        store.apply_finding(conn, practice_id, patient_id, finding, now)
                    self.counters.add(readings=1, findings=len(findings))
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except psycopg.Error as exc:
            logger.exception("storing alert findings failed; readings kept", extra={"patient_batch": len(readings)})
            self.counters.add(store_errors=1)
            failures = [(r.reading_id, "*", f"{type(exc).__name__}: {exc}") for r in readings]
        self.counters.add(rule_errors=sum(1 for f in failures if f[1] != "*"))
        if failures:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO alert_evaluation_failures (practice_id, reading_id, rule_id, error) "
                    "VALUES (%s, %s, %s, %s)",
                    [(practice_id, reading_id, rule_id, error[:2000]) for reading_id, rule_id, error in failures],
                )
