"""Ground truth: what a simulated device meant to say with each frame it sends, in carehub's domain
vocabulary, so a round-trip test can decode the bytes with the independent decoders in ``drivers/``
and compare.

Conventions of the intent, chosen so a correct decoder reproduces it exactly:

- ``device_time`` is the naive device-local wall clock as the frame carries it (seconds resolution),
  ``None`` when the frame has no time stamp. For glucose it is the user-facing time (base time plus
  time offset); the parts are in :class:`firmware_sim.gatt.glucose.GlucoseDetails`.
- Each observation holds the value in the metric's canonical unit (``value``/``unit``) computed with
  :func:`core.units.to_canonical`, and, when the device's unit differs, the device's number and unit
  (``source_value``/``source_unit``). Device numbers are quantised to the field's resolution before
  encoding, so they are exactly what the bytes carry (compare floats with a relative tolerance of
  1e-9: a decoder's mantissa × 10^exponent may differ from the decimal in the last bit).
- A special value (NaN, NRes, ±INF) is an observation with ``special`` set and no value. A NaN mean
  arterial pressure means "not provided" (reference §4.1) and is left out.
- ``flags`` are the :class:`core.domain.ReadingFlag` meanings of the status bits the frame carries, per
  the table in each profile module; ``status`` keeps the raw status word for exact comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain import METRICS, Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from core.units import to_canonical


@dataclass(frozen=True, slots=True)
class ProfileDetails:
    """Base of the profile-specific part of an intent (glucose times and context, PLX status words, …)."""


@dataclass(frozen=True, slots=True)
class IntendedMeasurement:
    """What one measurement frame was meant to carry."""

    kind: ReadingKind
    observations: tuple[Observation, ...]
    flags: frozenset[ReadingFlag] = frozenset()
    device_time: datetime | None = None
    user_id: int | None = None
    """The User ID field as sent (0xFF = unknown user); ``None`` when the frame has no User ID."""
    sequence_number: int | None = None
    status: int | None = None
    """The raw status word as sent (BP Measurement Status, Glucose Sensor Status Annunciation, PLX
    Measurement Status); ``None`` when the frame has no status field."""
    final: bool = True
    """False for display-only frames (intermediate cuff pressure, a scale's unstable weight)."""
    from_device_memory: bool = False
    """True when the device sends a stored record rather than a measurement it just took."""
    details: ProfileDetails | None = None


@dataclass(frozen=True, slots=True)
class EncodedMeasurement:
    """An encoder's output: the characteristic value and what it was meant to say."""

    characteristic: str
    data: bytes
    intended: IntendedMeasurement


def observation(metric: Metric, value: float | SpecialValue, unit: Unit) -> Observation:
    """An intended observation of ``value`` in the device's ``unit``, converted to canonical."""
    canonical = METRICS[metric].canonical_unit
    converted = unit != canonical
    if isinstance(value, SpecialValue):
        return Observation(metric, None, canonical, special=value, source_unit=unit if converted else None)
    number = float(value)
    return Observation(
        metric,
        to_canonical(METRICS[metric], number, unit),
        canonical,
        source_value=number if converted else None,
        source_unit=unit if converted else None,
    )


def flags_from_bits(status: int | None, table: tuple[tuple[int, ReadingFlag], ...]) -> frozenset[ReadingFlag]:
    """The reading flags whose bit mask in ``table`` overlaps the status word."""
    if status is None:
        return frozenset()
    return frozenset(flag for mask, flag in table if status & mask)
