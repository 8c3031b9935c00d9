"""The clinical alert rules of ``reference/rpm-ccm-rules.md`` §C.2 as a pure, versioned rule table.

Nothing here touches a database, a clock or a broker: :func:`evaluate` takes the new reading, the
patient's recent accepted history, the patient's profile (condition keys from ``patient_conditions``)
and the resolved thresholds, plus ``now``, and returns :class:`Finding` values that say what the
caller must do (fire an alert, hold it pending confirmation, cancel a pending one).

Decisions the reference leaves open, written down here:

- **Sets** (§C.2 notation): readings of the same metric from the same device within ``set_window``
  before the new one, evaluated on their mean. A *repeat* set is any set measured earlier within the
  rule's confirmation window but outside the current set.
- **confirm**: fires when a repeat set also meets the condition; otherwise the finding is PENDING with
  ``confirm_by = measured_at + confirm_window`` and the scheduler fires it on the single set at that
  mark (never silently dropped). A new set that no longer meets the condition CANCELS the pending
  confirmation (it was noise, e.g. a first reading taken after climbing stairs); this is the alert-
  fatigue choice (§E.1) and is logged in the alert history of the patient.
- **Families**: rules on the same condition (BP high: BP-C1 > BP-W1) never both raise for one reading;
  the most severe matching rule of a family wins (one alert, not two, for 185/110).
- **Boundaries** (ALERT-2) are exactly as written. Weight thresholds are written in pounds and
  converted exactly (3 lb = 1.36077711 kg); comparisons allow 1e-6 for float rounding only.
- **Late readings** (ALERT-6): measured more than 24 h before the hub received them; they are
  evaluated, labelled late, and a critical finding is downgraded to warning. Their confirmation
  window has already passed, so a late confirm finding fires at once on what history holds.
- **ALERT-1**: readings carrying a flag in :data:`DISQUALIFYING_FLAGS` are not evaluated (the caller
  also leaves them out of the history it passes in).
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from core.domain import METRICS, Metric, ReadingFlag

if TYPE_CHECKING:
    from alerts.calm import CalmCheck

RULESET_VERSION = 1
"""Version of the default rule table as a whole; every rule also carries its own version (ALERT-5)."""

LB_IN_KG = 0.45359237
LATE_AFTER = timedelta(hours=24)
EPSILON = 1e-6

SYS = METRICS[Metric.MDC_PRESS_BLD_NONINV_SYS].code
DIA = METRICS[Metric.MDC_PRESS_BLD_NONINV_DIA].code
PULSE_CUFF = METRICS[Metric.MDC_PULS_RATE_NON_INV].code
PULSE_OXIMETER = METRICS[Metric.MDC_PULS_OXIM_PULS_RATE].code
SPO2 = METRICS[Metric.MDC_PULS_OXIM_SAT_O2].code
WEIGHT = METRICS[Metric.MDC_MASS_BODY_ACTUAL].code
TEMP = METRICS[Metric.MDC_TEMP_BODY].code
GLUCOSE = frozenset(
    METRICS[m].code
    for m in (
        Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD,
        Metric.MDC_CONC_GLU_CAPILLARY_PLASMA,
        Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA,
    )
)
PULSE = frozenset({PULSE_CUFF, PULSE_OXIMETER})

DISQUALIFYING_FLAGS = frozenset(
    {
        ReadingFlag.BODY_MOVEMENT,
        ReadingFlag.CUFF_FIT_LOOSE,
        ReadingFlag.IMPROPER_POSITION,
        ReadingFlag.DEVICE_FAULT,
        ReadingFlag.SENSOR_FAULT,
        ReadingFlag.QUESTIONABLE,
        ReadingFlag.INVALID,
        ReadingFlag.CONTROL_SOLUTION,
        ReadingFlag.MANUAL_ENTRY,
        ReadingFlag.SAMPLE_SIZE_INSUFFICIENT,
        ReadingFlag.STRIP_INSERTION_ERROR,
        ReadingFlag.STRIP_TYPE_INCORRECT,
        ReadingFlag.READ_INTERRUPTED,
        ReadingFlag.MEASUREMENT_UNSUCCESSFUL,
        ReadingFlag.PARTIAL_MEASUREMENT,
        ReadingFlag.MEASUREMENT_ONGOING,
        ReadingFlag.EARLY_ESTIMATE,
        ReadingFlag.DEMONSTRATION_DATA,
        ReadingFlag.TEST_DATA,
        ReadingFlag.CALIBRATION_ONGOING,
        ReadingFlag.MEASUREMENT_UNAVAILABLE,
        ReadingFlag.EQUIPMENT_MALFUNCTION,
        ReadingFlag.INADEQUATE_SIGNAL,
        ReadingFlag.POOR_SIGNAL,
        ReadingFlag.ERRATIC_SIGNAL,
        ReadingFlag.NON_PULSATILE_SIGNAL,
        ReadingFlag.QUESTIONABLE_PULSE,
        ReadingFlag.SENSOR_INTERFERENCE,
        ReadingFlag.SENSOR_UNCONNECTED,
        ReadingFlag.SENSOR_DISPLACED,
        ReadingFlag.SENSOR_DISCONNECTED,
    }
)
"""Device status bits that make a reading questionable or invalid (ALERT-1). Irregular pulse, low
battery and stored-memory bits are informative and do not disqualify a reading."""


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self.value]


_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class Mode(StrEnum):
    SINGLE = "single"
    """Fires on the reading (or set) itself."""
    FIRST_SET = "first_set"
    """Fires on the first set; a prompt re-check is asked for in the message (BP-C1)."""
    CONFIRM = "confirm"
    """Needs a repeat set within the confirmation window, or fires at its end (§C.2 ``confirm``)."""


class Action(StrEnum):
    FIRE = "fire"
    PEND = "pend"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Sample:
    """One accepted observation: MDC code, canonical value (glucose LO/HI as -inf/+inf)."""

    reading_id: str
    device_id: str
    metric: int
    value: float
    measured_at: datetime


@dataclass(frozen=True, slots=True)
class NewReading:
    """The reading being evaluated, as ingest stored it."""

    reading_id: str
    device_id: str
    measured_at: datetime
    received_at: datetime
    flags: frozenset[str]
    values: Mapping[int, float]

    def samples(self) -> list[Sample]:
        return [Sample(self.reading_id, self.device_id, m, v, self.measured_at) for m, v in self.values.items()]


@dataclass(frozen=True, slots=True)
class Profile:
    """What selects rules for a patient: condition keys (``patient_conditions.condition_keys``)."""

    condition_keys: frozenset[str] = frozenset()

    @property
    def heart_failure(self) -> bool:
        return "heart_failure" in self.condition_keys

    @property
    def chronic_lung(self) -> bool:
        return bool({"copd", "chronic_respiratory_failure"} & self.condition_keys)


Params = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule concluded for one reading; ``thresholds`` and ``observed`` go into the alert (ALERT-5)."""

    rule_id: str
    rule_version: int
    severity: Severity
    action: Action
    thresholds: Mapping[str, float]
    observed: Mapping[str, float]
    reading_ids: tuple[str, ...]
    late: bool = False
    confirm_by: datetime | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    """A rule's verdict before confirmation logic: the values it judged and the readings behind them."""

    observed: Mapping[str, float]
    reading_ids: tuple[str, ...]


