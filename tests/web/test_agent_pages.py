"""Agent pages: the dashboard panel, agent detail and settings, activity, approvals.

Work is created through the JSON API with bearer tokens and the runtime is stepped by
hand; pages are read and forms posted through a signed-in browser session.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cctest.personas import Persona, World, sign_in
from commandcentre.agents import approvals, tasks
from commandcentre.agents.base import ApprovalRequest
from commandcentre.agents.models import AgentTask
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session

# --------------------------------------------------------------------------- helpers


def _agents(client: TestClient, persona: Persona) -> dict[str, str]:
    listed = client.get("/api/agents", headers=persona.auth).json()["agents"]
    return {a["agentType"]: a["id"] for a in listed}


def _assign(client: TestClient, persona: Persona, agent_id: str, **body: Any) -> str:
    body.setdefault("taskType", "ping")
    response = client.post(f"/api/agents/{agent_id}/tasks/assign", json=body, headers=persona.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _api(client: TestClient, persona: Persona, path: str) -> Any:
    response = client.get(path, headers=persona.auth)
    assert response.status_code == 200, response.text
    return response.json()


def _await_approval(ctx: AppContext, task_id: str, title: str = "Send it?") -> str:
    """Leave a task as the worker does when its agent asks the user first."""
    with system_session(ctx.session_factory) as session:
        found = session.get(AgentTask, uuid.UUID(task_id))
        assert found is not None
        workspace_id = found.workspace_id
    with workspace_session(ctx.session_factory, workspace_id) as session:
        task = session.get(AgentTask, uuid.UUID(task_id))
        assert task is not None
        task.status = "waiting_approval"
        task.output_data = {"summary": "Drafted a first email to Ada"}
        approval = approvals.open_for_task(
            session=session,
            clock=ctx.clock,
            task=task,
            request=ApprovalRequest(title=title, context={"recipient": "ada@example.com"}),
        )
        return str(approval.id)


def _pumps(ctx: AppContext) -> Pumps:
    return Pumps(factory=ctx.session_factory, clock=ctx.clock, worker="test-worker")


def _section(html: str, element_id: str) -> str:
    """The markup of the element with this id, up to its tag's first closing tag."""
    at = html.index(f'id="{element_id}"')
    start = html.rindex("<", 0, at)
    tag = re.match(r"<(\w+)", html[start:])
    assert tag, element_id
    return html[start : html.index(f"</{tag.group(1)}>", at)]


def _card(html: str, agent_id: str) -> str:
    start = html.index(f'id="agent-card-{agent_id}"')
    return html[start : html.index("</article>", start)]


def _field(markup: str, name: str) -> str:
    found = re.search(rf'data-field="{name}"[^>]*>([^<]*)<', markup)
    assert found, name
    return found.group(1).strip()


# --------------------------------------------------------------------------- rendering


