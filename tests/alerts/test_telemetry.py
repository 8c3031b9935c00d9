"""Battery percentages estimated from volts (devices that report a voltage, reference §3.2), exact at
the DEV-1 and DEV-2 bounds."""

from __future__ import annotations

import pytest

from alerts.telemetry import estimated_battery_pct
from drivers.vendors import BATTERY_RANGES_MV

EMPTY, FULL = BATTERY_RANGES_MV["bodytrace"]


def test_bodytrace_range_is_the_documented_one() -> None:
    assert (EMPTY, FULL) == (4700, 6000)


@pytest.mark.parametrize(
    ("mv", "pct"),
    [(4000, 0), (4699, 0), (4700, 0), (4712, 0), (4713, 1), (4829, 9), (4830, 10), (4831, 10),
     (4959, 19), (4960, 20), (4961, 20), (5350, 50), (5999, 99), (6000, 100), (6500, 100)],
)  # fmt: skip
def test_estimated_battery_pct_rounds_down_and_clamps(mv: int, pct: int) -> None:
    assert estimated_battery_pct(mv, EMPTY, FULL) == pct


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        estimated_battery_pct(5000, 6000, 6000)
