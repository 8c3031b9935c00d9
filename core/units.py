"""Unit conversion to each metric's canonical UCUM unit.

Thresholds, summaries and billing all run on canonical values (mm[Hg], kg, mg/dL, Cel, cm), so a
reading in kPa or pounds is converted exactly once, at ingestion, and the original value and unit are
kept beside the converted one (``reference/rpm-ccm-rules.md`` §D.1, §D.2 pitfalls;
``reference/cellular-and-logistics.md`` §0 rule 5).

Factors:
- 1 mmHg = 133.322387415 Pa (conventional millimetre of mercury, as UCUM defines mm[Hg]).
- 1 [lb_av] = 0.45359237 kg (international avoirdupois pound, exact).
- glucose 1 mmol/L = 18.0156 mg/dL (molar mass of glucose 180.156 g/mol).
- 1 [in_i] = 2.54 cm (exact).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from core.domain import Metric, MetricSpec, Unit
from core.errors import CarehubError

PASCAL_PER_MMHG = 133.322387415
KG_PER_LB = 0.45359237
MG_PER_DL_PER_MMOL_PER_L = 18.0156
CM_PER_INCH = 2.54


class UnitNotAccepted(CarehubError):
    """A value arrived in a unit that is not valid for its metric."""

    def __init__(self, metric: Metric, unit: str) -> None:
        super().__init__(f"unit {unit!r} is not accepted for {metric.value}")
        self.metric = metric
        self.unit = unit


_TO_CANONICAL: Mapping[tuple[Unit, Unit], Callable[[float], float]] = {
    (Unit.KPA, Unit.MMHG): lambda v: v * 1000.0 / PASCAL_PER_MMHG,
    (Unit.LB, Unit.KG): lambda v: v * KG_PER_LB,
    (Unit.G, Unit.KG): lambda v: v / 1000.0,
    (Unit.MMOL_PER_L, Unit.MG_PER_DL): lambda v: v * MG_PER_DL_PER_MMOL_PER_L,
    (Unit.DEG_F, Unit.CEL): lambda v: (v - 32.0) * 5.0 / 9.0,
    (Unit.M, Unit.CM): lambda v: v * 100.0,
    (Unit.INCH, Unit.CM): lambda v: v * CM_PER_INCH,
}


def to_canonical(spec: MetricSpec, value: float, unit: Unit) -> float:
    """Convert ``value`` in ``unit`` to ``spec``'s canonical unit.

    Raises :class:`UnitNotAccepted` when the unit is not one the metric accepts (for example
    mmol/L for a body weight)."""
    if unit not in spec.accepted_units:
        raise UnitNotAccepted(spec.metric, unit)
    if unit == spec.canonical_unit:
        return value
    return _TO_CANONICAL[(unit, spec.canonical_unit)](value)


_FROM_CANONICAL: Mapping[tuple[Unit, Unit], Callable[[float], float]] = {
    (Unit.KPA, Unit.MMHG): lambda v: v * PASCAL_PER_MMHG / 1000.0,
    (Unit.LB, Unit.KG): lambda v: v / KG_PER_LB,
    (Unit.G, Unit.KG): lambda v: v * 1000.0,
    (Unit.MMOL_PER_L, Unit.MG_PER_DL): lambda v: v / MG_PER_DL_PER_MMOL_PER_L,
    (Unit.DEG_F, Unit.CEL): lambda v: v * 9.0 / 5.0 + 32.0,
    (Unit.M, Unit.CM): lambda v: v / 100.0,
    (Unit.INCH, Unit.CM): lambda v: v / CM_PER_INCH,
}


def from_canonical(spec: MetricSpec, value: float, unit: Unit) -> float:
    """Inverse of :func:`to_canonical`, for simulators and displays that show the device's unit."""
    if unit not in spec.accepted_units:
        raise UnitNotAccepted(spec.metric, unit)
    if unit == spec.canonical_unit:
        return value
    return _FROM_CANONICAL[(unit, spec.canonical_unit)](value)
