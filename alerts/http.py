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
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from alerts import service
from alerts.lifecycle import TransitionRefused
from alerts.stream import alert_events
from core.db import connect

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated staff user and the practice the request is scoped to."""

    user_id: str
    practice_id: str


class NoteBody(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class SnoozeBody(BaseModel):
    minutes: int = Field(ge=1, le=7 * 24 * 60)


class OverrideBody(BaseModel):
    """A new version of one rule's thresholds for a patient (OVR-1): why, and until when."""

    rule_id: str = Field(max_length=40, pattern=r"^[A-Z][A-Z0-9]*-[A-Za-z0-9]+$")
    params: dict[str, float] = Field(min_length=1, max_length=20)
    reason: str = Field(min_length=1, max_length=2000)
    expires_at: datetime | None = None


class OverrideSet(BaseModel):
    version: int


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
    connection: Callable[[Actor], AbstractContextManager[Any]] | None = None,
) -> APIRouter:
    """``connection`` lends a connection per request for the given actor (the API passes one that runs a
    transaction as its row-level-security role scoped to the actor's practice, and commits on a normal
    exit); without it each request opens one as the connecting role, which costs a server process per
    request."""
    now = clock or (lambda: datetime.now(UTC))
    router = APIRouter(prefix="/alerts", tags=["alerts"])

    def open_connection(who: Actor) -> AbstractContextManager[Any]:
        if connection is not None:
            return connection(who)
        return connect(database_url, application_name="carehub-api-alerts", autocommit=True)

    def run(who: Actor, fn: Callable[[Any], T]) -> T:
        with open_connection(who) as conn:
            try:
                return fn(conn)
            except (service.AlertNotFound, service.PatientNotFound) as exc:
                raise HTTPException(status_code=404, detail=str(exc)) from exc
            except service.OverrideNotAllowed as exc:
                raise HTTPException(status_code=403, detail=str(exc)) from exc
            except service.InvalidOverride as exc:
                raise HTTPException(status_code=422, detail=str(exc)) from exc
            except TransitionRefused as exc:
                raise HTTPException(status_code=409, detail=str(exc)) from exc

    @router.get("")
    def list_alerts(who: Annotated[Actor, Depends(actor)]) -> list[AlertOut]:
        with open_connection(who) as conn:
            # from_attributes, not asdict(): asdict deep-copies each row and cost 30 µs an alert
            return [
                AlertOut.model_validate(r, from_attributes=True) for r in service.list_alerts(conn, who.practice_id)
            ]

    @router.get("/stream")
    async def stream(
        who: Annotated[Actor, Depends(actor)], last_event_id: Annotated[str | None, Header()] = None
    ) -> StreamingResponse:
        """Server-sent events; a reconnecting client's ``Last-Event-ID`` replays what it missed."""
        resume = (
            int(last_event_id) if last_event_id and last_event_id.isdecimal() and len(last_event_id) <= 18 else None
        )
        return StreamingResponse(
            alert_events(database_url, who.practice_id, last_event_id=resume),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.post("/{alert_id}/acknowledge", status_code=204)
    def acknowledge(alert_id: UUID, body: NoteBody, who: Annotated[Actor, Depends(actor)]) -> None:
        run(
            who,
            lambda c: service.acknowledge(c, who.practice_id, str(alert_id), by=who.user_id, at=now(), note=body.note),
        )

    @router.post("/{alert_id}/resolve", status_code=204)
    def resolve(alert_id: UUID, body: NoteBody, who: Annotated[Actor, Depends(actor)]) -> None:
        run(who, lambda c: service.resolve(c, who.practice_id, str(alert_id), by=who.user_id, at=now(), note=body.note))

    @router.post("/{alert_id}/snooze", status_code=204)
    def snooze(alert_id: UUID, body: SnoozeBody, who: Annotated[Actor, Depends(actor)]) -> None:
        at = now()
        until = at + timedelta(minutes=body.minutes)
        run(who, lambda c: service.snooze(c, who.practice_id, str(alert_id), by=who.user_id, at=at, until=until))

    @router.get("/patients/{patient_id}/overrides")
    def list_overrides(patient_id: UUID, who: Annotated[Actor, Depends(actor)]) -> list[service.OverrideRow]:
        return run(who, lambda c: service.list_overrides(c, who.practice_id, str(patient_id)))

    @router.post("/patients/{patient_id}/overrides", status_code=201)
    def set_override(patient_id: UUID, body: OverrideBody, who: Annotated[Actor, Depends(actor)]) -> OverrideSet:
        """OVR-1..3: only a physician, QHP or nurse (the user's credential) may; the previous value,
        author, time and reason are kept with the new version."""
        version = run(
            who,
            lambda c: service.set_override(
                c,
                who.practice_id,
                body.rule_id,
                body.params,
                patient_id=str(patient_id),
                author_id=who.user_id,
                reason=body.reason,
                at=now(),
                expires_at=body.expires_at,
            ),
        )
        return OverrideSet(version=version)

    return router
