"""A small FastAPI router for the alert lifecycle and the live stream, for the API (issue 8) to
mount. Thin routes over :mod:`alerts.service`; who is acting comes from a dependency the API provides
(its bearer-token authentication), so this module decides nothing about identity. Nothing is created
at import time: :func:`build_router` is called by the application factory.

No ``from __future__ import annotations`` here: FastAPI reads the route annotations at run time and
they refer to the ``actor`` dependency local to :func:`build_router`."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from alerts import service
from alerts.lifecycle import TransitionRefused
from alerts.stream import alert_events
from core.db import connect


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated staff user and the practice the request is scoped to."""

    user_id: str
    practice_id: str


class NoteBody(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class SnoozeBody(BaseModel):
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class AlertOut(BaseModel):
    id: str
    rule_id: str
    severity: str
    status: str
    subject_kind: str
    subject: str
    opened_at: datetime
    last_evidence_at: datetime
    snoozed_until: datetime | None
    escalated_at: datetime | None
    readings: int


def build_router(
    database_url: str,
    actor: Callable[..., Actor],
    clock: Callable[[], datetime] | None = None,
    connection: Callable[[], AbstractContextManager[Any]] | None = None,
) -> APIRouter:
    """``connection`` lends a connection per request (the API passes its pool's, which commits on a
    normal exit); without it each request opens one, which costs a server process per request."""
    now = clock or (lambda: datetime.now(UTC))
    router = APIRouter(prefix="/alerts", tags=["alerts"])

    def open_connection() -> AbstractContextManager[Any]:
        if connection is not None:
            return connection()
        return connect(database_url, application_name="carehub-api-alerts", autocommit=True)

    def run(fn: Callable[[Any], None]) -> None:
        with open_connection() as conn:
            try:
                fn(conn)
            except service.AlertNotFound as exc:
                raise HTTPException(status_code=404, detail=str(exc)) from exc
            except TransitionRefused as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc

    @router.get("")
    def list_alerts(who: Annotated[Actor, Depends(actor)]) -> list[AlertOut]:
        with open_connection() as conn:
            # from_attributes, not asdict(): asdict deep-copies each row and cost 30 µs an alert
            return [
                AlertOut.model_validate(r, from_attributes=True) for r in service.list_alerts(conn, who.practice_id)
            ]

    @router.get("/stream")
    async def stream(who: Annotated[Actor, Depends(actor)]) -> StreamingResponse:
        return StreamingResponse(
            alert_events(database_url, who.practice_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.post("/{alert_id}/acknowledge", status_code=204)
    def acknowledge(alert_id: UUID, body: NoteBody, who: Annotated[Actor, Depends(actor)]) -> None:
        run(lambda c: service.acknowledge(c, who.practice_id, str(alert_id), by=who.user_id, at=now(), note=body.note))

    @router.post("/{alert_id}/resolve", status_code=204)
    def resolve(alert_id: UUID, body: NoteBody, who: Annotated[Actor, Depends(actor)]) -> None:
        run(lambda c: service.resolve(c, who.practice_id, str(alert_id), by=who.user_id, at=now(), note=body.note))

    @router.post("/{alert_id}/snooze", status_code=204)
    def snooze(alert_id: UUID, body: SnoozeBody, who: Annotated[Actor, Depends(actor)]) -> None:
        at = now()
        until = at + timedelta(minutes=body.minutes)
        run(lambda c: service.snooze(c, who.practice_id, str(alert_id), by=who.user_id, at=at, until=until))

    return router
