"""PLX Spot-check, Continuous and Features encoders against reference §7 vectors, with intent."""

from __future__ import annotations

from datetime import datetime

from core.domain import Metric, Observation, ReadingFlag, ReadingKind, SpecialValue, Unit
from firmware_sim.gatt import uuids
from firmware_sim.gatt.frames import presence_variants
from firmware_sim.gatt.pulse_oximeter import (
    CONTINUOUS_LAYOUT,
    SPOT_CHECK_LAYOUT,
    ContinuousSample,
    DeviceSensorStatus,
    Feature,
    MeasurementStatus,
    PlxDetails,
    SpotCheckSample,
    encode_continuous,
    encode_features,
    encode_spot_check,
)
from firmware_sim.intent import IntendedMeasurement

SPO2, PR = Metric.MDC_PULS_OXIM_SAT_O2, Metric.MDC_PULS_OXIM_PULS_RATE


def test_spot_check_clock_not_set_vector() -> None:
    # Origin: reference §7.3 "10 61 00 48 00 → spot-check SpO2 97 %, PR 72, device clock not set".
    encoded = encode_spot_check(SpotCheckSample(97, 72, clock_not_set=True))
    assert encoded.characteristic == uuids.PLX_SPOT_CHECK_MEASUREMENT
    assert encoded.data == bytes.fromhex("10 61 00 48 00")
    assert encoded.intended == IntendedMeasurement(
        kind=ReadingKind.PULSE_OXIMETRY,
        observations=(Observation(SPO2, 97.0, Unit.PERCENT), Observation(PR, 72.0, Unit.PER_MIN)),
        flags=frozenset({ReadingFlag.CLOCK_NOT_SET}),
        details=PlxDetails(None, None, clock_not_set=True),
    )


def test_spot_check_pulse_nan_vector() -> None:
    # Origin: reference §7.3 "00 62 00 FF 07 → SpO2 98 %, PR NaN".
    encoded = encode_spot_check(SpotCheckSample(98, SpecialValue.NAN))
    assert encoded.data == bytes.fromhex("00 62 00 FF 07")
    assert encoded.intended.observations[1] == Observation(PR, None, Unit.PER_MIN, special=SpecialValue.NAN)


def test_continuous_measurement_unavailable_vector() -> None:
    # Origin: reference §7.3 "04 60 00 4F 00 00 20 → continuous SpO2 96, PR 79, status bit 13".
    status = int(MeasurementStatus.MEASUREMENT_UNAVAILABLE)
    encoded = encode_continuous(ContinuousSample(96, 79, measurement_status=status))
    assert encoded.characteristic == uuids.PLX_CONTINUOUS_MEASUREMENT
    assert encoded.data == bytes.fromhex("04 60 00 4F 00 00 20")
    assert encoded.intended.flags == {ReadingFlag.MEASUREMENT_UNAVAILABLE}
    assert encoded.intended.device_time is None


def test_features_vectors() -> None:
    # Origin: reference §7.3 features vectors.
    storage = Feature.SPOT_CHECK_MEASUREMENT_STORAGE | Feature.SPOT_CHECK_TIME_STAMP
    assert encode_features(storage) == bytes.fromhex("0C 00")
    both = Feature.MEASUREMENT_STATUS_SUPPORT | Feature.DEVICE_AND_SENSOR_STATUS_SUPPORT
    encoded = encode_features(both, measurement_status_support=0xFFE0, device_sensor_status_support=0x00FFFF)
    assert encoded == bytes.fromhex("03 00 E0 FF FF FF 00")


def test_stored_spot_check_is_from_memory_and_sensor_faults_flag() -> None:
    status = MeasurementStatus.VALIDATED_DATA | MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE
    sensor = DeviceSensorStatus.SENSOR_DISPLACED | DeviceSensorStatus.EQUIPMENT_MALFUNCTION
    encoded = encode_spot_check(SpotCheckSample(95, 80, datetime(2026, 1, 1), int(status), int(sensor), 2.5))
    assert encoded.intended.from_device_memory
    assert encoded.intended.flags == {
        ReadingFlag.VALIDATED_DATA,
        ReadingFlag.FROM_MEASUREMENT_STORAGE,
        ReadingFlag.SENSOR_DISPLACED,
        ReadingFlag.EQUIPMENT_MALFUNCTION,
    }
    assert encoded.data[-2:] == bytes.fromhex("19 F0")  # PAI 2.5 % = 25 × 10^-1


def test_plx_status_flags_are_one_per_bit() -> None:
    """Regression (round trip with drivers): the intent folded PLX status bits into QUESTIONABLE,
    INVALID (invalid or unavailable), DEVICE_FAULT and SENSOR_FAULT (five sensor bits) and dropped the
    rest, such as "data from measurement storage"; core.domain names one flag per SIG status bit."""
    for bit in range(16):
        encoded = encode_spot_check(SpotCheckSample(95, 80, measurement_status=1 << bit))
        assert len(encoded.intended.flags) == (1 if bit >= 5 else 0)
    for bit in range(24):
        encoded = encode_spot_check(SpotCheckSample(95, 80, device_sensor_status=1 << bit))
        assert len(encoded.intended.flags) == (1 if bit < 16 else 0)


def test_every_presence_combination() -> None:
    spot = SpotCheckSample(96, 70, datetime(2026, 1, 1, 9), 0x0080, 0x000010, 3.1)
    spot_sizes = {0x01: 7, 0x02: 2, 0x04: 3, 0x08: 2}  # reference §7.1
    assert len(list(presence_variants(spot, SPOT_CHECK_LAYOUT))) == 16
    for sample in presence_variants(spot, SPOT_CHECK_LAYOUT):
        data = encode_spot_check(sample).data
        assert len(data) == 5 + sum(size for bit, size in spot_sizes.items() if data[0] & bit)
    continuous = ContinuousSample(96, 70, (95, 71), (96, 69), 0x0080, 0x000010, 3.1)
    continuous_sizes = {0x01: 4, 0x02: 4, 0x04: 2, 0x08: 3, 0x10: 2}  # reference §7.2
    assert len(list(presence_variants(continuous, CONTINUOUS_LAYOUT))) == 32
    for sample in presence_variants(continuous, CONTINUOUS_LAYOUT):
        data = encode_continuous(sample).data
        assert len(data) == 5 + sum(size for bit, size in continuous_sizes.items() if data[0] & bit)
