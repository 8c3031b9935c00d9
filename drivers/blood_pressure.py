"""Bluetooth SIG Blood Pressure Service 1.0/1.1 (0x1810): Blood Pressure Measurement 0x2A35,
Intermediate Cuff Pressure 0x2A36 and Blood Pressure Feature 0x2A49
(reference/ble-health-profiles.md §4; wire format in docs/wire-formats/blood-pressure.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Final

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from drivers.date_time import DATE_TIME, DateTime
from drivers.fields import SFLOAT, UINT8, Codec, Field, Layout, flags_from_bits
from drivers.ieee11073 import Measure
from drivers.normalised import Normalised, NotAReading, device_time_source, observe, user_or_none


class BloodPressureFlags(IntFlag):
    """0x2A35/0x2A36 flags; bits 5–7 are RFU (Beurer BM85 sets bit 6, §11) and are kept."""

    UNIT_KPA = 0x01
    TIME_STAMP = 0x02
    PULSE_RATE = 0x04
    USER_ID = 0x08
    MEASUREMENT_STATUS = 0x10


class BloodPressureStatus(IntFlag):
    """Measurement Status (uint16). Bits 3–4 hold the pulse-rate-range value (see
    :attr:`BloodPressureMeasurement.pulse_rate_range`); bits 6–15 are RFU."""

    BODY_MOVEMENT = 0x0001
    CUFF_TOO_LOOSE = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_RATE_RANGE_LOW_BIT = 0x0008
    PULSE_RATE_RANGE_HIGH_BIT = 0x0010
    IMPROPER_POSITION = 0x0020


class PulseRateRange(IntEnum):
    WITHIN_RANGE = 0
    EXCEEDS_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    RESERVED = 3


class BloodPressureFeatureBits(IntFlag):
    """Blood Pressure Feature 0x2A49; bits 6–8 are BPS 1.1 (IMPL in the reference)."""

    BODY_MOVEMENT_DETECTION = 0x0001
    CUFF_FIT_DETECTION = 0x0002
    IRREGULAR_PULSE_DETECTION = 0x0004
    PULSE_RATE_RANGE_DETECTION = 0x0008
    MEASUREMENT_POSITION_DETECTION = 0x0010
    MULTIPLE_BONDS = 0x0020
    E2E_CRC = 0x0040
    USER_DATA_SERVICE = 0x0080
    USER_FACING_TIME = 0x0100


_STATUS_FLAGS: Final = {
    BloodPressureStatus.BODY_MOVEMENT: ReadingFlag.BODY_MOVEMENT,
    BloodPressureStatus.CUFF_TOO_LOOSE: ReadingFlag.CUFF_FIT_LOOSE,
    BloodPressureStatus.IRREGULAR_PULSE: ReadingFlag.IRREGULAR_PULSE,
    BloodPressureStatus.IMPROPER_POSITION: ReadingFlag.IMPROPER_POSITION,
}
_RANGE_FLAGS: Final[dict[PulseRateRange | None, frozenset[ReadingFlag]]] = {
    PulseRateRange.EXCEEDS_UPPER_LIMIT: frozenset(
        {ReadingFlag.PULSE_RATE_OUT_OF_RANGE, ReadingFlag.PULSE_RATE_ABOVE_RANGE}
    ),
    PulseRateRange.BELOW_LOWER_LIMIT: frozenset(
        {ReadingFlag.PULSE_RATE_OUT_OF_RANGE, ReadingFlag.PULSE_RATE_BELOW_RANGE}
    ),
}

LAYOUT: Final = Layout(
    "Blood Pressure Measurement",
    UINT8,
    (
        Field("systolic", SFLOAT),
        Field("diastolic", SFLOAT),
        Field("mean_arterial_pressure", SFLOAT),
        Field("timestamp", DATE_TIME, BloodPressureFlags.TIME_STAMP),
        Field("pulse_rate", SFLOAT, BloodPressureFlags.PULSE_RATE),
        Field("user_id", UINT8, BloodPressureFlags.USER_ID),
        Field("status", Codec("measurement status", "H", BloodPressureStatus), BloodPressureFlags.MEASUREMENT_STATUS),
    ),
)
"""0x2A35 and 0x2A36 share this layout (§4.2)."""


def _pressure_unit(flags: BloodPressureFlags) -> Unit:
    # Bit 0 applies to systolic/diastolic/MAP (and cuff pressure) only, never to pulse rate.
    return Unit.KPA if flags & BloodPressureFlags.UNIT_KPA else Unit.MMHG


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35, as sent: pressures in ``unit``, pulse in beats/min."""

    flags: BloodPressureFlags
    unit: Unit
    systolic: Measure
    diastolic: Measure
    mean_arterial_pressure: Measure
    timestamp: DateTime | None = None
    pulse_rate: Measure | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None
    trailing: bytes = b""

    @property
    def pulse_rate_range(self) -> PulseRateRange | None:
        """The 2-bit pulse-rate-range value in status bits 3–4 (3 is RFU, kept as RESERVED)."""
        return None if self.status is None else PulseRateRange((self.status >> 3) & 0x3)

    def normalise(self) -> Normalised:
        observations = [
            observe(Metric.MDC_PRESS_BLD_NONINV_SYS, self.systolic, self.unit),
            observe(Metric.MDC_PRESS_BLD_NONINV_DIA, self.diastolic, self.unit),
        ]
        # MAP NaN means "not provided"; Beurer BM85 sends 0 for the same (§4.1, §11).
        if self.mean_arterial_pressure not in (SpecialValue.NAN, 0.0):
            observations.append(observe(Metric.MDC_PRESS_BLD_NONINV_MEAN, self.mean_arterial_pressure, self.unit))
        if self.pulse_rate is not None:
            observations.append(observe(Metric.MDC_PULS_RATE_NON_INV, self.pulse_rate, Unit.PER_MIN))
        flags: frozenset[ReadingFlag] = frozenset()
        if self.status is not None:
            flags = flags_from_bits(self.status, _STATUS_FLAGS) | _RANGE_FLAGS.get(self.pulse_rate_range, frozenset())
        measured_at = self.timestamp.value if self.timestamp else None
        return Normalised(
            kind=ReadingKind.BLOOD_PRESSURE,
            observations=tuple(observations),
            measured_at=measured_at,
            measured_at_source=device_time_source(measured_at),
            user_id=user_or_none(self.user_id),
            flags=flags,
            storable=True,
        )


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """Intermediate Cuff Pressure 0x2A36: the current cuff pressure while inflating. The diastolic
    and MAP slots are unused (devices fill them with NaN or 0) and kept only as sent. Stream it to
    a UI; never store it as a reading."""

    flags: BloodPressureFlags
    unit: Unit
    cuff_pressure: Measure
    unused_diastolic: Measure
    unused_mean_arterial_pressure: Measure
    timestamp: DateTime | None = None
    pulse_rate: Measure | None = None
    user_id: int | None = None
    status: BloodPressureStatus | None = None
    trailing: bytes = b""

    def normalise(self) -> Normalised:
        observations: tuple[Observation, ...] = ()
        if self.pulse_rate is not None:
            observations = (observe(Metric.MDC_PULS_RATE_NON_INV, self.pulse_rate, Unit.PER_MIN),)
        measured_at = self.timestamp.value if self.timestamp else None
        return Normalised(
            kind=ReadingKind.BLOOD_PRESSURE,
            observations=observations,
            measured_at=measured_at,
            measured_at_source=device_time_source(measured_at),
            user_id=user_or_none(self.user_id),
            storable=False,
        )