Judge = Callable[["Inputs", Params], "Evidence | None"]

Bands = Mapping[int, tuple[float, float]]
"""metric → open interval (lo, hi) of values; see :attr:`Rule.calm`."""


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    version: int
    severity: Severity
    family: str
    metrics: frozenset[int]
    defaults: Mapping[str, float]
    judge: Judge
    mode: Mode = Mode.SINGLE
    set_window: timedelta = timedelta(minutes=10)
    confirm_window: timedelta = timedelta(minutes=30)
    applies: Callable[[Profile], bool] = field(default=lambda profile: True)
    calm: Callable[[Params], Bands | None] | None = None
    """Where the rule provably raises nothing, for its thresholds: if every value of each metric in the
    bands, the reading's own and any device's measured within :attr:`calm_reach` before it, lies
    strictly inside that metric's band, the judge returns None (a mean of values inside an interval
    stays inside it). None, or a callable returning None: no such proof, the rule is always judged.
    :func:`calm` uses it to skip a reading before any per-rule work."""
    calm_reach: timedelta | None = None
    """How far back :attr:`calm`'s bands must hold; None: the set window."""


class History:
    """A patient's accepted samples indexed by metric and time, so each judge's window is a binary
    search rather than a scan (evaluation runs in the ingest transaction, per reading). It may hold
    samples later than the reading being judged: every judge bounds its windows by the reading's time."""

    __slots__ = ("_by_metric", "_times", "_values")

    def __init__(self, samples: Iterable[Sample] = ()) -> None:
        by_metric: dict[int, list[Sample]] = {}
        for sample in samples:
            by_metric.setdefault(sample.metric, []).append(sample)
        for values in by_metric.values():
            values.sort(key=lambda s: s.measured_at)
        self._by_metric = by_metric
        self._times = {m: [s.measured_at for s in v] for m, v in by_metric.items()}
        self._values = {m: [s.value for s in v] for m, v in by_metric.items()}

    def extent(self, metric: int, since: datetime, until: datetime) -> tuple[float, float] | None:
        """(min, max) of the values of ``metric`` measured in [since, until], None when there are none."""
        times = self._times.get(metric)
        if not times:
            return None
        lo, hi = bisect_left(times, since), bisect_right(times, until)
        if lo >= hi:
            return None
        values = self._values[metric][lo:hi]
        return min(values), max(values)

    def between(self, metrics: Iterable[int], since: datetime, until: datetime, *, after: bool = False) -> list[Sample]:
        """Samples of ``metrics`` measured in [since, until] (or (since, until] with ``after``), by time."""
        found: list[Sample] = []
        merged = 0
        for metric in metrics:
            times = self._times.get(metric)
            if not times:
                continue
            lo = (bisect_right if after else bisect_left)(times, since)
            found.extend(self._by_metric[metric][lo : bisect_right(times, until)])
            merged += 1
        if merged > 1:  # each metric's list is already in time order
            found.sort(key=lambda s: s.measured_at)
        return found


