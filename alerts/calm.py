"""Which readings provably raise nothing, and which rules the others need.

Each rule in :data:`alerts.rules.RULES` declares its calm band (:attr:`~alerts.rules.Rule.calm`): per
metric an open interval where its judge provably returns nothing, and how far back it looks
(:attr:`~alerts.rules.Rule.calm_reach`). :func:`calm` tells the ingest hook that a reading needs no
evaluation at all; :func:`restless` names the rules a reading that is not calm must be judged by
(``evaluate(only=...)``). Both are exact, not heuristics: ``tests/alerts/test_calm.py`` checks them
against the full evaluation on random sequences, ``tests/alerts/test_hook.py`` end to end.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from alerts import rules as engine
from alerts.rules import INF, Extents, History, Mode, NewReading, Patient, Profile, Rule, evaluable, resolved_thresholds

CalmBand = tuple[int, timedelta, float, float]
"""(metric, reach, lo, hi): every value of the metric within reach before the reading, and the reading's
own, strictly between lo and hi (already shrunk by :func:`_calm_margin`)."""


@dataclass(frozen=True, slots=True)
class CalmCheck:
    """The candidate rules' :attr:`Rule.calm` for one patient and metric set: per rule its bands (None:
    no proof), and all of them merged per (metric, reach) by intersection (None when a rule has no
    proof); the confirm rules among them (a waiting confirmation of one of them may be cancelled, so
    it must be judged)."""

    merged: tuple[CalmBand, ...] | None
    per_rule: tuple[tuple[str, tuple[CalmBand, ...] | None], ...]
    confirm: frozenset[str]


def calm(reading: NewReading, history: Extents, patient: Patient, waiting: Container[str]) -> bool:
    """True only when :func:`evaluate` of ``reading`` (same history, patient and ``waiting``, any
    ``now``) returns no finding, so the caller may skip it; False when that cannot be shown cheaply.

    A reading is calm when no candidate rule's confirmation is waiting and every value the candidate
    rules could judge lies strictly inside their calm bands (:attr:`Rule.calm`): the reading's own
    values and, per band, every history value of the metric within its reach, from any device (a
    superset of the set, or of BP-I1's week). Most readings are normal; they cost this check instead
    of the rules. ``tests/alerts/test_calm.py`` checks the equivalence on random sequences."""
    if not evaluable(reading):
        return True
    check = _calm_check(frozenset(reading.values), patient)
    if check.merged is None:
        return False
    for rule_id in check.confirm:
        if rule_id in waiting:
            return False
    at = reading.measured_at
    values = reading.values
    for metric, reach, lo, hi in check.merged:
        own = values.get(metric)
        if own is not None and not lo < own < hi:
            return False
        if reach:
            seen = history.extent(metric, at - reach, at)
            if seen is not None and not (lo < seen[0] and seen[1] < hi):
                return False
    return True


def restless(reading: NewReading, history: History, patient: Patient) -> set[str]:
    """The candidate rules of ``reading`` whose calm bands do not show them quiet: the only ones
    :func:`evaluate` needs to judge (``only=``) besides those with a confirmation waiting. For a
    reading that is not :func:`calm` (often one rule only, BP-I1 for a hypertensive patient)."""
    check = _calm_check(frozenset(reading.values), patient)
    at = reading.measured_at
    extents: dict[tuple[int, timedelta], tuple[float, float] | None] = {}
    found = set()
    for rule_id, bands in check.per_rule:
        if bands is None:
            found.add(rule_id)
            continue
        for metric, reach, lo, hi in bands:
            key = (metric, reach)
            if key in extents:
                seen = extents[key]
            else:
                own = reading.values.get(metric)
                seen = history.extent(metric, at - reach, at) if reach else None
                if own is not None:
                    seen = (own, own) if seen is None else (min(seen[0], own), max(seen[1], own))
                extents[key] = seen
            if seen is not None and not (lo < seen[0] and seen[1] < hi):
                found.add(rule_id)
                break
    return found


_CALM_DEFAULTS: dict[tuple[frozenset[int], Profile], tuple[tuple[Rule, ...], CalmCheck]] = {}
"""Calm checks of patients without overrides (their thresholds are the defaults), per metric set and profile."""


def _calm_check(metrics: frozenset[int], patient: Patient) -> CalmCheck:
    rules = engine.candidates(engine.RULES, metrics, patient.profile)
    if patient.overrides:
        cache: dict[Any, tuple[tuple[Rule, ...], CalmCheck]] = patient.calm_checks
        key: Any = metrics
    else:
        if len(_CALM_DEFAULTS) > 4096:
            _CALM_DEFAULTS.clear()
        cache, key = _CALM_DEFAULTS, (metrics, patient.profile)
    found = cache.get(key)
    if found is None or found[0] is not rules:  # first use, or another rule table (tests replace it)
        found = cache[key] = (rules, _merge_calm(rules, patient))
    return found[1]


def _merge_calm(rules: tuple[Rule, ...], patient: Patient) -> CalmCheck:
    merged: dict[tuple[int, timedelta], tuple[float, float]] | None = {}
    per_rule: list[tuple[str, tuple[CalmBand, ...] | None]] = []
    for rule in rules:
        bands = rule.calm(resolved_thresholds(rule, patient)) if rule.calm is not None else None
        if bands is None:
            merged = None  # a rule without a calm proof: every reading it judges is evaluated
            per_rule.append((rule.rule_id, None))
            continue
        reach = rule.set_window if rule.calm_reach is None else rule.calm_reach
        per_rule.append((rule.rule_id, _shrunk({(m, reach): band for m, band in bands.items()})))
        if merged is not None:
            for metric, (lo, hi) in bands.items():
                known = merged.get((metric, reach), (-INF, INF))
                merged[(metric, reach)] = (max(lo, known[0]), min(hi, known[1]))
    return CalmCheck(
        None if merged is None else _shrunk(merged),
        tuple(per_rule),
        frozenset(r.rule_id for r in rules if r.mode is Mode.CONFIRM),
    )


def _shrunk(bands: Mapping[tuple[int, timedelta], tuple[float, float]]) -> tuple[CalmBand, ...]:
    """Bands shrunk by :func:`_calm_margin`, the reading's own values (reach 0: no search) first."""
    shrunk = [(m, reach, lo + _calm_margin(lo), hi - _calm_margin(hi)) for (m, reach), (lo, hi) in bands.items()]
    return tuple(sorted(shrunk, key=lambda band: band[1]))


def _calm_margin(bound: float) -> float:
    """Kept from a band's bound, far above the rounding of a mean of values inside it (a few ulps), so
    the interval argument holds in floating point too."""
    return 1e-6 + 1e-9 * abs(bound) if math.isfinite(bound) else 0.0
