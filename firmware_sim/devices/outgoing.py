"""What a simulated peripheral sends: one notification or indication and, for measurement frames,
the ground truth it was meant to carry."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware_sim.intent import EncodedMeasurement, IntendedMeasurement


class Delivery(StrEnum):
    NOTIFY = "notify"
    INDICATE = "indicate"
    """Acknowledged by the collector's ATT confirmation."""


class Fault(StrEnum):
    """Deliberate misbehaviour (see :mod:`firmware_sim.devices.faults`)."""

    GARBAGE = "garbage"
    TRUNCATED = "truncated"
    TRAILING_BYTES = "trailing_bytes"
    FLIPPED_FLAG = "flipped_flag"
    RFU_FLAGS = "rfu_flags"
    RESERVED_VALUE = "reserved_value"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """(characteristic UUID, notify or indicate, bytes), plus the intent of a measurement frame.

    ``intended`` stays set on a corrupted frame, and ``fault`` says how it was corrupted: a decoder must
    reject a truncated frame with a typed error, and may decode garbage to anything or reject it."""

    characteristic: str
    delivery: Delivery
    data: bytes
    intended: IntendedMeasurement | None = None
    fault: Fault | None = None

    @classmethod
    def of(cls, encoded: EncodedMeasurement, delivery: Delivery) -> Outgoing:
        return cls(encoded.characteristic, delivery, encoded.data, encoded.intended)