class Extents(Protocol):
    """What :func:`calm` reads of a history: the extremes of a metric's values in a time range (or of
    a superset of them: a wider range only makes it more cautious)."""

    def extent(self, metric: int, since: datetime, until: datetime) -> tuple[float, float] | None: ...


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a judge may look at: the new reading, the patient's history, and the rule's set window."""

    reading: NewReading
    history: History
    set_window: timedelta
    sets: dict[tuple[frozenset[int], timedelta], list[Sample]] = field(default_factory=dict)
    """Current sets already computed for this reading, shared by the rules that judge it (five BP
    rules look at the same set)."""

    def current_set(self, metrics: frozenset[int]) -> list[Sample]:
        """The new reading's values plus earlier ones from the same device within the set window."""
        key = (metrics, self.set_window)
        found = self.sets.get(key)
        if found is None:
            found = self.sets[key] = self._current_set(metrics)
        return list(found)

    def _current_set(self, metrics: frozenset[int]) -> list[Sample]:
        own = [s for s in self.reading.samples() if s.metric in metrics]
        if not own:
            return []
        if not self.set_window:
            return own
        at = self.reading.measured_at
        earlier = [
            s
            for s in self.history.between(metrics, at - self.set_window, at, after=True)
            if s.device_id == self.reading.device_id and s.reading_id != self.reading.reading_id
        ]
        return earlier + own

    def before(self, metrics: frozenset[int], since: datetime, until: datetime) -> list[Sample]:
        """History samples in [since, until], never the reading being judged."""
        return [s for s in self.history.between(metrics, since, until) if s.reading_id != self.reading.reading_id]


def _mean(samples: Iterable[Sample], metrics: frozenset[int]) -> float | None:
    values = [s.value for s in samples if s.metric in metrics]
    if not values:
        return None
    if any(math.isinf(v) for v in values):
        return values[-1] if len(values) == 1 else math.fsum(values) / len(values)
    return math.fsum(values) / len(values)


def _ids(samples: Iterable[Sample]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.reading_id for s in sorted(samples, key=lambda s: s.measured_at)))


def _ge(value: float, limit: float) -> bool:
    return value >= limit - EPSILON


def _le(value: float, limit: float) -> bool:
    return value <= limit + EPSILON


# ---- judges over a set mean ------------------------------------------------------------------


def _bp_set(inputs: Inputs) -> tuple[float | None, float | None, list[Sample]]:
    current = inputs.current_set(frozenset({SYS, DIA}))
    return _mean(current, frozenset({SYS})), _mean(current, frozenset({DIA})), current


def _bp(condition: Callable[[float | None, float | None, Params], bool]) -> Judge:
    def judge(inputs: Inputs, p: Params) -> Evidence | None:
        sys, dia, current = _bp_set(inputs)
        if sys is None and dia is None:
            return None
        if not condition(sys, dia, p):
            return None
        observed = {k: v for k, v in (("sys_mean", sys), ("dia_mean", dia)) if v is not None}
        return Evidence(observed, _ids(current))

    return judge


def _single(metrics: frozenset[int], name: str, condition: Callable[[float, Params], bool]) -> Judge:
    """A condition on the mean of the current set of one metric family (a set of one for most)."""

    def judge(inputs: Inputs, p: Params) -> Evidence | None:
        current = inputs.current_set(metrics)
        value = _mean(current, metrics)
        if value is None or not condition(value, p):
            return None
        return Evidence({name: value}, _ids(current))

    return judge


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def _at_least(value: float | None, limit: float) -> bool:
    return value is not None and value >= limit


# ---- judges over history --------------------------------------------------------------------


