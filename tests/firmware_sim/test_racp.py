"""The RACP state machine (reference §5.4): every op code × operator pair, every operand error, and the
reference's request and response vectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from firmware_sim.gatt.att import AttError, AttErrorCode
from firmware_sim.gatt.racp import (
    REPORT_COMPLETE,
    FilterType,
    OpCode,
    Operator,
    RacpOutcome,
    RacpServer,
    ResponseCode,
    number_of_records,
    response,
)


@dataclass(frozen=True)
class Record:
    sequence_number: int
    user_facing_time: datetime


T0 = datetime(2024, 4, 29, 8, 0)
RECORDS = tuple(Record(seq, T0 + timedelta(days=i)) for i, seq in enumerate(range(10, 15)))  # 10..14, Apr 29 .. May 3
SERVER: RacpServer[Record] = RacpServer()


def run(data: str, records: tuple[Record, ...] = RECORDS, server: RacpServer[Record] = SERVER) -> RacpOutcome[Record]:
    return server.handle(bytes.fromhex(data), records, in_progress=False)


def seqs(records: tuple[Record, ...]) -> list[int]:
    return [r.sequence_number for r in records]


# Operator → (operand, sequence numbers it selects from 10..14).
SELECTIONS = {
    Operator.ALL_RECORDS: ("", [10, 11, 12, 13, 14]),
    Operator.LESS_THAN_OR_EQUAL_TO: ("01 0C 00", [10, 11, 12]),
    Operator.GREATER_THAN_OR_EQUAL_TO: ("01 0C 00", [12, 13, 14]),
    Operator.WITHIN_RANGE_OF: ("01 0B 00 0D 00", [11, 12, 13]),
    Operator.FIRST_RECORD: ("", [10]),
    Operator.LAST_RECORD: ("", [14]),
}


@pytest.mark.parametrize(("operator", "selection"), SELECTIONS.items())
def test_report_stored_records(operator: Operator, selection: tuple[str, list[int]]) -> None:
    operand, expected = selection
    outcome = run(f"01 {operator:02X} {operand}")
    assert outcome.response is None
    assert seqs(outcome.report) == expected


@pytest.mark.parametrize(("operator", "selection"), SELECTIONS.items())
def test_report_number_of_stored_records(operator: Operator, selection: tuple[str, list[int]]) -> None:
    operand, expected = selection
    assert run(f"04 {operator:02X} {operand}") == RacpOutcome(response=number_of_records(len(expected)))


@pytest.mark.parametrize(("operator", "selection"), SELECTIONS.items())
def test_delete_stored_records(operator: Operator, selection: tuple[str, list[int]]) -> None:
    operand, expected = selection
    outcome = run(f"02 {operator:02X} {operand}")
    assert outcome.response == bytes.fromhex("06 00 02 01")
    assert seqs(outcome.delete) == expected
    assert outcome.report == ()


@pytest.mark.parametrize(
    "op_code", [OpCode.REPORT_STORED_RECORDS, OpCode.DELETE_STORED_RECORDS, OpCode.REPORT_NUMBER_OF_STORED_RECORDS]
)
def test_null_operator_is_invalid_and_rfu_operators_unsupported(op_code: OpCode) -> None:
    assert run(f"{op_code:02X} 00").response == response(op_code, ResponseCode.INVALID_OPERATOR)
    for rfu in (0x07, 0x80, 0xFF):
        assert run(f"{op_code:02X} {rfu:02X}").response == response(op_code, ResponseCode.OPERATOR_NOT_SUPPORTED)


@pytest.mark.parametrize("operator", range(0x00, 0x08))
@pytest.mark.parametrize("op_code", [0x00, 0x05, 0x06, 0x07, 0x08, 0x7F, 0xFF])
def test_unknown_and_server_to_client_op_codes_are_not_supported(op_code: int, operator: int) -> None:
    outcome = run(f"{op_code:02X} {operator:02X}")
    assert outcome == RacpOutcome(response=bytes((0x06, 0x00, op_code, ResponseCode.OP_CODE_NOT_SUPPORTED)))


def test_abort() -> None:
    # Origin: reference §5.4 request "03 00" and response "06 00 03 01".
    assert run("03 00") == RacpOutcome(response=bytes.fromhex("06 00 03 01"), abort=True)
    for operator in range(0x01, 0x08):
        assert run(f"03 {operator:02X}").response == bytes.fromhex("06 00 03 03")  # invalid operator
    assert run("03 00 01").response == bytes.fromhex("06 00 03 05")  # invalid operand


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        ("01 01 01 0A 00", ResponseCode.INVALID_OPERAND),  # "all" takes no operand
        ("01 05 00", ResponseCode.INVALID_OPERAND),  # nor "first"
        ("01 06 01", ResponseCode.INVALID_OPERAND),  # nor "last"
        ("01 03", ResponseCode.INVALID_OPERAND),  # ≥ needs one
        ("01 03 01 0A", ResponseCode.INVALID_OPERAND),  # sequence number is 2 bytes
        ("01 03 01 0A 00 00", ResponseCode.INVALID_OPERAND),
        ("01 04 01 0A 00", ResponseCode.INVALID_OPERAND),  # range needs two bounds
        ("01 04 01 14 00 0A 00", ResponseCode.INVALID_OPERAND),  # lower bound above upper
        ("01 03 00 0A 00", ResponseCode.OPERAND_NOT_SUPPORTED),  # filter type 0 is RFU
        ("01 03 03 0A 00", ResponseCode.OPERAND_NOT_SUPPORTED),  # filter types 3+ are RFU
        ("01 03 02 E8 07 0D 01 00 00 00", ResponseCode.INVALID_OPERAND),  # month 13
        ("01 03 02 E8 07 05 01 00 00", ResponseCode.INVALID_OPERAND),  # 6-byte time
        ("01 02 01 05 00", ResponseCode.NO_RECORDS_FOUND),  # ≤ 5: nothing that old
        ("02 03 01 64 00", ResponseCode.NO_RECORDS_FOUND),  # delete ≥ 100: nothing that new
    ],
)
def test_operand_errors_and_empty_results(request_: str, code: ResponseCode) -> None:
    op_code = bytes.fromhex(request_)[0]
    assert run(request_) == RacpOutcome(response=response(op_code, code))


def test_count_of_nothing_is_zero_not_an_error() -> None:
    assert run("04 03 01 64 00").response == bytes.fromhex("05 00 00 00")
    assert run("04 01", records=()).response == bytes.fromhex("05 00 00 00")


def test_empty_memory() -> None:
    # Origin: reference §5.4 response "06 00 01 06" (no records found).
    for request in ("01 01", "01 05", "01 06"):
        assert run(request, records=()).response == bytes.fromhex("06 00 01 06")
    assert run("02 01", records=()).response == bytes.fromhex("06 00 02 06")


def test_reference_request_vectors() -> None:
    # Origin: reference §5.4 request vectors, against records numbered 250..269.
    records = tuple(Record(seq, T0 + timedelta(hours=seq)) for seq in range(250, 270))
    assert seqs(run("01 01", records).report) == list(range(250, 270))
    assert seqs(run("01 03 01 02 01", records).report) == list(range(258, 270))  # ≥ 258 (0x0102), inclusive
    assert run("01 04 01 0A 00 14 00", records).response == bytes.fromhex("06 00 01 06")  # 10…20: none here
    assert seqs(run("01 05", records).report) == [250]
    assert seqs(run("01 06", records).report) == [269]
    assert seqs(run("02 01", records).delete) == list(range(250, 270))
    assert run("04 01", records).response == bytes.fromhex("05 00 14 00")


def test_user_facing_time_filter() -> None:
    # Origin: reference §5.4 "01 03 02 E8 07 05 01 00 00 00 → user-facing time ≥ 2024-05-01 00:00:00".
    assert seqs(run("01 03 02 E8 07 05 01 00 00 00").report) == [12, 13, 14]
    assert seqs(run("01 02 02 E8 07 04 1E 08 00 00").report) == [10, 11]  # ≤ 2024-04-30 08:00, inclusive
    assert seqs(run("01 04 02 E8 07 04 1E 00 00 00 E8 07 05 01 17 3B 3B").report) == [11, 12]


def test_a_server_without_time_filter_or_delete() -> None:
    # Origin: reference §5.4 "many meters reply 0x09 operand not supported"; "06 00 02 02 → delete not supported".
    server: RacpServer[Record] = RacpServer(filter_types=frozenset({FilterType.SEQUENCE_NUMBER}), supports_delete=False)
    assert run("01 03 02 E8 07 05 01 00 00 00", server=server).response == bytes.fromhex("06 00 01 09")
    assert run("02 01", server=server).response == bytes.fromhex("06 00 02 02")


def test_a_server_with_fewer_operators() -> None:
    server: RacpServer[Record] = RacpServer(
        operators=frozenset({Operator.ALL_RECORDS, Operator.GREATER_THAN_OR_EQUAL_TO})
    )
    assert run("01 02 01 0C 00", server=server).response == bytes.fromhex("06 00 01 04")
    assert run("04 05", server=server).response == bytes.fromhex("06 00 04 04")
    assert seqs(run("01 03 01 0C 00", server=server).report) == [12, 13, 14]


def test_response_vectors() -> None:
    # Origin: reference §5.4 response vectors.
    assert number_of_records(42) == bytes.fromhex("05 00 2A 00")
    success = response(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS)
    assert success == REPORT_COMPLETE == bytes.fromhex("06 00 01 01")
    assert response(OpCode.REPORT_STORED_RECORDS, ResponseCode.INVALID_OPERAND) == bytes.fromhex("06 00 01 05")


def test_in_progress_refuses_all_but_abort() -> None:
    for request in ("01 01", "04 01", "02 01", "07 00"):
        with pytest.raises(AttError) as refused:
            SERVER.handle(bytes.fromhex(request), RECORDS, in_progress=True)
        assert refused.value.code == AttErrorCode.PROCEDURE_ALREADY_IN_PROGRESS
    assert SERVER.handle(bytes.fromhex("03 00"), RECORDS, in_progress=True).abort


@pytest.mark.parametrize("data", ["", "01"])
def test_writes_shorter_than_op_code_and_operator_are_att_errors(data: str) -> None:
    with pytest.raises(AttError) as refused:
        run(data)
    assert refused.value.code == AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH
