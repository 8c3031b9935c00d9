"""A simulated blood-glucose meter (Glucose Service 1.0, reference §5): numbered records with optional
meal context, downloaded through the Record Access Control Point state machine
(:mod:`firmware_sim.gatt.racp`); bonding with a displayed passkey, as Accu-Chek and Contour meters
require (reference §5.5, §11).

Download flow: the collector enables notifications on 0x2A18 (and 0x2A34) and indications on 0x2A52
(ATT 0xFD otherwise), writes a RACP request, and the meter streams the matching records, each
measurement followed by its context when it has one and 0x2A34 is enabled, then indicates
``06 00 01 01``. While a report streams, only Abort is accepted (ATT 0xFE otherwise).

The meter's clock is its user-facing time; the Time Offset field carries the offset a user keyed in
on the meter (e.g. a DST change) and the Base Time is user-facing time minus that offset. Results
below 20 or above 600 mg/dL show as LO/HI and are sent as -INF/+INF with status bit 6/5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.domain import METRICS, DeviceKind, Metric, SpecialValue, Unit
from core.units import from_canonical
from firmware_sim.devices.battery import battery_for
from firmware_sim.devices.clock import DeviceClock
from firmware_sim.devices.gatt_table import NOTIFY, WRITE_INDICATE, DeviceInformation, Pairing, Security, Service
from firmware_sim.devices.outgoing import Delivery, Outgoing
from firmware_sim.devices.peripheral import SimulatedPeripheral
from firmware_sim.gatt import uuids
from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.gatt.glucose import (
    WIRE_SCALE,
    Feature,
    GlucoseContext,
    GlucoseSample,
    Health,
    Meal,
    SampleLocation,
    SampleType,
    SensorStatus,
    Tester,
    encode_feature,
    encode_glucose_record,
)
from firmware_sim.gatt.medfloat import quantize
from firmware_sim.gatt.racp import REPORT_COMPLETE, FilterType, OpCode, RacpServer, ResponseCode, response
from firmware_sim.physiology import MealTiming, Physiology

RACP_PROCEDURE = "racp report"
MEASURING_RANGE_MG_DL = (20.0, 600.0)
SEQUENCE_NUMBERS = 0x10000

MEAL_CODES = {
    MealTiming.PREPRANDIAL: Meal.PREPRANDIAL,
    MealTiming.POSTPRANDIAL: Meal.POSTPRANDIAL,
    MealTiming.FASTING: Meal.FASTING,
    MealTiming.BEDTIME: Meal.BEDTIME,
    MealTiming.CASUAL: Meal.CASUAL,
}


@dataclass(frozen=True, slots=True)
class GlucoseRecord:
    """A stored record: the measurement and its context, under one sequence number."""

    sample: GlucoseSample
    context: GlucoseContext | None = None

    @property
    def sequence_number(self) -> int:
        return self.sample.sequence_number

    @property
    def user_facing_time(self) -> datetime:
        return self.sample.user_facing_time

    def renumbered(self, sequence_number: int) -> GlucoseRecord:
        context = self.context and dataclasses.replace(self.context, sequence_number=sequence_number)
        return GlucoseRecord(dataclasses.replace(self.sample, sequence_number=sequence_number), context)


class Glucometer(SimulatedPeripheral):
    def __init__(
        self,
        *,
        physiology: Physiology,
        unit: Unit = Unit.MG_PER_DL,
        sample_type: SampleType = SampleType.CAPILLARY_PLASMA,
        time_offset_min: int | None = 0,
        context_rate: float = 0.7,
        first_sequence_number: int = 1,
        memory_capacity: int = 500,
        racp: RacpServer[GlucoseRecord] | None = None,
        notify_new_records: bool = False,
        features: Feature = Feature.LOW_BATTERY_DETECTION
        | Feature.STRIP_INSERTION_ERROR_DETECTION
        | Feature.RESULT_HIGH_LOW_DETECTION
        | Feature.TIME_FAULT,
        **kwargs: Any,
    ) -> None:
        self.physiology = physiology
        self.unit = unit
        self.sample_type = sample_type
        self.time_offset_min = time_offset_min
        self.context_rate = context_rate
        self.next_sequence_number = first_sequence_number
        self.memory_capacity = memory_capacity
        self.racp: RacpServer[GlucoseRecord] = racp or RacpServer()
        self.notify_new_records = notify_new_records
        self.features = features
        self.records: list[GlucoseRecord] = []
        super().__init__(**kwargs)

    @property
    def profile_service(self) -> Service:
        return self.health_service(
            uuids.GLUCOSE_SERVICE,
            {
                uuids.GLUCOSE_MEASUREMENT: NOTIFY,
                uuids.GLUCOSE_MEASUREMENT_CONTEXT: NOTIFY,
                uuids.RECORD_ACCESS_CONTROL_POINT: WRITE_INDICATE,
            },
            (uuids.GLUCOSE_FEATURE,),
        )

    # --- measuring --------------------------------------------------------------------------------

    def _measure(self, at: datetime) -> list[Outgoing]:
        mg_dl = self.physiology.glucose(at)
        record = self._store(at, mg_dl, self.sample_type, SampleLocation.FINGER, self._context_for(at))
        return self._live(record)

    def control_test(self, at: datetime, mg_dl: float = 120.0) -> list[Outgoing]:
        """A control-solution test: stored like any record, type and location "control solution"."""
        self.battery.measure(at)
        record = self._store(at, mg_dl, SampleType.CONTROL_SOLUTION, SampleLocation.CONTROL_SOLUTION, None)
        return self._live(record)

    def _store(
        self, at: datetime, mg_dl: float, sample_type: int, location: int, context_meal: Meal | None
    ) -> GlucoseRecord:
        status = SensorStatus(0)
        if self.battery.is_low(at):
            status |= SensorStatus.BATTERY_LOW
        if not self.clock.is_set:
            status |= SensorStatus.TIME_FAULT
        low, high = MEASURING_RANGE_MG_DL
        concentration: float | SpecialValue
        if mg_dl < low:
            concentration, status = SpecialValue.NEGATIVE_INFINITY, status | SensorStatus.RESULT_TOO_LOW
        elif mg_dl > high:
            concentration, status = SpecialValue.POSITIVE_INFINITY, status | SensorStatus.RESULT_TOO_HIGH
        else:
            shown = from_canonical(METRICS[Metric.MDC_CONC_GLU_CAPILLARY_PLASMA], mg_dl, self.unit)
            concentration = quantize(shown, WIRE_SCALE[self.unit][0])
        user_facing = self.clock.stamp(at)
        offset = self.time_offset_min
        sequence_number = self.next_sequence_number
        self.next_sequence_number = (sequence_number + 1) % SEQUENCE_NUMBERS
        sample = GlucoseSample(
            sequence_number=sequence_number,
            base_time=user_facing - timedelta(minutes=offset or 0),
            time_offset_min=offset,
            concentration=concentration,
            unit=self.unit,
            sample_type=sample_type,
            sample_location=location,
            status=int(status),
        )
        context = None
        if context_meal is not None:
            context = GlucoseContext(sequence_number, meal=context_meal, tester_health=(Tester.SELF, Health.NO_ISSUES))
        record = GlucoseRecord(sample, context)
        self.records.append(record)
        del self.records[: -self.memory_capacity]
        return record

    def _context_for(self, at: datetime) -> Meal | None:
        if self.rng.random() >= self.context_rate:
            return None
        return MEAL_CODES[self.physiology.meal_timing(at)]

    def _live(self, record: GlucoseRecord) -> list[Outgoing]:
        if not (self.notify_new_records and self.is_subscribed(uuids.GLUCOSE_MEASUREMENT) and not self.pending_frames):
            return []
        return self._record_frames(record, from_memory=False)

    def _record_frames(self, record: GlucoseRecord, *, from_memory: bool) -> list[Outgoing]:
        measurement, context = encode_glucose_record(record.sample, record.context, from_memory=from_memory)
        frames = [self._frame(measurement)]
        if context is not None and self.is_subscribed(uuids.GLUCOSE_MEASUREMENT_CONTEXT):
            frames.append(self._frame(context))
        return frames

    # --- RACP -------------------------------------------------------------------------------------

    def _values(self) -> Mapping[str, bytes]:
        return {uuids.GLUCOSE_FEATURE: encode_feature(self.features)}

    def _write(self, characteristic: str, data: bytes, at: datetime) -> list[Outgoing]:
        if characteristic != uuids.RECORD_ACCESS_CONTROL_POINT:
            return super()._write(characteristic, data, at)
        if not self.is_subscribed(uuids.RECORD_ACCESS_CONTROL_POINT):
            raise AttError(AttErrorCode.CCCD_IMPROPERLY_CONFIGURED, characteristic, "enable RACP indications first")
        in_progress = self.procedure_in_progress(RACP_PROCEDURE)
        if data[:1] == b"\x01" and not in_progress and not self.is_subscribed(uuids.GLUCOSE_MEASUREMENT):
            raise AttError(
                AttErrorCode.CCCD_IMPROPERLY_CONFIGURED, characteristic, "enable measurement notifications first"
            )
        outcome = self.racp.handle(data, self.records, in_progress=in_progress)
        if outcome.abort:
            self.cancel_procedure(RACP_PROCEDURE)
        if outcome.delete:
            gone = {id(r) for r in outcome.delete}
            self.records = [r for r in self.records if id(r) not in gone]
        for record in outcome.report:
            for frame in self._record_frames(record, from_memory=True):
                self._enqueue(frame, procedure=RACP_PROCEDURE)
        if outcome.report:
            self._enqueue(self._racp_indication(REPORT_COMPLETE), procedure=RACP_PROCEDURE)
        return [] if outcome.response is None else [self._racp_indication(outcome.response)]

    def _on_unsubscribed(self, characteristic: str, at: datetime) -> None:
        """Records cannot go out without measurement notifications: the report stops, "procedure not
        completed" (GLS response code 0x08)."""
        if characteristic == uuids.GLUCOSE_MEASUREMENT and self.procedure_in_progress(RACP_PROCEDURE):
            self.cancel_procedure(RACP_PROCEDURE)
            if self.is_subscribed(uuids.RECORD_ACCESS_CONTROL_POINT):
                not_completed = response(OpCode.REPORT_STORED_RECORDS, ResponseCode.PROCEDURE_NOT_COMPLETED)
                self._enqueue(self._racp_indication(not_completed))

    @staticmethod
    def _racp_indication(data: bytes) -> Outgoing:
        return Outgoing(uuids.RECORD_ACCESS_CONTROL_POINT, Delivery.INDICATE, data)

    def _replay_stored_records(self, at: datetime) -> None:
        """A firmware or battery reset renumbers the memory from 0 (reference §5.5 step 8)."""
        self.records = [record.renumbered(i) for i, record in enumerate(self.records)]
        self.next_sequence_number = len(self.records)


