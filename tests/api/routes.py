"""The API's route table as test data: every authenticated route with the permission it declares,
and how to call it for a practice (path values, a body, the status a permitted call answers)."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from fastapi import FastAPI

from api.fhir.resources import ObservationKey, observation_group
from api.permissions import PERMISSION_KEY, PUBLIC
from tests.api.conftest import T0, Practice, raise_test_alert

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

    def success_status(self) -> int:
        if self.method == "POST" and self.path == "/users":
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
        return {"note": None}

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


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
