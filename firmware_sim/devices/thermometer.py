"""A simulated clinical thermometer (Health Thermometer Service 1.0, reference §8): °C or °F, time
stamp and temperature type, stored readings pushed on connection, an occasional failed reading sent
as NaN (the reference's vector ``04 FF FF 7F 00 06``). Preset :func:`and_ut201ble` has the A&D
Date Time quirk (Date Time 0x2A08 inside 0x1809, reference §11).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain import METRICS, DeviceKind, Metric, SpecialValue, Unit
from core.units import from_canonical
from firmware_sim.devices.battery import battery_for
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import INDICATE, DeviceInformation, Service
from firmware_sim.devices.memory import PushMemoryPeripheral, and_style
from firmware_sim.gatt import uuids
from firmware_sim.gatt.health_thermometer import (
    TEMPERATURE_EXPONENT,
    TemperatureSample,
    TemperatureType,
    encode_measurement_interval,
    encode_temperature,
    encode_temperature_type,
)
from firmware_sim.gatt.medfloat import quantize
from firmware_sim.intent import EncodedMeasurement
from firmware_sim.physiology import Physiology

DISPLAY_EXPONENT = -1
"""Home thermometers show one decimal in either unit."""
FAILED_READING_RATE = 0.01


class Thermometer(PushMemoryPeripheral[TemperatureSample]):
    def __init__(
        self,
        *,
        unit: Unit = Unit.CEL,
        temperature_type: TemperatureType = TemperatureType.MOUTH,
        time_stamp: bool = True,
        **kwargs: Any,
    ) -> None:
        self.unit = unit
        self.temperature_type = temperature_type
        self.time_stamp = time_stamp
        kwargs.setdefault("memory_capacity", 30)
        super().__init__(**kwargs)

    @property
    def profile_service(self) -> Service:
        return self.health_service(
            uuids.HEALTH_THERMOMETER_SERVICE,
            {uuids.TEMPERATURE_MEASUREMENT: INDICATE},
            (uuids.TEMPERATURE_TYPE, uuids.MEASUREMENT_INTERVAL),
        )

    @property
    def measurement_characteristic(self) -> str:
        return uuids.TEMPERATURE_MEASUREMENT

    def _values(self) -> Mapping[str, bytes]:
        return {
            uuids.TEMPERATURE_TYPE: encode_temperature_type(self.temperature_type),
            uuids.MEASUREMENT_INTERVAL: encode_measurement_interval(0),
        }

    def _sample(self, at: datetime) -> TemperatureSample:
        celsius = self.physiology.temperature_c(at)
        value: float | SpecialValue = SpecialValue.NAN
        if self.rng.random() >= FAILED_READING_RATE:
            shown = from_canonical(METRICS[Metric.MDC_TEMP_BODY], celsius, self.unit)
            value = quantize(shown, max(DISPLAY_EXPONENT, TEMPERATURE_EXPONENT[self.unit]))
        stamp = self.clock.stamp(at) if self.time_stamp else None
        return TemperatureSample(value, self.unit, stamp, int(self.temperature_type))

    def _encode(self, sample: TemperatureSample, *, from_memory: bool) -> EncodedMeasurement:
        return encode_temperature(sample, from_memory=from_memory)


def and_ut201ble(
    *, physiology: Physiology, clock: DeviceClock, seed: int, serial: str = "5330098765", **kwargs: Any
) -> Thermometer:
    """An A&D UT-201BLE-like thermometer: ear, Date Time inside 0x1809 written before data flows,
    Just Works bond."""
    options: dict[str, Any] = (
        and_style()
        | {
            "info": DeviceInformation("A&D Medical", "UT-201BLE", serial),
            "local_name": f"A&D_UT201_{serial[-4:]}",
            "temperature_type": TemperatureType.EAR,
            "battery": battery_for(DeviceKind.THERMOMETER),
        }
        | kwargs
    )
    return Thermometer(users={1: physiology}, clock=clock, seed=seed, **options)
