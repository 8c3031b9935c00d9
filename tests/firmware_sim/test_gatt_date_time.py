"""Date Time, Exact Time 256 and Current Time against reference §3 vectors, and the device-side parse
of clock writes."""

from __future__ import annotations

from datetime import datetime

import pytest

from firmware_sim.gatt.date_time import (
    AdjustReason,
    DateTimeFields,
    InvalidTimeValue,
    decode_current_time,
    decode_date_time,
    encode_current_time,
    encode_date_time,
)


def test_date_time_vector() -> None:
    # Origin: reference §3.1 "E8 07 03 09 07 05 00 → 2024-03-09 07:05:00".
    assert encode_date_time(datetime(2024, 3, 9, 7, 5, 0)) == bytes.fromhex("E8 07 03 09 07 05 00")


def test_unknown_date_vector() -> None:
    # Origin: reference §3.1 "00 00 00 00 0C 1E 00 → date unknown, 12:30:00".
    assert encode_date_time(DateTimeFields(0, 0, 0, 12, 30, 0)) == bytes.fromhex("00 00 00 00 0C 1E 00")


def test_current_time_write_vector() -> None:
    # Origin: reference §3.3 write vector: 2024-03-09 07:05:00, Saturday (6), 128/256 s, manual update.
    value = datetime(2024, 3, 9, 7, 5, 0, 500_000)
    encoded = encode_current_time(value, AdjustReason.MANUAL_TIME_UPDATE)
    assert encoded == bytes.fromhex("E8 07 03 09 07 05 00 06 80 01")
    assert decode_current_time(encoded) == (value, AdjustReason.MANUAL_TIME_UPDATE)


def test_date_time_parse_round_trips() -> None:
    value = datetime(2031, 12, 31, 23, 59, 58)
    assert decode_date_time(encode_date_time(value)) == value


@pytest.mark.parametrize(
    "data",
    [
        "E8 07 03 09 07 05",  # 6 bytes
        "E8 07 0D 09 07 05 00",  # month 13
        "00 00 00 00 0C 1E 00",  # unknown date cannot set a clock
        "E8 07 03 09 07 05 00 06 80",  # 9-byte Current Time (obniz's A&D write), §3.3
    ],
)
def test_invalid_clock_writes_are_refused(data: str) -> None:
    raw = bytes.fromhex(data)
    with pytest.raises(InvalidTimeValue):
        decode_current_time(raw) if len(raw) > 7 else decode_date_time(raw)
