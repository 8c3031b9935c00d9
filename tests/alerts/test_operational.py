"""§C.3/§C.4 time-driven rules at their boundaries (DEV-n, ADH-n incl. the care-time rules ADH-5/6), and
stale-Will handling."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import operational
from billing.case import Performer, Program, TimeSpent

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def rule(decision: operational.Decision | None) -> str | None:
    return None if decision is None else decision.rule_id


@pytest.mark.parametrize(
    ("pct", "expected"), [(21, None), (20, "DEV-1"), (19, "DEV-1"), (11, "DEV-1"), (10, "DEV-2"), (9, "DEV-2")]
)
def test_dev_1_and_dev_2_battery(pct: int, expected: str | None) -> None:
    assert rule(operational.battery(pct)) == expected


@pytest.mark.parametrize(
    ("missing", "expected"),
    [(24 * H - timedelta(seconds=1), None), (24 * H, None), (24 * H + timedelta(seconds=1), "DEV-3"),
     (72 * H, "DEV-3"), (72 * H + timedelta(seconds=1), "DEV-4")],
)  # fmt: skip
def test_dev_3_and_dev_4_hub_missing(missing: timedelta, expected: str | None) -> None:
    assert rule(operational.hub_missing("lost", T0 - missing, T0)) == expected
    assert operational.hub_missing("online", T0 - missing, T0) is None


@pytest.mark.parametrize(("days", "expected"), [(6.99, None), (7, None), (7.01, "DEV-4")])
def test_dev_4_device_silent_while_hub_alive(days: float, expected: str | None) -> None:
    last = T0 - timedelta(days=days)
    assert rule(operational.device_silent(last, T0 - timedelta(days=30), True, T0)) == expected
    assert operational.device_silent(last, T0 - timedelta(days=30), False, T0) is None


def test_dev_1_and_dev_2_battery_estimated_from_volts_say_so() -> None:
    decision = operational.battery(7, estimated_from_mv=4800)
    assert decision is not None
    assert (decision.rule_id, decision.observed) == ("DEV-2", {"battery_pct": 7, "battery_mv": 4800, "estimated": True})
    assert operational.battery(7) == operational.Decision(
        "DEV-2", operational.Severity.CRITICAL, {"battery_le_pct": 10}, {"battery_pct": 7}
    )


@pytest.mark.parametrize(("days", "expected"), [(6.99, None), (7, None), (7.01, "DEV-4")])
def test_dev_4_cellular_device_silent_with_its_heartbeats(days: float, expected: str | None) -> None:
    heard = T0 - timedelta(days=days)
    assigned = T0 - timedelta(days=30)
    # nothing heard since `heard` (no reading either): the device itself went quiet
    decision = operational.cellular_silent(None, heard, True, assigned, T0)
    assert rule(decision) == expected
    if decision is not None:
        assert decision.observed == {"silent_days": 7.01, "heartbeats": "stopped"}
    # an older reading changes nothing; a later one is proof of life
    assert rule(operational.cellular_silent(heard - timedelta(days=3), heard, True, assigned, T0)) == expected
    assert operational.cellular_silent(T0 - timedelta(days=1), heard, True, assigned, T0) is None
    # a vendor without heartbeats: silence is the adherence rules' matter
    assert operational.cellular_silent(None, heard, False, assigned, T0) is None


def test_dev_4_cellular_counts_from_the_assignment() -> None:
    heard_before = T0 - timedelta(days=40)  # a refurbished unit, last heard with its previous patient
    assert operational.cellular_silent(None, heard_before, True, T0 - timedelta(days=6), T0) is None
    assert rule(operational.cellular_silent(None, heard_before, True, T0 - timedelta(days=8), T0)) == "DEV-4"


@pytest.mark.parametrize(("offset", "expected"), [(599.0, None), (600.0, None), (601.0, "DEV-5"), (-601.0, "DEV-5")])
def test_dev_5_clock_offset(offset: float, expected: str | None) -> None:
    assert rule(operational.clock_offset(offset)) == expected


@pytest.mark.parametrize(
    ("last", "today", "missed"),
    [
        (date(2026, 12, 1), date(2026, 12, 4), 2),
        (date(2026, 12, 1), date(2026, 12, 5), 3),
        (None, date(2026, 12, 4), 3),
    ],
)
def test_missed_days_count_complete_local_days(last: date | None, today: date, missed: int) -> None:
    assert operational.missed_days(last, date(2026, 12, 1), today) == missed


@pytest.mark.parametrize(
    ("days", "expected"), [(2, None), (3, "ADH-1"), (4, "ADH-1"), (6, "ADH-1"), (7, "ADH-2"), (8, "ADH-2")]
)
def test_adh_1_and_adh_2(days: int, expected: str | None) -> None:
    assert rule(operational.adherence(days)) == expected


def test_a_stale_will_from_an_older_session_is_ignored() -> None:
    assert operational.accept_status(None, 0)
    assert operational.accept_status(5, 6)
    assert operational.accept_status(5, 5)
    assert not operational.accept_status(5, 4)


@pytest.mark.parametrize(
    ("today", "start"),
    [
        (date(2026, 12, 1), date(2026, 12, 1)),
        (date(2026, 12, 30), date(2026, 12, 1)),
        (date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_device_periods_follow_each_other_from_the_first_transmission(today: date, start: date) -> None:
    assert operational.device_period(date(2026, 12, 1), today) == (start, start + timedelta(days=29))


@pytest.mark.parametrize(
    ("data_days", "remaining_after_today", "today_counted", "expected"),
    [
        (14, 1, False, None),  # 14 + 2 = 16: still reachable
        (14, 0, False, "ADH-3"),  # 14 + 1 = 15
        (15, 0, True, "ADH-3"),  # 15 + 0 = 15
        (0, 1, False, "ADH-3"),  # 0 + 2 = 2: 99445 still possible, 99454 not
        (15, 0, False, None),  # 15 + 1 = 16
        (0, 0, False, "ADH-4"),  # 0 + 1 = 1
        (1, 0, True, "ADH-4"),
        (2, 0, True, "ADH-3"),
    ],
)
def test_adh_3_and_adh_4(data_days: int, remaining_after_today: int, today_counted: bool, expected: str | None) -> None:
    today = date(2026, 12, 20)
    end = today + timedelta(days=remaining_after_today)
    assert rule(operational.billing_reach(data_days, today_counted, today, end)) == expected


def spent(day: date, minutes: int, program: Program, interactive: bool = False) -> TimeSpent:
    return TimeSpent(day, minutes, program, Performer.CLINICAL_STAFF, interactive)


DEC = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("day", "minutes", "interactive", "expected"),
    [(24, 10, False, None), (25, 10, False, "ADH-5"), (26, 10, False, "ADH-5"), (31, 10, False, "ADH-5"),
     (25, 9, False, None), (26, 9, False, None), (25, 11, False, "ADH-5"),
     (25, 10, True, None), (26, 30, True, None)],
)  # fmt: skip
def test_adh_5_rpm_minutes_without_interaction_from_day_25(
    day: int, minutes: int, interactive: bool, expected: str | None
) -> None:
    today = DEC.replace(day=day)
    care = operational.month_care_time([spent(DEC.replace(day=3), minutes, Program.RPM, interactive)], today)
    assert rule(operational.rpm_without_interaction(care, today)) == expected


@pytest.mark.parametrize(
    ("day", "minutes", "expected"),
    [(19, 0, None), (19, 19, None), (20, 19, "ADH-6"), (21, 19, "ADH-6"), (20, 0, "ADH-6"), (31, 19, "ADH-6"),
     (20, 20, None), (21, 20, None), (20, 21, None)],
)  # fmt: skip
def test_adh_6_ccm_minutes_short_from_day_20(day: int, minutes: int, expected: str | None) -> None:
    today = DEC.replace(day=day)
    care = operational.month_care_time([spent(DEC.replace(day=2), minutes, Program.CCM)] if minutes else [], today)
    assert rule(operational.ccm_minutes_short(care, today)) == expected


def test_month_care_time_counts_only_this_local_month_up_to_today() -> None:
    parts = [
        spent(date(2026, 11, 30), 30, Program.CCM),  # last month
        spent(date(2026, 12, 1), 7, Program.CCM),
        spent(date(2026, 12, 20), 5, Program.CCM),  # today counts
        spent(date(2026, 12, 21), 40, Program.CCM),  # not yet
        spent(date(2026, 12, 2), 4, Program.RPM),
        spent(date(2026, 12, 3), 6, Program.RPM, interactive=True),
        spent(date(2027, 12, 3), 50, Program.RPM),  # the same month of another year
        spent(date(2026, 11, 3), 50, Program.RPM, interactive=True),
    ]
    care = operational.month_care_time(parts, date(2026, 12, 20))
    assert care == operational.MonthCareTime(rpm_minutes=10, ccm_minutes=12, rpm_interactive=True)
    # CCM minutes never count towards RPM nor an interactive CCM call towards ADH-5
    only_ccm = operational.month_care_time([spent(DEC, 30, Program.CCM, interactive=True)], date(2026, 12, 25))
    assert only_ccm == operational.MonthCareTime(0, 30, False)


@given(
    parts=st.lists(
        st.tuples(st.integers(1, 31), st.integers(0, 60), st.sampled_from(list(Program)), st.booleans()), max_size=8
    ),
    day=st.integers(1, 31),
)
def test_care_time_rules_match_their_definition(parts: list[tuple[int, int, Program, bool]], day: int) -> None:
    today = DEC.replace(day=day)
    care = operational.month_care_time([spent(DEC.replace(day=d), m, p, i) for d, m, p, i in parts], today)
    upto = [(m, p, i) for d, m, p, i in parts if d <= day]
    rpm = sum(m for m, p, _ in upto if p is Program.RPM)
    ccm = sum(m for m, p, _ in upto if p is Program.CCM)
    talked = any(i for _, p, i in upto if p is Program.RPM)
    assert (operational.rpm_without_interaction(care, today) is not None) == (day >= 25 and rpm >= 10 and not talked)
    assert (operational.ccm_minutes_short(care, today) is not None) == (day >= 20 and ccm < 20)