def _bp_trailing_mean(inputs: Inputs, p: Params) -> Evidence | None:
    """BP-I1: mean of the set means over the trailing 7 days, from at least ``min_sets`` sets."""
    at = inputs.reading.measured_at
    samples = inputs.before(BP, at - timedelta(days=7), at)  # never the reading being judged
    samples += [s for s in inputs.reading.samples() if s.metric in BP]
    sets = group_sets(samples, inputs.set_window)
    if len(sets) < p["min_sets"]:
        return None
    # One pass per set for both metrics, the same arithmetic as _mean (fsum / n): this judge runs for
    # every BP reading over a week of history and was the largest part of rule evaluation.
    sys_means: list[float] = []
    dia_means: list[float] = []
    for group in sets:
        sys_values = [s.value for s in group if s.metric == SYS]
        dia_values = [s.value for s in group if s.metric == DIA]
        if sys_values:
            sys_means.append(math.fsum(sys_values) / len(sys_values))
        if dia_values:
            dia_means.append(math.fsum(dia_values) / len(dia_values))
    sys = statistics.fmean(sys_means) if sys_means else None
    dia = statistics.fmean(dia_means) if dia_means else None
    if not (_at_least(sys, p["sys_ge"]) or _at_least(dia, p["dia_ge"])):
        return None
    observed = {"sets": float(len(sets))}
    observed |= {k: v for k, v in (("sys_7d_mean", sys), ("dia_7d_mean", dia)) if v is not None}
    return Evidence(observed, _ids(samples))


def group_sets(samples: Sequence[Sample], window: timedelta) -> list[list[Sample]]:
    """Readings of one device grouped into sets: a set starts at a reading and takes the same
    device's readings within ``window`` after it (§C.2 ``set``)."""
    sets: list[list[Sample]] = []
    open_sets: dict[str, list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: s.measured_at):
        current = open_sets.get(sample.device_id)
        if current is None or sample.measured_at - current[0].measured_at > window:
            current = []
            open_sets[sample.device_id] = current
            sets.append(current)
        current.append(sample)
    return sets


def _weight_reference(inputs: Inputs, earliest: timedelta, latest: timedelta) -> Sample | None:
    """The first weight measured between ``earliest`` and ``latest`` before the new reading."""
    at = inputs.reading.measured_at
    found = inputs.before(frozenset({WEIGHT}), at - earliest, at - latest)
    return found[0] if found else None


def _weight_change(inputs: Inputs, earliest: timedelta, latest: timedelta) -> tuple[float, Sample, float] | None:
    now_kg = inputs.reading.values.get(WEIGHT)
    reference = _weight_reference(inputs, earliest, latest)
    if now_kg is None or reference is None:
        return None
    return now_kg - reference.value, reference, now_kg


def _wt_c1(inputs: Inputs, p: Params) -> Evidence | None:
    """WT-C1: gain vs the prior day's first reading, accepting an 18-36 h gap."""
    change = _weight_change(inputs, timedelta(hours=36), timedelta(hours=18))
    if change is None or not _ge(change[0], p["gain_lb"] * LB_IN_KG):
        return None
    return Evidence({"gain_kg": change[0], "weight_kg": change[2]}, (change[1].reading_id, inputs.reading.reading_id))


def _wt_w1(inputs: Inputs, p: Params) -> Evidence | None:
    """WT-W1: gain in 24 h (18-36 h gap, as WT-C1) or vs the value 7 days ago (6-8 days)."""
    day = _weight_change(inputs, timedelta(hours=36), timedelta(hours=18))
    if day is not None and _ge(day[0], p["gain_24h_lb"] * LB_IN_KG):
        return Evidence({"gain_kg": day[0], "weight_kg": day[2]}, (day[1].reading_id, inputs.reading.reading_id))
    week = _weight_change(inputs, timedelta(days=8), timedelta(days=6))
    if week is not None and _ge(week[0], p["gain_7d_lb"] * LB_IN_KG):
        return Evidence({"gain_7d_kg": week[0], "weight_kg": week[2]}, (week[1].reading_id, inputs.reading.reading_id))
    return None


def _wt_i1(inputs: Inputs, p: Params) -> Evidence | None:
    """WT-I1: loss over 2 days (reference measured 42-54 h before)."""
    change = _weight_change(inputs, timedelta(hours=54), timedelta(hours=42))
    if change is None or not _ge(-change[0], p["loss_lb"] * LB_IN_KG):
        return None
    return Evidence({"loss_kg": -change[0], "weight_kg": change[2]}, (change[1].reading_id, inputs.reading.reading_id))


def _median_before(inputs: Inputs, metrics: frozenset[int], days: int) -> float | None:
    at = inputs.reading.measured_at
    values = [
        s.value
        for s in inputs.before(metrics, at - timedelta(days=days), at)
        if s.reading_id != inputs.reading.reading_id
    ]
    return statistics.median(values) if len(values) >= 3 else None


