"""The alerts router served by a real uvicorn, read by a real HTTP SSE client: a committed alert
reaches the stream, lifecycle routes change it (and the stream hears that too)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
import uvicorn
from fastapi import FastAPI

from alerts import store
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

    def __init__(self, url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self.closed = False
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=60))
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
