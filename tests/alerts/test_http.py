"""The alerts router served by a real uvicorn, read by a real HTTP SSE client: a committed alert
reaches the stream, lifecycle routes change it (and the stream hears that too)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts import service, store
from alerts.http import Actor, build_router
from alerts.stream import format_event
from carehub.local_services import free_port
from tests.alerts.conftest import bp_c1
from tests.ingest.conftest import World
from tests.pipeline import wait_until


def test_sse_framing() -> None:
    assert format_event("alert", {"a": 1}, event_id="7") == 'id: 7\nevent: alert\ndata: {"a":1}\n\n'


@pytest.fixture
def api(database_url: str, world: World, clinician: UUID) -> Iterator[str]:
    app = FastAPI()
    who = Actor(user_id=str(clinician), practice_id=str(world.practice_id))
    app.include_router(build_router(database_url, actor=lambda: who))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20, "uvicorn")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class SseClient:
    """Reads ``/alerts/stream`` on a thread and keeps the parsed events."""

    def __init__(self, url: str, last_event_id: str | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.closed = False
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60), headers=headers)
        threading.Thread(target=self._read, args=(url,), daemon=True).start()

    def _read(self, url: str) -> None:
        try:
            self._consume(url)
        except httpx.HTTPError:
            if not self.closed:
                raise

    def _consume(self, url: str) -> None:
        with self._client.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            event: dict[str, Any] = {}
            for line in response.iter_lines():
                if line.startswith(": connected"):
                    self.connected.set()
                elif line.startswith(("id: ", "event: ")):
                    key, _, value = line.partition(": ")
                    event[key] = value
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[len("data: ") :])
                elif line == "" and event:
                    self.events.append(event)
                    event = {}

    def close(self) -> None:
        self.closed = True
        self._client.close()


def test_a_committed_alert_reaches_the_sse_client_and_lifecycle_routes_work(
    api: str, db: psycopg.Connection[Any], world: World
) -> None:
    sse = SseClient(f"{api}/alerts/stream")
    try:
        assert sse.connected.wait(20)
        with db.transaction():
            alert_id = store.raise_alert(db, bp_c1(world, sys_mean=185), datetime.now(UTC)).alert_id
        wait_until(lambda: sse.events, 20, "the SSE event")
        (first,) = sse.events
        assert first["event"] == "alert"
        assert (first["data"]["alert_id"], first["data"]["rule_id"], first["data"]["change"]) == (
            alert_id,
            "BP-C1",
            "opened",
        )
        with httpx.Client(base_url=api) as client:
            assert [a["id"] for a in client.get("/alerts").json()] == [alert_id]
            assert client.post(f"/alerts/{alert_id}/acknowledge", json={"note": "calling"}).status_code == 204
            assert client.post(f"/alerts/{alert_id}/acknowledge", json={}).status_code == 409
            assert client.post(f"/alerts/{alert_id}/snooze", json={"minutes": 30}).status_code == 204
            assert client.post(f"/alerts/{alert_id}/resolve", json={"note": "ok"}).status_code == 204
            missing = "01900000-0000-7000-8000-000000000000"
            assert client.post(f"/alerts/{missing}/resolve", json={}).status_code == 404
        wait_until(lambda: len(sse.events) == 4, 20, "lifecycle events on the stream")
        assert [e["data"]["change"] for e in sse.events] == ["opened", "acknowledged", "snoozed", "resolved"]
        assert [int(e["id"]) for e in sse.events] == sorted(int(e["id"]) for e in sse.events)
    finally:
        sse.close()


def test_threshold_overrides_through_the_router_are_versioned_audited_and_clinician_only(
    database_url: str, world: World, clinician: UUID, db: psycopg.Connection[Any]
) -> None:
    """OVR-1..3 over HTTP: a physician sets and revises a patient's BP-C1 threshold (each version keeps
    who, when, why and the previous value), staff without a clinical credential are refused, a bad
    threshold is refused with the reason, and another practice's patient does not exist."""
    staff = uuid4()
    db.execute(
        "INSERT INTO users (id, practice_id, email, display_name, role, credential) "
        "VALUES (%s, %s, 'staff@example.org', 'Staff', 'care_staff', 'none')",
        (staff, world.practice_id),
    )
    at = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def client(user: UUID) -> TestClient:
        app = FastAPI()
        who = Actor(user_id=str(user), practice_id=str(world.practice_id))
        app.include_router(build_router(database_url, actor=lambda: who, clock=lambda: at))
        return TestClient(app)

    patient = str(world.homes[0].patient_id)
    url = f"/alerts/patients/{patient}/overrides"
    doctor = client(clinician)
    first = {"rule_id": "BP-C1", "params": {"sys_ge": 190}, "reason": "baseline in the 170s"}
    assert doctor.post(url, json=first).json() == {"version": 1}
    revised = {
        "rule_id": "BP-C1",
        "params": {"sys_ge": 185},
        "reason": "reviewed",
        "expires_at": "2027-01-01T00:00:00Z",
    }
    response = doctor.post(url, json=revised)
    assert (response.status_code, response.json()) == (201, {"version": 2})
    listed = doctor.get(url).json()
    assert [(o["version"], o["params"], o["previous_params"], o["reason"], o["author_id"]) for o in listed] == [
        (1, {"sys_ge": 190.0}, None, "baseline in the 170s", str(clinician)),
        (2, {"sys_ge": 185.0}, {"sys_ge": 190.0}, "reviewed", str(clinician)),
    ]
    assert listed[0]["superseded_at"] is not None
    assert listed[1]["superseded_at"] is None
    assert store.patient_contexts(db, [patient], at)[patient].overrides == {"BP-C1": {"sys_ge": 185.0}}

    refused = client(staff).post(url, json=first)
    assert refused.status_code == 403
    assert "physician" in refused.json()["detail"]
    typo = doctor.post(url, json={**first, "params": {"sys_gt": 185}})
    assert typo.status_code == 422
    assert "sys_ge" in typo.json()["detail"]
    expired = doctor.post(url, json={**first, "expires_at": "2026-12-01T00:00:00Z"})
    assert expired.status_code == 422
    assert doctor.post(f"/alerts/patients/{uuid4()}/overrides", json=first).status_code == 404
    assert doctor.get(f"/alerts/patients/{uuid4()}/overrides").status_code == 404
    assert db.execute("SELECT count(*) FROM alert_threshold_overrides").fetchone() == (2,)


