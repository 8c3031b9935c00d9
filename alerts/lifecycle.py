"""The alert lifecycle as pure transitions: open → acknowledged → resolved, snooze, reopen.

A transition takes the alert's current :class:`AlertState`, who acts, when and with which note, and
returns the new state or raises :class:`TransitionRefused`. The repository (:mod:`alerts.service`)
applies it under a row lock and appends an ``alert_events`` row, so the API and the operator CLI
share one set of rules."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.errors import CarehubError

REOPEN_WITHIN = timedelta(hours=12)
"""A rule that raises again within this time after its alert was resolved reopens that alert (the
clinician sees the history in one place) instead of opening a new one."""

MAX_SNOOZE = timedelta(days=7)
NOTE_MAX_CHARS = 2000


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class TransitionRefused(CarehubError):
    """The alert is not in a state that allows this step (advice: reload the alert and retry)."""


@dataclass(frozen=True, slots=True)
class AlertState:
    status: Status
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledge_note: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolve_note: str | None = None
    snoozed_until: datetime | None = None
    reopened_count: int = 0


def _note(note: str | None) -> str | None:
    if note is not None and len(note) > NOTE_MAX_CHARS:
        raise TransitionRefused(f"a note has at most {NOTE_MAX_CHARS} characters")
    return note


def acknowledge(state: AlertState, *, by: str, at: datetime, note: str | None = None) -> AlertState:
    """Someone owns the alert now; escalation stops (ALERT-4)."""
    if state.status is not Status.OPEN:
        raise TransitionRefused(f"only an open alert can be acknowledged (this one is {state.status})")
    return replace(
        state, status=Status.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by, acknowledge_note=_note(note)
    )


def resolve(state: AlertState, *, by: str, at: datetime, note: str | None = None) -> AlertState:
    """Done. An open alert may be resolved directly (resolving implies having looked at it)."""
    if state.status is Status.RESOLVED:
        raise TransitionRefused("the alert is already resolved")
    acknowledged = state if state.status is Status.ACKNOWLEDGED else acknowledge(state, by=by, at=at)
    return replace(acknowledged, status=Status.RESOLVED, resolved_at=at, resolved_by=by, resolve_note=_note(note))


def snooze(state: AlertState, *, until: datetime, at: datetime) -> AlertState:
    """Hold escalation and repeat notifications until ``until`` (at most :data:`MAX_SNOOZE`)."""
    if state.status is Status.RESOLVED:
        raise TransitionRefused("a resolved alert cannot be snoozed")
    if not at < until <= at + MAX_SNOOZE:
        raise TransitionRefused(f"a snooze ends after now and within {MAX_SNOOZE.days} days")
    return replace(state, snoozed_until=until)


def reopen(state: AlertState, *, at: datetime) -> AlertState:
    """The rule raised again soon after resolution: back to open, the previous handling kept in events."""
    if state.status is not Status.RESOLVED:
        raise TransitionRefused("only a resolved alert can be reopened")
    return AlertState(status=Status.OPEN, reopened_count=state.reopened_count + 1)


def may_reopen(state: AlertState, *, at: datetime) -> bool:
    return state.status is Status.RESOLVED and state.resolved_at is not None and at - state.resolved_at <= REOPEN_WITHIN


def snoozed(state: AlertState, at: datetime) -> bool:
    return state.snoozed_until is not None and at < state.snoozed_until


def due_for_escalation(
    state: AlertState, *, severity: str, opened_at: datetime, escalated: bool, at: datetime, after: timedelta
) -> bool:
    """ALERT-4: a critical alert nobody acknowledged within ``after`` escalates once (not while snoozed)."""
    return (
        severity == "critical"
        and state.status is Status.OPEN
        and not escalated
        and not snoozed(state, at)
        and at - opened_at >= after
    )
