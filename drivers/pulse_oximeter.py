"""Bluetooth SIG Pulse Oximeter Service 1.0 (0x1822): PLX Spot-check Measurement 0x2A5E, PLX
Continuous Measurement 0x2A5F and PLX Features 0x2A60 (reference/ble-health-profiles.md §7;
docs/wire-formats/pulse-oximeter.md). Stored spot-checks come back through RACP (:mod:`drivers.racp`)
with measurement-status bit 9 set."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag
from typing import Final

from core.domain import Metric, ReadingFlag, ReadingKind, Unit
from drivers.date_time import DATE_TIME, DateTime
from drivers.fields import SFLOAT, UINT8, UINT16, Codec, Field, Layout, flags_from_bits
from drivers.ieee11073 import Measure
from drivers.normalised import Normalised, NotAReading, device_time_source, observe


class SpotCheckFlags(IntFlag):
    TIME_STAMP = 0x01
    MEASUREMENT_STATUS = 0x02
    DEVICE_AND_SENSOR_STATUS = 0x04
    PULSE_AMPLITUDE_INDEX = 0x08
    DEVICE_CLOCK_NOT_SET = 0x10


class ContinuousFlags(IntFlag):
    SPO2PR_FAST = 0x01
    SPO2PR_SLOW = 0x02
    MEASUREMENT_STATUS = 0x04
    DEVICE_AND_SENSOR_STATUS = 0x08
    PULSE_AMPLITUDE_INDEX = 0x10


class MeasurementStatus(IntFlag):
    """Measurement Status (uint16) of both PLX measurements; bits 0–4 RFU."""

    MEASUREMENT_ONGOING = 0x0020
    EARLY_ESTIMATED_DATA = 0x0040
    VALIDATED_DATA = 0x0080
    FULLY_QUALIFIED_DATA = 0x0100
    DATA_FROM_MEASUREMENT_STORAGE = 0x0200
    DATA_FOR_DEMONSTRATION = 0x0400
    DATA_FOR_TESTING = 0x0800
    CALIBRATION_ONGOING = 0x1000
    MEASUREMENT_UNAVAILABLE = 0x2000
    QUESTIONABLE_MEASUREMENT_DETECTED = 0x4000
    INVALID_MEASUREMENT_DETECTED = 0x8000


class DeviceSensorStatus(IntFlag):
    """Device and Sensor Status (uint24); bits 16–23 RFU."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 0x0001
    EQUIPMENT_MALFUNCTION_DETECTED = 0x0002
    SIGNAL_PROCESSING_IRREGULARITY_DETECTED = 0x0004
    INADEQUATE_SIGNAL_DETECTED = 0x0008
    POOR_SIGNAL_DETECTED = 0x0010
    LOW_PERFUSION_DETECTED = 0x0020
    ERRATIC_SIGNAL_DETECTED = 0x0040
    NON_PULSATILE_SIGNAL_DETECTED = 0x0080
    QUESTIONABLE_PULSE_DETECTED = 0x0100
    SIGNAL_ANALYSIS_ONGOING = 0x0200
    SENSOR_INTERFERENCE_DETECTED = 0x0400
    SENSOR_UNCONNECTED_TO_USER = 0x0800
    UNKNOWN_SENSOR_CONNECTED = 0x1000
    SENSOR_DISPLACED = 0x2000
    SENSOR_MALFUNCTIONING = 0x4000
    SENSOR_DISCONNECTED = 0x8000