@dataclass(frozen=True, slots=True)
class BloodPressureFeature(NotAReading):
    features: BloodPressureFeatureBits
    trailing: bytes = b""


FEATURE_LAYOUT: Final = Layout(
    "Blood Pressure Feature", None, (Field("features", Codec("feature bits", "H", BloodPressureFeatureBits)),)
)


def decode_measurement(data: bytes) -> BloodPressureMeasurement:
    """Blood Pressure Measurement 0x2A35."""
    flags, values, trailing = LAYOUT.decode(data)
    bp_flags = BloodPressureFlags(flags)
    return BloodPressureMeasurement(flags=bp_flags, unit=_pressure_unit(bp_flags), **values, trailing=trailing)


def decode_intermediate_cuff_pressure(data: bytes) -> IntermediateCuffPressure:
    """Intermediate Cuff Pressure 0x2A36."""
    flags, values, trailing = LAYOUT.decode(data)
    bp_flags = BloodPressureFlags(flags)
    return IntermediateCuffPressure(
        flags=bp_flags,
        unit=_pressure_unit(bp_flags),
        cuff_pressure=values.pop("systolic"),
        unused_diastolic=values.pop("diastolic"),
        unused_mean_arterial_pressure=values.pop("mean_arterial_pressure"),
        **values,
        trailing=trailing,
    )


def decode_feature(data: bytes) -> BloodPressureFeature:
    """Blood Pressure Feature 0x2A49."""
    _, values, trailing = FEATURE_LAYOUT.decode(data)
    return BloodPressureFeature(**values, trailing=trailing)
