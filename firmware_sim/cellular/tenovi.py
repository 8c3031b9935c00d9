"""Tenovi measurement webhooks (``reference/cellular-and-logistics.md`` §1.2; docs.tenovi.com device
pages): one JSON object per metric, or with "post as array" one array of the coincident metrics.

Traps produced here:

- a blood-pressure reading is several messages: ``blood_pressure`` (systolic/diastolic), ``pulse``,
  and ``irregular_heartbeat`` only when one was detected; they share ``timestamp`` and are told apart
  from a second reading at the same time only by ``filter_params.measurement_index``;
- ``value_1``/``value_2`` arrive as strings or numbers, ``value_2`` may be null;
- weight is in pounds (integrators' reading; not stated in the docs read);
- ``hardware_uuid`` is the gateway (12 hex digits) or the IMEI and changes when the gateway is
  replaced: the device identity is ``hwi_device_id``;
- ``estimated_timestamp``: the device's clock was not trusted and Tenovi's ``timestamp`` is an
  estimate (we use the time the gateway received it), so it is later than the true measurement;
- ``timezone_offset`` in minutes (−300 for New York in winter; unit and sign are [I] in the reference).

Sensor codes 10 (BPM), 11 (pulse oximeter) and 12 (glucometer) are from Tenovi's device pages; the
scale's code was not found, so it is the caller's to give.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from core.domain import METRICS, DeviceKind, MeasuredAtSource, Metric, Observation, ReadingFlag, ReadingKind, Unit
from core.units import from_canonical
from firmware_sim.cellular.delivery import IntendedVendorMessage, MessageKind, VendorDelivery, json_body
from firmware_sim.errors import SimulationError
from firmware_sim.gatt.medfloat import quantize
from firmware_sim.intent import observation
from firmware_sim.physiology import MealTiming, Physiology

VENDOR = "tenovi"
PATH = "/webhooks/tenovi"
SENSOR_CODES = {DeviceKind.BP_CUFF: "10", DeviceKind.PULSE_OXIMETER: "11", DeviceKind.GLUCOMETER: "12"}
DEVICE_NAMES = {
    DeviceKind.BP_CUFF: "Tenovi BPM - L",
    DeviceKind.PULSE_OXIMETER: "Tenovi Pulse Oximeter",
    DeviceKind.GLUCOMETER: "Tenovi Glucometer",
    DeviceKind.SCALE: "Tenovi Scale",
}
MEAL_CONTEXT = {
    MealTiming.PREPRANDIAL: "pre-prandial",
    MealTiming.POSTPRANDIAL: "post-prandial",
    MealTiming.FASTING: "fasting",
}
"""Tenovi's three meal contexts; other moments carry none."""
GLUCOSE_ABOVE_RANGE_MG_DL = 600
BATTERY_METRIC = "battery_percentage"


@dataclass
class _Metric:
    name: str
    value_1: float
    value_2: float | None
    observations: tuple[Observation, ...] = ()
    flags: frozenset[ReadingFlag] = frozenset()
    filter_params: dict[str, Any] | None = None


def _iso(at: datetime, *, millis: bool = False) -> str:
    text = at.astimezone(UTC).isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


