"""Time-driven rules as pure decisions: device and hub rules (``reference/rpm-ccm-rules.md`` §C.4),
adherence (§C.3 ADH-1..ADH-6) and which hub status message to believe. The scheduler feeds them rows
and the current time; nothing here reads a clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from alerts.rules import Severity
from billing.case import Program, TimeSpent

RULE_VERSION = 1
HUB_MISSING_WARNING = timedelta(hours=24)
HUB_MISSING_CRITICAL = timedelta(hours=72)
DEVICE_SILENT_CRITICAL = timedelta(days=7)
BATTERY_WARNING_PCT = 20
BATTERY_CRITICAL_PCT = 10
CLOCK_OFFSET_INFO_S = 600.0
ADHERENCE_INFO_DAYS = 3
ADHERENCE_WARNING_DAYS = 7


@dataclass(frozen=True, slots=True)
class Decision:
    rule_id: str
    severity: Severity
    thresholds: dict[str, Any]
    observed: dict[str, Any]


def hub_missing(state: str, changed_at: datetime, now: datetime) -> Decision | None:
    """DEV-3 / DEV-4: the hub is offline or lost (its Will) for more than 24 h / 72 h. An online hub
    keeps its MQTT session alive, so "heartbeat missing" is the time since it stopped being online."""
    if state == "online":
        return None
    missing = now - changed_at
    observed = {"state": state, "missing_h": round(missing.total_seconds() / 3600, 2)}
    if missing > HUB_MISSING_CRITICAL:
        return Decision("DEV-4", Severity.CRITICAL, {"missing_gt_h": 72}, observed)
    if missing > HUB_MISSING_WARNING:
        return Decision("DEV-3", Severity.WARNING, {"missing_gt_h": 24}, observed)
    return None


def battery(pct: int, estimated_from_mv: int | None = None) -> Decision | None:
    """DEV-1 (≤ 20 %) / DEV-2 (≤ 10 %): operational, never clinical. ``estimated_from_mv``: the
    percentage was estimated from this voltage (a device that reports volts), which the alert shows."""
    observed: dict[str, Any] = {"battery_pct": pct}
    if estimated_from_mv is not None:
        observed |= {"battery_mv": estimated_from_mv, "estimated": True}
    if pct <= BATTERY_CRITICAL_PCT:
        return Decision("DEV-2", Severity.CRITICAL, {"battery_le_pct": BATTERY_CRITICAL_PCT}, observed)
    if pct <= BATTERY_WARNING_PCT:
        return Decision("DEV-1", Severity.WARNING, {"battery_le_pct": BATTERY_WARNING_PCT}, observed)
    return None


def clock_offset(offset_s: float) -> Decision | None:
    """DEV-5: the device clock is more than 10 min off the hub's (data quality)."""
    if abs(offset_s) > CLOCK_OFFSET_INFO_S:
        return Decision("DEV-5", Severity.INFO, {"offset_gt_s": CLOCK_OFFSET_INFO_S}, {"offset_s": offset_s})
    return None


def device_silent(
    last_reading_at: datetime | None, since: datetime, hub_online: bool, now: datetime
) -> Decision | None:
    """DEV-4 (device part): no reading for more than 7 days while its hub is alive. ``since`` is when
    the device was assigned (a device never heard from counts from then)."""
    if not hub_online:
        return None
    reference = last_reading_at or since
    silent = now - reference
    if silent > DEVICE_SILENT_CRITICAL:
        return Decision(
            "DEV-4", Severity.CRITICAL, {"silent_gt_days": 7}, {"silent_days": round(silent.total_seconds() / 86400, 2)}
        )
    return None


def cellular_silent(
    last_reading_at: datetime | None,
    last_heard_at: datetime | None,
    heartbeats_known: bool,
    since: datetime,
    now: datetime,
) -> Decision | None:
    """DEV-4 (device part) for a cellular device, whose modem is its own hub: nothing at all from it
    (no reading, no heartbeat, no other message: ``last_heard_at``) for more than 7 days since it was
    assigned. Only for a device that has sent heartbeats: while they arrive the device is alive and a
    patient who stopped measuring is the adherence rules' matter (reference §3.1: heartbeats tell
    "patient stopped" from "device died"), and without heartbeats silence cannot be told from non-use,
    which ADH-1 and ADH-2 already raise."""
    if not heartbeats_known:
        return None
    reference = max(t for t in (last_reading_at, last_heard_at, since) if t is not None)
    silent = now - reference
    if silent > DEVICE_SILENT_CRITICAL:
        days = round(silent.total_seconds() / 86400, 2)
        observed = {"silent_days": days, "heartbeats": "stopped"}
        return Decision("DEV-4", Severity.CRITICAL, {"silent_gt_days": 7}, observed)
    return None


