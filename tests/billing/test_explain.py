"""``carehub billing explain``: the issue's document works end to end; unknown fields and invalid
values exit 2 with a message naming the field, never a guess."""

# ruff: noqa: N802  (test names carry the reference's upper-case rule ids, e.g. RPM-DAYS-3)

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carehub.cli import main

ISSUE_EXAMPLE: dict[str, Any] = {
    "month": "2026-11",
    "patient": {"timezone": "America/Chicago", "established": True, "conditions": ["I10", "E11.9"]},
    "consents": [{"program": "RPM", "date": "2026-10-20"}, {"program": "CCM", "date": "2026-10-20"}],
    "care_plan": True,
    "ccm_complex": False,
    "device_period_start": "2026-11-01",
    "setup_billed_in_episode": False,
    "readings": [{"measured_at": f"2026-11-{d:02d}T14:03:00Z", "source": "device"} for d in range(1, 15)]
    + [{"measured_at": "2026-11-20T14:03:00Z", "source": "manual"}],
    "time_entries": [
        {"date": "2026-11-03", "minutes": 12, "program": "RPM", "performer": "clinical_staff", "interactive": True},
        {"date": "2026-11-05", "minutes": 25, "program": "CCM", "performer": "clinical_staff", "interactive": False},
    ],
}


def explain(tmp_path: Path, doc: object, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc))
    code = main(["billing", "explain", "--input", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_issue_example_earns_99445_99470_99490(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = explain(tmp_path, ISSUE_EXAMPLE, capsys)
    assert code == 0
    result = json.loads(out)
    assert [(c["code"], c["units"], c["amount"]) for c in result["codes"]] == [
        ("99445", 1, 52.11),
        ("99470", 1, 26.05),
        ("99490", 1, 66.13),
    ]
    not_billed = {n["code"]: n["reason"] for n in result["not_billed"]}
    assert not_billed["99454"] == "14 days of data in 2026-11-01..2026-11-30, 16 needed for 99454; 99445 earned instead"
    assert result["total_amount"] == 144.29
    assert result["codes"][0]["evidence"]["data_days"] == [f"2026-11-{d:02d}" for d in range(1, 15)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "colour: unknown field"),
        ({"patient": {**ISSUE_EXAMPLE["patient"], "mrn": "123"}}, "patient.mrn: unknown field"),
        ({"month": "2026-13"}, "month: Value error, month must be YYYY-MM"),
        ({"patient": {**ISSUE_EXAMPLE["patient"], "timezone": "Mars/Olympus"}}, "unknown IANA time zone"),
        ({"patient": {**ISSUE_EXAMPLE["patient"], "conditions": ["hypertension"]}}, "not an ICD-10-CM code"),
        (
            {"patient": {**ISSUE_EXAMPLE["patient"], "established": "yes"}},
            "patient.established: Input should be a valid boolean",
        ),
        ({"readings": [{"measured_at": "2026-11-01T14:03:00", "source": "device"}]}, "readings[0].measured_at"),
        ({"readings": [{"measured_at": "2026-11-01T14:03:00Z", "source": "hub"}]}, "readings[0].source"),
        (
            {
                "time_entries": [
                    {
                        "date": "2026-11-03",
                        "minutes": "12",
                        "program": "RPM",
                        "performer": "clinical_staff",
                        "interactive": True,
                    }
                ]
            },
            "time_entries[0].minutes: Input should be a valid integer",
        ),
        (
            {
                "time_entries": [
                    {
                        "date": "2026-11-03",
                        "minutes": 0,
                        "program": "RPM",
                        "performer": "clinical_staff",
                        "interactive": True,
                    }
                ]
            },
            "time_entries[0].minutes",
        ),
        (
            {
                "time_entries": [
                    {"date": "2026-11-03", "minutes": 5, "program": "RPM", "performer": "nurse", "interactive": True}
                ]
            },
            "time_entries[0].performer",
        ),
        ({"consents": [{"program": "RTM", "date": "2026-10-20"}]}, "consents[0].program"),
    ],
)
def test_invalid_documents_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], message: str
) -> None:
    code, out, err = explain(tmp_path, {**ISSUE_EXAMPLE, **change}, capsys)
    assert (code, out) == (2, "")
    assert message in err


def test_TIME_1_an_entry_for_two_programs_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = {"date": "2026-11-03", "minutes": 5, "program": "RPM+CCM", "performer": "physician", "interactive": True}
    code, _, err = explain(tmp_path, {**ISSUE_EXAMPLE, "time_entries": [entry]}, capsys)
    assert code == 2
    assert "time_entries[0].program" in err


def test_a_missing_field_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {k: v for k, v in ISSUE_EXAMPLE.items() if k != "care_plan"}
    code, _, err = explain(tmp_path, doc, capsys)
    assert code == 2
    assert "care_plan: Field required" in err


def test_not_json_and_a_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["billing", "explain", "--input", str(tmp_path / "bad.json")]) == 2
    assert main(["billing", "explain", "--input", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_review_conditions_do_not_count_for_ccm_without_an_attestation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = {**ISSUE_EXAMPLE, "patient": {**ISSUE_EXAMPLE["patient"], "conditions": ["I10", "F32.9"]}}
    code, out, _ = explain(tmp_path, doc, capsys)
    assert code == 0
    assert "99490" not in [c["code"] for c in json.loads(out)["codes"]]
