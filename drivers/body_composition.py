"""Bluetooth SIG Body Composition Service 1.0 (0x181B): Body Composition Measurement 0x2A9C and
Body Composition Feature 0x2A9B (reference/ble-health-profiles.md §6.3;
docs/wire-formats/body-composition.md).

Flags are 16-bit. Masses use the Weight Scale resolutions (0.005 kg / 0.01 lb), percentages 0.1 %,
basal metabolism kJ, impedance 0.1 Ω (the GSS table's "d = −2" contradicts its own prose, the 2012
XML and every implementation; 0.1 Ω is used, §6.3, §14.6). Body fat 0xFFFF is "measurement
unsuccessful". With the multiple-packet flag the rest of the measurement arrives in the next
indication; each packet is decoded on its own and flagged as partial.

Weight, height and body fat (MDC_BODY_FAT, %) become observations; core.domain has no MDC metric
for muscle, water or impedance yet, so those stay on the frame."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from core.domain import Metric, ReadingFlag, ReadingKind, Unit
from drivers.date_time import DATE_TIME, DateTime
from drivers.fields import UINT8, UINT16, UINT32, Field, Layout
from drivers.normalised import Normalised, NotAReading, device_time_source, observe, user_or_none
from drivers.weight_scale import IMPERIAL, MEASUREMENT_UNSUCCESSFUL, SI, ScaleResolution, body_observations


class BodyCompositionFlags(IntFlag):
    IMPERIAL = 0x0001
    TIME_STAMP = 0x0002
    USER_ID = 0x0004
    BASAL_METABOLISM = 0x0008
    MUSCLE_PERCENTAGE = 0x0010
    MUSCLE_MASS = 0x0020
    FAT_FREE_MASS = 0x0040
    SOFT_LEAN_MASS = 0x0080
    BODY_WATER_MASS = 0x0100
    IMPEDANCE = 0x0200
    WEIGHT = 0x0400
    HEIGHT = 0x0800
    MULTIPLE_PACKET = 0x1000


_MASSES: Final = ("muscle_mass", "fat_free_mass", "soft_lean_mass", "body_water_mass", "weight")

LAYOUT: Final = Layout(
    "Body Composition Measurement",
    UINT16,
    (
        Field("body_fat_raw", UINT16),
        Field("timestamp", DATE_TIME, BodyCompositionFlags.TIME_STAMP),
        Field("user_id", UINT8, BodyCompositionFlags.USER_ID),
        Field("basal_metabolism_kj", UINT16, BodyCompositionFlags.BASAL_METABOLISM),
        Field("muscle_pct_raw", UINT16, BodyCompositionFlags.MUSCLE_PERCENTAGE),
        Field("muscle_mass", UINT16, BodyCompositionFlags.MUSCLE_MASS),
        Field("fat_free_mass", UINT16, BodyCompositionFlags.FAT_FREE_MASS),
        Field("soft_lean_mass", UINT16, BodyCompositionFlags.SOFT_LEAN_MASS),
        Field("body_water_mass", UINT16, BodyCompositionFlags.BODY_WATER_MASS),
        Field("impedance_raw", UINT16, BodyCompositionFlags.IMPEDANCE),
        Field("weight", UINT16, BodyCompositionFlags.WEIGHT),
        Field("height", UINT16, BodyCompositionFlags.HEIGHT),
    ),
)


@dataclass(frozen=True, slots=True)
class BodyCompositionMeasurement:
    """Body Composition Measurement 0x2A9C in the units sent (masses in ``mass_unit``, height in
    ``length_unit``). ``body_fat_pct`` is None when the measurement was unsuccessful."""

    flags: BodyCompositionFlags
    mass_unit: Unit
    length_unit: Unit
    body_fat_pct: float | None
    timestamp: DateTime | None = None
    user_id: int | None = None
    basal_metabolism_kj: int | None = None
    muscle_pct: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance_ohm: float | None = None
    weight: float | None = None
    height: float | None = None
    trailing: bytes = b""

    @property
    def multiple_packet(self) -> bool:
        return bool(self.flags & BodyCompositionFlags.MULTIPLE_PACKET)

    def normalise(self) -> Normalised:
        units = IMPERIAL if self.flags & BodyCompositionFlags.IMPERIAL else SI
        flags = set()
        if self.body_fat_pct is None:
            flags.add(ReadingFlag.MEASUREMENT_UNSUCCESSFUL)
        if self.multiple_packet:
            flags.add(ReadingFlag.PARTIAL_MEASUREMENT)
        observations = []
        if self.body_fat_pct is not None:
            observations = [
                *body_observations(units, self.weight, self.height),
                observe(Metric.MDC_BODY_FAT, self.body_fat_pct, Unit.PERCENT),
            ]
        measured_at = self.timestamp.value if self.timestamp else None
        return Normalised(
            kind=ReadingKind.BODY_COMPOSITION,
            observations=tuple(observations),
            measured_at=measured_at,
            measured_at_source=device_time_source(measured_at),
            user_id=user_or_none(self.user_id),
            flags=frozenset(flags),
            storable=self.body_fat_pct is not None and self.weight is not None,
        )


def _tenth(raw: int | None) -> float | None:
    return None if raw is None else raw / 10


def decode_measurement(data: bytes) -> BodyCompositionMeasurement:
    """Body Composition Measurement 0x2A9C."""
    flags, values, trailing = LAYOUT.decode(data)
    bcs_flags = BodyCompositionFlags(flags)
    units = IMPERIAL if bcs_flags & BodyCompositionFlags.IMPERIAL else SI
    body_fat_raw = values.pop("body_fat_raw")
    for name in _MASSES:
        values[name] = units.mass_of(values[name])
    return BodyCompositionMeasurement(
        flags=bcs_flags,
        mass_unit=units.mass,
        length_unit=units.length,
        body_fat_pct=None if body_fat_raw == MEASUREMENT_UNSUCCESSFUL else body_fat_raw / 10,
        muscle_pct=_tenth(values.pop("muscle_pct_raw")),
        impedance_ohm=_tenth(values.pop("impedance_raw")),
        height=units.length_of(values.pop("height")),
        **values,
        trailing=trailing,
    )


class BodyCompositionFeatureBits(IntFlag):
    TIME_STAMP = 0x0001
    MULTIPLE_USERS = 0x0002
    BASAL_METABOLISM = 0x0004
    MUSCLE_PERCENTAGE = 0x0008
    MUSCLE_MASS = 0x0010
    FAT_FREE_MASS = 0x0020
    SOFT_LEAN_MASS = 0x0040
    BODY_WATER_MASS = 0x0080
    IMPEDANCE = 0x0100
    WEIGHT = 0x0200
    HEIGHT = 0x0400


@dataclass(frozen=True, slots=True)
class BodyCompositionFeature(NotAReading):
    """Body Composition Feature 0x2A9B (uint32: bits 0–10 supported fields, 11–14 mass resolution,
    15–17 height resolution, 18–31 RFU)."""

    features: BodyCompositionFeatureBits
    resolution: ScaleResolution
    trailing: bytes = b""


FEATURE_LAYOUT: Final = Layout("Body Composition Feature", None, (Field("value", UINT32),))


def decode_feature(data: bytes) -> BodyCompositionFeature:
    """Body Composition Feature 0x2A9B."""
    _, values, trailing = FEATURE_LAYOUT.decode(data)
    value = values["value"]
    return BodyCompositionFeature(
        BodyCompositionFeatureBits(value & 0x7FF), ScaleResolution.from_bits(value, 11, 15), trailing=trailing
    )
