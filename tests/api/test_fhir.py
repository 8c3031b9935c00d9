"""The FHIR export against the real database: every resource it serves validates against the FHIR R4
models (fhir.resources' R4B package, wire-compatible with R4 for Patient, Device, Observation, Bundle
and OperationOutcome), a blood-pressure reading is one panel plus a separate pulse, date filters and
paging return each Observation exactly once, another practice's ids are 404, and errors are
OperationOutcomes."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from tests.api.conftest import T0, Practice, World, bearer

Conn = psycopg.Connection[tuple[Any, ...]]

FHIR_JSON = "application/fhir+json"
MORNING = T0 - timedelta(days=10)  # 2026-02-20 15:00 UTC, clear of the fixture's readings
MODELS: dict[str, Any] = {
    "Patient": Patient,
    "Device": Device,
    "Observation": Observation,
    "Bundle": Bundle,
    "OperationOutcome": OperationOutcome,
}


def fhir_get(client: TestClient, url: str, headers: dict[str, str], status: int = 200, **params: Any) -> dict[str, Any]:
    response = client.get(url, headers=headers, params=params or None)  # params={} would drop url's query
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    MODELS[body["resourceType"]].model_validate(body)
    if body["resourceType"] == "Bundle":
        for entry in body["entry"]:
            MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    return body


def _insert(
    db: Conn,
    p: Practice,
    device: uuid.UUID,
    hub: str | None,
    at: datetime,
    values: list[tuple[int, float, str]],
    flags: list[str] | None = None,
) -> None:
    reading = uuid.uuid4()
    for metric, value, unit in values:
        db.execute(
            "INSERT INTO readings (practice_id, patient_id, device_id, hub_id, reading_id, metric, value, unit,"
            " measured_at, measured_at_source, received_at, from_device_memory, flags)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'device_clock', %s, false, %s)",
            (p.id, p.patient_id, device, hub, reading, metric, value, unit, at, at, flags),
        )


def _device(db: Conn, p: Practice, kind: str, serial: str, connectivity: str = "ble") -> uuid.UUID:
    device_id = uuid.uuid4()
    db.execute(
        "INSERT INTO devices (id, practice_id, serial, kind, connectivity, ble_address, manufacturer, model, firmware)"
        " VALUES (%s, %s, %s, %s, %s, %s, 'Acme', 'M1', '2.0.1')",
        (device_id, p.id, serial, kind, connectivity, "00:1C:05:FF:E8:74" if connectivity == "ble" else None),
    )
    db.execute(
        "INSERT INTO device_patient_assignments (id, practice_id, device_id, patient_id, valid_from)"
        " VALUES (%s, %s, %s, %s, %s)",
        (uuid.uuid4(), p.id, device_id, p.patient_id, T0 - timedelta(days=60)),
    )
    return device_id


@pytest.fixture
def home(db: Conn, two_practices: World) -> dict[str, uuid.UUID]:
    """Practice A's patient with a cuff, a glucometer, a cellular scale and an oximeter, and one reading
    of each on four consecutive days from MORNING."""
    a = two_practices.a
    with db.transaction():
        cuff = _device(db, a, "bp_cuff", "CUFF-A")
        meter = _device(db, a, "glucometer", "GLU-A")
        scale = _device(db, a, "scale", "SCALE-A", connectivity="cellular")
        oximeter = _device(db, a, "pulse_oximeter", "OX-A")
        bp = [(150021, 142, "mm[Hg]"), (150022, 88, "mm[Hg]"), (150023, 106, "mm[Hg]"), (149546, 72, "/min")]
        _insert(db, a, cuff, a.hub_id, MORNING, bp, ["irregular_pulse"])
        _insert(db, a, meter, a.hub_id, MORNING + timedelta(days=1), [(160184, 132, "mg/dL")])
        _insert(db, a, scale, None, MORNING + timedelta(days=2), [(188736, 81.2, "kg"), (188748, 31.5, "%")])
        _insert(db, a, oximeter, a.hub_id, MORNING + timedelta(days=3), [(150456, 97, "%"), (149530, 64, "/min")])
    return {"cuff": cuff, "meter": meter, "scale": scale, "oximeter": oximeter}


def codes(resource: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in resource["code"]["coding"] if c["system"] == system]


def observations_of(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]


def test_the_patient_validates(client: TestClient, two_practices: World) -> None:
    a = two_practices.a
    body = fhir_get(client, f"/fhir/Patient/{a.patient_id}", bearer(client, a.email("clinician")))
    assert (body["id"], body["name"], body["identifier"][0]["value"]) == (
        str(a.patient_id),
        [{"use": "official", "family": "DoeA"}],
        "MRN-A",
    )


def test_a_bp_reading_exports_as_one_panel_and_a_separate_pulse(
    client: TestClient, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))
    bundle = fhir_get(
        client, "/fhir/Observation", headers, patient=str(a.patient_id), date=["ge2026-02-20", "lt2026-02-21"]
    )
    pulse, panel = observations_of(bundle)
    assert (codes(panel, "http://loinc.org"), codes(panel, "urn:iso:std:iso:11073:10101")) == (["85354-9"], ["150020"])
    assert [
        (codes(c, "http://loinc.org"), c["valueQuantity"]["value"], c["valueQuantity"]["code"])
        for c in panel["component"]
        if "valueQuantity" in c
    ] == [
        (["8480-6"], 142, "mm[Hg]"),
        (["8462-4"], 88, "mm[Hg]"),
        (["8478-0"], 106, "mm[Hg]"),
    ]
    assert [c["code"]["coding"][0]["code"] for c in panel["component"] if "valueCodeableConcept" in c] == [
        "irregular_pulse"
    ]
    assert "valueQuantity" not in panel
    assert (codes(pulse, "http://loinc.org"), codes(pulse, "urn:iso:std:iso:11073:10101")) == (["8867-4"], ["149546"])
    assert pulse["valueQuantity"] == {
        "value": 72,
        "unit": "beats/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    for observation in (panel, pulse):
        assert observation["device"] == {"reference": f"Device/{home['cuff']}"}
        assert observation["extension"][0]["valueReference"] == {"reference": f"Device/hub-{a.hub_id}"}
        assert observation["subject"] == {"reference": f"Patient/{a.patient_id}"}
        assert observation["effectiveDateTime"] == "2026-02-20T15:00:00+00:00"
    # the observation's own URL serves the same resource
    assert fhir_get(client, f"/fhir/Observation/{panel['id']}", headers) == panel


def test_each_metric_exports_its_codes_and_units(
    client: TestClient, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a = two_practices.a
    bundle = fhir_get(
        client,
        "/fhir/Observation",
        bearer(client, a.email("clinician")),
        patient=f"Patient/{a.patient_id}",
        date=["ge2026-02-21", "lt2026-02-24"],
    )
    exported = [
        (
            codes(o, "urn:iso:std:iso:11073:10101"),
            codes(o, "http://loinc.org"),
            o["valueQuantity"]["code"],
            [c["coding"][0]["code"] for c in o["category"]],
            "extension" in o,
        )
        for o in observations_of(bundle)
    ]
    assert exported == [
        (["160184"], ["41653-7"], "mg/dL", ["laboratory", "phd"], True),
        (["188736"], ["29463-7"], "kg", ["vital-signs", "phd"], False),  # cellular: no gateway
        (["188748"], ["41982-0"], "%", ["phd"], False),
        (["149530"], ["8867-4"], "/min", ["vital-signs", "phd"], True),
        (["150456"], ["59408-5", "2708-6"], "%", ["vital-signs", "phd"], True),
    ]


def test_date_filters(client: TestClient, two_practices: World, home: dict[str, uuid.UUID]) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))

    def days(*dates: str) -> list[str]:
        bundle = fhir_get(client, "/fhir/Observation", headers, patient=str(a.patient_id), date=list(dates))
        return sorted({o["effectiveDateTime"][:10] for o in observations_of(bundle)})

    assert days("2026-02-21") == ["2026-02-21"]
    assert days("ge2026-02-21", "le2026-02-22") == ["2026-02-21", "2026-02-22"]
    assert days("gt2026-02-21T15:00:00Z", "lt2026-02-23T15:00:00Z") == ["2026-02-22"]
    assert days("ge2026-02-21T10:00:00-05:00", "lt2026-02-21T10:00:01-05:00") == ["2026-02-21"]
    assert days("lt2026-02-20") == []
    assert days("ge2026-03-01", "lt2026-02-01") == []
    # the fixture's three systolic readings fall on 2026-02-28 .. 2026-03-02
    assert days("ge2026-02-24") == ["2026-02-28", "2026-03-01", "2026-03-02"]


def test_code_search(client: TestClient, two_practices: World, home: dict[str, uuid.UUID]) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))

    def found(*values: str) -> list[str]:
        bundle = fhir_get(client, "/fhir/Observation", headers, patient=str(a.patient_id), code=list(values))
        return [o["code"]["coding"][0]["code"] for o in observations_of(bundle)]

    assert found("8867-4") == ["149546", "149530"]  # both pulse sources
    assert found("urn:iso:std:iso:11073:10101|149530") == ["149530"]
    assert found("http://loinc.org|85354-9") == ["150020"] * 4  # the home's panel and the fixture's three
    assert found("http://loinc.org|41653-7,http://loinc.org|29463-7") == ["160184", "188736"]
    assert found("8480-6") == []  # a component code is not an Observation code
    assert found("8867-4", "urn:iso:std:iso:11073:10101|149546") == ["149546"]


def test_paging_returns_every_observation_exactly_once(
    client: TestClient, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))
    everything = observations_of(fhir_get(client, "/fhir/Observation", headers, patient=str(a.patient_id)))
    assert len(everything) == 10  # BP panel + pulse, glucose, weight + body fat, SpO2 + pulse; 3 fixture panels
    seen: list[str] = []
    url: str | None = f"/fhir/Observation?patient={a.patient_id}&_count=3"
    pages = 0
    while url:
        bundle = fhir_get(client, url, headers)
        page = observations_of(bundle)
        assert len(page) <= 3
        seen += [o["id"] for o in page]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        pages += 1
    assert seen == [o["id"] for o in everything]
    assert pages == 4
    assert len(set(seen)) == len(seen)


def test_patient_everything_bundles_the_patient_its_observations_and_devices(
    client: TestClient, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))
    bundle = fhir_get(
        client, f"/fhir/Patient/{a.patient_id}/$everything", headers, start="2026-02-20", end="2026-02-22"
    )
    kinds = [(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]]
    assert kinds == [("Patient", "match")] + [("Observation", "match")] * 5 + [("Device", "include")] * 4
    devices = {e["resource"]["id"]: e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device"}
    assert set(devices) == {str(home["cuff"]), str(home["meter"]), str(home["scale"]), f"hub-{a.hub_id}"}
    cuff = devices[str(home["cuff"])]
    assert cuff["patient"] == {"reference": f"Patient/{a.patient_id}"}
    assert cuff["specialization"][0]["systemType"]["coding"][0]["code"] == "528391"
    assert devices[f"hub-{a.hub_id}"]["type"]["coding"][0]["code"] == "531981"
    for entry in bundle["entry"]:
        assert (
            entry["fullUrl"] == f"http://testserver/fhir/{entry['resource']['resourceType']}/{entry['resource']['id']}"
        )
    # a second page repeats neither the patient nor an observation
    first = fhir_get(client, f"/fhir/Patient/{a.patient_id}/$everything", headers, _count=4)
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = fhir_get(client, next_url, headers)
    assert [e["resource"]["resourceType"] for e in second["entry"]].count("Patient") == 0
    assert not {o["id"] for o in observations_of(first)} & {o["id"] for o in observations_of(second)}


def test_everything_does_not_name_the_patient_a_device_moved_on_to(
    client: TestClient, db: Conn, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a = two_practices.a
    moved = T0 - timedelta(days=1)
    with db.transaction():
        other = uuid.uuid4()
        db.execute(
            "INSERT INTO patients (id, practice_id, mrn, time_zone) VALUES (%s, %s, 'MRN-A2', 'America/Chicago')",
            (other, a.id),
        )
        db.execute("UPDATE device_patient_assignments SET valid_to = %s WHERE device_id = %s", (moved, home["scale"]))
        db.execute(
            "INSERT INTO device_patient_assignments (id, practice_id, device_id, patient_id, valid_from)"
            " VALUES (%s, %s, %s, %s, %s)",
            (uuid.uuid4(), a.id, home["scale"], other, moved),
        )
    headers = bearer(client, a.email("clinician"))
    bundle = fhir_get(client, f"/fhir/Patient/{a.patient_id}/$everything", headers)
    devices = {e["resource"]["id"]: e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device"}
    assert "patient" not in devices[str(home["scale"])]
    assert devices[str(home["cuff"])]["patient"] == {"reference": f"Patient/{a.patient_id}"}
    assert str(other) not in json.dumps(bundle)
    # read on its own, the device names its current patient
    assert fhir_get(client, f"/fhir/Device/{home['scale']}", headers)["patient"] == {"reference": f"Patient/{other}"}


def test_devices_read_the_sensor_and_the_gateway(
    client: TestClient, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("logistics"))  # logistics handles devices and reads no readings
    sensor = fhir_get(client, f"/fhir/Device/{home['oximeter']}", headers)
    assert (sensor["serialNumber"], sensor["manufacturer"], sensor["modelNumber"]) == ("OX-A", "Acme", "M1")
    assert sensor["identifier"][0]["value"] == "00-1C-05-FF-E8-74"
    gateway = fhir_get(client, f"/fhir/Device/hub-{a.hub_id}", headers)
    assert (gateway["serialNumber"], gateway["meta"]["profile"][0].rsplit("/", 1)[1]) == ("SER-A", "PhgDevice")
    assert client.get("/fhir/Observation", headers=headers, params={"patient": str(a.patient_id)}).status_code == 403


def test_another_practices_ids_are_not_found(
    client: TestClient, db: Conn, two_practices: World, home: dict[str, uuid.UUID]
) -> None:
    a, b = two_practices.a, two_practices.b
    headers = bearer(client, b.email("admin"))
    panel_id = observations_of(
        fhir_get(client, "/fhir/Observation", bearer(client, a.email("admin")), patient=str(a.patient_id))
    )[1]["id"]
    for url in (
        f"/fhir/Patient/{a.patient_id}",
        f"/fhir/Patient/{a.patient_id}/$everything",
        f"/fhir/Observation?patient={a.patient_id}",
        f"/fhir/Observation/{panel_id}",
        f"/fhir/Device/{home['cuff']}",
        f"/fhir/Device/hub-{a.hub_id}",
        f"/fhir/Patient/{uuid.uuid4()}",
        "/fhir/Patient/not-a-uuid",
        "/fhir/Device/hub-NOPE01",
    ):
        outcome = fhir_get(client, url, headers, status=404)
        assert outcome["issue"][0]["code"] == "not-found", url


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({}, "required"),
        ({"patient": "P", "subject": "P"}, "required"),
        ({"patient": "P", "date": "ge2026-02-30"}, "invalid"),
        ({"patient": "P", "date": "ge2026-02-21T10:00:00"}, "invalid"),
        ({"patient": "P", "_count": "0"}, "invalid"),
        ({"patient": "P", "_cursor": "forged"}, "invalid"),
        ({"patient": "P", "category": "vital-signs"}, "not-supported"),
        ({"patient": "P", "code": ""}, "invalid"),
        ({"patient": "Group/1"}, "invalid"),
    ],
)
def test_bad_searches_are_operation_outcomes(
    client: TestClient, two_practices: World, query: dict[str, str], code: str
) -> None:
    a = two_practices.a
    params = {k: (str(a.patient_id) if v == "P" else v) for k, v in query.items()}
    outcome = fhir_get(client, "/fhir/Observation", bearer(client, a.email("clinician")), status=400, **params)
    assert outcome["issue"][0]["code"] == code


def test_only_json_is_served(client: TestClient, two_practices: World) -> None:
    a = two_practices.a
    headers = bearer(client, a.email("clinician"))
    for fmt in ("json", "application/fhir+json", "application/fhir json"):
        assert fhir_get(client, f"/fhir/Patient/{a.patient_id}", headers, _format=fmt)["id"] == str(a.patient_id)
    outcome = fhir_get(client, f"/fhir/Patient/{a.patient_id}", headers, status=406, _format="xml")
    assert outcome["issue"][0]["code"] == "not-supported"


def test_authentication_errors_are_operation_outcomes_only_under_fhir(client: TestClient, two_practices: World) -> None:
    outcome = fhir_get(client, f"/fhir/Patient/{two_practices.a.patient_id}", {}, status=401)
    assert outcome["issue"][0]["code"] == "login"
    problem = client.get(f"/patients/{two_practices.a.patient_id}")
    assert (problem.status_code, problem.headers["content-type"]) == (401, "application/problem+json")


def test_the_openapi_document_describes_fhir_bodies(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operation = paths["/fhir/Observation"]["get"]
    assert operation["x-carehub-permission"] == "readings.read"
    assert set(operation["responses"]["200"]["content"]) == {FHIR_JSON}
    assert set(operation["responses"]["4XX"]["content"]) == {FHIR_JSON}
    assert paths["/fhir/Device/{device_id}"]["get"]["x-carehub-permission"] == "patients.read"
