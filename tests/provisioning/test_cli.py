"""A logistics lead runs a cuff from stock to a patient's home, through a replacement and back to
stock, with the ``carehub`` commands only (called as entry-point functions), while the real
pipeline (Mosquitto, ``carehub ingest``) delivers the hub's readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from carehub.cli import main
from carehub.local_services import MosquittoBroker
from provisioning import registry
from tests.ingest.conftest import bp_reading, envelope
from tests.ingest.test_pipeline import StartIngest, start_ingest  # noqa: F401 - fixture
from tests.pipeline import HubClient, wait_until
from tests.provisioning.conftest import Conn

ACTOR = ["--actor", "lee@clinic.example"]
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)


@pytest.fixture
def cli(database_url: str, db: Conn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)
    practice = registry.create_practice(db, name="CLI Practice", time_zone="America/Chicago")
    registry.create_user(db, practice_id=practice, email="lee@clinic.example", display_name="Lee", role="logistics")
    registry.create_user(
        db, practice_id=practice, email="dr@clinic.example", display_name="Dr", role="clinician", credential="physician"
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> str:
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == code, f"{argv}: exit {status}\n{out}\n{err}"
    return out + err


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def device(capsys: pytest.CaptureFixture[str], serial: str) -> dict[str, Any]:
    shown: list[dict[str, Any]] = json.loads(run(capsys, "devices", "show", serial, "--json", *ACTOR))
    return shown[0]


def test_stock_to_home_replacement_and_back_to_stock(
    cli: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    broker: MosquittoBroker,
    topic_root: str,
    start_ingest: StartIngest,  # noqa: F811
) -> None:
    run(capsys, "devices", "add-model", *ACTOR, "--vendor", "A&D", "--model", "UA-651BLE", "--kind", "bp_cuff",
        "--connectivity", "ble", "--fda-status", "cleared_510k", "--fda-reference", "K140283")  # fmt: skip
    bad = tmp_path / "bad.csv"
    bad.write_text("serial,vendor,model,ble_address\nBP-1,A&D,UA-651BLE,\n")
    assert "line 2: " in run(capsys, "devices", "import", str(bad), *ACTOR, code=1)
    stock = tmp_path / "stock.csv"
    stock.write_text("serial,vendor,model,ble_address,lot\nBP-1,A&D,UA-651BLE,A4:C1:38:01:00:01,L1\n"
                     "BP-2,A&D,UA-651BLE,A4:C1:38:01:00:02,L1\n")  # fmt: skip
    assert "imported 2" in run(capsys, "devices", "import", str(stock), *ACTOR)

    run(capsys, "patients", "add", "MRN-9", "--time-zone", "America/Chicago", *ACTOR)
    refused = run(capsys, "patients", "add", "MRN-9", "--time-zone", "America/Chicago", *ACTOR, code=1)
    assert "refused by the database (patients_practice_id_mrn_key)" in refused
    run(capsys, "patients", "update", "MRN-9", *ACTOR, "--mbi", "1EG4-TE5-MK73", "--last-visit", "2025-11-02",
        "--address-line1", "1 Main St", "--city", "Peoria", "--state", "IL", "--postal-code", "61602")  # fmt: skip
    assert "hypertension" in run(capsys, "patients", "add-condition", "MRN-9", "I10", *ACTOR)
    not_yet = json.loads(run(capsys, "patients", "eligibility", "MRN-9", "--program", "rpm", "--condition", "I10",
                             "--json", *ACTOR, code=3))  # fmt: skip
    assert [f["rule"] for f in not_yet[0]["findings"] if not f["ok"]] == ["RPM-CONSENT-1"]
    run(capsys, "patients", "consent", "MRN-9", "--program", "rpm", "--modality", "verbal", "--text-version",
        "rpm-2026.1", "--cost-sharing-explained", "--at", at(-48), *ACTOR)  # fmt: skip
    run(capsys, "patients", "enroll", "MRN-9", "--program", "rpm", "--condition", "I10", "--ordering",
        "dr@clinic.example", "--starts", (T0 - timedelta(days=1)).date().isoformat(), *ACTOR)  # fmt: skip

    run(capsys, "provisioning", "add-hub", "hub-cli-1", "--serial", "HUBSER-1", *ACTOR)
    password = run(capsys, "provisioning", "issue-hub", "hub-cli-1", *ACTOR).splitlines()[-1]
    assert len(password) >= 40

    run(capsys, "devices", "assign", "BP-1", "--patient", "MRN-9", "--hub", "hub-cli-1", "--at", at(0), *ACTOR)
    run(capsys, "shipments", "create", "MRN-9", "--device", "BP-1", "--carrier", "ups", "--tracking",
        "1Z5R89390357567127", "--ship-date", T0.date().isoformat(), "--at", at(1), *ACTOR)  # fmt: skip
    webhook = tmp_path / "delivered.json"
    webhook.write_text(json.dumps({"id": "evt_1", "result": {
        "carrier": "UPS", "tracking_code": "1Z5R89390357567127", "status": "delivered", "updated_at": at(30),
        "tracking_details": [{"status": "delivered", "datetime": at(30), "message": "Delivered"}]}}))  # fmt: skip
    assert "BP-1 deliver" in run(capsys, "shipments", "event", "--webhook", str(webhook), *ACTOR)
    assert "already recorded" in run(capsys, "shipments", "event", "--webhook", str(webhook), *ACTOR)
    assert device(capsys, "BP-1")["custody_state"] == "delivered"

    start_ingest()
    hub = HubClient(broker.port, topic_root, "hub-cli-1")
    try:
        hub.publish(envelope([bp_reading("BP-1", T0 + timedelta(hours=40))], batch_id="C1"))
        assert hub.wait_ack("C1")["accepted"]
        wait_until(lambda: device(capsys, "BP-1")["custody_state"] == "activated", 10, "activation")
        run(capsys, "devices", "setup", "BP-1", "--modality", "video", "--at", at(41), *ACTOR)

        run(capsys, "devices", "replace", "BP-1", "BP-2", "--reason", "cuff_leak", "--carrier", "usps",
            "--tracking", "9400111201080805483016", "--at", at(60), *ACTOR)  # fmt: skip
        run(capsys, "shipments", "event", "--carrier", "usps", "--tracking", "9400111201080805483016",
            "--status", "delivered", "--at", at(80), *ACTOR)  # fmt: skip
        hub.publish(envelope([bp_reading("BP-2", T0 + timedelta(hours=90))], batch_id="C2"))
        assert hub.wait_ack("C2")["accepted"]
    finally:
        hub.close()
    assert device(capsys, "BP-2")["custody_state"] == "activated"
    old = device(capsys, "BP-1")
    assert (old["custody_state"], old["patient_id"], old["hub_id"]) == ("return_requested", None, None)

    run(capsys, "shipments", "create", "MRN-9", "--device", "BP-1", "--return", "--carrier", "fedex",
        "--tracking", "986578788855", "--at", at(100), *ACTOR)  # fmt: skip
    run(capsys, "shipments", "event", "--carrier", "fedex", "--tracking", "986578788855", "--status", "delivered",
        "--at", at(130), *ACTOR)  # fmt: skip
    assert device(capsys, "BP-1")["custody_state"] == "returned"
    for action in ("quarantine", "refurbish", "restock"):
        run(capsys, "devices", "transition", "BP-1", action, "--at", at(140), *ACTOR)
    run(capsys, "devices", "transition", "BP-1", "retire", "--at", at(140), *ACTOR, code=1)  # no reason
    final = device(capsys, "BP-1")
    assert final["custody_state"] == "in_stock"
    assert [e["action"] for e in final["history"]] == [
        "assign", "create_label", "deliver", "activate", "report_faulty", "ship_replacement", "request_return",
        "ship_return", "receive_return", "quarantine", "refurbish", "restock",
    ]  # fmt: skip
    assert final["activated_at"] is None  # a restocked unit starts afresh; its history keeps the old dates
    table = run(capsys, "devices", "list", *ACTOR)
    assert table.splitlines()[0].split() == ["SERIAL", "KIND", "MODEL", "CUSTODY_STATE", "ENGAGEMENT", "PATIENT_MRN",
                                             "HUB_ID", "ACTIVATED_AT"]  # fmt: skip
    assert any(line.startswith("BP-2") and "MRN-9" in line for line in table.splitlines())
    listed = {d["serial"]: d["engagement"] for d in json.loads(run(capsys, "devices", "list", "--json", *ACTOR))}
    assert listed == {"BP-1": "not_deployed", "BP-2": "active"}  # BP-2 measured about 2.25 days ago
    shipments = json.loads(run(capsys, "shipments", "list", "--json", *ACTOR))
    assert [(s["carrier"], s["direction"], s["status"]) for s in shipments] == [
        ("ups", "outbound", "delivered"), ("usps", "outbound", "delivered"), ("fedex", "return", "delivered"),
    ]  # fmt: skip

    summary = json.loads(run(capsys, "patients", "show", "MRN-9", "--json", *ACTOR))[0]
    assert (summary["mbi_on_file"], summary["city"], summary["last_visit_on"]) == (True, "Peoria", "2025-11-02")
    assert [(c["icd10_code"], c["condition_keys"]) for c in summary["conditions"]] == [("I10", ["hypertension"])]
    assert [e["program"] for e in summary["enrollments"]] == ["rpm"]
    assert [(d["serial"], d["custody_state"]) for d in summary["devices"]] == [("BP-2", "activated")]
    shown = run(capsys, "patients", "show", "MRN-9", *ACTOR)
    assert "1EG4" not in shown
    assert "devices:" in shown
    proof = json.loads(run(capsys, "patients", "evidence", "MRN-9", "--json", *ACTOR))
    assert [
        (e["device_serial"], e["assigned_at"], e["assignment_ended_at"], e["assignment_end_reason"], e["carrier"],
         e["tracking_number"], e["delivered_at"], e["first_reading_at"], e["condition_icd10"])
        for e in proof
    ] == [
        ("BP-1", at(0), at(90), "cuff_leak", "ups", "1Z5R89390357567127", at(30), at(40), "I10"),
        ("BP-2", at(60), None, None, "usps", "9400111201080805483016", at(80), at(90), "I10"),
    ]  # fmt: skip
    assert all(e["consent_at"] == at(-48) and e["ordering_practitioner"] for e in proof)
    assert [(e["setup_at"], e["setup_modality"]) for e in proof] == [(at(41), "video"), (None, None)]
