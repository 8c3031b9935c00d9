"""Device clock drift, setting and reset; battery drain and depletion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain import DeviceKind
from firmware_sim.devices.battery import Battery, BatteryDepleted, battery_for
from firmware_sim.devices.clock import FACTORY_TIME, DeviceClock
from firmware_sim.errors import SimulationError


def test_clock_starts_on_local_wall_clock_and_drifts(t0: datetime) -> None:
    clock = DeviceClock.local(t0, "America/New_York", drift_ppm=50)
    assert clock.now(t0) == datetime(2026, 1, 15, 7, 0)
    # 50 ppm over 30 days = 129.6 s fast.
    assert clock.now(t0 + timedelta(days=30)) == datetime(2026, 2, 14, 7, 2, 9, 600000)
    slow = DeviceClock.local(t0, "America/New_York", drift_ppm=-50)
    assert slow.now(t0 + timedelta(days=30)) == datetime(2026, 2, 14, 6, 57, 50, 400000)


def test_clock_keeps_wall_time_across_a_dst_change(t0: datetime) -> None:
    # A device clock has no zone: after the March DST change it is an hour behind local time until re-set.
    clock = DeviceClock.local(t0, "America/New_York")
    after = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert clock.now(after) == datetime(2026, 3, 9, 7, 0)


def test_stamp_drops_sub_seconds_and_set_rebases(t0: datetime) -> None:
    clock = DeviceClock.local(t0, "America/New_York", drift_ppm=50)
    later = t0 + timedelta(days=30)
    assert clock.stamp(later) == datetime(2026, 2, 14, 7, 2, 9)
    clock.set(later, datetime(2026, 2, 14, 7, 0, 0))
    assert clock.now(later + timedelta(hours=1)) == datetime(2026, 2, 14, 8, 0, 0, 180000)


def test_reset_returns_to_factory_time_and_unset(t0: datetime) -> None:
    clock = DeviceClock.local(t0, "America/New_York")
    clock.reset(t0)
    assert not clock.is_set
    assert clock.now(t0 + timedelta(minutes=5)) == FACTORY_TIME + timedelta(minutes=5)
    clock.set(t0, datetime(2026, 1, 15, 7, 0))
    assert clock.is_set


def test_clock_refuses_naive_true_time(t0: datetime) -> None:
    clock = DeviceClock.local(t0, "America/New_York")
    with pytest.raises(SimulationError):
        clock.now(datetime(2026, 1, 1))


def test_battery_drains_per_action_and_per_day(t0: datetime) -> None:
    battery = Battery(per_measurement_pct=1.0, per_connection_pct=0.5, per_day_pct=0.1)
    battery.measure(t0)
    battery.connect(t0)
    assert battery.level_pct == pytest.approx(98.5)
    assert battery.level(t0 + timedelta(days=10)) == 98  # 97.5 %, reported rounded up
    assert not battery.is_low(t0 + timedelta(days=10))


def test_flat_battery_refuses_and_replacement_restores(t0: datetime) -> None:
    battery = Battery(per_measurement_pct=45.0, per_connection_pct=0.0, per_day_pct=0.0)
    battery.measure(t0)
    battery.measure(t0)
    assert battery.is_low(t0)
    battery.measure(t0)
    assert battery.level(t0) == 0
    with pytest.raises(BatteryDepleted):
        battery.measure(t0)
    battery.replace(t0)
    assert battery.level(t0) == 100


def test_a_cuff_battery_lasts_about_three_hundred_inflations(t0: datetime) -> None:
    battery = battery_for(DeviceKind.BP_CUFF)
    count = 0
    while battery.level_pct > 0:
        battery.measure(t0)
        count += 1
    assert 290 <= count <= 310
    with pytest.raises(BatteryDepleted):
        battery.measure(t0)
