"""What a decoded frame means in carehub's vocabulary (:mod:`core.domain`): MDC-coded observations
in canonical UCUM units with the device's own value and unit kept beside them, the measurement time,
user, status flags, and whether the frame is a reading that may be stored at all.

Conversions go through :func:`core.units.to_canonical`; this module never carries its own factors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain import METRICS, MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from core.units import to_canonical
from drivers.ieee11073 import Measure


@dataclass(frozen=True, slots=True)
class Normalised:
    """A frame normalised to observations.

    ``measured_at`` is naive device-local time for BLE frames (the gateway maps it to UTC) and
    timezone-aware UTC for vendor payloads. ``storable`` is False for frames that must never become
    stored readings: feature and control-point values, intermediate (streaming) values, control
    solution tests, unsuccessful measurements, vendor heartbeats, status and test messages.
    ``device_captured`` is False for values a person typed in (billing excludes them)."""

    kind: ReadingKind | None
    observations: tuple[Observation, ...]
    measured_at: datetime | None = None
    measured_at_source: MeasuredAtSource | None = None
    user_id: int | None = None
    flags: frozenset[ReadingFlag] = frozenset()
    storable: bool = False
    device_captured: bool = True
    battery_pct: int | None = None

    @classmethod
    def not_a_reading(cls, *, measured_at: datetime | None = None, battery_pct: int | None = None) -> Normalised:
        return cls(kind=None, observations=(), measured_at=measured_at, battery_pct=battery_pct)


def observe(metric: Metric, value: Measure, unit: Unit) -> Observation:
    """One observation of ``value`` sent in ``unit``: converted to the metric's canonical unit, the
    original kept as ``source_value``/``source_unit`` when they differ. A special value stays a
    special value (it has no number to convert)."""
    canonical = METRICS[metric].canonical_unit
    source_unit = unit if unit != canonical else None
    if isinstance(value, SpecialValue):
        return Observation(metric, None, canonical, special=value, source_unit=source_unit)
    if source_unit is None:
        return Observation(metric, value, canonical)
    return Observation(
        metric,
        to_canonical(METRICS[metric], value, unit),
        canonical,
        source_value=value,
        source_unit=source_unit,
    )


def device_time_source(measured_at: datetime | None) -> MeasuredAtSource | None:
    """A BLE time stamp is the device's clock; without one the gateway substitutes its receipt time."""
    return MeasuredAtSource.DEVICE_CLOCK if measured_at is not None else None


class NotAReading:
    """Mixin for frames that describe a device rather than measure a patient (features, control
    point, clock, battery, device information)."""

    __slots__ = ()

    def normalise(self) -> Normalised:
        return Normalised.not_a_reading()


def user_or_none(user_id: int | None) -> int | None:
    """User ID 0xFF is "unknown user" in every SIG profile that carries one."""
    return None if user_id is None or user_id == UNKNOWN_USER else user_id


UNKNOWN_USER = 0xFF