def _spo2_copd_w(inputs: Inputs, p: Params) -> Evidence | None:
    """SPO2-W1c: < 88 % or at least 4 points below the 14-day median (needs 3 prior readings)."""
    current = inputs.current_set(frozenset({SPO2}))
    value = _mean(current, frozenset({SPO2}))
    if value is None:
        return None
    median = _median_before(inputs, frozenset({SPO2}), 14)
    dropped = median is not None and _ge(median - value, p["drop_points"])
    if not (value < p["lt"] or dropped):
        return None
    observed = {"spo2": value} | ({"median_14d": median} if median is not None else {})
    return Evidence(observed, _ids(current))


def _temp_w2(inputs: Inputs, p: Params) -> Evidence | None:
    """TEMP-W2 (opt-in, age ≥ 75): ≥ 37.8 °C or ≥ 1.1 °C above the 30-day median."""
    if p["enabled"] < 1:
        return None
    value = inputs.reading.values.get(TEMP)
    if value is None:
        return None
    median = _median_before(inputs, frozenset({TEMP}), 30)
    rise = median is not None and _ge(value - median, p["rise_c"])
    if not (value >= p["ge"] or rise):
        return None
    observed = {"temp_c": value} | ({"median_30d": median} if median is not None else {})
    return Evidence(observed, (inputs.reading.reading_id,))


def _glu_w2(inputs: Inputs, p: Params) -> Evidence | None:
    """GLU-W2's condition on the single reading (> 250); confirmation is special, see :func:`_glucose_confirmed`."""
    value = _glucose(inputs.reading)
    if value is None or not value > p["gt"] or math.isinf(value):
        return None
    return Evidence({"glucose": value}, (inputs.reading.reading_id,))


def _glucose(reading: NewReading) -> float | None:
    for metric in sorted(GLUCOSE):
        if metric in reading.values:
            return reading.values[metric]
    return None


def _glucose_confirmed(inputs: Inputs, p: Params, evidence: Evidence) -> Evidence | None:
    """GLU-W2 fires on a single reading > 300, or when another reading > 250 was taken 2-24 h before."""
    value = evidence.observed["glucose"]
    if value > p["single_gt"]:
        return evidence
    at = inputs.reading.measured_at
    earlier = [
        s
        for s in inputs.before(GLUCOSE, at - timedelta(hours=24), at - timedelta(hours=2))
        if s.value > p["gt"] and not math.isinf(s.value)
    ]
    if not earlier:
        return None
    return Evidence(
        dict(evidence.observed) | {"earlier_glucose": earlier[-1].value}, _ids([earlier[-1]]) + evidence.reading_ids
    )


def _hf(profile: Profile) -> bool:
    return profile.heart_failure


def _not_lung(profile: Profile) -> bool:
    return not profile.chronic_lung


def _lung(profile: Profile) -> bool:
    return profile.chronic_lung


CRIT, WARN, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO
BP = frozenset({SYS, DIA})
SPO2_SET = frozenset({SPO2})
TEMP_SET = frozenset({TEMP})
TEN_MINUTES = timedelta(minutes=10)
INF = math.inf


# ---- where each rule is calm (Rule.calm): the complement of its condition, or a convex part of it --


def _calm_between(
    metrics: Iterable[int], low: str | None, high: str | None, high_epsilon: float = 0.0
) -> Callable[[Params], Bands]:
    """Calm strictly between the thresholds named ``low`` and ``high`` (None: unbounded on that side);
    ``high_epsilon`` for a condition compared with :func:`_ge`."""
    family = tuple(metrics)

    def bands(p: Params) -> Bands:
        band = (p[low] if low else -INF, p[high] - high_epsilon if high else INF)
        return dict.fromkeys(family, band)

    return bands


def _calm_bp_high(p: Params) -> Bands:
    """BP-C1, BP-W1 and BP-I1 fire only at or above their lower ``_ge`` thresholds."""
    return {SYS: (-INF, p["sys_ge"]), DIA: (-INF, p["dia_ge"])}


def _calm_bp_w2(p: Params) -> Bands:
    return {SYS: (p["sys_lt"], INF), DIA: (p["dia_lt"], INF)}


def _calm_temp_w2(p: Params) -> Bands | None:
    return {} if p["enabled"] < 1 else None  # opted out: never raises; opted in: the median needs judging