_MEASUREMENT_FLAGS: Final = {
    MeasurementStatus.MEASUREMENT_ONGOING: ReadingFlag.MEASUREMENT_ONGOING,
    MeasurementStatus.EARLY_ESTIMATED_DATA: ReadingFlag.EARLY_ESTIMATE,
    MeasurementStatus.VALIDATED_DATA: ReadingFlag.VALIDATED_DATA,
    MeasurementStatus.FULLY_QUALIFIED_DATA: ReadingFlag.FULLY_QUALIFIED_DATA,
    MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE: ReadingFlag.FROM_MEASUREMENT_STORAGE,
    MeasurementStatus.DATA_FOR_DEMONSTRATION: ReadingFlag.DEMONSTRATION_DATA,
    MeasurementStatus.DATA_FOR_TESTING: ReadingFlag.TEST_DATA,
    MeasurementStatus.CALIBRATION_ONGOING: ReadingFlag.CALIBRATION_ONGOING,
    MeasurementStatus.MEASUREMENT_UNAVAILABLE: ReadingFlag.MEASUREMENT_UNAVAILABLE,
    MeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED: ReadingFlag.QUESTIONABLE,
    MeasurementStatus.INVALID_MEASUREMENT_DETECTED: ReadingFlag.INVALID,
}
_SENSOR_FLAGS: Final = {
    DeviceSensorStatus.EXTENDED_DISPLAY_UPDATE_ONGOING: ReadingFlag.EXTENDED_DISPLAY_UPDATE,
    DeviceSensorStatus.EQUIPMENT_MALFUNCTION_DETECTED: ReadingFlag.EQUIPMENT_MALFUNCTION,
    DeviceSensorStatus.SIGNAL_PROCESSING_IRREGULARITY_DETECTED: ReadingFlag.SIGNAL_PROCESSING_IRREGULARITY,
    DeviceSensorStatus.INADEQUATE_SIGNAL_DETECTED: ReadingFlag.INADEQUATE_SIGNAL,
    DeviceSensorStatus.POOR_SIGNAL_DETECTED: ReadingFlag.POOR_SIGNAL,
    DeviceSensorStatus.LOW_PERFUSION_DETECTED: ReadingFlag.LOW_PERFUSION,
    DeviceSensorStatus.ERRATIC_SIGNAL_DETECTED: ReadingFlag.ERRATIC_SIGNAL,
    DeviceSensorStatus.NON_PULSATILE_SIGNAL_DETECTED: ReadingFlag.NON_PULSATILE_SIGNAL,
    DeviceSensorStatus.QUESTIONABLE_PULSE_DETECTED: ReadingFlag.QUESTIONABLE_PULSE,
    DeviceSensorStatus.SIGNAL_ANALYSIS_ONGOING: ReadingFlag.SIGNAL_ANALYSIS_ONGOING,
    DeviceSensorStatus.SENSOR_INTERFERENCE_DETECTED: ReadingFlag.SENSOR_INTERFERENCE,
    DeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER: ReadingFlag.SENSOR_UNCONNECTED,
    DeviceSensorStatus.UNKNOWN_SENSOR_CONNECTED: ReadingFlag.UNKNOWN_SENSOR,
    DeviceSensorStatus.SENSOR_DISPLACED: ReadingFlag.SENSOR_DISPLACED,
    DeviceSensorStatus.SENSOR_MALFUNCTIONING: ReadingFlag.SENSOR_FAULT,
    DeviceSensorStatus.SENSOR_DISCONNECTED: ReadingFlag.SENSOR_DISCONNECTED,
}
# A reading with any of these cannot be trusted as a patient value (§7.2): keep it, never store it.
_UNUSABLE: Final = (
    MeasurementStatus.MEASUREMENT_UNAVAILABLE | MeasurementStatus.INVALID_MEASUREMENT_DETECTED,
    DeviceSensorStatus.SENSOR_INTERFERENCE_DETECTED
    | DeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER
    | DeviceSensorStatus.SENSOR_DISPLACED
    | DeviceSensorStatus.SENSOR_MALFUNCTIONING
    | DeviceSensorStatus.SENSOR_DISCONNECTED,
)

MEASUREMENT_STATUS: Final = Codec("measurement status", "H", MeasurementStatus)
DEVICE_SENSOR_STATUS: Final = Codec("device and sensor status", "HB", lambda lo, hi: DeviceSensorStatus(lo | hi << 16))


def _normalise(
    spo2: Measure,
    pulse_rate: Measure,
    measurement_status: MeasurementStatus | None,
    device_sensor_status: DeviceSensorStatus | None,
    *,
    timestamp: DateTime | None,
    clock_not_set: bool,
    storable: bool,
) -> Normalised:
    flags = flags_from_bits(measurement_status or 0, _MEASUREMENT_FLAGS) | flags_from_bits(
        device_sensor_status or 0, _SENSOR_FLAGS
    )
    if clock_not_set:
        flags |= {ReadingFlag.CLOCK_NOT_SET}
    unusable = bool((measurement_status or 0) & _UNUSABLE[0] or (device_sensor_status or 0) & _UNUSABLE[1])
    measured_at = timestamp.value if timestamp else None
    return Normalised(
        kind=ReadingKind.PULSE_OXIMETRY,
        observations=(
            observe(Metric.MDC_PULS_OXIM_SAT_O2, spo2, Unit.PERCENT),
            observe(Metric.MDC_PULS_OXIM_PULS_RATE, pulse_rate, Unit.PER_MIN),
        ),
        measured_at=measured_at,
        measured_at_source=device_time_source(measured_at),
        flags=flags,
        storable=storable and not unusable,
    )


SPOT_CHECK_LAYOUT: Final = Layout(
    "PLX Spot-check Measurement",
    UINT8,
    (
        Field("spo2_pct", SFLOAT),
        Field("pulse_rate", SFLOAT),
        Field("timestamp", DATE_TIME, SpotCheckFlags.TIME_STAMP),
        Field("measurement_status", MEASUREMENT_STATUS, SpotCheckFlags.MEASUREMENT_STATUS),
        Field("device_sensor_status", DEVICE_SENSOR_STATUS, SpotCheckFlags.DEVICE_AND_SENSOR_STATUS),
        Field("pulse_amplitude_index_pct", SFLOAT, SpotCheckFlags.PULSE_AMPLITUDE_INDEX),
    ),
)