@dataclass
class TenoviDevice:
    """One Tenovi device assigned to a patient, behind a Tenovi gateway."""

    kind: DeviceKind
    physiology: Physiology
    rng: np.random.Generator
    patient_id: str
    hwi_device_id: str = ""
    hardware_uuid: str = ""
    sensor_code: str | None = None
    time_zone: str = "America/New_York"
    post_as_array: bool = True
    estimated_rate: float = 0.05
    battery_report_rate: float = 0.1
    auth_header: str = "Bearer tenovi-sim"
    battery_pct: float = 100.0

    def __post_init__(self) -> None:
        if self.kind not in DEVICE_NAMES:
            raise SimulationError(f"no Tenovi {self.kind} is simulated")
        self.sensor_code = self.sensor_code or SENSOR_CODES.get(self.kind)
        if self.sensor_code is None:
            raise SimulationError(f"Tenovi's sensor code for a {self.kind} is not known: pass one")
        self.hwi_device_id = self.hwi_device_id or str(uuid.UUID(bytes=self.rng.bytes(16), version=4))
        self.hardware_uuid = self.hardware_uuid or self.rng.bytes(6).hex()

    def replace_gateway(self) -> None:
        """A new gateway: ``hardware_uuid`` changes, the patient's device identity does not."""
        self.hardware_uuid = self.rng.bytes(6).hex()

    def measure(self, at: datetime, *, received_at: datetime | None = None, index: int = 1) -> list[VendorDelivery]:
        """The webhook POSTs for one measurement taken at ``at`` and relayed at ``received_at``."""
        received = received_at or at + timedelta(seconds=int(self.rng.integers(5, 60)))
        estimated = bool(self.rng.random() < self.estimated_rate)
        stamped = received.replace(microsecond=0) if estimated else at.replace(microsecond=0)
        metrics = self._metrics(at)
        self.battery_pct = max(0.0, self.battery_pct - 0.2)
        if self.rng.random() < self.battery_report_rate:  # a non-vital metric now and then (Tenovi docs)
            metrics.append(_Metric(BATTERY_METRIC, round(self.battery_pct), None))
        documents = []
        intents = []
        for i, metric in enumerate(metrics):
            documents.append(
                self._document(metric, stamped, received + timedelta(milliseconds=7 * i), estimated, index)
            )
            intents.append(self._intent(metric, at, stamped, estimated))
        headers = {"Content-Type": "application/json", "Authorization": self.auth_header}
        if self.post_as_array:
            return [VendorDelivery(VENDOR, PATH, json_body(documents), tuple(intents), headers)]
        return [
            VendorDelivery(VENDOR, PATH, json_body(d), (i,), headers) for d, i in zip(documents, intents, strict=True)
        ]

    def _offset_min(self, at: datetime) -> int:
        offset = at.astimezone(ZoneInfo(self.time_zone)).utcoffset() or timedelta()
        return int(offset / timedelta(minutes=1))

    def _value(self, value: float | None) -> str | float | None:
        """Tenovi sends values as strings or numbers; both occur."""
        if value is None:
            return None
        number: float | int = int(value) if float(value).is_integer() else value
        return str(number) if self.rng.random() < 0.5 else number

    def _document(
        self, metric: _Metric, stamped: datetime, created: datetime, estimated: bool, index: int
    ) -> dict[str, Any]:
        return {
            "metric": metric.name,
            "device_name": DEVICE_NAMES[self.kind],
            "hwi_device_id": self.hwi_device_id,
            "patient_id": self.patient_id,
            "hardware_uuid": self.hardware_uuid,
            "sensor_code": self.sensor_code,
            "value_1": self._value(metric.value_1),
            "value_2": self._value(metric.value_2),
            "created": _iso(created, millis=True),
            "timestamp": _iso(stamped),
            "timezone_offset": self._offset_min(stamped),
            "estimated_timestamp": estimated,
            "filter_params": {"measurement_index": index} | (metric.filter_params or {}),
        }

    def _intent(self, metric: _Metric, at: datetime, stamped: datetime, estimated: bool) -> IntendedVendorMessage:
        vital = metric.name != BATTERY_METRIC
        return IntendedVendorMessage(
            VENDOR,
            MessageKind.READING if vital else MessageKind.DEVICE_STATUS,
            self.hwi_device_id,
            reading_kind=_READING_KIND[self.kind] if vital else None,
            observations=metric.observations,
            flags=metric.flags,
            measured_at=stamped.astimezone(UTC),
            measured_at_source=MeasuredAtSource.VENDOR_ESTIMATED if estimated else MeasuredAtSource.VENDOR_CLOUD,
            true_measured_at=at,
            tz_offset_min=self._offset_min(stamped),
            billable=vital,
            battery_pct=None if vital else int(metric.value_1),
        )

    def _metrics(self, at: datetime) -> list[_Metric]:
        if self.kind == DeviceKind.BP_CUFF:
            bp = self.physiology.blood_pressure(at)
            metrics = [
                _Metric(
                    "blood_pressure",
                    bp.systolic,
                    bp.diastolic,
                    (
                        observation(Metric.MDC_PRESS_BLD_NONINV_SYS, float(bp.systolic), Unit.MMHG),
                        observation(Metric.MDC_PRESS_BLD_NONINV_DIA, float(bp.diastolic), Unit.MMHG),
                    ),
                ),
                _Metric(
                    "pulse", bp.pulse, None, (observation(Metric.MDC_PULS_RATE_NON_INV, float(bp.pulse), Unit.PER_MIN),)
                ),
            ]
            if bp.irregular_pulse:  # sent only when detected, value 1
                metrics.append(_Metric("irregular_heartbeat", 1, None, flags=frozenset({ReadingFlag.IRREGULAR_PULSE})))
            return metrics
        if self.kind == DeviceKind.PULSE_OXIMETER:
            spo2, pulse = self.physiology.pulse_oximetry(at)
            return [
                _Metric(
                    "spO2",
                    spo2,
                    quantize(float(self.rng.uniform(0.2, 1.5)), -1),
                    (observation(Metric.MDC_PULS_OXIM_SAT_O2, float(spo2), Unit.PERCENT),),
                ),
                _Metric(
                    "pulse",
                    pulse,
                    quantize(float(self.rng.uniform(0.5, 4.0)), -1),
                    (observation(Metric.MDC_PULS_OXIM_PULS_RATE, float(pulse), Unit.PER_MIN),),
                ),
            ]
        if self.kind == DeviceKind.GLUCOMETER:
            mg_dl = min(self.physiology.glucose(at), GLUCOSE_ABOVE_RANGE_MG_DL)
            params: dict[str, Any] = {"measurement_location": "finger"}
            if (meal := MEAL_CONTEXT.get(self.physiology.meal_timing(at))) is not None:
                params["meal_context"] = meal
            flags: frozenset[ReadingFlag] = frozenset()
            if mg_dl >= GLUCOSE_ABOVE_RANGE_MG_DL:
                params["alert"] = "sensor_result_above_range"
                flags = frozenset({ReadingFlag.RESULT_ABOVE_RANGE})
            # Tenovi states no sample type (only a location), so the reading is "sample type undetermined".
            glucose = observation(Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA, float(mg_dl), Unit.MG_PER_DL)
            return [_Metric("glucose", mg_dl, None, (glucose,), flags=flags, filter_params=params)]
        pounds = quantize(
            from_canonical(METRICS[Metric.MDC_MASS_BODY_ACTUAL], self.physiology.weight_kg(at), Unit.LB), -1, 2
        )
        return [_Metric("weight", pounds, None, (observation(Metric.MDC_MASS_BODY_ACTUAL, pounds, Unit.LB),))]


_READING_KIND = {
    DeviceKind.BP_CUFF: ReadingKind.BLOOD_PRESSURE,
    DeviceKind.PULSE_OXIMETER: ReadingKind.PULSE_OXIMETRY,
    DeviceKind.GLUCOMETER: ReadingKind.GLUCOSE,
    DeviceKind.SCALE: ReadingKind.WEIGHT,
}
