"""Bluetooth SIG Pulse Oximeter Service 1.0: PLX Spot-check Measurement 0x2A5E (indicate), PLX
Continuous Measurement 0x2A5F (notify) and PLX Features 0x2A60 (read); reference §7.

0x2A5E: Flags · SpO2 SFLOAT % · PR SFLOAT bpm · Time Stamp (bit 0) · Measurement Status uint16 (bit 1)
· Device and Sensor Status uint24 (bit 2) · Pulse Amplitude Index SFLOAT % (bit 3); bit 4 = device
clock not set.
0x2A5F: Flags · SpO2PR-Normal · SpO2PR-Fast (bit 0) · SpO2PR-Slow (bit 1) · Measurement Status (bit 2) ·
Device and Sensor Status (bit 3) · PAI (bit 4). No time stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from core.domain import Metric, ReadingFlag, ReadingKind, SpecialValue, Unit
from firmware_sim.errors import SimulationError
from firmware_sim.gatt import uuids
from firmware_sim.gatt.date_time import encode_date_time
from firmware_sim.gatt.frames import ALWAYS, FieldSpec, encode_frame, optional, uint
from firmware_sim.gatt.medfloat import encode_optional_sfloat, encode_sfloat
from firmware_sim.intent import (
    EncodedMeasurement,
    IntendedMeasurement,
    ProfileDetails,
    flags_from_bits,
    observation,
)

SPO2_EXPONENT = 0
PULSE_EXPONENT = 0
PAI_EXPONENT = -1
CLOCK_NOT_SET = 0x10

Number = float | SpecialValue


class MeasurementStatus(IntFlag):
    """PLX Measurement Status (bits 0-4 RFU; reference §7.2)."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT = 1 << 14
    INVALID_MEASUREMENT = 1 << 15


