"""The agent API: agents, tasks, approvals, messages and activity, through the real routes.

The runtime is stepped by hand with the pumps, so every assertion sees a settled state.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from cctest.personas import Persona, World, sign_in
from commandcentre.agents import approvals
from commandcentre.agents.base import ApprovalRequest
from commandcentre.agents.config import validate_config
from commandcentre.agents.models import Agent, AgentTask
from commandcentre.agents.pumps import Pumps
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session

MISSING = "00000000-0000-4000-8000-000000000000"


# --------------------------------------------------------------------------- helpers


def _pumps(ctx: AppContext) -> Pumps:
    return Pumps(factory=ctx.session_factory, clock=ctx.clock, worker="test-worker")


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _agents(client: TestClient, persona: Persona) -> dict[str, str]:
    listed = _ok(client.get("/api/agents", headers=persona.auth))["agents"]
    return {a["agentType"]: a["id"] for a in listed}


def _assign(client: TestClient, persona: Persona, agent_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("taskType", "ping")
    path = f"/api/agents/{agent_id}/tasks/assign"
    return _ok(client.post(path, json=body, headers=persona.auth), 201)  # type: ignore[no-any-return]


def _await_approval(ctx: AppContext, task_id: str) -> str:
    """Leave a task as the worker does when its agent asks the user first."""
    with system_session(ctx.session_factory) as session:
        task = session.get(AgentTask, uuid.UUID(task_id))
        assert task is not None
        workspace_id = task.workspace_id
    with workspace_session(ctx.session_factory, workspace_id) as session:
        task = session.get(AgentTask, uuid.UUID(task_id))
        assert task is not None
        task.status = "waiting_approval"
        task.output_data = {"summary": "Drafted a first email to Ada"}
        approval = approvals.open_for_task(
            session=session,
            clock=ctx.clock,
            task=task,
            request=ApprovalRequest(
                title="Send the first email to Ada?",
                context={"to": "ada@example.com", "subject": "Your talk at Data Summit"},
            ),
        )
        return str(approval.id)


def _escalate(client: TestClient, persona: Persona, agent_id: str, subject: str) -> str:
    """An escalation from the agent; returns its approval id."""
    message = _ok(
        client.post(
            f"/api/agents/{agent_id}/messages/send",
            json={"messageType": "escalation", "subject": subject, "payload": {"why": "silence"}},
            headers=persona.auth,
        ),
        201,
    )
    pending = _ok(client.get("/api/agents/tasks/pending", headers=persona.auth))["pending"]
    return next(p["id"] for p in pending if p["messageId"] == message["id"])  # type: ignore[no-any-return]


def _task(client: TestClient, persona: Persona, task_id: str) -> dict[str, Any]:
    return _ok(client.get(f"/api/agents/tasks/{task_id}", headers=persona.auth))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- agents


def test_create_returns_the_agent_with_its_config_completed(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    with system_session(ctx.session_factory) as session:
        session.execute(delete(Agent).where(Agent.agent_type == "research"))
    created = _ok(
        client.post(
            "/api/agents/create",
            json={"agentType": "research", "name": "Scout", "config": {"maxNotesPerContact": 9}},
            headers=world.owner.auth,
        ),
        201,
    )
    assert set(created) == {
        "id",
        "agentType",
        "name",
        "status",
        "config",
        "pausedAt",
        "lastActiveAt",
    }
    assert created["agentType"] == "research"
    assert created["status"] == "idle"
    assert created["config"] == {"maxNotesPerContact": 9}
    assert _agents(client, world.owner)["research"] == created["id"]
    assert created["id"] not in client.get("/api/agents", headers=world.outsider.auth).text


def test_create_refuses_a_second_agent_of_a_type(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/agents/create",
        json={"agentType": "outreach", "name": "Outreach two"},
        headers=world.owner.auth,
    )
    assert response.status_code == 409
    assert response.json()["field"] == "agentType"
    assert "already has a outreach agent" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"agentType": "research", "name": "R", "config": {"maxNotesPerContact": "many"}},
            "config.maxNotesPerContact",
        ),
        (
            {"agentType": "research", "name": "R", "config": {"maxNotesPerContact": 0}},
            "config.maxNotesPerContact",
        ),
        ({"agentType": "research", "name": "R", "config": {"colour": "red"}}, "config.colour"),
        ({"agentType": "sales", "name": "R"}, "agentType"),
        ({"agentType": "research", "name": "   "}, "name"),
        ({"agentType": "research", "name": "R", "config": []}, "config"),
    ],
)
def test_create_names_the_field_at_fault(
    client: TestClient, world: World, ctx: AppContext, body: dict[str, Any], field: str
) -> None:
    with system_session(ctx.session_factory) as session:
        session.execute(delete(Agent).where(Agent.agent_type == "research"))
    response = client.post("/api/agents/create", json=body, headers=world.owner.auth)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert "research" not in _agents(client, world.owner)


def test_list_and_get_agents(client: TestClient, world: World) -> None:
    listed = _ok(client.get("/api/agents", headers=world.owner.auth))["agents"]
    assert [a["agentType"] for a in listed] == ["planning", "outreach", "followup", "research"]
    assert all(set(a) == {"id", "agentType", "name", "status"} for a in listed)
    outreach = _ok(client.get(f"/api/agents/{listed[1]['id']}", headers=world.owner.auth))
    assert outreach["config"] == {
        "autoApprove": False,
        "maxDailyOutreach": 50,
        "tone": "professional",
        "undoDelaySeconds": 60,
        "businessHoursOnly": True,
        "businessHoursStart": 9,
        "businessHoursEnd": 17,
        "dailyModelCalls": 500,
        "dailyModelTokens": 1_000_000,
        "dailyModelCostUsd": 5.0,
    }
    assert client.get(f"/api/agents/{MISSING}", headers=world.owner.auth).status_code == 404
    assert client.get("/api/agents/not-a-uuid", headers=world.owner.auth).status_code == 422


def test_patch_merges_partial_config_and_keeps_the_rest(client: TestClient, world: World) -> None:
    outreach = _agents(client, world.owner)["outreach"]
    path = f"/api/agents/{outreach}"
    updated = _ok(
        client.patch(
            path,
            json={"name": "Ada's outreach", "config": {"tone": "friendly"}},
            headers=world.owner.auth,
        )
    )
    assert updated["name"] == "Ada's outreach"
    assert updated["config"] == {
        **validate_config("outreach", {}),
        "tone": "friendly",
    }

    bad = client.patch(path, json={"config": {"maxDailyOutreach": 0}}, headers=world.owner.auth)
    assert bad.status_code == 422
    assert bad.json()["field"] == "config.maxDailyOutreach"
    assert client.patch(path, json={"name": None}, headers=world.owner.auth).status_code == 422
    assert client.patch(path, json={"colour": "red"}, headers=world.owner.auth).status_code == 422
    assert _ok(client.get(path, headers=world.owner.auth))["config"]["maxDailyOutreach"] == 50

    activity = _ok(client.get(f"{path}/activity", headers=world.owner.auth))["activities"]
    assert activity[0]["activityType"] == "config_changed"
    assert activity[0]["details"] == {"tone": "friendly"}


def test_status_has_the_seed_shape(client: TestClient, world: World, ctx: AppContext) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research, priority="high", inputData={"note": "hi"})
    status = _ok(client.get(f"/api/agents/{research}/status", headers=world.owner.auth))
    assert set(status) == {
        "status",
        "currentTasks",
        "performance",
        "messageQueue",
        "pendingApprovals",
    }
    assert status["status"] == "active"
    assert status["currentTasks"] == [
        {
            "id": task["id"],
            "taskType": "ping",
            "priority": "high",
            "status": "pending",
            "createdAt": task["createdAt"],
        }
    ]
    assert set(status["performance"]) >= {"tasksCompleted", "successRate", "averageResponseTime"}
    assert status["messageQueue"] == 0

    assert _pumps(ctx).process_tasks() == 1
    status = _ok(client.get(f"/api/agents/{research}/status", headers=world.owner.auth))
    assert status["status"] == "idle"
    assert status["currentTasks"] == []
    assert status["performance"]["tasksCompleted"] == 1
    assert status["performance"]["successRate"] == 1.0


# --------------------------------------------------------------------------- tasks


def test_assign_returns_the_task(client: TestClient, world: World) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    assert set(task) == {
        "id",
        "agentId",
        "taskType",
        "priority",
        "status",
        "inputData",
        "outputData",
        "errorMessage",
        "attempts",
        "lastError",
        "createdAt",
        "completedAt",
    }
    assert task["agentId"] == research
    assert task["priority"] == "medium"
    assert task["status"] == "pending"
    assert task["inputData"] == {"note": ""}
    assert _task(client, world.owner, task["id"]) == task


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"taskType": "write_poem"}, "taskType"),
        ({"taskType": "ping", "inputData": {"note": 5}}, "inputData.note"),
        ({"taskType": "ping", "inputData": {"colour": "red"}}, "inputData.colour"),
        ({"taskType": "ping", "priority": "asap"}, "priority"),
        ({"taskType": "ping", "inputData": {"note": "a\x00b"}}, "inputData"),
        ({"priority": "low"}, "taskType"),
    ],
)
def test_assign_names_the_field_at_fault(
    client: TestClient, world: World, body: dict[str, Any], field: str
) -> None:
    research = _agents(client, world.owner)["research"]
    response = client.post(
        f"/api/agents/{research}/tasks/assign", json=body, headers=world.owner.auth
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    tasks = _ok(client.get(f"/api/agents/{research}/tasks", headers=world.owner.auth))["tasks"]
    assert tasks == []


def test_task_list_filters_by_status(client: TestClient, world: World, ctx: AppContext) -> None:
    research = _agents(client, world.owner)["research"]
    first = _assign(client, world.owner, research)
    _ok(client.post(f"/api/agents/tasks/{first['id']}/cancel", headers=world.owner.auth))
    second = _assign(client, world.owner, research)
    path = f"/api/agents/{research}/tasks"
    listed = _ok(client.get(path, headers=world.owner.auth))["tasks"]
    assert {t["id"] for t in listed} == {first["id"], second["id"]}
    pending = _ok(client.get(f"{path}?status=pending", headers=world.owner.auth))["tasks"]
    assert [t["id"] for t in pending] == [second["id"]]
    assert client.get(f"{path}?status=sleeping", headers=world.owner.auth).status_code == 422


def test_approve_sends_a_waiting_task_back_to_work(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    approval_id = _await_approval(ctx, task["id"])

    pending = _ok(client.get("/api/agents/tasks/pending", headers=world.owner.auth))["pending"]
    assert pending == [
        {
            "id": approval_id,
            "kind": "task",
            "agentId": research,
            "agentType": "research",
            "taskId": task["id"],
            "messageId": None,
            "title": "Send the first email to Ada?",
            "context": {"to": "ada@example.com", "subject": "Your talk at Data Summit"},
            "choices": ["approve", "reject"],
            "createdAt": pending[0]["createdAt"],
        }
    ]
    status = _ok(client.get(f"/api/agents/{research}/status", headers=world.owner.auth))
    assert status["pendingApprovals"] == 1

    approved = _ok(client.post(f"/api/agents/tasks/{task['id']}/approve", headers=world.owner.auth))
    assert approved["status"] == "pending"
    assert approved["inputData"]["_decision"]["choice"] == "approve"
    assert _ok(client.get("/api/agents/tasks/pending", headers=world.owner.auth)) == {"pending": []}

    again = client.post(f"/api/agents/tasks/{task['id']}/approve", headers=world.owner.auth)
    assert again.status_code == 409
    assert again.json()["detail"] == (
        "only a task waiting for approval can be approved; this one is pending"
    )
    assert _pumps(ctx).process_tasks() == 1
    assert _task(client, world.owner, task["id"])["status"] == "completed"


def test_approve_accepts_only_the_offered_choices(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    _await_approval(ctx, task["id"])
    path = f"/api/agents/tasks/{task['id']}/approve"
    for choice in ("launch", "reject"):
        response = client.post(path, json={"choice": choice}, headers=world.owner.auth)
        assert response.status_code == 422
        assert response.json()["field"] == "choice"
    assert _ok(client.post(path, json={"choice": "approve"}, headers=world.owner.auth))


def test_reject_needs_a_reason_and_stops_the_task(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    _await_approval(ctx, task["id"])
    path = f"/api/agents/tasks/{task['id']}/reject"
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = client.post(path, json=body, headers=world.owner.auth)
        assert response.status_code == 422, body
        assert response.json()["field"] == "reason"
    assert _task(client, world.owner, task["id"])["status"] == "waiting_approval"

    rejected = _ok(client.post(path, json={"reason": "Wrong person"}, headers=world.owner.auth))
    assert rejected["status"] == "cancelled"
    assert rejected["errorMessage"] == "rejected: Wrong person"
    again = client.post(path, json={"reason": "Still no"}, headers=world.owner.auth)
    assert again.status_code == 409
    assert "this one is cancelled" in again.json()["detail"]


def test_reject_of_a_task_not_waiting_for_approval_is_a_conflict(
    client: TestClient, world: World
) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    response = client.post(
        f"/api/agents/tasks/{task['id']}/reject", json={"reason": "no"}, headers=world.owner.auth
    )
    assert response.status_code == 409
    assert _task(client, world.owner, task["id"])["status"] == "pending"


def test_cancel_stops_unfinished_tasks_only(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    waiting = _assign(client, world.owner, research)
    _await_approval(ctx, waiting["id"])
    cancelled = _ok(
        client.post(
            f"/api/agents/tasks/{waiting['id']}/cancel",
            json={"reason": "plans changed"},
            headers=world.owner.auth,
        )
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["errorMessage"] == "cancelled: plans changed"
    assert _ok(client.get("/api/agents/tasks/pending", headers=world.owner.auth))["pending"] == []

    done = _assign(client, world.owner, research)
    _pumps(ctx).process_tasks()
    response = client.post(f"/api/agents/tasks/{done['id']}/cancel", headers=world.owner.auth)
    assert response.status_code == 409
    assert response.json()["detail"] == "a task that is completed cannot become cancelled"
    missing = client.post(f"/api/agents/tasks/{MISSING}/cancel", headers=world.owner.auth)
    assert missing.status_code == 404


def test_escalations_are_decided_with_one_of_their_choices(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    followup = _agents(client, world.owner)["followup"]
    approval_id = _escalate(client, world.owner, followup, "No reply after three follow-ups")
    pending = _ok(client.get("/api/agents/tasks/pending", headers=world.owner.auth))["pending"]
    assert pending[0]["kind"] == "escalation"
    assert pending[0]["agentType"] == "followup"
    assert pending[0]["taskId"] is None
    assert pending[0]["choices"] == ["acknowledge", "retry", "cancel"]

    path = f"/api/agents/approvals/{approval_id}/decide"
    wrong = client.post(path, json={"choice": "ignore"}, headers=world.owner.auth)
    assert wrong.status_code == 422
    assert wrong.json()["field"] == "choice"
    decided = _ok(
        client.post(
            path, json={"choice": "acknowledge", "reason": "I'll call"}, headers=world.owner.auth
        )
    )
    assert decided["status"] == "approved"
    assert decided["decision"] == "acknowledge"
    assert decided["reason"] == "I'll call"
    again = client.post(path, json={"choice": "retry"}, headers=world.owner.auth)
    assert again.status_code == 409

    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    task_approval = _await_approval(ctx, task["id"])
    not_escalation = client.post(
        f"/api/agents/approvals/{task_approval}/decide",
        json={"choice": "approve"},
        headers=world.owner.auth,
    )
    assert not_escalation.status_code == 422


# --------------------------------------------------------------------------- messages


def test_messages_are_sent_delivered_and_answered(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    agents = _agents(client, world.owner)
    request = _ok(
        client.post(
            f"/api/agents/{agents['planning']}/messages/send",
            json={
                "toAgentType": "research",
                "messageType": "request",
                "subject": "Who is Ada?",
                "payload": {"contact": "Ada"},
            },
            headers=world.owner.auth,
        ),
        201,
    )
    assert set(request) == {
        "id",
        "fromAgentId",
        "toAgentId",
        "messageType",
        "subject",
        "payload",
        "requiresResponse",
        "responseToId",
        "status",
        "readAt",
        "respondedAt",
        "createdAt",
    }
    assert request["toAgentId"] == agents["research"]
    assert request["requiresResponse"] is True
    assert request["status"] == "pending"
    status = _ok(client.get(f"/api/agents/{agents['research']}/status", headers=world.owner.auth))
    assert status["messageQueue"] == 1

    assert _pumps(ctx).process_messages() == 1
    planning = _ok(
        client.get(f"/api/agents/{agents['planning']}/messages", headers=world.owner.auth)
    )["messages"]
    answer = next(m for m in planning if m["messageType"] == "response")
    assert answer["responseToId"] == request["id"]
    assert answer["fromAgentId"] == agents["research"]
    delivered = next(m for m in planning if m["id"] == request["id"])
    assert delivered["status"] == "delivered"
    assert delivered["respondedAt"] is not None

    twice = client.post(
        f"/api/agents/{agents['research']}/messages/send",
        json={
            "toAgentId": agents["planning"],
            "messageType": "response",
            "subject": "again",
            "responseToId": request["id"],
        },
        headers=world.owner.auth,
    )
    assert twice.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"messageType": "notification", "subject": "to nobody"}, 422, "toAgentType"),
        (
            {"toAgentType": "research", "messageType": "response", "subject": "hm"},
            422,
            "responseToId",
        ),
        ({"toAgentType": "research", "messageType": "gossip", "subject": "x"}, 422, "messageType"),
        (
            {
                "toAgentType": "research",
                "messageType": "request",
                "subject": "x",
                "responseToId": MISSING,
            },
            404,
            None,
        ),
        ({"toAgentId": MISSING, "messageType": "notification", "subject": "x"}, 404, None),
    ],
)
def test_message_errors(
    client: TestClient, world: World, body: dict[str, Any], status: int, field: str | None
) -> None:
    planning = _agents(client, world.owner)["planning"]
    response = client.post(
        f"/api/agents/{planning}/messages/send", json=body, headers=world.owner.auth
    )
    assert response.status_code == status, response.text
    if field:
        assert response.json()["field"] == field


def test_messages_cannot_reach_another_workspaces_agent(client: TestClient, world: World) -> None:
    planning = _agents(client, world.owner)["planning"]
    theirs = _agents(client, world.outsider)["research"]
    response = client.post(
        f"/api/agents/{planning}/messages/send",
        json={"toAgentId": theirs, "messageType": "notification", "subject": "psst"},
        headers=world.owner.auth,
    )
    assert response.status_code == 404
    listed = client.get(f"/api/agents/{theirs}/messages", headers=world.outsider.auth)
    assert _ok(listed)["messages"] == []


# --------------------------------------------------------------------------- activity


def test_activity_is_paginated_per_agent_and_per_workspace(
    client: TestClient, world: World
) -> None:
    agents = _agents(client, world.owner)
    for _ in range(3):
        _assign(client, world.owner, agents["research"])
    _assign(client, world.owner, agents["planning"])

    path = f"/api/agents/{agents['research']}/activity"
    first = _ok(client.get(f"{path}?page=1&limit=2", headers=world.owner.auth))
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 3}
    assert len(first["activities"]) == 2
    entry = first["activities"][0]
    assert set(entry) == {
        "id",
        "agentId",
        "activityType",
        "description",
        "details",
        "taskId",
        "messageId",
        "createdAt",
    }
    assert entry["activityType"] == "task_assigned"
    second = _ok(client.get(f"{path}?page=2&limit=2", headers=world.owner.auth))
    assert len(second["activities"]) == 1
    seen = {a["id"] for a in first["activities"] + second["activities"]}
    assert len(seen) == 3

    everything = _ok(client.get("/api/activity", headers=world.owner.auth))
    assert everything["pagination"]["total"] == 4
    one = _ok(client.get(f"/api/activity?agentId={agents['planning']}", headers=world.owner.auth))
    assert one["pagination"]["total"] == 1
    assert _ok(client.get("/api/activity", headers=world.outsider.auth))["activities"] == []
    for bad in ("limit=0", "limit=101", "page=0"):
        assert client.get(f"{path}?{bad}", headers=world.owner.auth).status_code == 422


# --------------------------------------------------------------------------- pause


def test_a_paused_agent_claims_nothing_until_resumed(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    paused = _ok(client.post(f"/api/agents/{research}/pause", headers=world.owner.auth))
    assert paused["status"] == "paused"
    assert paused["pausedAt"] is not None
    task = _assign(client, world.owner, research)

    assert _pumps(ctx).process_tasks() == 0
    assert _task(client, world.owner, task["id"])["status"] == "pending"
    status = _ok(client.get(f"/api/agents/{research}/status", headers=world.owner.auth))
    assert status["status"] == "paused"

    resumed = _ok(client.post(f"/api/agents/{research}/resume", headers=world.owner.auth))
    assert resumed["pausedAt"] is None
    assert _pumps(ctx).process_tasks() == 1
    assert _task(client, world.owner, task["id"])["status"] == "completed"


# --------------------------------------------------------------------------- access


@dataclass
class Scene:
    """Fresh objects in the owner's workspace for one caller to act on."""

    agent: str
    task: str
    waiting: str
    escalation: str