@dataclass(frozen=True, slots=True)
class SpotCheckMeasurement:
    """PLX Spot-check Measurement 0x2A5E: SpO2 in %, pulse rate in beats/min."""

    flags: SpotCheckFlags
    spo2_pct: Measure
    pulse_rate: Measure
    timestamp: DateTime | None = None
    measurement_status: MeasurementStatus | None = None
    device_sensor_status: DeviceSensorStatus | None = None
    pulse_amplitude_index_pct: Measure | None = None
    trailing: bytes = b""

    @property
    def clock_not_set(self) -> bool:
        """Flags bit 4: the time stamp comes from a clock nobody set; do not trust it."""
        return bool(self.flags & SpotCheckFlags.DEVICE_CLOCK_NOT_SET)

    def normalise(self) -> Normalised:
        return _normalise(
            self.spo2_pct,
            self.pulse_rate,
            self.measurement_status,
            self.device_sensor_status,
            timestamp=self.timestamp,
            clock_not_set=self.clock_not_set,
            storable=True,
        )


def decode_spot_check(data: bytes) -> SpotCheckMeasurement:
    """PLX Spot-check Measurement 0x2A5E."""
    flags, values, trailing = SPOT_CHECK_LAYOUT.decode(data)
    return SpotCheckMeasurement(flags=SpotCheckFlags(flags), **values, trailing=trailing)


CONTINUOUS_LAYOUT: Final = Layout(
    "PLX Continuous Measurement",
    UINT8,
    (
        Field("spo2_pct", SFLOAT),
        Field("pulse_rate", SFLOAT),
        Field("spo2_pct_fast", SFLOAT, ContinuousFlags.SPO2PR_FAST),
        Field("pulse_rate_fast", SFLOAT, ContinuousFlags.SPO2PR_FAST),
        Field("spo2_pct_slow", SFLOAT, ContinuousFlags.SPO2PR_SLOW),
        Field("pulse_rate_slow", SFLOAT, ContinuousFlags.SPO2PR_SLOW),
        Field("measurement_status", MEASUREMENT_STATUS, ContinuousFlags.MEASUREMENT_STATUS),
        Field("device_sensor_status", DEVICE_SENSOR_STATUS, ContinuousFlags.DEVICE_AND_SENSOR_STATUS),
        Field("pulse_amplitude_index_pct", SFLOAT, ContinuousFlags.PULSE_AMPLITUDE_INDEX),
    ),
)


@dataclass(frozen=True, slots=True)
class ContinuousMeasurement:
    """PLX Continuous Measurement 0x2A5F: the SpO2PR-Normal pair plus optional Fast and Slow pairs.
    It has no time stamp (the gateway uses receive time) and streams; the gateway throttles it
    (≈1 Hz) before storing, so it is storable but never on its own a downloaded record."""

    flags: ContinuousFlags
    spo2_pct: Measure
    pulse_rate: Measure
    spo2_pct_fast: Measure | None = None
    pulse_rate_fast: Measure | None = None
    spo2_pct_slow: Measure | None = None
    pulse_rate_slow: Measure | None = None
    measurement_status: MeasurementStatus | None = None
    device_sensor_status: DeviceSensorStatus | None = None
    pulse_amplitude_index_pct: Measure | None = None
    trailing: bytes = b""

    def normalise(self) -> Normalised:
        return _normalise(
            self.spo2_pct,
            self.pulse_rate,
            self.measurement_status,
            self.device_sensor_status,
            timestamp=None,
            clock_not_set=False,
            storable=True,
        )


def decode_continuous(data: bytes) -> ContinuousMeasurement:
    """PLX Continuous Measurement 0x2A5F."""
    flags, values, trailing = CONTINUOUS_LAYOUT.decode(data)
    return ContinuousMeasurement(flags=ContinuousFlags(flags), **values, trailing=trailing)


class PlxFeatureBits(IntFlag):
    MEASUREMENT_STATUS_SUPPORT = 0x0001
    DEVICE_AND_SENSOR_STATUS_SUPPORT = 0x0002
    SPOT_CHECK_MEASUREMENT_STORAGE = 0x0004
    SPOT_CHECK_TIME_STAMP = 0x0008
    SPO2PR_FAST = 0x0010
    SPO2PR_SLOW = 0x0020
    PULSE_AMPLITUDE_INDEX = 0x0040
    MULTIPLE_BONDS = 0x0080


FEATURES_LAYOUT: Final = Layout(
    "PLX Features",
    UINT16,
    (
        Field("measurement_status_support", MEASUREMENT_STATUS, PlxFeatureBits.MEASUREMENT_STATUS_SUPPORT),
        Field("device_sensor_status_support", DEVICE_SENSOR_STATUS, PlxFeatureBits.DEVICE_AND_SENSOR_STATUS_SUPPORT),
    ),
)


@dataclass(frozen=True, slots=True)
class PlxFeatures(NotAReading):
    """PLX Features 0x2A60: supported features, then the supported status bits when announced."""

    features: PlxFeatureBits
    measurement_status_support: MeasurementStatus | None = None
    device_sensor_status_support: DeviceSensorStatus | None = None
    trailing: bytes = b""


def decode_features(data: bytes) -> PlxFeatures:
    """PLX Features 0x2A60."""
    flags, values, trailing = FEATURES_LAYOUT.decode(data)
    return PlxFeatures(PlxFeatureBits(flags), **values, trailing=trailing)
