"""The comparison behind the round-trip tests: a frame decoded by ``drivers/`` against the ground
truth (:class:`firmware_sim.intent.IntendedMeasurement`) of the independent ``firmware_sim/`` encoder
that produced it.

What "equal" means, field by field (the intent's docstring states the conventions):

- kind, flags, device time (``measured_at``), user id and sequence number exactly;
- observations as a set keyed by metric: metric, unit, special value and source unit exactly, values
  and source values with the relative tolerance of 1e-9 the intent docstring allows (a decoder's
  mantissa × 10^exponent may differ from the decimal in the last bit);
- finality: a frame is stored as a reading (``storable``) exactly when the intent is final, carries
  the metrics its kind requires, and has no flag that makes it not a patient value (see
  :data:`NOT_A_PATIENT_VALUE`);
- the raw status word, where the profile carries one.

From-memory is not in the bytes of most profiles (a cuff's stored record is byte-identical to a live
one, which the property tests assert; the gateway knows it from the transfer), so it is compared only
where the frame says it: PLX measurement-status bit 9.
"""

from __future__ import annotations

import math
from typing import Any, Final

from core.domain import REQUIRED_METRICS, Observation, ReadingFlag, ReadingKind
from drivers import Frame, Normalised, decode, to_observations
from drivers.glucose import GlucoseContext as DecodedGlucoseContext
from drivers.normalised import user_or_none
from firmware_sim.gatt.glucose import GlucoseContext
from firmware_sim.intent import EncodedMeasurement, IntendedMeasurement

REL_TOL: Final = 1e-9

NOT_A_PATIENT_VALUE: Final = frozenset({ReadingFlag.CONTROL_SOLUTION, ReadingFlag.MEASUREMENT_UNSUCCESSFUL})
"""Flags under which a final frame is still not stored as a reading."""

UNUSABLE_OXIMETRY: Final = frozenset(
    {
        # PLX readings the reference says to drop or flag (§7.2): never stored as patient values.
        ReadingFlag.MEASUREMENT_UNAVAILABLE,
        ReadingFlag.INVALID,
        ReadingFlag.SENSOR_INTERFERENCE,
        ReadingFlag.SENSOR_UNCONNECTED,
        ReadingFlag.SENSOR_DISPLACED,
        ReadingFlag.SENSOR_FAULT,
        ReadingFlag.SENSOR_DISCONNECTED,
    }
)
"""PLX status flags under which a spot-check or continuous value is kept but not stored."""

STATUS_FIELDS: Final = ("status", "sensor_status", "measurement_status")
"""The attribute that holds the raw status word on each drivers frame class."""


def close(a: float | None, b: float | None) -> bool:
    """Equal, or both numbers within the intent's relative tolerance."""
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=0.0) or a == b


def observation_mismatches(got: tuple[Observation, ...], want: tuple[Observation, ...]) -> list[str]:
    """Human-readable differences between two observation tuples compared by metric."""
    problems: list[str] = []
    got_by = {o.metric: o for o in got}
    want_by = {o.metric: o for o in want}
    if len(got_by) != len(got) or len(want_by) != len(want):
        problems.append("a metric appears twice in one reading")
    if got_by.keys() != want_by.keys():
        problems.append(f"metrics {sorted(got_by)} != intended {sorted(want_by)}")
    for metric in got_by.keys() & want_by.keys():
        g, w = got_by[metric], want_by[metric]
        same = (
            g.unit == w.unit
            and g.special == w.special
            and g.source_unit == w.source_unit
            and close(g.value, w.value)
            and close(g.source_value, w.source_value)
        )
        if not same:
            problems.append(f"{metric}: decoded {g} != intended {w}")
    return problems


def assert_observations(got: tuple[Observation, ...], want: tuple[Observation, ...]) -> None:
    problems = observation_mismatches(got, want)
    assert not problems, "\n".join(problems)


def expected_storable(intended: IntendedMeasurement) -> bool:
    if not intended.final or intended.flags & NOT_A_PATIENT_VALUE:
        return False
    if intended.kind == ReadingKind.PULSE_OXIMETRY and intended.flags & UNUSABLE_OXIMETRY:
        return False
    metrics = {o.metric for o in intended.observations}
    return all(metrics & group for group in REQUIRED_METRICS[intended.kind])


def raw_status(frame: Frame) -> int | None:
    for name in STATUS_FIELDS:
        value: Any = getattr(frame, name, None)
        if value is not None:
            return int(value)
    return None


def assert_matches_intent(frame: Frame, intended: IntendedMeasurement) -> Normalised:
    """Assert that ``frame`` (decoded by drivers) says what ``intended`` meant; return its normalisation."""
    normalised = to_observations(frame)
    assert normalised.kind == intended.kind
    assert_observations(normalised.observations, intended.observations)
    assert normalised.flags == intended.flags
    assert normalised.measured_at == intended.device_time
    assert normalised.user_id == user_or_none(intended.user_id)
    assert getattr(frame, "user_id", None) == intended.user_id
    assert getattr(frame, "sequence_number", None) == intended.sequence_number
    assert raw_status(frame) == intended.status
    assert normalised.storable == expected_storable(intended)
    assert normalised.device_captured
    return normalised


def round_trip(encoded: EncodedMeasurement) -> tuple[Frame, Normalised]:
    """Decode an encoder's output strictly (no trailing bytes allowed) and compare it with its intent."""
    frame = decode(encoded.characteristic, encoded.data, strict=True)
    return frame, assert_matches_intent(frame, encoded.intended)


def assert_context(decoded: DecodedGlucoseContext, sent: GlucoseContext) -> None:
    """A decoded Glucose Measurement Context against the context firmware_sim sent."""
    assert decoded.sequence_number == sent.sequence_number
    assert decoded.extended_flags == sent.extended_flags
    assert (decoded.carbohydrate_id, decoded.carbohydrate) == (sent.carbohydrate or (None, None))
    assert decoded.meal == sent.meal
    assert (decoded.tester, decoded.health) == (sent.tester_health or (None, None))
    assert (decoded.exercise_duration_s, decoded.exercise_intensity_pct) == (sent.exercise or (None, None))
    assert (decoded.medication_id, decoded.medication) == (sent.medication or (None, None))
    unit = None if sent.medication is None else "volume" if sent.medication_in_volume else "mass"
    assert decoded.medication_unit == unit
    assert decoded.hba1c_pct == sent.hba1c_pct
    assert to_observations(decoded).kind is None  # a context describes a reading; it is not one
