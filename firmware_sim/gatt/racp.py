"""Record Access Control Point 0x2A52 as a Glucose Service server runs it (GLS 1.0 §3.2.5-3.2.6;
reference §5.4).

Requests and responses share one format: Op Code uint8 · Operator uint8 · Operand. The server answers
every request with one RACP indication (``05 00 <count uint16>`` or ``06 00 <request op code>
<response code>``); a report streams the matching records first and ends with ``06 00 01 01``.

The reference lists the codes but not which one each malformed request earns. This module settles it
the way the public GLS servers do (Nordic nRF5 ``ble_gls``, Arm/Packetcraft ``glps_main``), checked in
this order:

1. fewer than 2 bytes: ATT error *invalid attribute value length* (not a RACP value at all);
2. a procedure in progress and the request is not Abort: ATT error 0xFE *procedure already in progress*;
3. Abort: a non-Null operator is *invalid operator*, any operand *invalid operand*, otherwise the
   procedure stops and the answer is *success*; with nothing in progress the answer is also
   *success* (GLS: "once all procedures have stopped … Success"; Nordic answers *abort unsuccessful*
   there instead, Packetcraft *success*);
4. op codes other than Report, Delete (when supported), Abort, Report Number - including the
   server-to-client 0x05/0x06 and the RFU 0x00, 0x07+ - are *op code not supported*;
5. the Null operator is *invalid operator* for Report, Delete and Report Number; RFU operators (0x07+)
   and operators this server does not implement are *operator not supported*;
6. All/First/Last with an operand, or ≤/≥/range without one or of the wrong length, or a range whose
   lower bound exceeds its upper bound, or a time that is not a date: *invalid operand*; a filter
   type that is RFU or not implemented (e.g. user-facing time on a meter without it): *operand not
   supported*;
7. Report or Delete matching nothing: *no records found*. Report Number always answers with a count,
   0 included.

The two remaining codes belong to the device around this server: a report the meter can no longer send
(the collector disabled measurement notifications mid-stream) ends with *procedure not completed*
(``06 00 01 08``), and since a simulated abort always stops the stream, *abort unsuccessful* is never
sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Generic, Protocol, TypeVar

from firmware_sim.gatt import uuids
from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.gatt.date_time import DATE_TIME_SIZE, InvalidTimeValue, decode_date_time
from firmware_sim.gatt.frames import uint


class OpCode(IntEnum):
    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class Operator(IntEnum):
    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL_TO = 0x02
    GREATER_THAN_OR_EQUAL_TO = 0x03
    WITHIN_RANGE_OF = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class ResponseCode(IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


class FilterType(IntEnum):
    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


FILTER_VALUE_SIZE = {FilterType.SEQUENCE_NUMBER: 2, FilterType.USER_FACING_TIME: DATE_TIME_SIZE}
_UNFILTERED = frozenset({Operator.ALL_RECORDS, Operator.FIRST_RECORD, Operator.LAST_RECORD})
_FILTERED = frozenset({Operator.LESS_THAN_OR_EQUAL_TO, Operator.GREATER_THAN_OR_EQUAL_TO, Operator.WITHIN_RANGE_OF})


def response(request: int, code: ResponseCode) -> bytes:
    """``06 00 <request op code> <response code>``."""
    return bytes((OpCode.RESPONSE_CODE, Operator.NULL, request, code))


def number_of_records(count: int) -> bytes:
    """``05 00 <count>``; GLS carries the count as uint16 (reference §5.4)."""
    return bytes((OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, Operator.NULL)) + uint(min(count, 0xFFFF), 2)


REPORT_COMPLETE = response(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS)


class RacpRecord(Protocol):
    @property
    def sequence_number(self) -> int: ...

    @property
    def user_facing_time(self) -> datetime: ...


R = TypeVar("R", bound=RacpRecord)


@dataclass(frozen=True, slots=True)
class RacpOutcome(Generic[R]):
    """What the device does with a request: indicate ``response`` now, or stream ``report`` then
    :data:`REPORT_COMPLETE`; ``delete`` names records to remove; ``abort`` stops the stream."""

    response: bytes | None = None
    report: tuple[R, ...] = ()
    delete: tuple[R, ...] = ()
    abort: bool = False


class _Refused(Exception):
    def __init__(self, code: ResponseCode) -> None:
        self.code = code


@dataclass(frozen=True, slots=True)
class RacpServer(Generic[R]):
    """A RACP server's rules with what it implements; records are passed in, oldest first."""

    operators: frozenset[Operator] = field(default_factory=lambda: _UNFILTERED | _FILTERED)
    filter_types: frozenset[FilterType] = frozenset({FilterType.SEQUENCE_NUMBER, FilterType.USER_FACING_TIME})
    supports_delete: bool = True

    def handle(self, data: bytes, records: Sequence[R], *, in_progress: bool) -> RacpOutcome[R]:
        if len(data) < 2:
            raise AttError(
                AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH,
                uuids.RECORD_ACCESS_CONTROL_POINT,
                "RACP needs op code and operator",
            )
        op_code, operator, operand = data[0], data[1], data[2:]
        if in_progress and op_code != OpCode.ABORT_OPERATION:
            raise AttError(
                AttErrorCode.PROCEDURE_ALREADY_IN_PROGRESS,
                uuids.RECORD_ACCESS_CONTROL_POINT,
                "a RACP procedure is running",
            )
        try:
            return self._execute(op_code, operator, operand, records)
        except _Refused as refusal:
            return RacpOutcome(response=response(op_code, refusal.code))

    def _execute(self, op_code: int, operator: int, operand: bytes, records: Sequence[R]) -> RacpOutcome[R]:
        if op_code == OpCode.ABORT_OPERATION:
            if operator != Operator.NULL:
                raise _Refused(ResponseCode.INVALID_OPERATOR)
            if operand:
                raise _Refused(ResponseCode.INVALID_OPERAND)
            return RacpOutcome(response=response(op_code, ResponseCode.SUCCESS), abort=True)
        supported = {OpCode.REPORT_STORED_RECORDS, OpCode.REPORT_NUMBER_OF_STORED_RECORDS}
        if self.supports_delete:
            supported.add(OpCode.DELETE_STORED_RECORDS)
        if op_code not in supported:
            raise _Refused(ResponseCode.OP_CODE_NOT_SUPPORTED)
        selected = self._select(operator, operand, records)
        if op_code == OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            return RacpOutcome(response=number_of_records(len(selected)))
        if not selected:
            raise _Refused(ResponseCode.NO_RECORDS_FOUND)
        if op_code == OpCode.DELETE_STORED_RECORDS:
            return RacpOutcome(response=response(op_code, ResponseCode.SUCCESS), delete=selected)
        return RacpOutcome(report=selected)

    def _select(self, operator: int, operand: bytes, records: Sequence[R]) -> tuple[R, ...]:
        if operator == Operator.NULL:
            raise _Refused(ResponseCode.INVALID_OPERATOR)
        if operator not in Operator.__members__.values() or operator not in self.operators:
            raise _Refused(ResponseCode.OPERATOR_NOT_SUPPORTED)
        op = Operator(operator)
        if op in _UNFILTERED:
            if operand:
                raise _Refused(ResponseCode.INVALID_OPERAND)
            if op == Operator.ALL_RECORDS:
                return tuple(records)
            if not records:
                return ()
            return (records[0],) if op == Operator.FIRST_RECORD else (records[-1],)
        filter_type, bounds = self._parse_filter(op, operand)
        low = bounds[0] if op != Operator.LESS_THAN_OR_EQUAL_TO else None
        high = bounds[-1] if op != Operator.GREATER_THAN_OR_EQUAL_TO else None
        return tuple(r for r in records if _within(_key(r, filter_type), low, high))

    def _parse_filter(self, op: Operator, operand: bytes) -> tuple[FilterType, list[int | datetime]]:
        if not operand:
            raise _Refused(ResponseCode.INVALID_OPERAND)
        if operand[0] not in FilterType.__members__.values() or operand[0] not in self.filter_types:
            raise _Refused(ResponseCode.OPERAND_NOT_SUPPORTED)
        filter_type = FilterType(operand[0])
        size = FILTER_VALUE_SIZE[filter_type]
        count = 2 if op == Operator.WITHIN_RANGE_OF else 1
        values = operand[1:]
        if len(values) != size * count:
            raise _Refused(ResponseCode.INVALID_OPERAND)
        bounds = [_filter_value(filter_type, values[i * size : (i + 1) * size]) for i in range(count)]
        if count == 2 and bounds[0] > bounds[1]:  # type: ignore[operator]
            raise _Refused(ResponseCode.INVALID_OPERAND)
        return filter_type, bounds


def _filter_value(filter_type: FilterType, data: bytes) -> int | datetime:
    if filter_type == FilterType.SEQUENCE_NUMBER:
        return int.from_bytes(data, "little")
    try:
        return decode_date_time(data)
    except InvalidTimeValue as exc:
        raise _Refused(ResponseCode.INVALID_OPERAND) from exc


def _key(record: RacpRecord, filter_type: FilterType) -> int | datetime:
    return record.sequence_number if filter_type == FilterType.SEQUENCE_NUMBER else record.user_facing_time


def _within(key: int | datetime, low: int | datetime | None, high: int | datetime | None) -> bool:
    return (low is None or key >= low) and (high is None or key <= high)  # type: ignore[operator]