def accu_chek_style(
    *,
    physiology: Physiology,
    clock: DeviceClock,
    seed: int,
    passkey: str = "482913",
    serial: str = "92345678",
    **kwargs: Any,
) -> Glucometer:
    """An Accu-Chek Guide-like meter: advertises as ``meter+NNNNNNNN``, bonds with the code it
    displays, mg/dL, capillary plasma, supports the user-facing-time filter and delete."""
    options: dict[str, Any] = {
        "info": DeviceInformation("Roche", "Accu-Chek Guide", serial, firmware_revision="2.01.00"),
        "local_name": f"meter+{serial}",
        "security": Security(Pairing.PASSKEY, bonding_required=True, passkey=passkey),
        "battery": battery_for(DeviceKind.GLUCOMETER),
    } | kwargs
    return Glucometer(physiology=physiology, clock=clock, seed=seed, **options)


def contour_style(
    *, physiology: Physiology, clock: DeviceClock, seed: int, serial: str = "7654321", **kwargs: Any
) -> Glucometer:
    """A Contour Next One-like meter in mmol/L: Just Works bond right away, notifies new records while
    connected, answers the user-facing-time filter with "operand not supported" and has no delete."""
    options: dict[str, Any] = {
        "info": DeviceInformation("Ascensia Diabetes Care", "Contour Next One", serial),
        "local_name": f"Contour{serial[-4:]}",
        "security": Security(Pairing.JUST_WORKS, bonding_required=True),
        "unit": Unit.MMOL_PER_L,
        "notify_new_records": True,
        "racp": RacpServer(filter_types=frozenset({FilterType.SEQUENCE_NUMBER}), supports_delete=False),
        "battery": battery_for(DeviceKind.GLUCOMETER),
    } | kwargs
    return Glucometer(physiology=physiology, clock=clock, seed=seed, **options)
