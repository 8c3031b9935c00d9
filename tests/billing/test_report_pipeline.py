"""The monthly report on a database filled through the real pipeline: simulated hubs publish a month
of November 2026 readings (timestamps injected; manual entries, test traffic, resends and readings
near the patients' midnight included) over a private Mosquitto to a ``carehub ingest`` child process;
care time goes through the care-time service. The report's codes must equal ``billing explain`` on
the same raw facts, patient by patient."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import psycopg
import pytest

from billing import care_time, repository
from billing.care_time import Activity
from billing.case import Program
from carehub.cli import main
from carehub.local_services import IngestProcess, MosquittoBroker
from core.domain import DeviceKind
from provisioning import enrollment as provisioning_enrollment
from provisioning import evidence as provisioning_evidence
from provisioning import registry
from provisioning.eligibility import Program as ProvisioningProgram
from tests.billing.conftest import create_user
from tests.ingest.conftest import bp_reading, envelope, weight_reading
from tests.pipeline import HubClient

Conn = psycopg.Connection[tuple[Any, ...]]
SEED = 20261130
ASSIGNED_FROM = datetime(2026, 9, 1, tzinfo=UTC)


def local(zone: str, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def nov(d: int) -> date:
    return date(2026, 11, d)


# Per patient: time zone, conditions, local (day, hour, minute, source) readings -- source is
# device, manual or test -- and care time (program, local day, hour, minutes, performer, interactive).
PATIENTS: dict[str, dict[str, Any]] = {
    "P1": {  # daily cuff readings, RPM + CCM time: 99453, 99454, 99457 + 99458, 99490
        "zone": "America/Chicago",
        "conditions": ["I10", "E11.9"],
        "programs": [ProvisioningProgram.RPM, ProvisioningProgram.CCM],
        "care_plan": True,
        "activated": True,
        "readings": [(nov(d), 8, 15, "device") for d in range(1, 31)],
        "time": [
            ("RPM", nov(4), 10, 25, "nurse", True),
            ("RPM", nov(18), 10, 16, "nurse", False),
            ("CCM", nov(5), 9, 22, "nurse", False),
        ],
    },
    "P2": {  # 14 device days -- two of them only because of the patient's local midnight -- and
        # manual and test readings that must not count: 99445, 99470
        "zone": "America/Los_Angeles",
        "conditions": ["I50.9"],
        "programs": [ProvisioningProgram.RPM],  # one chronic condition: not CCM-eligible
        "care_plan": False,
        "activated": False,  # no activation recorded: the first data day anchors the period
        "readings": [(nov(d), 9, 0, "device") for d in range(1, 13)]
        + [(nov(20), 23, 59, "device"), (nov(21), 0, 1, "device")]
        + [(nov(d), 9, 0, "manual") for d in range(13, 20)]
        + [(nov(d), 10, 0, "test") for d in range(22, 30)],
        "time": [("RPM", nov(10), 14, 12, "nurse", True)],
    },
    "P3": {  # one device day (no period ends in November), 9 minutes edited to 10: 99470 only
        "zone": "America/New_York",
        "conditions": ["E11.9", "I10", "N18.3"],
        "programs": [ProvisioningProgram.RPM, ProvisioningProgram.CCM],
        "care_plan": True,
        "activated": False,
        "readings": [(nov(3), 7, 30, "device")],
        "time": [("RPM", nov(12), 11, 9, "physician", True)],
    },
}


@pytest.fixture
def ingest(database_url: str, broker: MosquittoBroker, topic_root: str, tmp_path: Path) -> Iterator[IngestProcess]:
    worker = IngestProcess.start(
        name="billing-w1",
        database_url=database_url,
        mqtt_port=broker.port,
        workdir=tmp_path / "ingest",
        topic_root=topic_root,
        # the simulated month lies in the past of the wall clock; let ingest accept it
        extra_env={"CAREHUB_INGEST_MAX_READING_AGE_DAYS": "3650"},
    )
    worker.wait_ready()
    yield worker
    worker.stop()


def reading_payload(serial: str, at: datetime, source: str, rng: random.Random) -> dict[str, Any]:
    reading = bp_reading(serial, at, sys=rng.randint(110, 150), dia=rng.randint(65, 95))
    if source == "manual":
        reading["flags"] = ["manual_entry"]
        reading["measured_at_source"] = "hub_receipt"
    elif source == "test":
        reading["flags"] = ["test_data"]
    return reading


def test_monthly_report_from_the_pipeline_equals_explain_on_the_same_facts(
    db: Conn,
    database_url: str,
    broker: MosquittoBroker,
    topic_root: str,
    ingest: IngestProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(SEED)  # seed printed in the failure message below
    practice = registry.create_practice(db, name="Report Practice", time_zone="America/Chicago")
    nurse = create_user(db, practice, "nurse", "care_staff", "nurse")
    physician = create_user(db, practice, "doctor", "clinician", "physician")
    performers = {"nurse": nurse, "physician": physician}
    ids: dict[str, UUID] = {}
    explain_docs: dict[str, dict[str, Any]] = {}
    for n, (name, spec) in enumerate(PATIENTS.items(), start=1):
        zone = spec["zone"]
        patient = registry.create_patient(db, practice_id=practice, mrn=name, time_zone=zone)
        ids[name] = patient
        for code in spec["conditions"]:
            db.execute(
                "INSERT INTO patient_conditions (id, practice_id, patient_id, icd10_code, chronic)"
                " VALUES (%s, %s, %s, %s, true)",
                (uuid4(), practice, patient, code),
            )
        hub = registry.create_hub(db, practice_id=practice, hub_id=f"bhub-{n:04d}", serial=f"BHUB{n}")
        cuff = registry.create_device(db, practice_id=practice, serial=f"BCUFF{n}", kind=DeviceKind.BP_CUFF)
        scale = registry.create_device(db, practice_id=practice, serial=f"BSCALE{n}", kind=DeviceKind.SCALE)
        for device in (cuff, scale):
            registry.assign_device_to_patient(db, device=device, patient_id=patient, valid_from=ASSIGNED_FROM)
            registry.assign_device_to_hub(db, device=device, hub_id=hub, valid_from=ASSIGNED_FROM)

        readings = [reading_payload(cuff.serial, local(zone, d, h, m), src, rng) for d, h, m, src in spec["readings"]]
        # a scale reading on a day the cuff already counted: two devices, one day (RPM-DAYS-5)
        first_day = spec["readings"][0][0]
        readings.append(weight_reading(scale.serial, local(zone, first_day, 7, 0)))
        client = HubClient(broker.port, topic_root, hub)
        try:
            for i in range(0, len(readings), 7):
                batch = readings[i : i + 7]
                client.publish(envelope(batch, batch_id=f"{hub}-{i}"))
                assert sorted(client.wait_ack(f"{hub}-{i}")["accepted"]) == sorted(r["reading_id"] for r in batch)
            # a resend of the first batch is a duplicate and never a second data day
            client.publish(envelope(readings[:7], batch_id=f"{hub}-resend"))
            assert len(client.wait_ack(f"{hub}-resend")["duplicate"]) == len(readings[:7])
        finally:
            client.close()

        time_docs = []
        for program, day, hour, minutes, who, interactive in spec["time"]:
            entry = care_time.add_manual(
                db,
                patient_id=patient,
                performer_id=performers[who],
                program=Program(program),
                activity=Activity.PATIENT_CALL if interactive else Activity.DATA_REVIEW,
                interactive=interactive,
                started_at=local(zone, day, hour),
                minutes=minutes,
                at=local(zone, day, hour) + timedelta(hours=1),
            )
            time_docs.append(
                {
                    "date": day.isoformat(),
                    "minutes": minutes,
                    "program": program,
                    "performer": "physician" if who == "physician" else "clinical_staff",
                    "interactive": interactive,
                    "id": str(entry.id),
                }
            )
        # an entry logged on the wrong patient and voided never counts; a corrected one counts as edited
        mistaken = care_time.add_manual(
            db,
            patient_id=patient,
            performer_id=nurse,
            program=Program.RPM,
            activity=Activity.PATIENT_CALL,
            interactive=True,
            started_at=local(zone, nov(25), 16),
            minutes=20,
            at=local(zone, nov(25), 17),
        )
        care_time.void_entry(db, entry_id=mistaken.id, by=nurse, at=local(zone, nov(25), 18), reason="wrong patient")
        if name == "P3":  # 9 physician minutes corrected to 10 on review: 99470 needs no more
            first_entry = UUID(time_docs[0]["id"])
            care_time.edit_entry(
                db, entry_id=first_entry, by=physician, at=local(zone, nov(26), 9), reason="call was 10 minutes",
                ended_at=local(zone, nov(12), 11, 10),
            )  # fmt: skip
            time_docs[0]["minutes"] = 10

        # enrollment through provisioning's records (migration 0100): last visit, consent, order
        provisioning_enrollment.update_patient(db, patient, mbi=f"1EG4TE5MK7{n}", last_visit_on=date(2026, 9, 15))
        consents = []
        for program in (ProvisioningProgram.RPM, ProvisioningProgram.CCM):
            consent_id = provisioning_enrollment.record_consent(
                db,
                patient,
                program=program,
                modality="verbal",
                obtained_at=local(zone, date(2026, 10, 25), 10),
                obtained_by=nurse,
                text_version="rpm-ccm-v1",
                cost_sharing_explained=True,
            )
            consents.append({"program": program.value.upper(), "date": "2026-10-25", "id": str(consent_id)})
        for program in spec["programs"]:
            provisioning_enrollment.enroll(
                db,
                patient,
                program=program,
                starts_on=date(2026, 10, 25),
                ordering_user_id=physician,
                condition_icd10=spec["conditions"][0],
            )
        if spec["care_plan"]:
            repository.record_care_plan(
                db, patient_id=patient, established_on=date(2026, 10, 25), recorded_by=physician, at=ASSIGNED_FROM
            )
        anchor, setup = None, None
        if spec["activated"]:
            # the set-up and education visit provisioning records (0101), the evidence behind 99453
            setup = str(
                provisioning_evidence.record_setup(
                    db, serial=cuff.serial, performed_by=nurse, performed_at=local(zone, date(2026, 10, 31), 10),
                    modality="in_person",
                )
            )  # fmt: skip  # what provisioning records at the device's first accepted reading
            db.execute("UPDATE devices SET activated_at = %s WHERE id = %s", (local(zone, nov(1), 8, 15), cuff.id))
            anchor = "2026-11-01"
        explain_docs[name] = {
            "month": "2026-11",
            "patient": {"timezone": zone, "established": True, "conditions": spec["conditions"]},
            "consents": consents,
            "care_plan": spec["care_plan"],
            "ccm_complex": False,
            "device_period_start": anchor,
            "setup_billed_in_episode": False,
            "setup_record": setup,
            "readings": [
                {
                    "measured_at": r["measured_at"],
                    "source": "manual" if "manual_entry" in r.get("flags", []) else "device",
                    "flags": [f for f in r.get("flags", []) if f != "manual_entry"],
                }
                for r in readings
            ],
            "time_entries": time_docs,
        }

    monkeypatch.setenv("CAREHUB_DATABASE_URL", database_url)
    base = [
        "billing",
        "report",
        "--practice",
        str(practice),
        "--month",
        "2026-11",
    ]
    assert main([*base, "--format", "json", "--as-of", "2026-11-28"]) == 0
    report = json.loads(capsys.readouterr().out)

    by_mrn = {p["mrn"]: p for p in report["patients"]}
    assert report["month"] == "2026-11", f"seed {SEED}"
    expected = {
        "P1": [("99453", 1), ("99454", 1), ("99457", 1), ("99458", 1), ("99490", 1)],
        "P2": [("99445", 1), ("99470", 1)],
        "P3": [("99470", 1)],
    }
    assert {m: [(c["code"], c["units"]) for c in p["codes"]] for m, p in by_mrn.items()} == expected

    # the same raw facts through `billing explain` give the same codes, units, amounts and dates
    for name, doc in explain_docs.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(doc))
        assert main(["billing", "explain", "--input", str(path)]) == 0
        explained = json.loads(capsys.readouterr().out)
        assert explained["codes"] == by_mrn[name]["codes"], name
        assert explained["not_billed"] == by_mrn[name]["not_billed"], name

    p2_days = next(c for c in by_mrn["P2"]["codes"] if c["code"] == "99445")["evidence"]["data_days"]
    assert "2026-11-20" in p2_days
    assert "2026-11-21" in p2_days
    assert len(p2_days) == 14
    p1_time = next(c for c in by_mrn["P1"]["codes"] if c["code"] == "99457")["evidence"]
    assert p1_time["minutes"] == 41
    assert len(p1_time["time_entries"]) == 2

    summary = report["summary"]
    assert summary["enrolled"] == {"CCM": 2, "RPM": 3}
    assert summary["active"] == {"CCM": 1, "RPM": 3}
    assert summary["codes"] == {"99445": 1, "99453": 1, "99454": 1, "99457": 1, "99458": 1, "99470": 2, "99490": 1}
    # 21.71 + 52.11 + 51.77 + 41.42 + 66.13 + 52.11 + 26.05 + 26.05
    assert summary["expected_allowed_amount"] == 337.35
    # as of 28 Nov (2 days left): P2 has 14 days and needs both remaining days -> at risk;
    # P3's first data day (3 Nov) anchors its period (3 Nov..2 Dec): 1 day so far, 15 needed in 4 days
    assert [
        (p["mrn"], p["days_so_far"], p["days_needed_for_99454"]) for p in summary["patients_at_risk_of_missing_16_days"]
    ] == [("P2", 14, 2)]
    assert [p["mrn"] for p in summary["patients_who_cannot_reach_16_days"]] == ["P3"]

    assert main([*base, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["mrn"], r["code"], r["units"], r["amount"]) for r in rows] == [
        ("P1", "99453", "1", "21.71"),
        ("P1", "99454", "1", "52.11"),
        ("P1", "99457", "1", "51.77"),
        ("P1", "99458", "1", "41.42"),
        ("P1", "99490", "1", "66.13"),
        ("P2", "99445", "1", "52.11"),
        ("P2", "99470", "1", "26.05"),
        ("P3", "99470", "1", "26.05"),
    ]
    assert all(len(r["case_sha256"]) == 64 for r in rows)
