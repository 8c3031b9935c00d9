"""Record Access Control Point 0x2A52, requests (collector → device) and responses (device →
collector), as the Glucose Service defines it and the Pulse Oximeter and BPS 1.1 reuse it
(reference/ble-health-profiles.md §5.4, §7.3; docs/wire-formats/racp.md).

Every RACP value is Op Code (uint8) · Operator (uint8) · Operand. The op code and operator decide
how the operand is read, so an RFU op code, operator or filter type is a :class:`ReservedValue`
rather than a guess. Requests encode as well as decode: the gateway writes them."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final, TypeVar

from drivers.date_time import DateTime
from drivers.errors import DecodeError, MalformedValue, ReservedValue, TruncatedFrame
from drivers.normalised import NotAReading


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06
    # Newer GSS (IMPL only in the reference, from bluetooth-sig-python): same operand shapes as 0x01/0x05.
    COMBINED_REPORT = 0x07
    COMBINED_REPORT_RESPONSE = 0x08


class Operator(IntEnum):
    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL = 0x02
    GREATER_THAN_OR_EQUAL = 0x03  # inclusive: ask for last stored sequence number + 1
    WITHIN_RANGE = 0x04  # inclusive, two bounds
    FIRST_RECORD = 0x05  # oldest
    LAST_RECORD = 0x06  # newest


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class ResponseValue(IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


_REQUESTS: Final = frozenset(
    {
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        OpCode.COMBINED_REPORT,
    }
)
_FILTERED: Final = {Operator.LESS_THAN_OR_EQUAL: 1, Operator.GREATER_THAN_OR_EQUAL: 1, Operator.WITHIN_RANGE: 2}
_COUNT_FORMATS: Final = {1: "<B", 2: "<H", 4: "<I"}
"""GLS counts are uint16; PLXS was not verified, so 1-, 2- and 4-byte counts are accepted (§7.3)."""

FilterBound = int | DateTime


@dataclass(frozen=True, slots=True)
class RacpRequest(NotAReading):
    """A request: report / delete / count stored records, or abort. ``bounds`` holds one value
    for ≤ and ≥, two for "within range" (sequence numbers, or user-facing times as Date Time)."""

    op_code: OpCode
    operator: Operator
    filter_type: FilterType | None = None
    bounds: tuple[FilterBound, ...] = ()
    trailing: bytes = b""

    def encode(self) -> bytes:
        out = bytes((self.op_code, self.operator))
        if self.filter_type is not None:
            out += bytes((self.filter_type,))
            for bound in self.bounds:
                out += bound.encode() if isinstance(bound, DateTime) else struct.pack("<H", bound)
        return out

    @classmethod
    def records_from(cls, sequence_number: int) -> RacpRequest:
        """Report records with sequence number ≥ ``sequence_number`` (inclusive)."""
        return cls(
            OpCode.REPORT_STORED_RECORDS, Operator.GREATER_THAN_OR_EQUAL, FilterType.SEQUENCE_NUMBER, (sequence_number,)
        )


@dataclass(frozen=True, slots=True)
class RacpCount(NotAReading):
    """Number of Stored Records response (0x05) or Combined Report response (0x08)."""

    op_code: OpCode
    count: int
    count_size: int
    trailing: bytes = b""


@dataclass(frozen=True, slots=True)
class RacpResponse(NotAReading):
    """Response Code (0x06): the request op code it answers and the outcome. The request op code is
    an echo of what was written, so an RFU one (a server answering "op code not supported" to 0x00 or
    0x09+) is kept as the plain int rather than refused: it decides nothing about the value."""

    request_op_code: OpCode | int
    response: ResponseValue
    trailing: bytes = b""

    @property
    def finished(self) -> bool:
        """The download is over: success, or nothing to send (§5.5 step 7)."""
        return self.response in (ResponseValue.SUCCESS, ResponseValue.NO_RECORDS_FOUND)


RacpValue = RacpRequest | RacpCount | RacpResponse


_E = TypeVar("_E", bound=IntEnum)


def _enum(enum: type[_E], value: int, what: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise ReservedValue(f"RACP {what} 0x{value:02x} is reserved") from None


def _known_op_code(value: int) -> OpCode | int:
    try:
        return OpCode(value)
    except ValueError:
        return value


def decode(data: bytes) -> RacpValue:
    """Record Access Control Point 0x2A52, either direction."""
    try:
        return _decode(data)
    except DecodeError as exc:
        raise exc.attach(data) from None


def _decode(data: bytes) -> RacpValue:
    if len(data) < 2:
        raise TruncatedFrame(f"RACP value of {len(data)} bytes has no op code and operator")
    op_code = _enum(OpCode, data[0], "op code")
    operator = _enum(Operator, data[1], "operator")
    operand = data[2:]
    if op_code in _REQUESTS:
        return _decode_request(op_code, operator, operand)
    if operator is not Operator.NULL:
        raise ReservedValue(f"RACP {op_code.name} needs operator Null, not {operator.name}")
    if op_code is OpCode.ABORT_OPERATION:
        return RacpRequest(op_code, operator, trailing=operand)
    if op_code is OpCode.RESPONSE_CODE:
        if len(operand) < 2:
            raise TruncatedFrame("RACP response code needs the request op code and a response value")
        return RacpResponse(
            _known_op_code(operand[0]),
            _enum(ResponseValue, operand[1], "response value"),
            operand[2:],
        )
    fmt = _COUNT_FORMATS.get(len(operand))
    if fmt is None:
        if not operand:
            raise TruncatedFrame("RACP number-of-records response without a count")
        raise MalformedValue(f"RACP record count of {len(operand)} bytes (1, 2 or 4 expected)")
    return RacpCount(op_code, struct.unpack(fmt, operand)[0], len(operand))


def _decode_request(op_code: OpCode, operator: Operator, operand: bytes) -> RacpRequest:
    if operator is Operator.NULL:
        raise ReservedValue(f"RACP {op_code.name} with operator Null")
    bound_count = _FILTERED.get(operator, 0)
    if not bound_count:
        return RacpRequest(op_code, operator, trailing=operand)
    if not operand:
        raise TruncatedFrame(f"RACP {operator.name} needs a filter type and operand")
    filter_type = _enum(FilterType, operand[0], "filter type")
    size = 2 if filter_type is FilterType.SEQUENCE_NUMBER else 7
    if len(operand) < 1 + size * bound_count:
        raise TruncatedFrame(f"RACP {operator.name} on {filter_type.name} needs {bound_count} × {size} bytes")
    bounds: list[FilterBound] = []
    for index in range(bound_count):
        chunk = operand[1 + index * size : 1 + (index + 1) * size]
        if filter_type is FilterType.SEQUENCE_NUMBER:
            bounds.append(int.from_bytes(chunk, "little"))
        else:
            bounds.append(DateTime(*struct.unpack("<HBBBBB", chunk)))
    return RacpRequest(op_code, operator, filter_type, tuple(bounds), operand[1 + size * bound_count :])
