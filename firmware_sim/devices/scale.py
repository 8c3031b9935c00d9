"""A simulated bathroom scale (Weight Scale Service 1.0, reference §6): the weight settles over a few
provisional readings, notified on a vendor live-weight characteristic, before the final reading is
indicated on 0x2A9D; kg or lb; optional time stamp, user ID and BMI/height; readings taken while no
collector listens are stored and pushed on the next connection (A&D UC-352BLE).

The scale shows 0.1 kg or 0.2 lb steps (Weight Scale Feature resolution index 3), well inside what the
0.005 kg / 0.01 lb field carries, so every intended weight is exact on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain import METRICS, DeviceKind, Metric, Unit
from core.units import from_canonical, to_canonical
from firmware_sim.devices.battery import battery_for
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import INDICATE, NOTIFY, Characteristic, DeviceInformation, Service
from firmware_sim.devices.memory import PushMemoryPeripheral, and_style
from firmware_sim.devices.outgoing import Outgoing
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.medfloat import quantize
from firmware_sim.gatt.weight_scale import (
    LIVE_WEIGHT,
    LIVE_WEIGHT_SERVICE,
    Feature,
    WeightSample,
    encode_feature,
    encode_weight,
    height_resolution_bits,
    weight_resolution_bits,
)
from firmware_sim.intent import EncodedMeasurement
from firmware_sim.physiology import Physiology

DISPLAY_STEP = {Unit.KG: (-1, 1), Unit.LB: (-1, 2)}
"""(exponent, step): 0.1 kg or 0.2 lb, Weight Scale Feature resolution index 3 in both systems."""
WEIGHT_RESOLUTION_INDEX = 3
HEIGHT_RESOLUTION_INDEX = 3
HEIGHT_EXPONENT = {Unit.KG: -3, Unit.LB: -1}
SETTLING_OVERSHOOT_KG = (1.6, -0.7, 0.3)
"""How far the provisional readings sit from the final one as the platform settles."""
UNSUCCESSFUL_RATE = 0.01
"""Stepping off before the reading settles: WSS "measurement unsuccessful" (0xFFFF)."""


class Scale(PushMemoryPeripheral[WeightSample]):
    def __init__(
        self,
        *,
        unit: Unit = Unit.KG,
        heights_m: Mapping[int, float] | None = None,
        time_stamp: bool = True,
        user_id_field: bool = True,
        unsuccessful_rate: float = UNSUCCESSFUL_RATE,
        **kwargs: Any,
    ) -> None:
        if unit not in DISPLAY_STEP:
            raise SimulationError(f"a scale shows kg or lb, not {unit}")
        self.unit = unit
        self.heights_m = dict(heights_m or {})
        self.time_stamp = time_stamp
        self.user_id_field = user_id_field
        self.unsuccessful_rate = unsuccessful_rate
        super().__init__(**kwargs)

    @property
    def features(self) -> int:
        features = Feature.TIME_STAMP if self.time_stamp else Feature(0)
        if len(self.users) > 1:
            features |= Feature.MULTIPLE_USERS
        if self.heights_m:
            features |= Feature.BMI
        return (
            int(features)
            | weight_resolution_bits(WEIGHT_RESOLUTION_INDEX)
            | height_resolution_bits(HEIGHT_RESOLUTION_INDEX)
        )

    @property
    def profile_service(self) -> Service:
        return self.health_service(
            uuids.WEIGHT_SCALE_SERVICE, {uuids.WEIGHT_MEASUREMENT: INDICATE}, (uuids.WEIGHT_SCALE_FEATURE,)
        )

    @property
    def extra_services(self) -> tuple[Service, ...]:
        return (Service(LIVE_WEIGHT_SERVICE, (Characteristic(LIVE_WEIGHT, NOTIFY),)),)

    @property
    def measurement_characteristic(self) -> str:
        return uuids.WEIGHT_MEASUREMENT

    def _values(self) -> Mapping[str, bytes]:
        return {uuids.WEIGHT_SCALE_FEATURE: encode_feature(self.features)}

    def _shown(self, kg: float) -> float:
        exponent, step = DISPLAY_STEP[self.unit]
        return quantize(from_canonical(METRICS[Metric.MDC_MASS_BODY_ACTUAL], kg, self.unit), exponent, step)

    def _sample(self, at: datetime) -> WeightSample:
        user = self.active_user
        common: dict[str, Any] = {
            "unit": self.unit,
            "time_stamp": self.clock.stamp(at) if self.time_stamp else None,
            "user_id": user if self.user_id_field else None,
        }
        if self.rng.random() < self.unsuccessful_rate:
            return WeightSample(weight=None, **common)
        kg = self.physiology.weight_kg(at)
        height_m = self.heights_m.get(user)
        if height_m is None:
            return WeightSample(weight=self._shown(kg), **common)
        height = from_canonical(
            METRICS[Metric.MDC_LEN_BODY_ACTUAL], height_m * 100, Unit.M if self.unit == Unit.KG else Unit.INCH
        )
        bmi = quantize(kg / height_m**2, -1)
        return WeightSample(self._shown(kg), bmi=bmi, height=quantize(height, HEIGHT_EXPONENT[self.unit]), **common)

    def _encode(self, sample: WeightSample, *, from_memory: bool) -> EncodedMeasurement:
        return encode_weight(sample, from_memory=from_memory)

    def _live_frames(self, sample: WeightSample, at: datetime) -> list[Outgoing]:
        if sample.weight is None or not self.is_subscribed(LIVE_WEIGHT):
            return []
        kg = to_canonical(METRICS[Metric.MDC_MASS_BODY_ACTUAL], sample.weight, self.unit)
        frames = []
        for offset_kg in SETTLING_OVERSHOOT_KG:
            unstable = WeightSample(self._shown(kg + offset_kg), self.unit)
            frames.append(self._frame(encode_weight(unstable, final=False)))
        return frames


def and_uc352ble(
    *, physiology: Physiology, clock: DeviceClock, seed: int, serial: str = "5220054321", **kwargs: Any
) -> Scale:
    """An A&D UC-352BLE-like scale (reference §11): Date Time 0x2A08 read/write inside 0x181D, clock
    written before data is released, one user, Just Works bond."""
    options: dict[str, Any] = (
        and_style()
        | {
            "info": DeviceInformation("A&D Medical", "UC-352BLE", serial),
            "local_name": f"A&D_UC-352_{serial[-4:]}",
            "memory_capacity": 90,
            "battery": battery_for(DeviceKind.SCALE),
            "user_id_field": False,
        }
        | kwargs
    )
    return Scale(users={1: physiology}, clock=clock, seed=seed, **options)
