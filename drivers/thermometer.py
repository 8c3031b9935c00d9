"""Bluetooth SIG Health Thermometer Service 1.0 (0x1809): Temperature Measurement 0x2A1C,
Intermediate Temperature 0x2A1E (same format, display only) and Temperature Type 0x2A1D
(reference/ble-health-profiles.md §8; docs/wire-formats/thermometer.md).

The temperature is a FLOAT-32 in °C (flags bit 0 = 0) or °F (bit 0 = 1); °F is stored as °C through
:mod:`core.units` with the °F value kept as the source."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Final

from core.domain import Metric, ReadingKind, Unit
from drivers.date_time import DATE_TIME, DateTime
from drivers.fields import FLOAT, UINT8, Codec, Field, Layout
from drivers.ieee11073 import Measure
from drivers.normalised import Normalised, NotAReading, device_time_source, observe


class TemperatureFlags(IntFlag):
    FAHRENHEIT = 0x01
    TIME_STAMP = 0x02
    TEMPERATURE_TYPE = 0x04


class TemperatureType(IntEnum):
    """Where the temperature was taken; 0 and 10–255 RFU, kept as plain ints."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTRO_INTESTINAL_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


def _site(value: int) -> int:
    try:
        return TemperatureType(value)
    except ValueError:
        return value


SITE: Final = Codec("temperature type", "B", _site)

LAYOUT: Final = Layout(
    "Temperature Measurement",
    UINT8,
    (
        Field("temperature", FLOAT),
        Field("timestamp", DATE_TIME, TemperatureFlags.TIME_STAMP),
        Field("temperature_type", SITE, TemperatureFlags.TEMPERATURE_TYPE),
    ),
)


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Temperature Measurement 0x2A1C (or Intermediate Temperature 0x2A1E when ``intermediate``)."""

    flags: TemperatureFlags
    unit: Unit
    temperature: Measure
    timestamp: DateTime | None = None
    temperature_type: int | None = None
    intermediate: bool = False
    trailing: bytes = b""

    def normalise(self) -> Normalised:
        measured_at = self.timestamp.value if self.timestamp else None
        return Normalised(
            kind=ReadingKind.TEMPERATURE,
            observations=(observe(Metric.MDC_TEMP_BODY, self.temperature, self.unit),),
            measured_at=measured_at,
            measured_at_source=device_time_source(measured_at),
            storable=not self.intermediate,
        )


def _decode(data: bytes, *, intermediate: bool) -> TemperatureMeasurement:
    flags, values, trailing = LAYOUT.decode(data)
    temperature_flags = TemperatureFlags(flags)
    unit = Unit.DEG_F if temperature_flags & TemperatureFlags.FAHRENHEIT else Unit.CEL
    return TemperatureMeasurement(
        flags=temperature_flags, unit=unit, **values, intermediate=intermediate, trailing=trailing
    )


def decode_measurement(data: bytes) -> TemperatureMeasurement:
    """Temperature Measurement 0x2A1C."""
    return _decode(data, intermediate=False)


def decode_intermediate(data: bytes) -> TemperatureMeasurement:
    """Intermediate Temperature 0x2A1E (display only, never stored)."""
    return _decode(data, intermediate=True)


@dataclass(frozen=True, slots=True)
class TemperatureTypeValue(NotAReading):
    """Temperature Type 0x2A1D: the site for every measurement that does not carry its own."""

    temperature_type: int
    trailing: bytes = b""


TYPE_LAYOUT: Final = Layout("Temperature Type", None, (Field("temperature_type", SITE),))


def decode_temperature_type(data: bytes) -> TemperatureTypeValue:
    """Temperature Type 0x2A1D."""
    _, values, trailing = TYPE_LAYOUT.decode(data)
    return TemperatureTypeValue(**values, trailing=trailing)
