"""Mounting the alerts router (:mod:`alerts.http`, built by the alerts work) behind the API's
authentication: its ``actor`` dependency is the authorized :class:`~api.scope.Scope`, each of its
routes declares its permission (reading vs acting on alerts), and every request leaves one audit
row (alerts are patient data), naming the alert's patient where the route is about one alert."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request
from psycopg_pool import ConnectionPool

from alerts.http import Actor, build_router
from api.permissions import Permission, requires
from api.scope import Conn, Scope, authorize, practice_transaction

_ACTIONS = {
    "/alerts": "alerts.list",
    "/alerts/stream": "alerts.stream",
    "/alerts/{alert_id}/acknowledge": "alerts.acknowledge",
    "/alerts/{alert_id}/resolve": "alerts.resolve",
    "/alerts/{alert_id}/snooze": "alerts.snooze",
    "/alerts/patients/{patient_id}/overrides": "alerts.overrides",
}


def alerts_actor(scope: Annotated[Scope, Depends(authorize)]) -> Actor:
    return Actor(user_id=str(scope.principal.user_id), practice_id=str(scope.principal.practice_id))


def audit_alert_request(
    scope: Annotated[Scope, Depends(authorize)], request: Request, alert_id: str | None = None
) -> None:
    with scope.transaction() as conn:
        patient_id: UUID | None = None
        if "patient_id" in request.path_params:  # the overrides routes name the patient in the path
            try:
                patient_id = UUID(request.path_params["patient_id"])
            except ValueError:
                patient_id = None
            if (
                patient_id is not None
                and conn.execute("SELECT 1 FROM patients WHERE id = %s", (patient_id,)).fetchone() is None
            ):
                patient_id = None  # not one of this practice's patients (RLS): the route answers 404
        if alert_id is not None:
            try:
                row = conn.execute("SELECT patient_id FROM alerts WHERE id = %s", (UUID(alert_id),)).fetchone()
            except ValueError:
                row = None
            patient_id = row[0] if row else None
        scope.audit(conn, _ACTIONS.get(scope.route, "alerts.other"), patient_id=patient_id)


def mount_alerts(
    app: FastAPI, database_url: str, pool: ConnectionPool[Conn], clock: Callable[[], datetime]
) -> APIRouter:
    # The list, lifecycle and override routes borrow the API's pooled connections, each request in one
    # transaction as carehub_api scoped to the actor's practice, so row-level security confines them as
    # it does every other route; the stream keeps its own LISTEN connection for as long as a client
    # follows it.
    def practice_connection(who: Actor) -> AbstractContextManager[Conn]:
        return practice_transaction(pool, UUID(who.practice_id), UUID(who.user_id))

    router = build_router(database_url, alerts_actor, clock, connection=practice_connection)
    for route in router.routes:
        methods: Any = getattr(route, "methods", set())
        permission = Permission.ALERTS_READ if methods <= {"GET", "HEAD"} else Permission.ALERTS_MANAGE
        route.openapi_extra = requires(permission)  # type: ignore[attr-defined]
    app.include_router(router, dependencies=[Depends(audit_alert_request)])
    return router