def missed_days(last_reading_day: date | None, monitoring_start_day: date, today: date) -> int:
    """Complete local days without an accepted reading, not counting today (still in progress)."""
    if last_reading_day is None:
        return max(0, (today - monitoring_start_day).days)
    return max(0, (today - last_reading_day).days - 1)


def adherence(days_without: int) -> Decision | None:
    """ADH-2 (7 consecutive local days, warning) supersedes ADH-1 (3 days, info)."""
    if days_without >= ADHERENCE_WARNING_DAYS:
        return Decision("ADH-2", Severity.WARNING, {"days_ge": 7}, {"days_without_reading": days_without})
    if days_without >= ADHERENCE_INFO_DAYS:
        return Decision("ADH-1", Severity.INFO, {"days_ge": 3}, {"days_without_reading": days_without})
    return None


def accept_status(stored_session: int | None, incoming_session: int) -> bool:
    """Whether an ``up/status`` message should replace the stored presence. A message from an older
    session is stale; in particular a Last Will (``lost``) of a previous connection that the broker
    delivers after the hub has already reconnected must not mark a live hub lost."""
    return stored_session is None or incoming_session >= stored_session


DEVICE_PERIOD_DAYS = 30
DAYS_FOR_99454 = 16
DAYS_FOR_99445 = 2


def device_period(anchor: date, today: date) -> tuple[date, date]:
    """The 30-day device-supply period containing ``today`` (RPM-DAYS-2: periods start on the date of
    the first qualifying transmission and follow each other without overlap). Inclusive bounds."""
    index = max(0, (today - anchor).days) // DEVICE_PERIOD_DAYS
    start = anchor + timedelta(days=index * DEVICE_PERIOD_DAYS)
    return start, start + timedelta(days=DEVICE_PERIOD_DAYS - 1)


def billing_reach(data_days: int, today_counted: bool, today: date, period_end: date) -> Decision | None:
    """ADH-3 / ADH-4: ``data_days + days_remaining`` below 16 (99454 out of reach) or below 2 (no device
    code possible). Today is still a possible data day unless it already is one."""
    remaining = (period_end - today).days + (0 if today_counted else 1)
    possible = data_days + remaining
    observed = {"data_days": data_days, "days_remaining": remaining, "period_end": period_end.isoformat()}
    if possible < DAYS_FOR_99445:
        return Decision("ADH-4", Severity.INFO, {"possible_lt": DAYS_FOR_99445}, observed)
    if possible < DAYS_FOR_99454:
        return Decision("ADH-3", Severity.INFO, {"possible_lt": DAYS_FOR_99454}, observed)
    return None


ADH5_RPM_MINUTES = 10
ADH5_FROM_DAY = 25
ADH6_CCM_MINUTES = 20
ADH6_FROM_DAY = 20


@dataclass(frozen=True, slots=True)
class MonthCareTime:
    """A patient's care time in the current local month up to and including today."""

    rpm_minutes: int
    ccm_minutes: int
    rpm_interactive: bool


def month_care_time(spent: Iterable[TimeSpent], today: date) -> MonthCareTime:
    """Sum billing's minutes per local date (voided and running entries are never among them) over
    the local month of ``today``, from its first day through ``today``."""
    rpm = ccm = 0
    interactive = False
    for part in spent:
        if not (part.on.year == today.year and part.on.month == today.month and part.on <= today):
            continue
        if part.program is Program.RPM:
            rpm += part.minutes
            interactive = interactive or part.interactive
        else:
            ccm += part.minutes
    return MonthCareTime(rpm, ccm, interactive)


def rpm_without_interaction(care: MonthCareTime, today: date) -> Decision | None:
    """ADH-5: from local day 25 of the month, RPM minutes ≥ 10 but no interactive communication
    logged this month (99457 needs one; the rest of the month is left to make the call)."""
    if today.day >= ADH5_FROM_DAY and care.rpm_minutes >= ADH5_RPM_MINUTES and not care.rpm_interactive:
        return Decision(
            "ADH-5",
            Severity.INFO,
            {"rpm_minutes_ge": ADH5_RPM_MINUTES, "from_day": ADH5_FROM_DAY},
            {"rpm_minutes": care.rpm_minutes, "interactive": False, "local_date": today.isoformat()},
        )
    return None


def ccm_minutes_short(care: MonthCareTime, today: date) -> Decision | None:
    """ADH-6: from local day 20 of the month, fewer than 20 CCM minutes this month (99490)."""
    if today.day >= ADH6_FROM_DAY and care.ccm_minutes < ADH6_CCM_MINUTES:
        return Decision(
            "ADH-6",
            Severity.INFO,
            {"ccm_minutes_lt": ADH6_CCM_MINUTES, "from_day": ADH6_FROM_DAY},
            {"ccm_minutes": care.ccm_minutes, "local_date": today.isoformat()},
        )
    return None
