"""Fault modes every simulated device can show, so the gateway and decoders meet them in CI:

- GARBAGE: a measurement frame's bytes replaced by 1-20 random bytes (radio noise, a firmware bug).
  Random bytes can happen to form a valid frame, so a decoder may return a value or a typed error.
- TRUNCATED: a measurement frame cut short of the length its own flags announce (0 bytes included);
  every decoder must reject it with a typed error (reference §0).
- TRAILING_BYTES: 1-8 random bytes after the last field the flags announce (vendor data, a quirk); a
  receiver keeps them for diagnostics and still reads the fields (reference §0).
- FLIPPED_FLAG: one bit of the flags field inverted, so optional fields appear or vanish and units
  change: a decoder returns a value or a typed error, nothing else.
- RFU_FLAGS: the flags bits the profile reserves set (Beurer BM85 sets bit 6 of 0x2A35, reference §11);
  a receiver ignores them (§0), so the frame still means exactly what was intended.
- RESERVED_VALUE: the first measurement field replaced by the IEEE 11073 "reserved for future use"
  word (SFLOAT 0x0801, FLOAT 0x00800001; reference §2), which is no number.
- REPLAY: after a reconnect the device repeats stored records the collector already has. Push devices
  re-send their whole memory (Beurer BM85, SBM69; reference §11); a RACP glucometer renumbers its
  records from 0, as after a firmware or battery reset (reference §5.5 step 8), so records the
  gateway already holds come back under new sequence numbers.

Faults happen at seeded random rates or when forced (``force``) for a test; the injector has its own
random generator so switching faults on does not change the physiology a seed produces.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

import numpy as np

from firmware_sim.devices.outgoing import Fault, Outgoing
from firmware_sim.gatt import uuids
from firmware_sim.gatt.medfloat import FLOAT, SFLOAT, MedFloatFormat, encode_reserved
from firmware_sim.gatt.weight_scale import LIVE_WEIGHT

GARBAGE_MAX_BYTES = 20
TRAILING_MAX_BYTES = 8

FRAME_FAULTS = (Fault.GARBAGE, Fault.TRUNCATED, Fault.TRAILING_BYTES, Fault.FLIPPED_FLAG, Fault.RFU_FLAGS)
"""Faults that corrupt one frame (REPLAY acts on a reconnect; RESERVED_VALUE is forced only)."""

FLAGS_SIZE = {uuids.BODY_COMPOSITION_MEASUREMENT: 2}
"""Flags-field size of each measurement characteristic (1 byte unless listed)."""

RFU_FLAG_BITS = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: 0xE0,
    uuids.INTERMEDIATE_CUFF_PRESSURE: 0xE0,
    uuids.GLUCOSE_MEASUREMENT: 0xE0,
    uuids.WEIGHT_MEASUREMENT: 0xF0,
    LIVE_WEIGHT: 0xF0,
    uuids.BODY_COMPOSITION_MEASUREMENT: 0xE000,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: 0xE0,
    uuids.PLX_CONTINUOUS_MEASUREMENT: 0xE0,
    uuids.TEMPERATURE_MEASUREMENT: 0xF8,
    uuids.INTERMEDIATE_TEMPERATURE: 0xF8,
}
"""The flags bits each profile reserves for future use (reference §4.1, §5.1, §6.1, §6.3, §7, §8).
Glucose Measurement Context uses all eight of its flag bits, so it has none."""

FIRST_MEASURE: dict[str, MedFloatFormat] = {
    uuids.BLOOD_PRESSURE_MEASUREMENT: SFLOAT,
    uuids.INTERMEDIATE_CUFF_PRESSURE: SFLOAT,
    uuids.PLX_SPOT_CHECK_MEASUREMENT: SFLOAT,
    uuids.PLX_CONTINUOUS_MEASUREMENT: SFLOAT,
    uuids.TEMPERATURE_MEASUREMENT: FLOAT,
    uuids.INTERMEDIATE_TEMPERATURE: FLOAT,
}
"""Measurements whose first field after a one-byte flags field is an IEEE 11073 number."""


def with_trailing_bytes(data: bytes, extra: bytes) -> bytes:
    """``data`` followed by ``extra`` (the TRAILING_BYTES fault)."""
    return data + extra


def with_flipped_flag(characteristic: str, data: bytes, bit: int) -> bytes:
    """``data`` with flags bit ``bit`` inverted (the FLIPPED_FLAG fault); an empty frame stays empty."""
    size = FLAGS_SIZE.get(characteristic, 1)
    if len(data) < size:
        return data
    flags = int.from_bytes(data[:size], "little") ^ (1 << (bit % (8 * size)))
    return flags.to_bytes(size, "little") + data[size:]


def with_rfu_flags(characteristic: str, data: bytes) -> bytes:
    """``data`` with every RFU flags bit of its profile set (the RFU_FLAGS fault)."""
    size = FLAGS_SIZE.get(characteristic, 1)
    mask = RFU_FLAG_BITS.get(characteristic, 0)
    if len(data) < size or not mask:
        return data
    flags = int.from_bytes(data[:size], "little") | mask
    return flags.to_bytes(size, "little") + data[size:]


def with_reserved_value(characteristic: str, data: bytes) -> bytes:
    """``data`` with its first measurement field set to the reserved IEEE 11073 word (the
    RESERVED_VALUE fault); frames of other characteristics are returned unchanged."""
    fmt = FIRST_MEASURE.get(characteristic)
    if fmt is None or len(data) < 1 + fmt.size:
        return data
    return data[:1] + encode_reserved(fmt) + data[1 + fmt.size :]


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Per-frame probabilities of corruption and the per-reconnect probability of a replay."""

    garbage_rate: float = 0.0
    truncated_rate: float = 0.0
    replay_rate: float = 0.0
    trailing_bytes_rate: float = 0.0
    flipped_flag_rate: float = 0.0
    rfu_flags_rate: float = 0.0

    def frame_rates(self) -> tuple[tuple[Fault, float], ...]:
        """Per-frame fault probabilities, in the order one uniform draw is compared against them."""
        return (
            (Fault.GARBAGE, self.garbage_rate),
            (Fault.TRUNCATED, self.truncated_rate),
            (Fault.TRAILING_BYTES, self.trailing_bytes_rate),
            (Fault.FLIPPED_FLAG, self.flipped_flag_rate),
            (Fault.RFU_FLAGS, self.rfu_flags_rate),
        )


