"""Pure scheduling decisions: retry backoff, when a device may be connected again, the rate limit on
"not whitelisted" reports, and what a desired-config message does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from core.hub_messages import HubConfig
from gateway.backoff import backoff_delay_s
from gateway.config import ConfigOutcome, decide
from gateway.devices import ConnectSchedule
from gateway.scanner import RateLimiter


def test_backoff_doubles_from_the_minimum_up_to_the_cap() -> None:
    delays = [backoff_delay_s(n, min_s=2.0, max_s=60.0, jitter=1.0) for n in range(8)]
    assert [round(d, 3) for d in delays] == [0.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff_delay_s(3, min_s=2.0, max_s=60.0, jitter=0.0) == 4.0  # half of 8: the jitter floor


@given(attempt=st.integers(1, 10_000), jitter=st.floats(0, 1))
def test_backoff_stays_within_half_and_whole_of_the_capped_base(attempt: int, jitter: float) -> None:
    delay = backoff_delay_s(attempt, min_s=0.5, max_s=30.0, jitter=jitter)
    assert 0.25 <= delay <= 30.0


def test_a_device_gets_one_session_at_a_time_and_backs_off_after_failures() -> None:
    schedule = ConnectSchedule(min_s=2.0, max_s=100.0, revisit_s=30.0)
    assert schedule.may_start("BP-1", 0.0)
    schedule.started("BP-1")
    assert not schedule.may_start("BP-1", 0.0)  # already running
    assert schedule.finished("BP-1", 10.0, ok=False, jitter=1.0) == 2.0
    assert not schedule.may_start("BP-1", 11.0)
    assert schedule.may_start("BP-1", 12.0)
    schedule.started("BP-1")
    schedule.finished("BP-1", 12.0, ok=False, jitter=1.0)
    assert not schedule.may_start("BP-1", 15.9)  # 4 s after the second failure
    schedule.started("BP-1")
    assert schedule.finished("BP-1", 20.0, ok=True, jitter=0.5) == 30.0  # a good session: revisit later
    assert schedule.states["BP-1"].failures == 0
    schedule.allow_now("BP-1")  # a download_all command
    assert schedule.may_start("BP-1", 20.0)


def test_unknown_devices_are_reported_once_per_interval_per_address() -> None:
    limiter = RateLimiter(interval_s=3600.0, max_keys=2)
    assert [limiter.allow("A", t) for t in (0.0, 10.0, 3599.0, 3600.0)] == [True, False, False, True]
    assert limiter.allow("B", 5.0)
    assert limiter.allow("C", 6.0)  # forgets the stalest key to stay bounded
    assert len(limiter._last) == 2


def _config(version: int, serials: list[str], addresses: list[str]) -> bytes:
    return json.dumps(
        {
            "version": version,
            "issued_at": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
            "whitelist": [
                {"serial": s, "kind": "bp_cuff", "address": a, "assignment": f"as-{s}"}
                for s, a in zip(serials, addresses, strict=True)
            ],
        }
    ).encode()


def test_desired_config_decisions() -> None:
    v2 = decide(None, _config(2, ["A"], ["C0:DE:00:00:00:01"]))
    assert v2.outcome is ConfigOutcome.APPLIED
    assert isinstance(v2.config, HubConfig)
    assert decide(v2.config, _config(2, ["B"], ["C0:DE:00:00:00:02"])).outcome is ConfigOutcome.UNCHANGED
    assert decide(v2.config, _config(1, ["B"], ["C0:DE:00:00:00:02"])).outcome is ConfigOutcome.UNCHANGED
    twice = decide(v2.config, _config(3, ["A", "A"], ["C0:DE:00:00:00:01", "C0:DE:00:00:00:02"]))
    assert (twice.outcome, twice.config, twice.error) == (
        ConfigOutcome.REJECTED,
        v2.config,
        "a device serial appears twice in the whitelist",
    )
    lower = decide(v2.config, _config(3, ["A"], ["c0:de:00:00:00:01"]))
    assert lower.outcome is ConfigOutcome.REJECTED  # addresses are upper-case on the wire
    assert decide(None, b"not json").outcome is ConfigOutcome.REJECTED
