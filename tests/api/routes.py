"""The API's route table as test data: every authenticated route with the permission it declares,
and how to call it for a practice (path values, a body, the status a permitted call answers)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg
from fastapi import FastAPI

from api.fhir.resources import ObservationKey, observation_group
from api.permissions import PERMISSION_KEY, PUBLIC
from provisioning import enrollment
from provisioning.eligibility import Program
from tests.api import records
from tests.api.conftest import CREDENTIALS, T0, Practice, raise_test_alert

Conn = psycopg.Connection[tuple[Any, ...]]

_counter = itertools.count()

# Query parameters a route needs to succeed; path values in braces as in the path.
QUERIES = {"/fhir/Observation": "patient={patient_id}"}


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    permission: str

    @property
    def has_path_values(self) -> bool:
        return "{" in self.path or "{" in QUERIES.get(self.path, "")

    @property
    def streams(self) -> bool:
        return self.path == "/alerts/stream"

    @property
    def needs_clinical_credential(self) -> bool:
        """Threshold overrides (OVR-1): besides the permission, the user's credential must be a
        physician's, QHP's or nurse's; the test practice's clinician (physician) and care staff (nurse)
        have one (tests/api/conftest.py CREDENTIALS)."""
        return self.method == "POST" and self.path.endswith("/overrides")

    def expected_status(self, role: str, allowed: bool) -> int:
        if not allowed or (self.needs_clinical_credential and role not in CREDENTIALS):
            return 403
        return self.success_status()

    def success_status(self) -> int:
        if str(self) in DOMAIN_STATUS:
            return DOMAIN_STATUS[str(self)]
        if self.method == "POST" and self.path in ("/users", "/alerts/patients/{patient_id}/overrides"):
            return 201
        if self.method == "POST":
            return 204
        return 200

    def url(self, db: Conn, practice: Practice) -> str:
        values = {
            "patient_id": str(practice.patient_id),
            "hub_id": practice.hub_id,
            "user_id": str(practice.users["billing"]),
            "device_id": str(practice.device_id),
        }
        if "{alert_id}" in self.path:
            values["alert_id"] = raise_test_alert(db, practice, f"BP-M{next(_counter)}", T0 - timedelta(minutes=5))
        if "{observation_id}" in self.path:
            row = db.execute(
                "SELECT measured_at, device_id, metric FROM readings WHERE practice_id = %s"
                " ORDER BY measured_at LIMIT 1",
                (practice.id,),
            ).fetchone()
            assert row is not None
            values["observation_id"] = ObservationKey(row[0], row[1], observation_group(row[2])).fhir_id()
        query = QUERIES.get(self.path)
        url = self.path + (f"?{query}" if query else "")
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], url)

    def body(self) -> dict[str, Any] | None:
        if self.method == "PATCH":
            return {"active": True}
        if self.method != "POST":
            return None
        if self.path == "/users":
            n = uuid.uuid4().hex[:8]
            return {"email": f"{n}@example.org", "display_name": n, "role": "clinician", "password": "p" * 16}
        if self.path.endswith("/snooze"):
            return {"minutes": 30}
        if self.path.endswith("/overrides"):
            return {"rule_id": "BP-C1", "params": {"sys_ge": 190}, "reason": "baseline in the 170s"}
        return {"note": None}

    def prepare(self, db: Conn, practice: Practice) -> tuple[str, dict[str, Any] | None]:
        """(url, body) of a call that succeeds for a permitted user of ``practice``; a route that changes
        state gets fresh records in the state it acts on (see :data:`DOMAIN_SETUPS`)."""
        setup = DOMAIN_SETUPS.get(str(self))
        if setup is None:
            return self.url(db, practice), self.body()
        prepared = setup(db, practice)
        values = {
            "patient_id": str(practice.patient_id),
            "hub_id": practice.hub_id,
            "device_id": str(practice.device_id),
            **prepared.values,
        }
        url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.path)
        return url + prepared.query, prepared.body

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Prepared:
    values: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    query: str = ""


def _assign(db: Conn, p: Practice) -> Prepared:
    device, patient = records.device_in_stock(db, p), records.enrolled_patient(db, p)
    return Prepared({"device_id": str(device)}, {"patient_id": str(patient)})


def _replace(db: Conn, p: Practice) -> Prepared:
    old, new = records.delivered(db, p), records.device_in_stock(db, p)
    body = {
        "new_device_id": str(new),
        "reason": "cuff_leak",
        "carrier": "ups",
        "tracking_number": records.ups_number(next(_counter) + 500_000),
        "ship_date": T0.date().isoformat(),
    }
    return Prepared({"device_id": str(old.device_id)}, body)


def _new_shipment(db: Conn, p: Practice) -> Prepared:
    a = records.assigned(db, p)
    body = {
        "patient_id": str(a.patient_id),
        "device_ids": [str(a.device_id)],
        "carrier": "ups",
        "tracking_number": records.ups_number(next(_counter) + 600_000),
        "ship_date": T0.date().isoformat(),
    }
    return Prepared(body=body)


def _shipment(state: Callable[[Conn, Practice], records.Deployed]) -> Callable[[Conn, Practice], Prepared]:
    return lambda db, p: Prepared({"shipment_id": str(state(db, p).shipment_id)})


def _deployed_device(db: Conn, p: Practice) -> Prepared:
    return Prepared({"device_id": str(records.delivered(db, p).device_id)}, {"reason": "not_returned"})


def _resolvable(db: Conn, p: Practice) -> Prepared:
    patient_id, condition_id = records.condition(db, p)
    return Prepared(
        {"patient_id": str(patient_id), "condition_id": str(condition_id)}, {"resolved_on": T0.date().isoformat()}
    )


def _reenrollable(db: Conn, p: Practice) -> Prepared:
    """An RPM patient whose enrollment ended yesterday and who is still eligible."""
    patient_id = records.enrolled_patient(db, p)
    enrollment.end_enrollment(
        db, patient_id, program=Program.RPM, ends_on=T0.date() - timedelta(days=1), reason="paused"
    )
    body = {"starts_on": T0.date().isoformat(), "condition_icd10": "I10"}
    return Prepared({"patient_id": str(patient_id), "program": "rpm"}, body)


def _revocable(db: Conn, p: Practice) -> Prepared:
    records.consent(db, p)
    return Prepared({"program": "ccm"})


def _entry(db: Conn, p: Practice) -> str:
    return str(records.care_entry(db, p))


_MONTH = Prepared(query=f"?month={records.MONTH}")

# Domain routes (conditions, consents, programs, devices, shipments, care time, billing, hub config)
# that need records in a particular state, a body, or a query.
DOMAIN_SETUPS: dict[str, Callable[[Conn, Practice], Prepared]] = {
    "POST /patients/{patient_id}/conditions": lambda db, p: Prepared(body={"icd10_code": "E11.9", "chronic": True}),
    "POST /patients/{patient_id}/conditions/{condition_id}/resolve": _resolvable,
    "POST /patients/{patient_id}/consents": lambda db, p: Prepared(
        body={
            "program": "ccm",
            "modality": "verbal",
            "obtained_at": (T0 - timedelta(hours=1)).isoformat(),
            "text_version": "ccm-v2",
            "cost_sharing_explained": True,
        }
    ),
    "POST /patients/{patient_id}/consents/{program}/revoke": _revocable,
    "POST /patients/{patient_id}/programs/{program}/enrollment": _reenrollable,
    "POST /patients/{patient_id}/programs/{program}/enrollment/end": lambda db, p: Prepared(
        {"patient_id": str(records.enrolled_patient(db, p)), "program": "rpm"},
        {"ends_on": T0.date().isoformat(), "reason": "patient_declined"},
    ),
    "POST /devices/{device_id}/assign": _assign,
    "POST /devices/{device_id}/unassign": _deployed_device,
    "POST /devices/{device_id}/replacement": _replace,
    "POST /devices/{device_id}/block": _deployed_device,
    "POST /shipments": _new_shipment,
    "GET /shipments/{shipment_id}": _shipment(records.shipped),
    "GET /shipments/{shipment_id}/events": _shipment(records.in_transit),
    "POST /shipments/{shipment_id}/delivered": _shipment(records.shipped),
    "POST /shipments/{shipment_id}/returned": _shipment(records.in_transit),
    "POST /patients/{patient_id}/care-time": lambda db, p: Prepared(
        body={
            "program": "RPM",
            "activity": "patient_call",
            "interactive": True,
            "started_at": records.care_slot().isoformat(),
            "minutes": 12,
            "performer_id": str(p.users["clinician"]),
        }
    ),
    "POST /care-time/{entry_id}/stop": lambda db, p: Prepared({"entry_id": str(records.running_timer(db, p))}),
    "PATCH /care-time/{entry_id}": lambda db, p: Prepared(
        {"entry_id": _entry(db, p)}, {"reason": "wrong activity", "activity": "care_plan"}
    ),
    "POST /care-time/{entry_id}/void": lambda db, p: Prepared({"entry_id": _entry(db, p)}, {"reason": "duplicate"}),
    "GET /care-time/{entry_id}/revisions": lambda db, p: Prepared({"entry_id": _entry(db, p)}),
    "GET /billing/report": lambda db, p: _MONTH,
    "GET /billing/patients/{patient_id}/explanation": lambda db, p: _MONTH,
}

DOMAIN_STATUS: dict[str, int] = {
    "POST /patients/{patient_id}/conditions": 201,
    "POST /patients/{patient_id}/conditions/{condition_id}/resolve": 200,
    "POST /patients/{patient_id}/consents": 201,
    "POST /patients/{patient_id}/consents/{program}/revoke": 200,
    "POST /patients/{patient_id}/programs/{program}/enrollment": 201,
    "POST /patients/{patient_id}/programs/{program}/enrollment/end": 200,
    "POST /devices/{device_id}/assign": 200,
    "POST /devices/{device_id}/unassign": 200,
    "POST /devices/{device_id}/replacement": 201,
    "POST /devices/{device_id}/block": 200,
    "POST /shipments": 201,
    "POST /shipments/{shipment_id}/delivered": 200,
    "POST /shipments/{shipment_id}/returned": 200,
    "POST /patients/{patient_id}/care-time": 201,
    "POST /care-time/{entry_id}/stop": 200,
    "POST /care-time/{entry_id}/void": 200,
    "POST /hubs/{hub_id}/config/reissue": 202,
}


def route_table(app: FastAPI) -> tuple[list[RouteCase], list[str]]:
    """(authenticated routes, public routes) from the app's published OpenAPI document, where each
    operation carries the permission its route declares."""
    cases: list[RouteCase] = []
    public: list[str] = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            permission = operation.get(PERMISSION_KEY)
            assert permission, f"{method.upper()} {path} declares no permission"
            if permission == PUBLIC:
                public.append(f"{method.upper()} {path}")
            else:
                cases.append(RouteCase(method.upper(), path, str(permission)))
    return cases, public
