"""Unit conversion to canonical units, with exact factors (core/units.py docstring)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain import METRICS, Metric, Unit
from core.units import UnitNotAccepted, from_canonical, to_canonical


@pytest.mark.parametrize(
    ("metric", "value", "unit", "expected"),
    [
        # 16 kPa = 16000 Pa / 133.322387415 Pa/mmHg
        (Metric.MDC_PRESS_BLD_NONINV_SYS, 16.0, Unit.KPA, 120.0098521),
        (Metric.MDC_PRESS_BLD_NONINV_SYS, 120.0, Unit.MMHG, 120.0),
        # 1 lb = 0.45359237 kg exactly
        (Metric.MDC_MASS_BODY_ACTUAL, 200.0, Unit.LB, 90.718474),
        (Metric.MDC_MASS_BODY_ACTUAL, 81500.0, Unit.G, 81.5),
        # glucose 5.5 mmol/L * 18.0156
        (Metric.MDC_CONC_GLU_CAPILLARY_PLASMA, 5.5, Unit.MMOL_PER_L, 99.0858),
        (Metric.MDC_TEMP_BODY, 98.6, Unit.DEG_F, 37.0),
        (Metric.MDC_TEMP_BODY, 100.4, Unit.DEG_F, 38.0),
        (Metric.MDC_LEN_BODY_ACTUAL, 70.0, Unit.INCH, 177.8),
        (Metric.MDC_LEN_BODY_ACTUAL, 1.75, Unit.M, 175.0),
    ],
)
def test_to_canonical_exact_vectors(metric: Metric, value: float, unit: Unit, expected: float) -> None:
    assert to_canonical(METRICS[metric], value, unit) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("metric", "unit"),
    [
        (Metric.MDC_MASS_BODY_ACTUAL, Unit.MMOL_PER_L),
        (Metric.MDC_PRESS_BLD_NONINV_SYS, Unit.KG),
        (Metric.MDC_PULS_OXIM_SAT_O2, Unit.MMHG),
        (Metric.MDC_TEMP_BODY, Unit.KPA),
    ],
)
def test_unit_not_valid_for_metric_is_refused(metric: Metric, unit: Unit) -> None:
    with pytest.raises(UnitNotAccepted):
        to_canonical(METRICS[metric], 1.0, unit)


def test_every_accepted_unit_has_a_conversion_both_ways() -> None:
    for spec in METRICS.values():
        for unit in spec.accepted_units:
            assert math.isfinite(to_canonical(spec, 1.0, unit))
            assert math.isfinite(from_canonical(spec, 1.0, unit))


@given(
    st.sampled_from([(s, u) for s in METRICS.values() for u in s.accepted_units]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
def test_round_trip_through_canonical(spec_unit: tuple[object, Unit], value: float) -> None:
    spec, unit = spec_unit
    back = from_canonical(spec, to_canonical(spec, value, unit), unit)  # type: ignore[arg-type]
    assert back == pytest.approx(value, rel=1e-12, abs=1e-9)
