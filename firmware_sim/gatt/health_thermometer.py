"""Bluetooth SIG Health Thermometer Service 1.0: Temperature Measurement 0x2A1C (indicate), Temperature
Type 0x2A1D (read) and Measurement Interval 0x2A21 (read); reference §8.

0x2A1C: Flags · Temperature FLOAT (°C if bit 0 = 0, °F if 1) · Time Stamp (bit 1) · Temperature Type
uint8 (bit 2). Intermediate Temperature 0x2A1E has the same layout and is display-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum

from core.domain import Metric, ReadingKind, SpecialValue, Unit
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.frames import ALWAYS, FieldSpec, encode_frame, optional, uint
from firmware_sim.gatt.medfloat import encode_float
from firmware_sim.intent import EncodedMeasurement, IntendedMeasurement, ProfileDetails, observation

UNITS_FAHRENHEIT = 0x01

TEMPERATURE_EXPONENT = {Unit.CEL: -2, Unit.DEG_F: -1}
"""Clinical thermometers resolve 0.01 °C; in °F they show one decimal (the reference's 98.6 °F vector
is 986 × 10^-1, its 36.85 °C vector 3685 × 10^-2)."""


class TemperatureType(IntEnum):
    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTRO_INTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


@dataclass(frozen=True, slots=True)
class TemperatureDetails(ProfileDetails):
    temperature_type: int | None


@dataclass(frozen=True, slots=True)
class TemperatureSample:
    temperature: float | SpecialValue
    unit: Unit = Unit.CEL
    time_stamp: datetime | None = None
    temperature_type: int | None = None

    def __post_init__(self) -> None:
        if self.unit not in TEMPERATURE_EXPONENT:
            raise SimulationError(f"a thermometer reports Cel or degF, not {self.unit}")


LAYOUT: tuple[FieldSpec[TemperatureSample], ...] = (
    FieldSpec("temperature", ALWAYS, lambda s: encode_float(s.temperature, TEMPERATURE_EXPONENT[s.unit])),
    FieldSpec("time stamp", 0x02, lambda s: optional(s.time_stamp, encode_date_time), ("time_stamp",)),
    FieldSpec(
        "temperature type", 0x04, lambda s: optional(s.temperature_type, lambda t: uint(t, 1)), ("temperature_type",)
    ),
)


def encode_temperature(
    sample: TemperatureSample, *, intermediate: bool = False, from_memory: bool = False
) -> EncodedMeasurement:
    """Temperature Measurement 0x2A1C, or Intermediate Temperature 0x2A1E (not final)."""
    data = encode_frame(sample, LAYOUT, flags=UNITS_FAHRENHEIT if sample.unit == Unit.DEG_F else 0)
    intended = IntendedMeasurement(
        kind=ReadingKind.TEMPERATURE,
        observations=(observation(Metric.MDC_TEMP_BODY, sample.temperature, sample.unit),),
        device_time=sample.time_stamp,
        final=not intermediate,
        from_device_memory=from_memory,
        details=TemperatureDetails(sample.temperature_type),
    )
    characteristic = uuids.INTERMEDIATE_TEMPERATURE if intermediate else uuids.TEMPERATURE_MEASUREMENT
    return EncodedMeasurement(characteristic, data, intended)


def encode_temperature_type(temperature_type: int) -> bytes:
    """Temperature Type 0x2A1D: uint8."""
    return uint(temperature_type, 1)


def encode_measurement_interval(seconds: int) -> bytes:
    """Measurement Interval 0x2A21: uint16 seconds, 0 = no periodic measurement."""
    return uint(seconds, 2)
