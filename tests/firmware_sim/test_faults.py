"""The frame faults as pure byte operations, and the seeded rates that pick them."""

from __future__ import annotations

import numpy as np

from firmware_sim.devices.faults import (
    FaultInjector,
    FaultPlan,
    with_flipped_flag,
    with_reserved_value,
    with_rfu_flags,
    with_trailing_bytes,
)
from firmware_sim.devices.outgoing import Delivery, Fault, Outgoing
from firmware_sim.gatt import uuids

BPM = uuids.BLOOD_PRESSURE_MEASUREMENT
VECTOR_1 = bytes.fromhex("00 78 00 50 00 5A 00")  # reference §4.1 vector 1: 120/80/90 mmHg


def test_rfu_flags_set_the_reserved_bits_only() -> None:
    assert with_rfu_flags(BPM, VECTOR_1) == bytes.fromhex("E0 78 00 50 00 5A 00")
    body_composition = bytes.fromhex("04 06 E1 00 01 88 13 98 3A")  # reference §6.3, 16-bit flags
    assert with_rfu_flags(uuids.BODY_COMPOSITION_MEASUREMENT, body_composition)[:2] == bytes.fromhex("04 E6")
    assert with_rfu_flags(uuids.GLUCOSE_MEASUREMENT_CONTEXT, b"\x02\x05\x00\x01") == b"\x02\x05\x00\x01"


def test_flipped_flag_inverts_one_bit_of_the_flags_field() -> None:
    assert with_flipped_flag(BPM, VECTOR_1, 1) == bytes.fromhex("02 78 00 50 00 5A 00")  # announces a time stamp
    assert with_flipped_flag(uuids.BODY_COMPOSITION_MEASUREMENT, b"\x04\x06\xe1\x00", 12) == b"\x04\x16\xe1\x00"
    assert with_flipped_flag(BPM, b"", 3) == b""


def test_reserved_value_replaces_the_first_measure() -> None:
    assert with_reserved_value(BPM, VECTOR_1) == bytes.fromhex("00 01 08 50 00 5A 00")
    temperature = bytes.fromhex("01 DA 03 00 FF")  # reference §8: 98.6 °F
    assert with_reserved_value(uuids.TEMPERATURE_MEASUREMENT, temperature) == bytes.fromhex("01 01 00 80 00")
    assert with_reserved_value(uuids.WEIGHT_MEASUREMENT, b"\x00\x98\x3a") == b"\x00\x98\x3a"  # uint16, no reserved word


def test_trailing_bytes_follow_the_frame() -> None:
    assert with_trailing_bytes(VECTOR_1, b"\xaa") == VECTOR_1 + b"\xaa"


def test_each_frame_fault_happens_at_its_rate() -> None:
    plan = FaultPlan(trailing_bytes_rate=0.2, flipped_flag_rate=0.2, rfu_flags_rate=0.2)
    injector = FaultInjector(plan, np.random.default_rng(7))
    frame = Outgoing(BPM, Delivery.INDICATE, VECTOR_1)
    faults = [injector.corrupt(frame).fault for _ in range(2000)]
    for fault in (Fault.TRAILING_BYTES, Fault.FLIPPED_FLAG, Fault.RFU_FLAGS):
        assert 300 < faults.count(fault) < 500  # 400 expected
    assert 700 < faults.count(None) < 900  # 800 expected
    assert Fault.GARBAGE not in faults
