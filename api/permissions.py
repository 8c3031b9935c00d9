"""Permissions the routes require. Which roles hold each is data (the ``role_permissions`` table,
migration 0401); each route declares the one it needs in its OpenAPI extension
``x-carehub-permission``, which the authorization dependency reads from the matched route, so the
route table itself is the single source the tests generate the authorization matrix from."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

PERMISSION_KEY = "x-carehub-permission"
PUBLIC = "public"


class Permission(StrEnum):
    PATIENTS_READ = "patients.read"
    READINGS_READ = "readings.read"
    ALERTS_READ = "alerts.read"
    ALERTS_MANAGE = "alerts.manage"
    HUBS_READ = "hubs.read"
    USERS_READ = "users.read"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    ENROLLMENT_READ = "enrollment.read"
    ENROLLMENT_MANAGE = "enrollment.manage"
    CONDITIONS_MANAGE = "conditions.manage"
    CONSENTS_MANAGE = "consents.manage"
    DEVICES_READ = "devices.read"
    DEVICES_MANAGE = "devices.manage"
    SHIPMENTS_READ = "shipments.read"
    SHIPMENTS_MANAGE = "shipments.manage"
    CARE_TIME_READ = "care_time.read"
    CARE_TIME_WRITE = "care_time.write"
    BILLING_READ = "billing.read"
    HUBS_MANAGE = "hubs.manage"


def requires(permission: Permission) -> dict[str, Any]:
    """``openapi_extra`` for a route that needs ``permission``."""
    return {PERMISSION_KEY: permission.value}


def public() -> dict[str, Any]:
    """``openapi_extra`` for a route that needs no authentication (health, login)."""
    return {PERMISSION_KEY: PUBLIC}
