"""A simulated blood-pressure cuff (Blood Pressure Service 1.0, reference §4): one or more users, a
memory of stored measurements pushed on connection, an optional time stamp, irregular-pulse and
other status bits, kPa or mmHg, and Intermediate Cuff Pressure while inflating.

Presets: :func:`and_ua651ble` (A&D quirk: Date Time inside 0x1810 must be written before the cuff
releases data; Just Works bond) and :func:`omron_style` (two users, passkey bond, CTS).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain import METRICS, DeviceKind, Metric, Unit
from core.units import from_canonical
from firmware_sim.devices.battery import battery_for
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import (
    INDICATE,
    NOTIFY,
    Characteristic,
    DeviceInformation,
    Pairing,
    Property,
    Security,
    Service,
)
from firmware_sim.devices.memory import PushMemoryPeripheral, and_style
from firmware_sim.devices.outgoing import Outgoing
from firmware_sim.gatt import uuids
from firmware_sim.gatt.blood_pressure import (
    PRESSURE_EXPONENT,
    BloodPressureSample,
    Feature,
    MeasurementStatus,
    encode_blood_pressure,
    encode_feature,
    encode_intermediate_cuff_pressure,
)
from firmware_sim.gatt.medfloat import quantize
from firmware_sim.intent import EncodedMeasurement
from firmware_sim.physiology import Physiology

PULSE_RANGE_BPM = (40, 180)
"""Outside this the cuff sets the pulse-rate-range bits (1 above, 2 below)."""
BODY_MOVEMENT_RATE = 0.02
CUFF_LOOSE_RATE = 0.01
INFLATION_STEPS_MMHG = (40, 90, 140)
"""Cuff pressures notified on 0x2A36 while inflating (display only)."""


class BloodPressureCuff(PushMemoryPeripheral[BloodPressureSample]):
    def __init__(
        self,
        *,
        unit: Unit = Unit.MMHG,
        time_stamp: bool = True,
        user_id_field: bool = True,
        features: Feature = Feature.BODY_MOVEMENT_DETECTION
        | Feature.CUFF_FIT_DETECTION
        | Feature.IRREGULAR_PULSE_DETECTION
        | Feature.PULSE_RATE_RANGE_DETECTION,
        vendor_services: tuple[Service, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.unit = unit
        self.time_stamp = time_stamp
        self.user_id_field = user_id_field
        self.features = features
        self._vendor_services = vendor_services
        super().__init__(**kwargs)

    @property
    def profile_service(self) -> Service:
        return self.health_service(
            uuids.BLOOD_PRESSURE_SERVICE,
            {uuids.BLOOD_PRESSURE_MEASUREMENT: INDICATE, uuids.INTERMEDIATE_CUFF_PRESSURE: NOTIFY},
            (uuids.BLOOD_PRESSURE_FEATURE,),
        )

    @property
    def extra_services(self) -> tuple[Service, ...]:
        return self._vendor_services

    @property
    def measurement_characteristic(self) -> str:
        return uuids.BLOOD_PRESSURE_MEASUREMENT

    def _values(self) -> Mapping[str, bytes]:
        return {uuids.BLOOD_PRESSURE_FEATURE: encode_feature(self.features)}

    def _write(self, characteristic: str, data: bytes, at: datetime) -> list[Outgoing]:
        if characteristic == uuids.AND_VENDOR_CHARACTERISTIC:
            return []  # A&D's "send all data" (02 00 E1) and disconnect requests: data flows on the clock write
        return super()._write(characteristic, data, at)

    def _pressure(self, mmhg: float) -> float:
        value = from_canonical(METRICS[Metric.MDC_PRESS_BLD_NONINV_SYS], mmhg, self.unit)
        return quantize(value, PRESSURE_EXPONENT[self.unit])

    def _sample(self, at: datetime) -> BloodPressureSample:
        bp = self.physiology.blood_pressure(at)
        status = MeasurementStatus(0)
        if bp.irregular_pulse:
            status |= MeasurementStatus.IRREGULAR_PULSE
        if self.rng.random() < BODY_MOVEMENT_RATE:
            status |= MeasurementStatus.BODY_MOVEMENT
        if self.rng.random() < CUFF_LOOSE_RATE:
            status |= MeasurementStatus.CUFF_TOO_LOOSE
        low, high = PULSE_RANGE_BPM
        if bp.pulse > high:
            status |= MeasurementStatus.PULSE_RATE_ABOVE_RANGE
        elif bp.pulse < low:
            status |= MeasurementStatus.PULSE_RATE_BELOW_RANGE
        mean = bp.diastolic + (bp.systolic - bp.diastolic) / 3
        sample = BloodPressureSample(
            systolic=self._pressure(bp.systolic),
            diastolic=self._pressure(bp.diastolic),
            mean_arterial=self._pressure(mean),
            unit=self.unit,
            time_stamp=self.clock.stamp(at) if self.time_stamp else None,
            pulse=float(bp.pulse),
            user_id=self.active_user if self.user_id_field else None,
            status=int(status),
        )
        return sample

    def _encode(self, sample: BloodPressureSample, *, from_memory: bool) -> EncodedMeasurement:
        return encode_blood_pressure(sample, from_memory=from_memory)

    def _live_frames(self, sample: BloodPressureSample, at: datetime) -> list[Outgoing]:
        if not self.is_subscribed(uuids.INTERMEDIATE_CUFF_PRESSURE):
            return []
        return [
            self._frame(encode_intermediate_cuff_pressure(self._pressure(p), self.unit)) for p in INFLATION_STEPS_MMHG
        ]


def and_ua651ble(
    *, physiology: Physiology, clock: DeviceClock, seed: int, serial: str = "5110012345", **kwargs: Any
) -> BloodPressureCuff:
    """An A&D UA-651BLE-like cuff (reference §11): Just Works bond made once in pairing mode; Date Time
    0x2A08 inside 0x1810 that must be written before the cuff releases its (30) stored readings; the
    vendor service beside the SIG one; one user, no User ID field; disconnects when done."""
    vendor = Service(
        uuids.AND_VENDOR_SERVICE,
        (Characteristic(uuids.AND_VENDOR_CHARACTERISTIC, frozenset({Property.WRITE, Property.INDICATE})),),
    )
    options: dict[str, Any] = (
        and_style()
        | {
            "info": DeviceInformation("A&D Medical", "UA-651BLE", serial, firmware_revision="1.4.0"),
            "local_name": f"A&D_UA-651_{serial[-4:]}",
            "memory_capacity": 30,
            "user_id_field": False,
            "battery": battery_for(DeviceKind.BP_CUFF),
        }
        | kwargs
    )
    return BloodPressureCuff(users={1: physiology}, clock=clock, seed=seed, vendor_services=(vendor,), **options)


def omron_style(
    *,
    users: Mapping[int, Physiology],
    clock: DeviceClock,
    seed: int,
    passkey: str = "123456",
    serial: str = "20240301001",
    **kwargs: Any,
) -> BloodPressureCuff:
    """An Omron-like two-user cuff: passkey printed on the device, CTS announced by a notification
    once its records are subscribed (reference §11), User ID in every record, 100 records per user."""
    options: dict[str, Any] = {
        "info": DeviceInformation("OMRON HEALTHCARE", "BP7350", serial),
        "local_name": f"BLEsmart_0000011F{serial[-6:]}",
        "security": Security(Pairing.PASSKEY, bonding_required=True, passkey=passkey),
        "memory_capacity": 100,
        "battery": battery_for(DeviceKind.BP_CUFF),
        "announces_time": True,
    } | kwargs
    return BloodPressureCuff(users=users, clock=clock, seed=seed, **options)