RULES: tuple[Rule, ...] = (
    Rule("BP-C1", 1, CRIT, "bp_high", BP, {"sys_ge": 180, "dia_ge": 120},
         _bp(lambda s, d, p: _at_least(s, p["sys_ge"]) or _at_least(d, p["dia_ge"])), Mode.FIRST_SET,
         calm=_calm_bp_high),
    Rule("BP-W1", 1, WARN, "bp_high", BP, {"sys_ge": 160, "sys_lt": 180, "dia_ge": 100, "dia_lt": 120},
         _bp(lambda s, d, p: (s is not None and p["sys_ge"] <= s < p["sys_lt"])
             or (d is not None and p["dia_ge"] <= d < p["dia_lt"])), Mode.CONFIRM, calm=_calm_bp_high),
    Rule("BP-I1", 1, INFO, "bp_trend", BP, {"sys_ge": 135, "dia_ge": 85, "min_sets": 4}, _bp_trailing_mean,
         calm=_calm_bp_high, calm_reach=timedelta(days=7)),
    Rule("BP-C2", 1, CRIT, "bp_low", BP, {"sys_lt": 80}, _bp(lambda s, d, p: _below(s, p["sys_lt"])), Mode.CONFIRM,
         calm=_calm_between({SYS}, "sys_lt", None)),
    Rule("BP-W2", 1, WARN, "bp_low", BP, {"sys_lt": 90, "dia_lt": 60},
         _bp(lambda s, d, p: _below(s, p["sys_lt"]) or _below(d, p["dia_lt"])), Mode.CONFIRM, calm=_calm_bp_w2),
    Rule("HR-C1", 1, CRIT, "hr", PULSE, {"lt": 40, "gt": 130},
         _single(PULSE, "pulse", lambda v, p: v < p["lt"] or v > p["gt"]), Mode.CONFIRM,
         calm=_calm_between(PULSE, "lt", "gt")),
    Rule("HR-W1", 1, WARN, "hr", PULSE, {"lt": 50, "gt": 120},
         _single(PULSE, "pulse", lambda v, p: v < p["lt"] or v > p["gt"]), Mode.CONFIRM,
         calm=_calm_between(PULSE, "lt", "gt")),
    Rule("GLU-C1", 1, CRIT, "glu_low", GLUCOSE, {"lt": 54},
         _single(GLUCOSE, "glucose", lambda v, p: v < p["lt"]), set_window=timedelta(0),
         calm=_calm_between(GLUCOSE, "lt", None)),
    Rule("GLU-W1", 1, WARN, "glu_low", GLUCOSE, {"ge": 54, "lt": 70},
         _single(GLUCOSE, "glucose", lambda v, p: p["ge"] <= v < p["lt"]), set_window=timedelta(0),
         calm=_calm_between(GLUCOSE, "lt", None)),
    Rule("GLU-C2", 1, CRIT, "glu_high", GLUCOSE, {"ge": 400},
         _single(GLUCOSE, "glucose", lambda v, p: v >= p["ge"]), set_window=timedelta(0),
         calm=_calm_between(GLUCOSE, None, "ge")),
    Rule("GLU-W2", 1, WARN, "glu_high", GLUCOSE, {"gt": 250, "single_gt": 300}, _glu_w2, Mode.CONFIRM,
         set_window=timedelta(0), confirm_window=timedelta(hours=24), calm=_calm_between(GLUCOSE, None, "gt")),
    Rule("WT-C1", 1, CRIT, "wt_gain", frozenset({WEIGHT}), {"gain_lb": 3}, _wt_c1, applies=_hf),
    Rule("WT-W1", 1, WARN, "wt_gain", frozenset({WEIGHT}), {"gain_24h_lb": 2, "gain_7d_lb": 5}, _wt_w1, applies=_hf),
    Rule("WT-I1", 1, INFO, "wt_loss", frozenset({WEIGHT}), {"loss_lb": 2}, _wt_i1, applies=_hf),
    Rule("SPO2-C1", 1, CRIT, "spo2", SPO2_SET, {"lt": 88}, _single(SPO2_SET, "spo2", lambda v, p: v < p["lt"]),
         Mode.CONFIRM, set_window=timedelta(0), confirm_window=TEN_MINUTES, applies=_not_lung,
         calm=_calm_between(SPO2_SET, "lt", None)),
    Rule("SPO2-W1", 1, WARN, "spo2", SPO2_SET, {"ge": 88, "le": 92},
         _single(SPO2_SET, "spo2", lambda v, p: p["ge"] <= v <= p["le"]), Mode.CONFIRM,
         set_window=timedelta(0), confirm_window=TEN_MINUTES, applies=_not_lung,
         calm=_calm_between(SPO2_SET, "le", None)),
    Rule("SPO2-C1c", 1, CRIT, "spo2", SPO2_SET, {"lt": 85}, _single(SPO2_SET, "spo2", lambda v, p: v < p["lt"]),
         Mode.CONFIRM, set_window=timedelta(0), confirm_window=TEN_MINUTES, applies=_lung,
         calm=_calm_between(SPO2_SET, "lt", None)),
    Rule("SPO2-W1c", 1, WARN, "spo2", SPO2_SET, {"lt": 88, "drop_points": 4}, _spo2_copd_w, Mode.CONFIRM,
         set_window=timedelta(0), confirm_window=TEN_MINUTES, applies=_lung),
    Rule("TEMP-C1", 1, CRIT, "temp", TEMP_SET, {"ge": 39.4, "lt": 35.0},
         _single(TEMP_SET, "temp_c", lambda v, p: _ge(v, p["ge"]) or v < p["lt"]), Mode.CONFIRM,
         set_window=timedelta(0), calm=_calm_between(TEMP_SET, "lt", "ge", EPSILON)),
    Rule("TEMP-W1", 1, WARN, "temp", TEMP_SET, {"ge": 38.0},
         _single(TEMP_SET, "temp_c", lambda v, p: _ge(v, p["ge"])), set_window=timedelta(0),
         calm=_calm_between(TEMP_SET, None, "ge", EPSILON)),
    Rule("TEMP-W2", 1, WARN, "temp", TEMP_SET, {"enabled": 0, "ge": 37.8, "rise_c": 1.1}, _temp_w2,
         set_window=timedelta(0), calm=_calm_temp_w2),
)  # fmt: skip
"""§C.2 in table order. ``defaults`` are carehub system defaults; practices and patients override them
(OVR-2). A threshold edit bumps the rule's version."""

