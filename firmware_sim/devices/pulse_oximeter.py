"""A simulated fingertip pulse oximeter (Pulse Oximeter Service 1.0, reference §7): spot-checks with
time stamp, measurement and device/sensor status and pulse amplitude index, indicated on 0x2A5E, and
a continuous SpO2/PR stream on 0x2A5F while the finger is in.

Stored spot-checks are pushed on connection with measurement-status bit 9 ("data from measurement
storage") set, like a cuff pushes its memory. The reference could not verify which RACP operators a
PLX server must accept or the width of its record count (§7.3, §15), so this model does not claim
spot-check storage over RACP (PLX Features bit 2 clear) rather than invent those rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain import DeviceKind, SpecialValue
from firmware_sim.devices.battery import battery_for
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import INDICATE, NOTIFY, DeviceInformation, Service
from firmware_sim.devices.memory import PushMemoryPeripheral
from firmware_sim.devices.outgoing import Outgoing
from firmware_sim.gatt import uuids
from firmware_sim.gatt.medfloat import quantize
from firmware_sim.gatt.pulse_oximeter import (
    PAI_EXPONENT,
    ContinuousSample,
    DeviceSensorStatus,
    Feature,
    MeasurementStatus,
    SpotCheckSample,
    encode_continuous,
    encode_features,
    encode_spot_check,
)
from firmware_sim.intent import EncodedMeasurement
from firmware_sim.physiology import Physiology

POOR_SIGNAL_RATE = 0.03
NO_READING_RATE = 0.01
"""Finger moved or sensor displaced: SpO2 and PR are NaN, "measurement unavailable"."""
FEATURES = (
    Feature.MEASUREMENT_STATUS_SUPPORT
    | Feature.DEVICE_AND_SENSOR_STATUS_SUPPORT
    | Feature.SPOT_CHECK_TIME_STAMP
    | Feature.PULSE_AMPLITUDE_INDEX
)
MEASUREMENT_STATUS_SUPPORT = (
    MeasurementStatus.VALIDATED_DATA
    | MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE
    | MeasurementStatus.MEASUREMENT_UNAVAILABLE
    | MeasurementStatus.QUESTIONABLE_MEASUREMENT
)
DEVICE_SENSOR_STATUS_SUPPORT = (
    DeviceSensorStatus.POOR_SIGNAL | DeviceSensorStatus.LOW_PERFUSION | DeviceSensorStatus.SENSOR_DISPLACED
)


class PulseOximeter(PushMemoryPeripheral[SpotCheckSample]):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("memory_capacity", 100)
        kwargs.setdefault("disconnect_after_transfer", False)  # it keeps the link for the continuous stream
        super().__init__(**kwargs)

    @property
    def profile_service(self) -> Service:
        return self.health_service(
            uuids.PULSE_OXIMETER_SERVICE,
            {uuids.PLX_SPOT_CHECK_MEASUREMENT: INDICATE, uuids.PLX_CONTINUOUS_MEASUREMENT: NOTIFY},
            (uuids.PLX_FEATURES,),
        )

    @property
    def measurement_characteristic(self) -> str:
        return uuids.PLX_SPOT_CHECK_MEASUREMENT

    def _values(self) -> Mapping[str, bytes]:
        features = encode_features(
            FEATURES,
            measurement_status_support=int(MEASUREMENT_STATUS_SUPPORT),
            device_sensor_status_support=int(DEVICE_SENSOR_STATUS_SUPPORT),
        )
        return {uuids.PLX_FEATURES: features}

    def _reading(
        self, at: datetime
    ) -> tuple[float | SpecialValue, float | SpecialValue, MeasurementStatus, DeviceSensorStatus, float]:
        spo2, pulse = self.physiology.pulse_oximetry(at)
        pai = quantize(float(self.rng.lognormal(1.0, 0.5)), PAI_EXPONENT)
        draw = self.rng.random()
        if draw < NO_READING_RATE:
            return (
                SpecialValue.NAN,
                SpecialValue.NAN,
                MeasurementStatus.MEASUREMENT_UNAVAILABLE,
                DeviceSensorStatus.SENSOR_DISPLACED,
                pai,
            )
        if draw < NO_READING_RATE + POOR_SIGNAL_RATE:
            status = MeasurementStatus.QUESTIONABLE_MEASUREMENT
            return (
                float(spo2),
                float(pulse),
                status,
                DeviceSensorStatus.POOR_SIGNAL | DeviceSensorStatus.LOW_PERFUSION,
                pai,
            )
        return float(spo2), float(pulse), MeasurementStatus.VALIDATED_DATA, DeviceSensorStatus(0), pai

    def _sample(self, at: datetime) -> SpotCheckSample:
        spo2, pulse, status, sensor, pai = self._reading(at)
        sample = SpotCheckSample(
            spo2=spo2,
            pulse_rate=pulse,
            time_stamp=self.clock.stamp(at),
            measurement_status=int(status),
            device_sensor_status=int(sensor),
            pulse_amplitude_index=pai,
            clock_not_set=not self.clock.is_set,
        )
        return sample

    def _encode(self, sample: SpotCheckSample, *, from_memory: bool) -> EncodedMeasurement:
        if from_memory and sample.measurement_status is not None:
            stored = sample.measurement_status | MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE
            sample = dataclasses.replace(sample, measurement_status=int(stored))
        return encode_spot_check(sample)

    def stream(self, at: datetime) -> list[Outgoing]:
        """One continuous-measurement notification (about 1 Hz while the finger is in), if subscribed."""
        if not self.is_subscribed(uuids.PLX_CONTINUOUS_MEASUREMENT):
            return []
        spo2, pulse, status, sensor, pai = self._reading(at)
        sample = ContinuousSample(
            spo2, pulse, measurement_status=int(status), device_sensor_status=int(sensor), pulse_amplitude_index=pai
        )
        return [self._frame(encode_continuous(sample))]


def fingertip_oximeter(
    *, physiology: Physiology, clock: DeviceClock, seed: int, serial: str = "PO60-000123", **kwargs: Any
) -> PulseOximeter:
    """A Beurer PO60-like oximeter: no pairing, CTS, keeps its spot-checks until delivered."""
    options: dict[str, Any] = {
        "info": DeviceInformation("Beurer", "PO60", serial),
        "local_name": "PO60",
        "battery": battery_for(DeviceKind.PULSE_OXIMETER),
    } | kwargs
    return PulseOximeter(users={1: physiology}, clock=clock, seed=seed, **options)
