"""``carehub decode``: one JSON document on stdout, exit 2 with the typed error for a bad frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carehub.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["decode", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_blood_pressure_prints_one_json_document(capsys: pytest.CaptureFixture[str]) -> None:
    # reference §4.1 vector 2
    code, out, _ = run(capsys, "2a35", "07 A0 F0 6B F0 7D F0 E8 07 03 09 07 05 00 48 00")
    assert code == 0
    doc = json.loads(out)
    assert doc["characteristic"] == "2a35"
    assert doc["kind"] == "blood_pressure"
    assert doc["measured_at"] == "2024-03-09T07:05:00"
    assert [(o["code"], round(o["value"], 1), o["unit"]) for o in doc["observations"]] == [
        ("MDC_PRESS_BLD_NONINV_SYS", 120.0, "mm[Hg]"),
        ("MDC_PRESS_BLD_NONINV_DIA", 80.3, "mm[Hg]"),
        ("MDC_PRESS_BLD_NONINV_MEAN", 93.8, "mm[Hg]"),
        ("MDC_PULS_RATE_NON_INV", 72.0, "/min"),
    ]
    assert doc["observations"][0]["source_value"] == 16.0
    assert doc["observations"][0]["source_unit"] == "kPa"
    assert doc["flags"] == []
    assert doc["fields"]["unit"] == "kPa"
    assert doc["fields"]["flags"] == {"value": 7, "set": ["unit_kpa", "time_stamp", "pulse_rate"]}


def test_decode_special_value_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    # reference §5.1 vector 3: LO status, mol/L
    code, out, _ = run(capsys, "0x2A18", "1E1000E807050B07000036C0F14000")
    doc = json.loads(out)
    assert code == 0
    assert doc["flags"] == ["result_below_range"]
    assert doc["observations"][0]["source_value"] == 5.4
    assert doc["fields"]["unit"] == "mol/L"


def test_bad_frame_prints_typed_error_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    # reference §4.1 vector 4
    code, out, err = run(capsys, "2a35", "02 78 00 50 00 5A 00")
    assert code == 2
    assert json.loads(out) == {
        "error": "MissingField",
        "reason": "Blood Pressure Measurement: flags 0x02 announce timestamp but the value ends after 7 bytes",
        "raw_hex": "02780050005a00",
    }
    assert "MissingField" in err


def test_strict_refuses_trailing_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "2a19", "6400")[0] == 0
    code, out, _ = run(capsys, "--strict", "2a19", "6400")
    assert (code, json.loads(out)["error"]) == (2, "TrailingBytes")


def test_unknown_characteristic_and_bad_hex_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "2a99", "00")[0] == 2
    assert run(capsys, "2a35", "zz")[0] == 2


def test_decode_vendor_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # reference §1.1 BP example
    body = tmp_path / "bodytrace.json"
    body.write_text(
        json.dumps(
            {
                "deviceId": 35787204001234,
                "ts": 1709560907123,
                "values": {"systolic": 15999, "diastolic": 10666, "pulse": 72, "unit": 1, "irregular": 0},
            }
        )
    )
    code, out, _ = run(capsys, "--vendor", "bodytrace", str(body))
    assert code == 0
    doc = json.loads(out)
    record = doc["records"][0]
    assert doc["vendor"] == "bodytrace"
    assert record["device_id"] == "357872040012347"
    assert record["measured_at"] == "2024-03-04T14:01:47.123000+00:00"
    assert record["observations"][0] == {
        "code": "MDC_PRESS_BLD_NONINV_SYS",
        "value": 120.0,
        "unit": "mm[Hg]",
        "source_value": 15999.0,
        "source_unit": "Pa",
    }


def test_decode_vendor_bad_payload_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    body = tmp_path / "bad.json"
    body.write_text('{"deviceId": 1, "ts": 1, "values": {"glucose": 5}}')
    code, out, _ = run(capsys, "--vendor", "bodytrace", str(body))
    assert (code, json.loads(out)["error"]) == (2, "UnknownVendorField")
