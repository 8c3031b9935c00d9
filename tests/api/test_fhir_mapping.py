"""The FHIR mapping without services: exact PHD IG shapes (reference/rpm-ccm-rules.md §D.3 minimal BP
example), the code table of every metric core knows, status flags, ids, search parameters, and every
built resource validated against the FHIR R4 models of fhir.resources (its R4B package: R4B changed
no element of Patient, Device, Observation, Bundle or OperationOutcome, so R4B-valid is R4-valid)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from api.fhir import resources as fhir
from api.fhir.search import (
    InvalidSearch,
    ObservationFilter,
    TimeRange,
    code_groups,
    count,
    date_range,
    parse_cursor,
    patient_reference,
)
from core.domain import METRICS, Metric

PATIENT = UUID("11111111-1111-4111-8111-111111111111")
PRACTICE = UUID("22222222-2222-4222-8222-222222222222")
CUFF = UUID("33333333-3333-4333-8333-333333333333")
READING = UUID("44444444-4444-4444-8444-444444444444")
AT = datetime(2026, 3, 2, 12, 41, 10, tzinfo=UTC)
MDC = "urn:iso:std:iso:11073:10101"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"

VALIDATORS: dict[str, Any] = {
    "Patient": Patient,
    "Device": Device,
    "Observation": Observation,
    "Bundle": Bundle,
    "OperationOutcome": OperationOutcome,
}


def validate(resource: dict[str, Any]) -> None:
    VALIDATORS[resource["resourceType"]].model_validate(resource)


def row(metric: int, value: float | None, unit: str, **kw: Any) -> fhir.ObservationRow:
    fields: dict[str, Any] = {
        "reading_id": READING,
        "patient_id": PATIENT,
        "device_id": CUFF,
        "hub_id": "HUB_A01",
        "metric": metric,
        "value": value,
        "special": None,
        "unit": unit,
        "measured_at": AT,
        "flags": None,
    }
    fields.update(kw)
    return fhir.ObservationRow(**fields)


def bp_rows(**kw: Any) -> list[fhir.ObservationRow]:
    # stored in metric order, as the repository returns them
    return [
        row(149546, 72, "/min", **kw),
        row(150021, 142, "mm[Hg]", **kw),
        row(150022, 88, "mm[Hg]", **kw),
        row(150023, 106, "mm[Hg]", **kw),
    ]


def quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def test_a_bp_reading_is_one_panel_with_three_components_and_a_separate_pulse() -> None:
    pulse, panel = fhir.observations(bp_rows())  # in key order: MDC 149546 before 150020
    mmhg = {"unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}
    assert panel == {
        "resourceType": "Observation",
        "id": f"{CUFF.hex}.1772455270000000.150020",
        "meta": {"profile": ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCompoundNumericObservation"]},
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice",
                "valueReference": {"reference": "Device/hub-HUB.A01"},
            }
        ],
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            },
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories",
                        "code": "phd",
                        "display": "PHD generated",
                    }
                ]
            },
        ],
        "code": {
            "coding": [
                {"system": MDC, "code": "150020", "display": "MDC_PRESS_BLD_NONINV"},
                {"system": LOINC, "code": "85354-9", "display": "Blood pressure panel with all children optional"},
            ]
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2026-03-02T12:41:10+00:00",
        "device": {"reference": f"Device/{CUFF}"},
        "component": [
            {
                "code": {
                    "coding": [
                        {"system": MDC, "code": "150021", "display": "MDC_PRESS_BLD_NONINV_SYS"},
                        {"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"},
                    ]
                },
                "valueQuantity": {"value": 142, **mmhg},
            },
            {
                "code": {
                    "coding": [
                        {"system": MDC, "code": "150022", "display": "MDC_PRESS_BLD_NONINV_DIA"},
                        {"system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure"},
                    ]
                },
                "valueQuantity": {"value": 88, **mmhg},
            },
            {
                "code": {
                    "coding": [
                        {"system": MDC, "code": "150023", "display": "MDC_PRESS_BLD_NONINV_MEAN"},
                        {"system": LOINC, "code": "8478-0", "display": "Mean blood pressure"},
                    ]
                },
                "valueQuantity": {"value": 106, **mmhg},
            },
        ],
    }
    assert pulse["id"] == f"{CUFF.hex}.1772455270000000.149546"
    assert pulse["code"]["coding"] == [
        {"system": MDC, "code": "149546", "display": "MDC_PULS_RATE_NON_INV"},
        {"system": LOINC, "code": "8867-4", "display": "Heart rate"},
    ]
    assert pulse["valueQuantity"] == quantity(72, "beats/minute", "/min")
    assert "component" not in pulse
    assert pulse["meta"]["profile"] == ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation"]
    validate(panel)
    validate(pulse)


# metric -> (MDC code, LOINC codes, UCUM code, categories besides phd), from §D.1/§D.2 of the reference.
EXPECTED_CODES = {
    Metric.MDC_PULS_RATE_NON_INV: ("149546", ["8867-4"], "/min", ["vital-signs"]),
    Metric.MDC_PULS_OXIM_PULS_RATE: ("149530", ["8867-4"], "/min", ["vital-signs"]),
    Metric.MDC_PULS_OXIM_SAT_O2: ("150456", ["59408-5", "2708-6"], "%", ["vital-signs"]),
    Metric.MDC_MASS_BODY_ACTUAL: ("188736", ["29463-7"], "kg", ["vital-signs"]),
    Metric.MDC_LEN_BODY_ACTUAL: ("188740", ["8302-2"], "cm", ["vital-signs"]),
    Metric.MDC_BODY_FAT: ("188748", ["41982-0"], "%", []),
    Metric.MDC_RATIO_MASS_BODY_LEN_SQ: ("188752", ["39156-5"], "kg/m2", ["vital-signs"]),
    Metric.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD: ("160184", ["41653-7"], "mg/dL", ["laboratory"]),
    Metric.MDC_CONC_GLU_CAPILLARY_PLASMA: ("160188", ["41653-7"], "mg/dL", ["laboratory"]),
    Metric.MDC_CONC_GLU_UNDETERMINED_PLASMA: ("160368", ["2339-0"], "mg/dL", ["laboratory"]),
    Metric.MDC_TEMP_BODY: ("150364", ["8310-5"], "Cel", ["vital-signs"]),
}


def test_every_metric_core_knows_is_either_a_bp_component_or_in_the_code_table() -> None:
    bp = {Metric.MDC_PRESS_BLD_NONINV_SYS, Metric.MDC_PRESS_BLD_NONINV_DIA, Metric.MDC_PRESS_BLD_NONINV_MEAN}
    assert set(Metric) == set(EXPECTED_CODES) | bp


@pytest.mark.parametrize("metric", sorted(EXPECTED_CODES))
def test_each_metric_exports_its_mdc_loinc_ucum_and_category(metric: Metric) -> None:
    mdc, loincs, ucum, categories = EXPECTED_CODES[metric]
    spec = METRICS[metric]
    (observation,) = fhir.observations([row(spec.code, 50.5, spec.canonical_unit.value)])
    codings = observation["code"]["coding"]
    assert [(c["system"], c["code"]) for c in codings] == [(MDC, mdc)] + [(LOINC, code) for code in loincs]
    assert codings[0]["display"] == metric.value
    assert (observation["valueQuantity"]["system"], observation["valueQuantity"]["code"]) == (UCUM, ucum)
    assert [c["coding"][0]["code"] for c in observation["category"]] == [*categories, "phd"]
    validate(observation)


@pytest.mark.parametrize(("special", "code"), [("NaN", "NaN"), ("NRes", "error"), ("+INF", "PINF"), ("-INF", "NINF")])
def test_a_special_value_is_a_data_absent_reason_not_a_number(special: str, code: str) -> None:
    (observation,) = fhir.observations([row(160184, None, "mg/dL", special=special)])
    assert "valueQuantity" not in observation
    reason = observation["dataAbsentReason"]["coding"]
    assert [(c["system"], c["code"]) for c in reason] == [
        ("http://terminology.hl7.org/CodeSystem/data-absent-reason", code)
    ]
    validate(observation)


def test_a_nan_mean_pressure_is_a_component_without_a_value() -> None:
    rows = bp_rows()
    rows[3] = row(150023, None, "mm[Hg]", special="NaN")
    panel = fhir.observations(rows)[1]
    assert [("valueQuantity" in c, "dataAbsentReason" in c) for c in panel["component"]] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    validate(panel)


def test_status_flags_follow_the_phd_measurement_status_and_bits_patterns() -> None:
    flags = ["irregular_pulse", "questionable", "body_movement", "test_data", "early_estimate"]
    pulse, panel = fhir.observations(bp_rows(flags=flags))
    for observation in (panel, pulse):
        assert observation["status"] == "preliminary"  # an early estimate is not final
        assert observation["meta"]["security"] == [
            {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                "code": "HTEST",
                "display": "test health data",
            }
        ]
        assert [c["coding"][0]["code"] for c in observation["interpretation"]] == ["early-indication", "questionable"]
        assert {c["coding"][0]["system"] for c in observation["interpretation"]} == {
            "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
        }
        validate(observation)
    bits = [c for c in panel["component"] if c["code"]["coding"][0]["system"].endswith("/reading-flag")]
    assert [(c["code"]["coding"][0]["code"], c["valueCodeableConcept"]["coding"][0]["code"]) for c in bits] == [
        ("body_movement", "Y"),
        ("irregular_pulse", "Y"),
    ]
    assert len(panel["component"]) == 5  # three pressures, then the two status bits
    assert [c["code"]["coding"][0]["code"] for c in pulse["component"]] == ["body_movement", "irregular_pulse"]


def test_an_invalid_measurement_reports_no_value() -> None:
    (observation,) = fhir.observations([row(188736, 81.2, "kg", flags=["invalid"])])
    assert "valueQuantity" not in observation
    assert observation["dataAbsentReason"]["coding"][0]["code"] == "error"
    assert "component" not in observation
    validate(observation)


def test_a_cellular_reading_has_no_gateway() -> None:
    (observation,) = fhir.observations([row(188736, 81.2, "kg", hub_id=None)])
    assert "extension" not in observation
    assert observation["device"] == {"reference": f"Device/{CUFF}"}


def test_rows_group_by_device_instant_and_panel() -> None:
    later = AT + timedelta(seconds=1)
    rows = [*bp_rows(), row(150021, 120, "mm[Hg]", measured_at=later), row(150022, 80, "mm[Hg]", measured_at=later)]
    out = fhir.observations(rows)
    assert [o["code"]["coding"][0]["code"] for o in out] == ["149546", "150020", "150020"]
    assert [len(o.get("component", [])) for o in out] == [0, 3, 2]


def test_patient_device_and_gateway_resources() -> None:
    patient = fhir.patient_resource(
        fhir.PatientRow(
            PATIENT,
            PRACTICE,
            "MRN-1",
            "Ada",
            "Doe",
            datetime(1950, 1, 2).date(),
            "1EG4TE5MK73",
            "1 Main St",
            None,
            "Springfield",
            "IL",
            "62701",
        )
    )
    assert patient["identifier"][0]["system"] == f"urn:uuid:{PRACTICE}"
    assert patient["identifier"][1] == {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "MC",
                    "display": "Patient's Medicare number",
                }
            ]
        },
        "system": "http://hl7.org/fhir/sid/us-mbi",
        "value": "1EG4TE5MK73",
    }
    assert (patient["name"], patient["birthDate"]) == (
        [{"use": "official", "family": "Doe", "given": ["Ada"]}],
        "1950-01-02",
    )
    assert patient["address"] == [
        {
            "use": "home",
            "line": ["1 Main St"],
            "city": "Springfield",
            "state": "IL",
            "postalCode": "62701",
            "country": "US",
        }
    ]
    device = fhir.device_resource(
        fhir.DeviceRow(CUFF, "BP-1", "bp_cuff", "00:1C:05:FF:E8:74", None, "Omron", "BP7250", "1.2", None, PATIENT)
    )
    assert device["identifier"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers",
                        "code": "BTMAC",
                        "display": "Bluetooth MAC address",
                    }
                ]
            },
            "system": "http://hl7.org/fhir/sid/eui-48/bluetooth",
            "value": "00-1C-05-FF-E8-74",
        }
    ]
    assert device["type"]["coding"][0]["code"] == "65573"
    assert device["specialization"][0]["systemType"]["coding"][0]["code"] == "528391"
    assert device["version"][0]["type"]["coding"][0]["code"] == "531976"
    assert (device["status"], device["patient"]) == ("active", {"reference": f"Patient/{PATIENT}"})
    gateway = fhir.gateway_resource(fhir.GatewayRow("HUB_A01", "SER-A"))
    assert (gateway["id"], gateway["type"]["coding"][0]["code"]) == ("hub-HUB.A01", "531981")
    assert gateway["meta"]["profile"] == ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhgDevice"]
    for resource in (patient, device, gateway, fhir.operation_outcome("not-found", "no such Patient")):
        validate(resource)


def test_a_minimal_patient_validates() -> None:
    patient = fhir.patient_resource(
        fhir.PatientRow(PATIENT, PRACTICE, "MRN-2", None, None, None, None, None, None, None, None, None)
    )
    assert set(patient) == {"resourceType", "id", "identifier"}
    validate(patient)


def test_gateway_ids_round_trip_and_refuse_what_is_no_hub() -> None:
    for hub_id in ("HUBA01", "hub_with_underscores-and-dashes", "x" * 60):
        assert fhir.hub_id_of(fhir.gateway_fhir_id(hub_id)) == hub_id
    assert fhir.gateway_representable("x" * 60)
    assert not fhir.gateway_representable("x" * 61)
    assert fhir.hub_id_of(str(CUFF)) is None
    assert fhir.hub_id_of("hub-ab") is None  # too short for a hub id


def test_observation_keys_round_trip_and_refuse_garbage() -> None:
    key = fhir.ObservationKey(datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), CUFF, 150020)
    assert key.fhir_id() == f"{CUFF.hex}.-500000.150020"
    assert fhir.ObservationKey.parse(key.fhir_id()) == key
    assert parse_cursor(key.fhir_id()) == key
    for bad in ("", "x", f"{CUFF}.1.150020", f"{CUFF.hex}.1", f"{CUFF.hex}.{'9' * 19}.1"):
        assert fhir.ObservationKey.parse(bad) is None
    with pytest.raises(InvalidSearch):
        parse_cursor("nope")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], TimeRange()),
        (["2026-03-02"], TimeRange(utc(2026, 3, 2), utc(2026, 3, 3))),
        (["ge2026-03"], TimeRange(utc(2026, 3, 1), None)),
        (["lt2026"], TimeRange(None, utc(2026, 1, 1))),
        (["gt2026-12"], TimeRange(utc(2027, 1, 1), None)),
        (["le2026-03-02"], TimeRange(None, utc(2026, 3, 3))),
        (["ge2026-03-01", "lt2026-03-05"], TimeRange(utc(2026, 3, 1), utc(2026, 3, 5))),
        (["ge2026-03-02T07:00:00-05:00"], TimeRange(utc(2026, 3, 2, 12), None)),
        (["gt2026-03-02T12:00Z"], TimeRange(utc(2026, 3, 2, 12, 1), None)),
        (["ge2026-03-02T12:00:00 01:00"], TimeRange(utc(2026, 3, 2, 11), None)),  # an unencoded "+"
        (["le2026-03-02T12:00:00.5Z"], TimeRange(None, utc(2026, 3, 2, 12, 0, 0, 600000))),
    ],
)
def test_date_search_values(values: list[str], expected: TimeRange) -> None:
    assert date_range(values) == expected


@pytest.mark.parametrize(
    "value", ["2026-13-01", "ne2026", "ge2026-03-02T12:00:00", "2026-02-30", "ge20260302", "sa2026", ""]
)
def test_bad_date_search_values_are_refused(value: str) -> None:
    with pytest.raises(InvalidSearch):
        date_range([value])


def test_count_and_patient_reference() -> None:
    assert (count(None), count("1"), count("1000")) == (100, 1, 1000)
    for bad in ("0", "1001", "-1", "x"):
        with pytest.raises(InvalidSearch):
            count(bad)
    assert patient_reference(str(PATIENT)) == str(PATIENT)
    assert patient_reference(f"Patient/{PATIENT}") == str(PATIENT)
    assert patient_reference(f"https://example.org/fhir/Patient/{PATIENT}") == str(PATIENT)
    with pytest.raises(InvalidSearch):
        patient_reference(f"Group/{PATIENT}")
    assert date_range(["ge2026-03-05", "lt2026-03-01"]).empty


def test_a_searchset_bundle_validates() -> None:
    observations = fhir.observations(bp_rows())
    bundle = fhir.searchset(
        "http://h/fhir",
        "http://h/fhir/Observation?patient=x",
        "http://h/fhir/Observation?_cursor=y",
        [fhir.Entry(o, "match") for o in observations],
    )
    assert [link["relation"] for link in bundle["link"]] == ["self", "next"]
    assert bundle["entry"][0]["fullUrl"] == f"http://h/fhir/Observation/{observations[0]['id']}"
    validate(bundle)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        (["8867-4"], {149546, 149530}),
        (["http://loinc.org|8867-4"], {149546, 149530}),
        (["urn:iso:std:iso:11073:10101|8867-4"], set()),
        (["|150020"], set()),  # "|code" means a coding without a system: carehub has none
        (["150020"], {150020}),
        (["85354-9,41653-7"], {150020, 160184, 160188}),
        (["59408-5", "2708-6"], {150456}),
        (["8867-4", "149530"], {149530}),
        (["8462-4"], set()),  # a BP component is not an Observation.code
        (
            ["http://loinc.org|"],
            {150020, 149546, 149530, 150456, 188736, 188740, 188748, 188752, 160184, 160188, 160368, 150364},
        ),
    ],
)
def test_code_search_values(values: list[str], expected: set[int] | None) -> None:
    assert code_groups(values) == (None if expected is None else frozenset(expected))


def test_an_empty_filter_needs_no_query() -> None:
    assert not ObservationFilter().empty
    assert ObservationFilter(groups=frozenset()).empty
    assert ObservationFilter(window=date_range(["ge2026-03-05", "lt2026-03-01"])).empty
    with pytest.raises(InvalidSearch):
        code_groups([""])
