"""ATT error responses a simulated GATT server gives instead of a value (Bluetooth Core Specification
Vol 3 Part F §3.4.1.1; Core Specification Supplement Part B §1.2 for the common profile errors 0xFD and
0xFE; reference §3.3 and §5.4). A transport (the bumble GATT server of the next issue) turns an
:class:`AttError` into the ATT Error Response with the same code."""

from __future__ import annotations

from enum import IntEnum

from firmware_sim.errors import SimulationError


class AttErrorCode(IntEnum):
    READ_NOT_PERMITTED = 0x02
    WRITE_NOT_PERMITTED = 0x03
    INSUFFICIENT_AUTHENTICATION = 0x05
    ATTRIBUTE_NOT_FOUND = 0x0A
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    INSUFFICIENT_ENCRYPTION = 0x0F
    DATA_FIELD_IGNORED = 0x80
    """Current Time Service application error: the write was applied but some fields were ignored;
    collectors treat it as success (reference §3.3)."""
    CCCD_IMPROPERLY_CONFIGURED = 0xFD
    PROCEDURE_ALREADY_IN_PROGRESS = 0xFE


class AttError(SimulationError):
    """The device answers an ATT request with an error code instead of a value."""

    def __init__(self, code: AttErrorCode, characteristic: str, reason: str) -> None:
        super().__init__(f"ATT error {code.name} ({code:#04x}) on {characteristic}: {reason}")
        self.code = code
        self.characteristic = characteristic
        self.reason = reason