class FaultInjector:
    def __init__(self, plan: FaultPlan, rng: np.random.Generator) -> None:
        self.plan = plan
        self._rng = rng
        self._forced: deque[Fault] = deque()

    def force(self, fault: Fault) -> None:
        """Make the next frame (GARBAGE, TRUNCATED, TRAILING_BYTES, FLIPPED_FLAG, RFU_FLAGS,
        RESERVED_VALUE) or the next reconnect (REPLAY) faulty."""
        self._forced.append(fault)

    def _take_forced(self, kinds: tuple[Fault, ...]) -> Fault | None:
        for fault in self._forced:
            if fault in kinds:
                self._forced.remove(fault)
                return fault
        return None

    def corrupt(self, frame: Outgoing) -> Outgoing:
        """The frame as it goes on air: intact, garbled or truncated."""
        fault = self._take_forced((*FRAME_FAULTS, Fault.RESERVED_VALUE))
        if fault is None:
            draw = self._rng.random()
            threshold = 0.0
            for kind, rate in self.plan.frame_rates():
                threshold += rate
                if draw < threshold:
                    fault = kind
                    break
        if fault is Fault.GARBAGE:
            size = int(self._rng.integers(1, GARBAGE_MAX_BYTES + 1))
            return dataclasses.replace(frame, data=self._rng.bytes(size), fault=fault)
        if fault is Fault.TRUNCATED:
            size = int(self._rng.integers(0, len(frame.data)))
            return dataclasses.replace(frame, data=frame.data[:size], fault=fault)
        if fault is Fault.TRAILING_BYTES:
            extra = self._rng.bytes(int(self._rng.integers(1, TRAILING_MAX_BYTES + 1)))
            return dataclasses.replace(frame, data=with_trailing_bytes(frame.data, extra), fault=fault)
        if fault is Fault.FLIPPED_FLAG:
            bit = int(self._rng.integers(0, 16))
            return dataclasses.replace(
                frame, data=with_flipped_flag(frame.characteristic, frame.data, bit), fault=fault
            )
        if fault is Fault.RFU_FLAGS:
            return dataclasses.replace(frame, data=with_rfu_flags(frame.characteristic, frame.data), fault=fault)
        if fault is Fault.RESERVED_VALUE:
            return dataclasses.replace(frame, data=with_reserved_value(frame.characteristic, frame.data), fault=fault)
        return frame

    def replay_due(self) -> bool:
        """Whether this reconnect repeats already-delivered records."""
        if self._take_forced((Fault.REPLAY,)) is not None:
            return True
        return bool(self.plan.replay_rate) and bool(self._rng.random() < self.plan.replay_rate)
