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

from api.permissions import PERMISSION_KEY, PUBLIC
from tests.api.conftest import T0, Practice, raise_test_alert

Conn = psycopg.Connection[tuple[Any, ...]]

_counter = itertools.count()


@dataclass(frozen=True)
class RouteCase:
    method: str
    path: str
    permission: str

    @property
    def has_path_values(self) -> bool:
        return "{" in self.path

    @property
    def streams(self) -> bool:
        return self.path == "/alerts/stream"

    @property
    def needs_clinical_credential(self) -> bool:
        """Threshold overrides (OVR-1): besides the permission, the user's credential must be a
        physician's, QHP's or nurse's; only the test practice's clinician has one."""
        return self.method == "POST" and self.path.endswith("/overrides")

    def expected_status(self, role: str, allowed: bool) -> int:
        if not allowed or (self.needs_clinical_credential and role != "clinician"):
            return 403
        return self.success_status()

    def success_status(self) -> int:
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
        }
        if "{alert_id}" in self.path:
            values["alert_id"] = raise_test_alert(db, practice, f"BP-M{next(_counter)}", T0 - timedelta(minutes=5))
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], self.path)

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
