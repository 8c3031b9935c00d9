"""RACP requests and responses (reference §5.4) and the typed errors for every way a value can be wrong."""

from __future__ import annotations

import pytest

from drivers import (
    DateOutOfRange,
    DecodeError,
    MalformedValue,
    MissingField,
    ReservedValue,
    TruncatedFrame,
    UnknownCharacteristic,
    decode,
)
from drivers.date_time import DateTime
from drivers.racp import FilterType, OpCode, Operator, RacpCount, RacpRequest, RacpResponse, ResponseValue


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §5.4 request vectors
        ("01 01", RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.ALL_RECORDS)),
        ("01 03 01 02 01", RacpRequest.records_from(258)),
        (
            "01 04 01 0A 00 14 00",
            RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE, FilterType.SEQUENCE_NUMBER, (10, 20)),
        ),
        (
            "01 03 02 E8 07 05 01 00 00 00",
            RacpRequest(
                OpCode.REPORT_STORED_RECORDS,
                Operator.GREATER_THAN_OR_EQUAL,
                FilterType.USER_FACING_TIME,
                (DateTime(2024, 5, 1, 0, 0, 0),),
            ),
        ),
        ("01 05", RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.FIRST_RECORD)),
        ("01 06", RacpRequest(OpCode.REPORT_STORED_RECORDS, Operator.LAST_RECORD)),
        ("02 01", RacpRequest(OpCode.DELETE_STORED_RECORDS, Operator.ALL_RECORDS)),
        ("03 00", RacpRequest(OpCode.ABORT_OPERATION, Operator.NULL)),
        ("04 01", RacpRequest(OpCode.REPORT_NUMBER_OF_STORED_RECORDS, Operator.ALL_RECORDS)),
    ],
)
def test_racp_requests_decode_and_encode(wire: str, expected: RacpRequest) -> None:
    got = decode("2a52", bytes.fromhex(wire))
    assert got == expected
    assert expected.encode() == bytes.fromhex(wire)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        # reference §5.4 response vectors
        ("05 00 2A 00", RacpCount(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, 42, 2)),
        ("06 00 01 01", RacpResponse(OpCode.REPORT_STORED_RECORDS, ResponseValue.SUCCESS)),
        ("06 00 01 06", RacpResponse(OpCode.REPORT_STORED_RECORDS, ResponseValue.NO_RECORDS_FOUND)),
        ("06 00 03 01", RacpResponse(OpCode.ABORT_OPERATION, ResponseValue.SUCCESS)),
        ("06 00 01 05", RacpResponse(OpCode.REPORT_STORED_RECORDS, ResponseValue.INVALID_OPERAND)),
        ("06 00 02 02", RacpResponse(OpCode.DELETE_STORED_RECORDS, ResponseValue.OP_CODE_NOT_SUPPORTED)),
        # reference §7.3: PLXS count width unverified, 1- and 4-byte counts accepted like Nordic's parser
        ("05 00 07", RacpCount(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, 7, 1)),
        ("05 00 00 00 01 00", RacpCount(OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, 65536, 4)),
    ],
)
def test_racp_responses(wire: str, expected: object) -> None:
    assert decode("2a52", bytes.fromhex(wire)) == expected


def test_racp_finished_on_success_or_no_records() -> None:
    assert RacpResponse(OpCode.REPORT_STORED_RECORDS, ResponseValue.NO_RECORDS_FOUND).finished
    assert not RacpResponse(OpCode.REPORT_STORED_RECORDS, ResponseValue.INVALID_OPERAND).finished


@pytest.mark.parametrize(
    ("characteristic", "wire", "error"),
    [
        ("2a52", "01 07", ReservedValue),  # operator 0x07 RFU
        ("2a52", "10 00", ReservedValue),  # Omron's vendor op code is not SIG RACP
        ("2a52", "01 03 05 01 00", ReservedValue),  # filter type 0x05 RFU
        ("2a52", "06 00 01 0A", ReservedValue),  # response value 0x0A RFU
        ("2a52", "01 00", ReservedValue),  # report with operator Null
        ("2a52", "01", TruncatedFrame),
        ("2a52", "01 04 01 0A 00", TruncatedFrame),  # range with one bound
        ("2a52", "05 00 01 02 03", MalformedValue),  # 3-byte count
        ("2a35", "00 78 00 50", TruncatedFrame),
        ("2a35", "", TruncatedFrame),
        ("2a18", "01 05 00 E8 07 01 02 08 1E 00", MissingField),  # time offset announced, absent
        ("2a08", "E8 07 0D 09 07 05 00", DateOutOfRange),  # month 13
        ("2a08", "E8 07 02 1E 07 05 00", DateOutOfRange),  # 30 February
        ("2a08", "E8 07 03 09 18 05 00", DateOutOfRange),  # hour 24
        ("2a08", "10 04 03 09 07 05 00", DateOutOfRange),  # year 1040 < 1582
        ("2a29", "FF FE", MalformedValue),  # not UTF-8
        ("2a99", "00", UnknownCharacteristic),
    ],
)
def test_every_bad_frame_is_a_typed_error_with_raw_hex(
    characteristic: str, wire: str, error: type[DecodeError]
) -> None:
    data = bytes.fromhex(wire)
    with pytest.raises(error) as caught:
        decode(characteristic, data)
    assert caught.value.raw_hex == data.hex()
    assert caught.value.reason
    assert data.hex() in str(caught.value) or not data


def test_glucose_offset_past_year_9999_is_date_out_of_range() -> None:
    # our own vector: base 9999-12-31 23:59 + 32767 min would leave the calendar
    with pytest.raises(DateOutOfRange):
        decode("2a18", bytes.fromhex("01 01 00 0F 27 0C 1F 17 3B 00 FF 7F"))


def test_uuid_forms_all_resolve() -> None:
    data = bytes.fromhex("64")
    assert decode(0x2A19, data) == decode("0x2A19", data) == decode("00002A19-0000-1000-8000-00805F9B34FB", data)


def test_response_to_a_reserved_op_code_decodes() -> None:
    """Regression (round trip with firmware_sim's GLS server): a server answers an RFU request op code
    with ``06 00 <that op code> 02`` (op code not supported); drivers refused the whole indication as a
    reserved value, so a collector could not read a well-formed answer. The echo is kept as an int."""
    assert decode("2a52", bytes.fromhex("06 00 00 02")) == RacpResponse(0x00, ResponseValue.OP_CODE_NOT_SUPPORTED)
    assert decode("2a52", bytes.fromhex("06 00 F0 02")) == RacpResponse(0xF0, ResponseValue.OP_CODE_NOT_SUPPORTED)
