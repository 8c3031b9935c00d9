"""The report's case hash: stable for the same facts, different when any fact changes (§A.9 step 6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from billing.report import case_hash
from tests.billing.cases import case, days, spent


def test_the_same_facts_hash_the_same_and_any_change_shows() -> None:
    base = case(data_days=days(16), time_spent=(spent(20, ref="t1"),))
    assert case_hash(base) == case_hash(replace(base))
    assert len(case_hash(base)) == 64
    changed = [
        replace(base, data_days=days(17)),
        replace(base, time_spent=(spent(21, ref="t1"),)),
        replace(base, care_plan=False),
        replace(base, device_period_start=date(2026, 11, 2)),
        replace(base, setup_billed_in_episode=True),
    ]
    assert len({case_hash(c) for c in changed} | {case_hash(base)}) == len(changed) + 1