class DeviceSensorStatus(IntFlag):
    """PLX Device and Sensor Status (uint24, bits 16-23 RFU; reference §7.2)."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY = 1 << 2
    INADEQUATE_SIGNAL = 1 << 3
    POOR_SIGNAL = 1 << 4
    LOW_PERFUSION = 1 << 5
    ERRATIC_SIGNAL = 1 << 6
    NON_PULSATILE_SIGNAL = 1 << 7
    QUESTIONABLE_PULSE = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


MEASUREMENT_STATUS_FLAGS: tuple[tuple[int, ReadingFlag], ...] = (
    (MeasurementStatus.MEASUREMENT_ONGOING, ReadingFlag.MEASUREMENT_ONGOING),
    (MeasurementStatus.EARLY_ESTIMATED_DATA, ReadingFlag.EARLY_ESTIMATE),
    (MeasurementStatus.VALIDATED_DATA, ReadingFlag.VALIDATED_DATA),
    (MeasurementStatus.FULLY_QUALIFIED_DATA, ReadingFlag.FULLY_QUALIFIED_DATA),
    (MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE, ReadingFlag.FROM_MEASUREMENT_STORAGE),
    (MeasurementStatus.DATA_FOR_DEMONSTRATION, ReadingFlag.DEMONSTRATION_DATA),
    (MeasurementStatus.DATA_FOR_TESTING, ReadingFlag.TEST_DATA),
    (MeasurementStatus.CALIBRATION_ONGOING, ReadingFlag.CALIBRATION_ONGOING),
    (MeasurementStatus.MEASUREMENT_UNAVAILABLE, ReadingFlag.MEASUREMENT_UNAVAILABLE),
    (MeasurementStatus.QUESTIONABLE_MEASUREMENT, ReadingFlag.QUESTIONABLE),
    (MeasurementStatus.INVALID_MEASUREMENT, ReadingFlag.INVALID),
)
"""One reading flag per Measurement Status bit (bits 0-4 RFU raise none)."""

DEVICE_STATUS_FLAGS: tuple[tuple[int, ReadingFlag], ...] = (
    (DeviceSensorStatus.EXTENDED_DISPLAY_UPDATE_ONGOING, ReadingFlag.EXTENDED_DISPLAY_UPDATE),
    (DeviceSensorStatus.EQUIPMENT_MALFUNCTION, ReadingFlag.EQUIPMENT_MALFUNCTION),
    (DeviceSensorStatus.SIGNAL_PROCESSING_IRREGULARITY, ReadingFlag.SIGNAL_PROCESSING_IRREGULARITY),
    (DeviceSensorStatus.INADEQUATE_SIGNAL, ReadingFlag.INADEQUATE_SIGNAL),
    (DeviceSensorStatus.POOR_SIGNAL, ReadingFlag.POOR_SIGNAL),
    (DeviceSensorStatus.LOW_PERFUSION, ReadingFlag.LOW_PERFUSION),
    (DeviceSensorStatus.ERRATIC_SIGNAL, ReadingFlag.ERRATIC_SIGNAL),
    (DeviceSensorStatus.NON_PULSATILE_SIGNAL, ReadingFlag.NON_PULSATILE_SIGNAL),
    (DeviceSensorStatus.QUESTIONABLE_PULSE, ReadingFlag.QUESTIONABLE_PULSE),
    (DeviceSensorStatus.SIGNAL_ANALYSIS_ONGOING, ReadingFlag.SIGNAL_ANALYSIS_ONGOING),
    (DeviceSensorStatus.SENSOR_INTERFERENCE, ReadingFlag.SENSOR_INTERFERENCE),
    (DeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER, ReadingFlag.SENSOR_UNCONNECTED),
    (DeviceSensorStatus.UNKNOWN_SENSOR, ReadingFlag.UNKNOWN_SENSOR),
    (DeviceSensorStatus.SENSOR_DISPLACED, ReadingFlag.SENSOR_DISPLACED),
    (DeviceSensorStatus.SENSOR_MALFUNCTIONING, ReadingFlag.SENSOR_FAULT),
    (DeviceSensorStatus.SENSOR_DISCONNECTED, ReadingFlag.SENSOR_DISCONNECTED),
)
"""One reading flag per Device and Sensor Status bit (bits 16-23 RFU raise none). The reference says to
drop or flag readings with sensor bits 10, 11, 13, 14 or 15 (§7.2): each has its own flag."""


class Feature(IntFlag):
    """PLX Features "Supported Features" uint16 (reference §7.3)."""

    MEASUREMENT_STATUS_SUPPORT = 1 << 0
    DEVICE_AND_SENSOR_STATUS_SUPPORT = 1 << 1
    SPOT_CHECK_MEASUREMENT_STORAGE = 1 << 2
    SPOT_CHECK_TIME_STAMP = 1 << 3
    SPO2PR_FAST = 1 << 4
    SPO2PR_SLOW = 1 << 5
    PULSE_AMPLITUDE_INDEX = 1 << 6
    MULTIPLE_BONDS = 1 << 7


@dataclass(frozen=True, slots=True)
class PlxDetails(ProfileDetails):
    """The PLX-specific part of an intent."""

    device_sensor_status: int | None
    pulse_amplitude_index: Number | None
    clock_not_set: bool = False


@dataclass(frozen=True, slots=True)
class SpotCheckSample:
    spo2: Number
    pulse_rate: Number
    time_stamp: datetime | None = None
    measurement_status: int | None = None
    device_sensor_status: int | None = None
    pulse_amplitude_index: Number | None = None
    clock_not_set: bool = False


@dataclass(frozen=True, slots=True)
class ContinuousSample:
    spo2: Number
    pulse_rate: Number
    fast: tuple[Number, Number] | None = None
    slow: tuple[Number, Number] | None = None
    measurement_status: int | None = None
    device_sensor_status: int | None = None
    pulse_amplitude_index: Number | None = None


def _pair(spo2: Number, pulse: Number) -> bytes:
    return encode_sfloat(spo2, SPO2_EXPONENT) + encode_sfloat(pulse, PULSE_EXPONENT)


def _status(value: int | None) -> bytes | None:
    return optional(value, lambda v: uint(v, 2))


def _device_status(value: int | None) -> bytes | None:
    return optional(value, lambda v: uint(v, 3))


def _pai(value: Number | None) -> bytes | None:
    return encode_optional_sfloat(value, PAI_EXPONENT)


SPOT_CHECK_LAYOUT: tuple[FieldSpec[SpotCheckSample], ...] = (
    FieldSpec("SpO2 and PR", ALWAYS, lambda s: _pair(s.spo2, s.pulse_rate)),
    FieldSpec("time stamp", 0x01, lambda s: optional(s.time_stamp, encode_date_time), ("time_stamp",)),
    FieldSpec("measurement status", 0x02, lambda s: _status(s.measurement_status), ("measurement_status",)),
    FieldSpec(
        "device and sensor status", 0x04, lambda s: _device_status(s.device_sensor_status), ("device_sensor_status",)
    ),
    FieldSpec("pulse amplitude index", 0x08, lambda s: _pai(s.pulse_amplitude_index), ("pulse_amplitude_index",)),
)

CONTINUOUS_LAYOUT: tuple[FieldSpec[ContinuousSample], ...] = (
    FieldSpec("SpO2PR-Normal", ALWAYS, lambda s: _pair(s.spo2, s.pulse_rate)),
    FieldSpec("SpO2PR-Fast", 0x01, lambda s: optional(s.fast, lambda p: _pair(*p)), ("fast",)),
    FieldSpec("SpO2PR-Slow", 0x02, lambda s: optional(s.slow, lambda p: _pair(*p)), ("slow",)),
    FieldSpec("measurement status", 0x04, lambda s: _status(s.measurement_status), ("measurement_status",)),
    FieldSpec(
        "device and sensor status", 0x08, lambda s: _device_status(s.device_sensor_status), ("device_sensor_status",)
    ),
    FieldSpec("pulse amplitude index", 0x10, lambda s: _pai(s.pulse_amplitude_index), ("pulse_amplitude_index",)),
)


def _intended(
    sample: SpotCheckSample | ContinuousSample,
    *,
    device_time: datetime | None,
    clock_not_set: bool,
    final: bool,
    from_memory: bool,
) -> IntendedMeasurement:
    flags = flags_from_bits(sample.measurement_status, MEASUREMENT_STATUS_FLAGS) | flags_from_bits(
        sample.device_sensor_status, DEVICE_STATUS_FLAGS
    )
    if clock_not_set:
        flags |= {ReadingFlag.CLOCK_NOT_SET}
    return IntendedMeasurement(
        kind=ReadingKind.PULSE_OXIMETRY,
        observations=(
            observation(Metric.MDC_PULS_OXIM_SAT_O2, sample.spo2, Unit.PERCENT),
            observation(Metric.MDC_PULS_OXIM_PULS_RATE, sample.pulse_rate, Unit.PER_MIN),
        ),
        flags=flags,
        device_time=device_time,
        status=sample.measurement_status,
        final=final,
        from_device_memory=from_memory,
        details=PlxDetails(sample.device_sensor_status, sample.pulse_amplitude_index, clock_not_set),
    )


def encode_spot_check(sample: SpotCheckSample) -> EncodedMeasurement:
    """PLX Spot-check Measurement 0x2A5E. A stored record is one whose measurement status has
    DATA_FROM_MEASUREMENT_STORAGE set (reference §7.3)."""
    stored = sample.measurement_status is not None and bool(
        sample.measurement_status & MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE
    )
    data = encode_frame(sample, SPOT_CHECK_LAYOUT, flags=CLOCK_NOT_SET if sample.clock_not_set else 0)
    intended = _intended(
        sample, device_time=sample.time_stamp, clock_not_set=sample.clock_not_set, final=True, from_memory=stored
    )
    return EncodedMeasurement(uuids.PLX_SPOT_CHECK_MEASUREMENT, data, intended)


def encode_continuous(sample: ContinuousSample) -> EncodedMeasurement:
    """PLX Continuous Measurement 0x2A5F: the SpO2PR-Normal pair is the observation; fast and slow
    averages ride along in the bytes only. A continuous stream is a valid reading without a time."""
    data = encode_frame(sample, CONTINUOUS_LAYOUT)
    intended = _intended(sample, device_time=None, clock_not_set=False, final=True, from_memory=False)
    return EncodedMeasurement(uuids.PLX_CONTINUOUS_MEASUREMENT, data, intended)


def encode_features(
    features: Feature, *, measurement_status_support: int | None = None, device_sensor_status_support: int | None = None
) -> bytes:
    """PLX Features 0x2A60: Supported Features uint16, then the uint16 Measurement Status Support and
    the uint24 Device and Sensor Status Support when their feature bits say so."""
    if (measurement_status_support is not None) != bool(features & Feature.MEASUREMENT_STATUS_SUPPORT):
        raise SimulationError("measurement status support is present exactly when feature bit 0 is set")
    if (device_sensor_status_support is not None) != bool(features & Feature.DEVICE_AND_SENSOR_STATUS_SUPPORT):
        raise SimulationError("device and sensor status support is present exactly when feature bit 1 is set")
    data = uint(int(features), 2)
    if measurement_status_support is not None:
        data += uint(measurement_status_support, 2)
    if device_sensor_status_support is not None:
        data += uint(device_sensor_status_support, 3)
    return data