def _scene(client: TestClient, world: World, ctx: AppContext) -> Scene:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)["id"]
    waiting = _assign(client, world.owner, research)["id"]
    _await_approval(ctx, waiting)
    escalation = _escalate(client, world.owner, research, f"Escalation {uuid.uuid4().hex[:6]}")
    return Scene(agent=research, task=task, waiting=waiting, escalation=escalation)


# method, path, body, status for a workspace member, status for an outsider
ROUTES: list[tuple[str, str, dict[str, Any] | None, int, int]] = [
    ("POST", "/api/agents/create", {"agentType": "research", "name": "R"}, 409, 409),
    ("GET", "/api/agents", None, 200, 200),
    ("GET", "/api/agents/tasks/pending", None, 200, 200),
    ("GET", "/api/agents/tasks/{task}", None, 200, 404),
    ("POST", "/api/agents/tasks/{waiting}/approve", None, 200, 404),
    ("POST", "/api/agents/tasks/{waiting}/reject", {"reason": "no"}, 200, 404),
    ("POST", "/api/agents/tasks/{task}/cancel", None, 200, 404),
    ("POST", "/api/agents/approvals/{escalation}/decide", {"choice": "retry"}, 200, 404),
    ("GET", "/api/agents/{agent}", None, 200, 404),
    ("PATCH", "/api/agents/{agent}", {"config": {"maxNotesPerContact": 7}}, 200, 404),
    ("POST", "/api/agents/{agent}/pause", None, 200, 404),
    ("POST", "/api/agents/{agent}/resume", None, 200, 404),
    ("GET", "/api/agents/{agent}/status", None, 200, 404),
    ("POST", "/api/agents/{agent}/tasks/assign", {"taskType": "ping"}, 201, 404),
    ("GET", "/api/agents/{agent}/tasks", None, 200, 404),
    (
        "POST",
        "/api/agents/{agent}/messages/send",
        {"toAgentType": "planning", "messageType": "notification", "subject": "hi"},
        201,
        404,
    ),
    ("GET", "/api/agents/{agent}/messages", None, 200, 404),
    ("GET", "/api/agents/{agent}/activity", None, 200, 404),
    ("GET", "/api/activity", None, 200, 200),
    ("GET", "/api/activity?agentId={agent}", None, 200, 404),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "member", "outsider"),
    ROUTES,
    ids=[f"{m} {p}" for m, p, *_ in ROUTES],
)
def test_who_may_call_each_route(
    client: TestClient,
    world: World,
    ctx: AppContext,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    member: int,
    outsider: int,
) -> None:
    def call(scene: Scene, persona: Persona | None) -> Any:
        headers = persona.auth if persona else {}
        return client.request(method, path.format(**asdict(scene)), json=body, headers=headers)

    scene = _scene(client, world, ctx)
    assert call(scene, None).status_code == 401
    refused = call(scene, world.outsider)
    assert refused.status_code == outsider, refused.text
    for owned in asdict(scene).values():
        assert owned not in refused.text
    for persona in (world.teammate, world.owner):
        response = call(_scene(client, world, ctx), persona)
        assert response.status_code == member, (persona.name, response.text)


