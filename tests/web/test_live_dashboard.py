"""The dashboard's live stream: a snapshot on connect, then an event whenever agents act.

The stream never ends by itself, so a reader thread hands its lines over a queue and every
wait is bounded.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from cctest.personas import Persona, World, sign_in
from commandcentre.agents.models import ActivityEntry
from commandcentre.agents.pumps import Pumps
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.workspaces import services as ws

WAIT_SECONDS = 5.0


class Events:
    """Server-sent events read from a streaming response in a background thread."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(lines,), daemon=True)
        self._thread.start()

    def _read(self, lines: Iterator[str]) -> None:
        try:
            for line in lines:
                self._lines.put(line)
        except Exception:
            pass  # the test closed the stream
        finally:
            self._lines.put(None)

    def next(self, timeout: float = WAIT_SECONDS) -> dict[str, str]:
        """The next event's fields (comment lines such as pings are skipped)."""
        fields: dict[str, str] = {}
        while True:
            line = self._lines.get(timeout=timeout)
            assert line is not None, "the stream ended"
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")

    def next_data(self, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        event = self.next(timeout)
        assert event.get("event") == "dashboard", event
        return json.loads(event["data"])  # type: ignore[no-any-return]

    def until(self, predicate: Any, timeout: float = WAIT_SECONDS) -> dict[str, Any]:
        """Read events until one satisfies `predicate`; fail after `timeout` seconds."""
        while True:
            data = self.next_data(timeout)
            if predicate(data):
                return data


@contextmanager
def live(client: TestClient) -> Iterator[Events]:
    with client.stream("GET", "/live/dashboard") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        yield Events(response.iter_lines())


def _agents(client: TestClient, persona: Persona) -> dict[str, str]:
    listed = client.get("/api/agents", headers=persona.auth).json()["agents"]
    return {a["agentType"]: a["id"] for a in listed}


def _card(data: dict[str, Any], agent_id: str) -> dict[str, Any]:
    return next(a for a in data["agents"] if a["id"] == agent_id)


def test_stream_sends_the_panel_then_an_event_after_activity(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    sign_in(client, world.owner.email)
    with live(client) as events:
        first = events.next()
        assert first["retry"] == "5000"
        snapshot = json.loads(first["data"])
        assert [a["agentType"] for a in snapshot["agents"]] == [
            "planning",
            "outreach",
            "followup",
            "research",
        ]
        assert snapshot["pendingApprovals"] == 0
        assert snapshot["activity"] == []
        assert _card(snapshot, research)["status"] == "idle"

        assigned = client.post(
            f"/api/agents/{research}/tasks/assign",
            json={"taskType": "ping", "priority": "urgent"},
            headers=world.owner.auth,
        )
        assert assigned.status_code == 201
        data = events.until(lambda d: d["activity"])
        assert data["activity"][0]["description"] == "New urgent task: ping"
        assert data["activity"][0]["agent"] == "Research"
        card = _card(data, research)
        assert card["status"] == "active"
        assert card["current"] == "ping (pending, urgent)"

        Pumps(factory=ctx.session_factory, clock=ctx.clock, worker="w").process_tasks()
        data = events.until(lambda d: _card(d, research)["tasksCompleted"] == 1)
        assert _card(data, research)["doneToday"] == 1
        assert _card(data, research)["successRate"] == "100%"
        kinds = [a["activityType"] for a in data["activity"]]
        assert kinds == ["task_completed", "task_assigned"]


def test_stream_sees_writes_that_bypass_this_process(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    """Rows written without the in-process wake-up (another machine) arrive by polling."""
    with system_session(ctx.session_factory) as session:
        workspace = ws.get_workspace_by_slug(session=session, slug="acme")
        assert workspace is not None
        workspace_id = workspace.id
    research = uuid.UUID(_agents(client, world.owner)["research"])
    sign_in(client, world.owner.email)
    with live(client) as events:
        assert events.next_data()["activity"] == []
        with workspace_session(ctx.session_factory, workspace_id) as session:
            session.add(
                ActivityEntry(
                    agent_id=research,
                    activity_type="note",
                    description="Written by a worker elsewhere",
                    created_at=ctx.clock.now(),
                )
            )
        data = events.until(lambda d: d["activity"])
        assert data["activity"][0]["description"] == "Written by a worker elsewhere"


def test_stream_shows_only_the_callers_workspace(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    mine = set(_agents(client, world.outsider).values())
    research = _agents(client, world.owner)["research"]
    sign_in(client, world.outsider.email)
    with live(client) as events:
        snapshot = events.next_data()
        assert {a["id"] for a in snapshot["agents"]} == mine
        client.post(
            f"/api/agents/{research}/tasks/assign",
            json={"taskType": "ping"},
            headers=world.owner.auth,
        )
        client.post(f"/api/agents/{next(iter(mine))}/pause", headers=world.outsider.auth)
        data = events.until(lambda d: d["activity"])
        assert [a["activityType"] for a in data["activity"]] == ["agent_paused"]


def test_stream_needs_a_signed_in_session(client: TestClient, world: World) -> None:
    response = client.get("/live/dashboard", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/live/dashboard"
    bearer = client.get("/live/dashboard", headers=world.owner.auth, follow_redirects=False)
    assert bearer.status_code == 303