RULES_BY_ID: Mapping[str, Rule] = {r.rule_id: r for r in RULES}


@dataclass(frozen=True, slots=True)
class Patient:
    """Everything about the patient the engine needs, resolved by the caller."""

    profile: Profile
    overrides: Mapping[str, Params] = field(default_factory=dict)
    """rule id → thresholds after OVR-2 precedence (patient > practice > system defaults)."""
    resolved: dict[str, tuple[Rule, Params]] = field(default_factory=dict, compare=False, repr=False)
    """:func:`thresholds` already worked out for this patient (the ingest hook judges a batch of one
    patient's readings against the same thresholds)."""
    calm_checks: dict[frozenset[int], tuple[tuple[Rule, ...], CalmCheck]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """:func:`alerts.calm.calm`'s checks for this patient, per metric set of a reading."""


def thresholds(rule: Rule, patient: Patient) -> dict[str, float]:
    """A rule's thresholds for a patient: system defaults, then overrides (OVR-2). Condition profiles
    (heart failure, COPD) select different rules rather than retuning one, so they appear as rules."""
    resolved = dict(rule.defaults)
    resolved |= {k: v for k, v in patient.overrides.get(rule.rule_id, {}).items() if k in rule.defaults}
    return resolved


def resolved_thresholds(rule: Rule, patient: Patient) -> Params:
    """:func:`thresholds`, worked out once per patient and rule (cached on the :class:`Patient`)."""
    found = patient.resolved.get(rule.rule_id)
    if found is None or found[0] is not rule:
        found = patient.resolved[rule.rule_id] = (rule, thresholds(rule, patient))
    return found[1]


def is_late(reading: NewReading) -> bool:
    return reading.received_at - reading.measured_at > LATE_AFTER


def evaluable(reading: NewReading) -> bool:
    """ALERT-1: no disqualifying status flag."""
    return not (reading.flags & DISQUALIFYING_FLAGS)


RuleErrorHandler = Callable[[Rule, Exception], None]


def evaluate(
    reading: NewReading,
    history: Sequence[Sample] | History,
    patient: Patient,
    now: datetime,
    on_rule_error: RuleErrorHandler | None = None,
    waiting: Container[str] | None = None,
    only: Container[str] | None = None,
) -> list[Finding]:
    """Every finding for one newly stored reading, given the patient's accepted history before it.

    Returns at most one FIRE/PEND finding per rule family (the most severe), plus CANCEL findings for
    confirm rules whose condition the new set no longer meets: for every such rule, or, when the
    caller passes ``waiting`` (the rule ids with a confirmation pending), only for those (a cancel
    of nothing changes nothing). With ``on_rule_error``, a rule that raises is reported to it and
    skipped, so one defective rule cannot silence the others (the ingest hook records it); without
    it, the error propagates (tests). With ``only`` (from :func:`restless`), the other rules are
    known to raise nothing and are judged only when a confirmation of theirs may be cancelled."""
    if not evaluable(reading):
        return []
    late = is_late(reading)
    indexed = history if isinstance(history, History) else History(history)
    sets: dict[tuple[frozenset[int], timedelta], list[Sample]] = {}
    findings: list[Finding] = []
    raised_families: set[str] = set()
    for rule in candidates(RULES, frozenset(reading.values), patient.profile):
        cancel = rule.mode is Mode.CONFIRM and (waiting is None or rule.rule_id in waiting)
        if only is not None and not cancel and rule.rule_id not in only:
            continue  # calm: its judge would return None
        params = resolved_thresholds(rule, patient)
        inputs = Inputs(reading, indexed, rule.set_window, sets)
        try:
            finding = _judge(rule, inputs, params, late, now, cancel=cancel)
        except Exception as exc:  # the rule-defect boundary documented above
            if on_rule_error is None:
                raise
            on_rule_error(rule, exc)
            continue
        if finding is None:
            continue
        if rule.family in raised_families:
            # A more severe rule of the family raised: this one neither raises nor keeps waiting.
            if cancel:
                findings.append(_finding(rule, Action.CANCEL, params, Evidence({}, ()), late=late))
            continue
        if finding.action is not Action.CANCEL:
            raised_families.add(rule.family)
        findings.append(finding)
    return findings


_CANDIDATES: dict[tuple[frozenset[int], Profile], tuple[Rule, ...]] = {}
_CANDIDATES_OF: list[tuple[Rule, ...]] = []  # the rule table the cache was built from


def candidates(rules: tuple[Rule, ...], metrics: frozenset[int], profile: Profile) -> tuple[Rule, ...]:
    """The rules that judge a reading of ``metrics`` for a patient of ``profile``, most severe first
    within the table order (cached per table, metric set and profile: a handful of combinations)."""
    if not _CANDIDATES_OF or _CANDIDATES_OF[0] is not rules or len(_CANDIDATES) > 4096:
        _CANDIDATES.clear()  # another rule table (tests replace it) or unusual variety
        _CANDIDATES_OF[:] = [rules]
    key = (metrics, profile)
    found = _CANDIDATES.get(key)
    if found is None:
        ordered = sorted(rules, key=lambda r: -r.severity.rank)
        found = _CANDIDATES[key] = tuple(r for r in ordered if r.metrics & metrics and r.applies(profile))
    return found


def _judge(
    rule: Rule, inputs: Inputs, params: Params, late: bool, now: datetime, *, cancel: bool = True
) -> Finding | None:
    evidence = rule.judge(inputs, params)
    if evidence is None:
        if cancel and rule.mode is Mode.CONFIRM:
            return _finding(rule, Action.CANCEL, params, Evidence({}, ()), late=late)
        return None
    return _decide(rule, inputs, params, evidence, late, now)


def _decide(
    rule: Rule, inputs: Inputs, params: Params, evidence: Evidence, late: bool, now: datetime
) -> Finding | None:
    if rule.mode is not Mode.CONFIRM:
        return _finding(rule, Action.FIRE, params, evidence, late=late)
    if rule.rule_id == "GLU-W2":
        confirmed = _glucose_confirmed(inputs, params, evidence)
    else:
        confirmed = _repeat_confirms(rule, inputs, params, evidence)
    if confirmed is not None:
        return _finding(rule, Action.FIRE, params, confirmed, late=late)
    confirm_by = inputs.reading.measured_at + rule.confirm_window
    if confirm_by <= now:
        # The window is already over (a late or stored reading): nothing more can arrive in it.
        return _finding(rule, Action.FIRE, params, evidence, late=late)
    return _finding(rule, Action.PEND, params, evidence, late=late, confirm_by=confirm_by)


def _repeat_confirms(rule: Rule, inputs: Inputs, params: Params, evidence: Evidence) -> Evidence | None:
    """A repeat set measured within the confirmation window, before the current set, that also meets
    the condition (evaluated as if it had just arrived)."""
    at = inputs.reading.measured_at
    window_start = at - rule.confirm_window
    current_ids = set(evidence.reading_ids)
    earlier = [
        s
        for s in inputs.before(rule.metrics, window_start, at)
        if s.reading_id not in current_ids and s.reading_id != inputs.reading.reading_id
    ]
    for group in reversed(group_sets(earlier, rule.set_window)):
        last = group[-1]
        as_new = NewReading(
            last.reading_id,
            last.device_id,
            last.measured_at,
            last.measured_at,
            frozenset(),
            {s.metric: s.value for s in group if s.reading_id == last.reading_id},
        )
        repeat = rule.judge(Inputs(as_new, inputs.history, rule.set_window), params)
        if repeat is not None:
            return Evidence(dict(evidence.observed), repeat.reading_ids + evidence.reading_ids)
    return None


def _finding(
    rule: Rule,
    action: Action,
    params: Params,
    evidence: Evidence,
    *,
    late: bool,
    confirm_by: datetime | None = None,
) -> Finding:
    severity = rule.severity
    if late and severity is Severity.CRITICAL:
        severity = Severity.WARNING
    return Finding(
        rule_id=rule.rule_id,
        rule_version=rule.version,
        severity=severity,
        action=action,
        thresholds=dict(params),
        observed=dict(evidence.observed),
        reading_ids=evidence.reading_ids,
        late=late,
        confirm_by=confirm_by,
    )