def test_the_access_table_covers_every_agent_route(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        # Outreach drafts have their own access tests (tests/outreach/test_drafts_api.py).
        if (path.startswith("/api/agents") and not path.startswith("/api/agents/outreach/"))
        or path == "/api/activity"
        for method in operations
    }
    names = {
        "{task}": "{task_id}",
        "{waiting}": "{task_id}",
        "{agent}": "{agent_id}",
        "{escalation}": "{approval_id}",
    }
    covered = set()
    for method, path, *_ in ROUTES:
        path = path.split("?")[0]
        for short, real in names.items():
            path = path.replace(short, real)
        covered.add((method, path))
    assert routes == covered


def test_openapi_documents_agent_routes_and_errors(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assign = paths["/api/agents/{agent_id}/tasks/assign"]["post"]
    assert {"201", "401", "404", "409", "422"} <= set(assign["responses"])
    body = assign["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/TaskAssign")
    assert "/api/agents/tasks/pending" in paths
    status = paths["/api/agents/{agent_id}/status"]["get"]["responses"]["200"]
    assert status["content"]["application/json"]["schema"]["$ref"].endswith("/AgentStatusOut")


def test_cookie_writes_need_the_csrf_header(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world.owner.email)
    research = _agents(client, world.owner)["research"]
    path = f"/api/agents/{research}/pause"
    assert client.post(path).status_code == 403
    assert client.post(path, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_tasks_of_other_workspaces_are_invisible(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    theirs = _agents(client, world.outsider)["research"]
    task = _assign(client, world.outsider, theirs)
    with system_session(ctx.session_factory) as session:
        assert session.scalar(select(AgentTask.id).where(AgentTask.id == uuid.UUID(task["id"])))
    assert (
        client.get(f"/api/agents/tasks/{task['id']}", headers=world.owner.auth).status_code == 404
    )