def test_dashboard_shows_the_agent_panel_beside_the_intel(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    agents = _agents(client, world.owner)
    _assign(client, world.owner, agents["research"], priority="high")
    sign_in(client, world.owner.email)
    page = client.get("/")
    assert page.status_code == 200
    assert "New high-signal opportunities" in page.text
    assert 'data-live-url="/live/dashboard"' in page.text
    assert '<script src="/static/live.js" defer></script>' in page.text
    for agent_id in agents.values():
        assert f'id="agent-card-{agent_id}"' in page.text
    card = _card(page.text, agents["research"])
    assert _field(card, "status") == "active"
    assert _field(card, "current") == "ping (pending, high)"
    assert _field(card, "done-today") == "0"
    assert _field(card, "success-rate") == "—"
    assert 'id="pending-approvals-count">0<' in page.text
    feed = _section(page.text, "activity-feed")
    assert "New high task: ping" in feed


def test_dashboard_numbers_follow_the_work(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    _assign(client, world.owner, research)
    _assign(client, world.owner, research)
    _await_approval(ctx, _assign(client, world.owner, research))
    _pumps(ctx).process_tasks()
    sign_in(client, world.owner.email)
    page = client.get("/").text
    card = _card(page, research)
    assert _field(card, "status") == "waiting approval"
    assert _field(card, "done-today") == "2"
    assert _field(card, "tasks-completed") == "2"
    assert _field(card, "success-rate") == "100%"
    assert _field(card, "approvals") == "1"
    assert 'id="pending-approvals-count">1<' in page
    assert "Research is alive" in _section(page, "activity-feed")
    assert page.count("data-activity-id=") <= 15


def test_agent_pages_render(client: TestClient, world: World) -> None:
    agents = _agents(client, world.owner)
    sign_in(client, world.owner.email)
    for path in ("/agents", f"/agents/{agents['outreach']}", "/activity", "/approvals"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'href="/approvals"' in page.text
    assert client.get("/agents/not-an-id").status_code == 404
    assert client.get("/agents/00000000-0000-4000-8000-000000000000").status_code == 404


# --------------------------------------------------------------------------- settings


def test_config_form_is_generated_from_the_agent_type(client: TestClient, world: World) -> None:
    outreach = _agents(client, world.owner)["outreach"]
    sign_in(client, world.owner.email)
    form = _section(client.get(f"/agents/{outreach}").text, "config-form")
    assert re.search(r'type="checkbox" id="cfg-autoApprove" name="autoApprove"', form)
    assert re.search(
        r'type="number" id="cfg-maxDailyOutreach" name="maxDailyOutreach" value="50" '
        r'step="1" min="1" max="1000"',
        form,
    )
    assert '<select id="cfg-tone" name="tone">' in form
    assert '<option value="professional" selected>' in form
    assert '<option value="casual" >' in form
    assert "Send drafts without review when no flag is raised." in form

    planning = _agents(client, world.owner)["planning"]
    form = _section(client.get(f"/agents/{planning}").text, "config-form")
    assert 'name="highPriorityThreshold" value="70.0" step="any" min="0" max="100"' in form
    # Stored without it, so the default applies and the box shows it.
    assert re.search(r'name="sweepNewOpportunities" value="true" checked', form)


# The send-window fields of the Outreach form (an unticked box is simply absent).
WINDOW_FIELDS = {"undoDelaySeconds": "30", "businessHoursStart": "8", "businessHoursEnd": "18"}


def test_config_form_saves_valid_settings(client: TestClient, world: World) -> None:
    outreach = _agents(client, world.owner)["outreach"]
    csrf = sign_in(client, world.owner.email)
    response = client.post(
        f"/agents/{outreach}/config",
        data={
            "csrf_token": csrf,
            "name": "Outbound",
            "autoApprove": "true",
            "maxDailyOutreach": "20",
            "tone": "friendly",
            **WINDOW_FIELDS,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/agents/{outreach}?done=saved"
    agent = _api(client, world.owner, f"/api/agents/{outreach}")
    assert agent["name"] == "Outbound"
    assert agent["config"] == {
        "autoApprove": True,
        "maxDailyOutreach": 20,
        "tone": "friendly",
        "undoDelaySeconds": 30,
        "businessHoursOnly": False,
        "businessHoursStart": 8,
        "businessHoursEnd": 18,
        # Left empty in the form: no daily model budget.
        "dailyModelCalls": None,
        "dailyModelTokens": None,
        "dailyModelCostUsd": None,
    }
    assert "Settings saved." in client.get(response.headers["location"]).text

    # An unticked box is sent as nothing at all, and means off.
    client.post(
        f"/agents/{outreach}/config",
        data={
            "csrf_token": csrf,
            "name": "Outbound",
            "maxDailyOutreach": "20",
            "tone": "casual",
            **WINDOW_FIELDS,
        },
    )
    assert _api(client, world.owner, f"/api/agents/{outreach}")["config"]["autoApprove"] is False


def test_config_form_errors_rerender_with_messages(client: TestClient, world: World) -> None:
    outreach = _agents(client, world.owner)["outreach"]
    csrf = sign_in(client, world.owner.email)
    response = client.post(
        f"/agents/{outreach}/config",
        data={
            "csrf_token": csrf,
            "name": "Outbound",
            "maxDailyOutreach": "lots",
            "tone": "rude",
            **WINDOW_FIELDS,
        },
    )
    assert response.status_code == 422
    assert "nothing was saved" in response.text
    assert 'id="error-maxDailyOutreach">Enter a whole number.<' in response.text
    assert 'value="lots"' in response.text
    assert 'id="error-tone"' in response.text

    response = client.post(
        f"/agents/{outreach}/config",
        data={
            "csrf_token": csrf,
            "name": "Outbound",
            "maxDailyOutreach": "5000",
            "tone": "rude",
            **WINDOW_FIELDS,
        },
    )
    assert response.status_code == 422
    assert re.search(r'id="error-maxDailyOutreach">[^<]*less than or equal to 1000', response.text)
    assert re.search(r'id="error-tone">[^<]*professional', response.text)
    assert 'aria-invalid="true" aria-describedby="error-tone"' in response.text

    response = client.post(
        f"/agents/{outreach}/config",
        data={
            "csrf_token": csrf,
            "name": "  ",
            "maxDailyOutreach": "20",
            "tone": "casual",
            **WINDOW_FIELDS,
        },
    )
    assert response.status_code == 422
    assert 'id="error-name"' in response.text
    agent = _api(client, world.owner, f"/api/agents/{outreach}")
    assert agent["name"] == "Outreach"
    assert agent["config"]["maxDailyOutreach"] == 50
    assert agent["config"]["tone"] == "professional"


# --------------------------------------------------------------------------- pause, tasks


def test_pause_and_resume_buttons(client: TestClient, world: World, ctx: AppContext) -> None:
    research = _agents(client, world.owner)["research"]
    csrf = sign_in(client, world.owner.email)
    page = client.get(f"/agents/{research}").text
    assert 'id="pause-agent"' in page
    assert 'id="resume-agent"' not in page

    paused = client.post(f"/agents/{research}/pause", data={"csrf_token": csrf})
    assert paused.status_code == 200
    assert "Paused: the agent takes no new work" in paused.text
    assert 'id="resume-agent"' in paused.text
    task = _assign(client, world.owner, research)
    assert _pumps(ctx).process_tasks() == 0

    resumed = client.post(f"/agents/{research}/resume", data={"csrf_token": csrf})
    assert 'id="pause-agent"' in resumed.text
    assert _pumps(ctx).process_tasks() == 1
    assert _api(client, world.owner, f"/api/agents/tasks/{task}")["status"] == "completed"


def test_failed_and_dead_tasks_show_their_errors(
    client: TestClient, world: World, ctx: AppContext, clock: ManualClock
) -> None:
    research = _agents(client, world.owner)["research"]
    dead = _assign(client, world.owner, research)
    # A worker that vanishes mid-task, every time: the sweep retries, then gives up.
    for _ in range(5):
        claimed = tasks.claim_due(factory=ctx.session_factory, clock=clock, worker="gone")
        assert claimed == [uuid.UUID(dead)]
        clock.advance(timedelta(minutes=5))
        tasks.sweep_expired(factory=ctx.session_factory, clock=clock)
    retrying = _assign(client, world.owner, research)
    tasks.claim_due(factory=ctx.session_factory, clock=clock, worker="gone")
    clock.advance(timedelta(minutes=5))
    tasks.sweep_expired(factory=ctx.session_factory, clock=clock)

    sign_in(client, world.owner.email)
    page = client.get(f"/agents/{research}").text
    dead_row = _section(page, f"task-{dead}")
    assert 'data-task-status="dead"' in dead_row
    assert "Gave up: worker lease expired on the last attempt" in dead_row
    assert "5/5" in dead_row
    retry_row = _section(page, f"task-{retrying}")
    assert "Will retry; last error: worker lease expired" in retry_row


def test_cancel_button_stops_a_task(client: TestClient, world: World) -> None:
    research = _agents(client, world.owner)["research"]
    task = _assign(client, world.owner, research)
    csrf = sign_in(client, world.owner.email)
    page = client.post(f"/agents/{research}/tasks/{task}/cancel", data={"csrf_token": csrf})
    assert "Task cancelled." in page.text
    assert _api(client, world.owner, f"/api/agents/tasks/{task}")["status"] == "cancelled"
    again = client.post(f"/agents/{research}/tasks/{task}/cancel", data={"csrf_token": csrf})
    assert again.status_code == 409


# --------------------------------------------------------------------------- activity


def test_activity_page_filters_by_agent_and_threads_messages(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    agents = _agents(client, world.owner)
    sent = client.post(
        f"/api/agents/{agents['planning']}/messages/send",
        json={"toAgentType": "research", "messageType": "request", "subject": "Who is Ada?"},
        headers=world.owner.auth,
    ).json()
    _assign(client, world.owner, agents["followup"])
    _pumps(ctx).process_messages()
    sign_in(client, world.owner.email)

    page = client.get("/activity").text
    thread = _section(page, f"thread-{sent['id']}")
    assert "Who is Ada?" in thread
    assert f'data-response-to="{sent["id"]}"' in thread
    assert "Received: Who is Ada?" in thread
    assert "New medium task: ping" in _section(page, "timeline")

    only = client.get(f"/activity?agent={agents['followup']}").text
    timeline = _section(only, "timeline")
    assert "New medium task: ping" in timeline
    assert "Who is Ada?" not in timeline
    assert f'<option value="{agents["followup"]}" selected>' in only
    assert "Who is Ada?" in client.get("/activity?agent=nonsense").text


# --------------------------------------------------------------------------- approvals


def test_approvals_page_approves_rejects_and_cancels(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    research = _agents(client, world.owner)["research"]
    first, second, third = (_assign(client, world.owner, research) for _ in range(3))
    ids = [
        _await_approval(ctx, t, title=f"Send email {n}?")
        for n, t in enumerate((first, second, third))
    ]
    csrf = sign_in(client, world.owner.email)
    page = client.get("/approvals").text
    assert "3 waiting" in page
    card = _section(page, f"approval-{ids[0]}")
    assert "Send email 0?" in card
    assert "ada@example.com" in card
    assert "Drafted a first email to Ada" in card

    odd = client.post(f"/approvals/{ids[0]}/approve", data={"csrf_token": csrf, "choice": "x"})
    assert odd.status_code == 422
    assert f'id="error-{ids[0]}"' in odd.text
    approved = client.post(
        f"/approvals/{ids[0]}/approve", data={"csrf_token": csrf, "choice": "approve"}
    )
    assert "Approved: the agent carries on." in approved.text
    assert _api(client, world.owner, f"/api/agents/tasks/{first}")["status"] == "pending"

    refused = client.post(f"/approvals/{ids[1]}/reject", data={"csrf_token": csrf, "reason": " "})
    assert refused.status_code == 422
    assert f'id="error-{ids[1]}"' in refused.text
    assert _api(client, world.owner, f"/api/agents/tasks/{second}")["status"] == "waiting_approval"
    rejected = client.post(
        f"/approvals/{ids[1]}/reject", data={"csrf_token": csrf, "reason": "Not now"}
    )
    assert "Rejected" in rejected.text
    assert _api(client, world.owner, f"/api/agents/tasks/{second}")["errorMessage"] == (
        "rejected: Not now"
    )

    cancelled = client.post(f"/approvals/{ids[2]}/cancel", data={"csrf_token": csrf})
    assert "Task cancelled." in cancelled.text
    assert 'id="no-approvals"' in cancelled.text
    twice = client.post(f"/approvals/{ids[0]}/approve", data={"csrf_token": csrf})
    assert twice.status_code == 409


def test_escalations_show_their_choices_as_buttons(client: TestClient, world: World) -> None:
    followup = _agents(client, world.owner)["followup"]
    client.post(
        f"/api/agents/{followup}/messages/send",
        json={"messageType": "escalation", "subject": "Ada never replied", "payload": {"n": 3}},
        headers=world.owner.auth,
    )
    approval = _api(client, world.owner, "/api/agents/tasks/pending")["pending"][0]["id"]
    csrf = sign_in(client, world.owner.email)
    card = _section(client.get("/approvals").text, f"approval-{approval}")
    for choice in ("acknowledge", "retry", "cancel"):
        assert f'name="choice" value="{choice}"' in card
    wrong = client.post(f"/approvals/{approval}/decide", data={"csrf_token": csrf, "choice": "x"})
    assert wrong.status_code == 422
    done = client.post(
        f"/approvals/{approval}/decide",
        data={"csrf_token": csrf, "choice": "retry", "reason": "try LinkedIn"},
    )
    assert "Decision recorded." in done.text
    assert _api(client, world.owner, "/api/agents/tasks/pending")["pending"] == []


# --------------------------------------------------------------------------- access


def _forms(client: TestClient, world: World, ctx: AppContext) -> list[tuple[str, dict[str, str]]]:
    agents = _agents(client, world.owner)
    task = _assign(client, world.owner, agents["research"])
    approval = _await_approval(ctx, _assign(client, world.owner, agents["research"]))
    agent = agents["outreach"]
    return [
        (f"/agents/{agent}/config", {"name": "X", "maxDailyOutreach": "9", "tone": "casual"}),
        (f"/agents/{agent}/pause", {}),
        (f"/agents/{agent}/resume", {}),
        (f"/agents/{agents['research']}/tasks/{task}/cancel", {}),
        (f"/approvals/{approval}/approve", {"choice": "approve"}),
        (f"/approvals/{approval}/reject", {"reason": "no"}),
        (f"/approvals/{approval}/cancel", {}),
        (f"/approvals/{approval}/decide", {"choice": "retry"}),
    ]


def test_every_form_needs_the_csrf_token(client: TestClient, world: World, ctx: AppContext) -> None:
    forms = _forms(client, world, ctx)
    sign_in(client, world.owner.email)
    for path, data in forms:
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403, path
        assert client.post(path, data=data).status_code == 403, path
    outreach = _agents(client, world.owner)["outreach"]
    assert _api(client, world.owner, f"/api/agents/{outreach}")["pausedAt"] is None


def test_outsiders_get_404_for_another_workspaces_agents(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    forms = _forms(client, world, ctx)
    agents = _agents(client, world.owner)
    csrf = sign_in(client, world.outsider.email)
    assert client.get(f"/agents/{agents['research']}").status_code == 404
    for path, data in forms:
        assert client.post(path, data={**data, "csrf_token": csrf}).status_code == 404, path
    for path in ("/", "/agents", "/activity", "/approvals"):
        page = client.get(path).text
        assert all(agent_id not in page for agent_id in agents.values()), path


@pytest.mark.parametrize(
    "path", ["/agents", "/activity", "/approvals", "/live/dashboard", "/agents/{agent}"]
)
def test_anonymous_visitors_are_sent_to_sign_in(
    client: TestClient, world: World, path: str
) -> None:
    target = path.format(agent=_agents(client, world.owner)["research"])
    response = client.get(target, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={target}"


def test_anonymous_form_posts_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    research = _agents(client, world.owner)["research"]
    response = client.post(f"/agents/{research}/pause", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert _api(client, world.owner, f"/api/agents/{research}")["pausedAt"] is None
