"""Bluetooth SIG Weight Scale Service 1.0 (0x181D): Weight Measurement 0x2A9D and Weight Scale
Feature 0x2A9E (reference/ble-health-profiles.md §6.1–6.2; docs/wire-formats/weight-scale.md).

Resolutions are fixed by the SIG: weight 0.005 kg or 0.01 lb, height 0.001 m or 0.1 in, BMI
0.1 kg/m². The Feature's resolution only says how coarse the numbers are; SpeziBluetooth's scaling
by it is wrong (§6.1, §14.3). Raw weight 0xFFFF is "measurement unsuccessful"."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, Unit
from drivers.date_time import DATE_TIME, DateTime
from drivers.fields import UINT8, UINT16, UINT32, Field, Layout
from drivers.normalised import Normalised, NotAReading, device_time_source, observe, user_or_none

MEASUREMENT_UNSUCCESSFUL: Final = 0xFFFF

SIMULATED_PROVISIONAL_WEIGHT: Final = "c0de0001-5ca1-4e00-9000-ca4e4b5b0001"
"""firmware_sim's scale streams the weight settling on this vendor characteristic (notify), in the
Weight Measurement 0x2A9D layout, before it indicates the final 0x2A9D (docs/firmware-sim.md). Real
scales do the same on vendor protocols of their own (reference §6.4). It decodes as a provisional
frame: shown live, never stored (docs/wire-formats/weight-scale.md)."""


class WeightFlags(IntFlag):
    IMPERIAL = 0x01
    TIME_STAMP = 0x02
    USER_ID = 0x04
    BMI_AND_HEIGHT = 0x08


@dataclass(frozen=True, slots=True)
class MassUnits:
    """The units a scale's unit flag selects, with the SIG's fixed resolutions as divisors."""

    mass: Unit
    mass_divisor: int
    length: Unit
    length_divisor: int

    def mass_of(self, raw: int | None) -> float | None:
        return None if raw is None or raw == MEASUREMENT_UNSUCCESSFUL else raw / self.mass_divisor

    def length_of(self, raw: int | None) -> float | None:
        return None if raw is None else raw / self.length_divisor


SI: Final = MassUnits(Unit.KG, 200, Unit.M, 1000)
IMPERIAL: Final = MassUnits(Unit.LB, 100, Unit.INCH, 10)


def body_observations(units: MassUnits, weight: float | None, height: float | None) -> list[Observation]:
    """Weight and height observations shared by Weight Measurement and Body Composition."""
    observations = []
    if weight is not None:
        observations.append(observe(Metric.MDC_MASS_BODY_ACTUAL, weight, units.mass))
    if height is not None:
        observations.append(observe(Metric.MDC_LEN_BODY_ACTUAL, height, units.length))
    return observations


LAYOUT: Final = Layout(
    "Weight Measurement",
    UINT8,
    (
        Field("weight_raw", UINT16),
        Field("timestamp", DATE_TIME, WeightFlags.TIME_STAMP),
        Field("user_id", UINT8, WeightFlags.USER_ID),
        Field("bmi_raw", UINT16, WeightFlags.BMI_AND_HEIGHT),
        Field("height_raw", UINT16, WeightFlags.BMI_AND_HEIGHT),
    ),
)


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement 0x2A9D in the units sent. ``weight`` is None when the scale reports
    "measurement unsuccessful" (raw 0xFFFF): an event, not a weight. ``provisional`` frames (a weight
    still settling, from a vendor live-weight characteristic) are never stored (reference §6.4)."""

    flags: WeightFlags
    mass_unit: Unit
    length_unit: Unit
    weight_raw: int
    weight: float | None
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None
    trailing: bytes = b""
    provisional: bool = False

    def normalise(self) -> Normalised:
        units = IMPERIAL if self.flags & WeightFlags.IMPERIAL else SI
        measured_at = self.timestamp.value if self.timestamp else None
        observations = body_observations(units, self.weight, self.height if self.weight is not None else None)
        if self.weight is not None and self.bmi is not None:
            observations.insert(1, observe(Metric.MDC_RATIO_MASS_BODY_LEN_SQ, self.bmi, Unit.KG_PER_M2))
        return Normalised(
            kind=ReadingKind.WEIGHT,
            observations=tuple(observations),
            measured_at=measured_at,
            measured_at_source=device_time_source(measured_at),
            user_id=user_or_none(self.user_id),
            flags=frozenset({ReadingFlag.MEASUREMENT_UNSUCCESSFUL}) if self.weight is None else frozenset(),
            storable=self.weight is not None and not self.provisional,
        )