def test_a_client_reconnecting_with_last_event_id_gets_what_it_missed_once_then_the_live_stream(
    api: str, db: psycopg.Connection[Any], world: World, clinician: UUID
) -> None:
    now = datetime.now(UTC)
    with db.transaction():
        first = store.raise_alert(db, bp_c1(world), now).alert_id
    (seen,) = db.execute("SELECT max(id) FROM alert_events").fetchone()  # the client saw this one
    with db.transaction():
        service.acknowledge(db, str(world.practice_id), first, by=str(clinician), at=now, note=None)
        second = store.raise_alert(db, bp_c1(world, home=1), now).alert_id
    sse = SseClient(f"{api}/alerts/stream", last_event_id=str(seen))
    try:
        wait_until(lambda: len(sse.events) == 2, 20, "the missed events")
        assert [(e["data"]["alert_id"], e["data"]["change"], e["data"]["replayed"]) for e in sse.events] == [
            (first, "acknowledged", True),
            (second, "opened", True),
        ]
        with db.transaction():
            service.resolve(db, str(world.practice_id), second, by=str(clinician), at=now, note=None)
        wait_until(lambda: len(sse.events) == 3, 20, "the live event")
        live = sse.events[2]
        assert (live["data"]["alert_id"], live["data"]["change"], "replayed" in live["data"]) == (
            second,
            "resolved",
            False,
        )
        ids = [int(e["id"]) for e in sse.events]
        assert ids == sorted(ids)
        assert ids[0] > seen
    finally:
        sse.close()