def decode_measurement(data: bytes, *, provisional: bool = False) -> WeightMeasurement:
    """Weight Measurement 0x2A9D."""
    flags, values, trailing = LAYOUT.decode(data)
    weight_flags = WeightFlags(flags)
    units = IMPERIAL if weight_flags & WeightFlags.IMPERIAL else SI
    bmi_raw = values.pop("bmi_raw")
    return WeightMeasurement(
        flags=weight_flags,
        mass_unit=units.mass,
        length_unit=units.length,
        weight=units.mass_of(values["weight_raw"]),
        bmi=None if bmi_raw is None else bmi_raw / 10,
        height=units.length_of(values.pop("height_raw")),
        **values,
        trailing=trailing,
        provisional=provisional,
    )


def decode_provisional_measurement(data: bytes) -> WeightMeasurement:
    """A settling weight in the 0x2A9D layout on :data:`SIMULATED_PROVISIONAL_WEIGHT`: not final."""
    return decode_measurement(data, provisional=True)


class WeightScaleFeatureBits(IntFlag):
    TIME_STAMP_SUPPORTED = 0x01
    MULTIPLE_USERS_SUPPORTED = 0x02
    BMI_SUPPORTED = 0x04


WEIGHT_RESOLUTIONS: Final = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
"""Weight resolution code → (kg, lb); 0 = not specified, 8–15 RFU."""
HEIGHT_RESOLUTIONS: Final = {1: (0.01, 1.0), 2: (0.005, 0.5), 3: (0.001, 0.1)}
"""Height resolution code → (m, in); 0 = not specified, 4–7 RFU."""


@dataclass(frozen=True, slots=True)
class ScaleResolution:
    """Resolution codes of a Weight Scale or Body Composition Feature, with their meaning."""

    weight_resolution: int
    height_resolution: int

    @property
    def weight_resolution_kg(self) -> float | None:
        return WEIGHT_RESOLUTIONS.get(self.weight_resolution, (None, None))[0]

    @property
    def height_resolution_m(self) -> float | None:
        return HEIGHT_RESOLUTIONS.get(self.height_resolution, (None, None))[0]

    @classmethod
    def from_bits(cls, value: int, weight_shift: int, height_shift: int) -> ScaleResolution:
        return cls((value >> weight_shift) & 0xF, (value >> height_shift) & 0x7)


@dataclass(frozen=True, slots=True)
class WeightScaleFeature(NotAReading):
    """Weight Scale Feature 0x2A9E (uint32; resolution in bits 3–6 and 7–9, bits 10–31 RFU)."""

    features: WeightScaleFeatureBits
    resolution: ScaleResolution
    trailing: bytes = b""


FEATURE_LAYOUT: Final = Layout("Weight Scale Feature", None, (Field("value", UINT32),))


def decode_feature(data: bytes) -> WeightScaleFeature:
    """Weight Scale Feature 0x2A9E."""
    _, values, trailing = FEATURE_LAYOUT.decode(data)
    value = values["value"]
    return WeightScaleFeature(
        WeightScaleFeatureBits(value & 0x7), ScaleResolution.from_bits(value, 3, 7), trailing=trailing
    )
