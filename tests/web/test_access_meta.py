"""Every route, walked as an anonymous caller and as an outsider from another workspace.

Anonymous callers get 401 (API) or a redirect to sign-in (pages). An outsider naming the
owner's objects gets 404 and never the object; lists show the outsider nothing of the
owner's. A route this test cannot exercise (a path parameter or a request body it has no
sample for) fails the test, so new routes cannot slip past without coverage.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Route

from cctest.personas import World, csrf_from, sign_in
from cctest.runtime import run_until_idle
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext

PUBLIC = {
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    # The signed token is the authorisation: links in emails work without signing in.
    ("GET", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}"),
    # A mail provider posts raw messages with the inbound webhook secret, not a session.
    ("POST", "/api/inbound/mime"),
}
# Path parameters that are not object ids: any value is the caller's own business.
NON_ID_PARAMS = {"kind": "accounts"}
OWNER_MARKER = "Owneronly"

# JSON bodies for API routes, so validation passes and the workspace check is what answers.
API_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/tokens"): {"name": "meta"},
    ("POST", "/api/events"): {"name": "Outsider Event", "start_date": "2026-06-01"},
    ("PATCH", "/api/events/{event_id}"): {"name": "Renamed"},
    ("POST", "/api/events/{event_id}/sessions"): {"title": "A talk"},
    ("POST", "/api/events/{event_id}/sessions/{session_id}/speakers"): {
        "contact_id": "{contact_id}"
    },
    ("POST", "/api/events/{event_id}/attendees"): {"contact_id": "{contact_id}"},
    ("POST", "/api/contacts"): {"full_name": "Outsider Person"},
    ("PATCH", "/api/contacts/{contact_id}"): {"full_name": "Renamed"},
    ("POST", "/api/accounts"): {"name": "Outsider Account"},
    ("PATCH", "/api/accounts/{account_id}"): {"name": "Renamed"},
    ("POST", "/api/accounts/{account_id}/intel"): {"title": "A note"},
    ("PATCH", "/api/opportunities/{opportunity_id}"): {"status": "reviewing"},
    ("POST", "/api/agents/create"): {"agentType": "research", "name": "R2", "config": {}},
    ("POST", "/api/agents/tasks/{task_id}/approve"): {},
    ("POST", "/api/agents/tasks/{task_id}/reject"): {"reason": "no"},
    ("POST", "/api/agents/tasks/{task_id}/cancel"): {},
    ("POST", "/api/agents/outreach/drafts/{draft_id}/approve"): {"subject": "Edited"},
    ("POST", "/api/agents/outreach/drafts/{draft_id}/reject"): {"reason": "no"},
    ("POST", "/api/agents/outreach/drafts/{draft_id}/regenerate"): {"instruction": "shorter"},
    ("POST", "/api/agents/outreach/drafts/bulk-approve"): {"draftIds": ["{draft_id}"]},
    ("POST", "/api/outreach/sends/{send_id}/resolve"): {"outcome": "cancel"},
    ("POST", "/api/agents/approvals/{approval_id}/decide"): {"choice": "wait longer"},
    ("PATCH", "/api/agents/{agent_id}"): {"name": "Renamed"},
    ("POST", "/api/agents/{agent_id}/tasks/assign"): {"taskType": "ping"},
    ("POST", "/api/suppressions"): {"kind": "domain", "value": "outsider.example"},
    ("POST", "/api/followups/{followup_id}/cancel"): {"reason": "no"},
    ("POST", "/api/followups/{followup_id}/reschedule"): {
        "scheduledAt": "2026-03-06T11:00:00+00:00"
    },
    ("POST", "/api/contacts/{contact_id}/mark-replied"): {"sentiment": "neutral"},
    ("POST", "/api/agents/{agent_id}/messages/send"): {
        "toAgentType": "research",
        "messageType": "notification",
        "subject": "hi",
        "payload": {},
    },
}
FORM_FIELDS: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/opportunities/{opportunity_id}/status"): {"status": "reviewing"},
    ("POST", "/accounts/{account_id}/intel"): {"title": "A note", "category": "note"},
    ("POST", "/accounts"): {"name": "Outsider Form Account", "tier": "2"},
    ("POST", "/settings/tokens"): {"name": "meta"},
    ("POST", "/agents/{agent_id}/config"): {},
    ("POST", "/approvals/{approval_id}/decide"): {"choice": "wait longer"},
    ("POST", "/approvals/tasks/{task_id}/reject"): {"reason": "no"},
    ("POST", "/outreach/drafts/{draft_id}/reject"): {"reason": "no"},
    ("POST", "/outreach/drafts/{draft_id}/regenerate"): {"instruction": "shorter"},
    ("POST", "/outreach/sends/{send_id}/resolve"): {"outcome": "cancel"},
    ("POST", "/opportunities/{opportunity_id}/delegate"): {"contact_ids": "not-an-id"},
    ("POST", "/followups/{followup_id}/cancel"): {"reason": "no"},
    ("POST", "/followups/{followup_id}/reschedule"): {"scheduled_at": "2026-03-06T11:00"},
    ("POST", "/contacts/{contact_id}/mark-replied"): {"sentiment": "neutral"},
}
UPLOADS = {("POST", "/api/imports/{kind}"), ("POST", "/imports")}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    has_body: bool


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is None:
            if isinstance(route, Route) and route.methods:
                for method in route.methods - {"HEAD"}:
                    yield Endpoint(method, route.path, False)
            continue
        for ctx in contexts() if callable(contexts) else contexts:
            for method in sorted(ctx.methods - {"HEAD"}):
                yield Endpoint(method, ctx.path, bool(ctx.dependant.body_params))


def _owner_objects(
    client: TestClient, world: World, ctx: AppContext, clock: ManualClock
) -> dict[str, str]:
    auth = world.owner.auth

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, json=body, headers=auth)
        assert response.status_code in (200, 201), (path, response.text)
        return response.json()  # type: ignore[no-any-return]

    ids: dict[str, str] = {}
    account = post("/api/accounts", {"name": f"{OWNER_MARKER} Robotics", "tier": 1})
    ids["account_id"] = account["id"]
    ids["intel_id"] = post(
        f"/api/accounts/{account['id']}/intel", {"title": f"{OWNER_MARKER} raised"}
    )["id"]
    event_day = (clock.now() + timedelta(days=20)).date().isoformat()
    event = post("/api/events", {"name": f"{OWNER_MARKER} Summit", "start_date": event_day})
    ids["event_id"] = event["id"]
    ids["session_id"] = post(
        f"/api/events/{event['id']}/sessions", {"title": f"{OWNER_MARKER} talk"}
    )["id"]
    contact = post(
        "/api/contacts",
        {
            "full_name": f"{OWNER_MARKER} Person",
            "organisation": f"{OWNER_MARKER} Robotics",
            "title": "VP Engineering",
            # An address makes the contact reachable, so Outreach drafts a message to them.
            "email": "owneronly.person@example.com",
        },
    )
    ids["contact_id"] = contact["id"]
    post(
        f"/api/events/{event['id']}/sessions/{ids['session_id']}/speakers",
        {"contact_id": contact["id"]},
    )
    client.post("/api/discovery/run", headers=auth)
    opportunities = client.get("/api/opportunities", headers=auth).json()["items"]
    assert opportunities, "discovery should find the owner's opportunity"
    ids["opportunity_id"] = opportunities[0]["id"]
    ids["token_id"] = client.get("/api/tokens", headers=auth).json()[0]["id"]
    agents = {
        a["agentType"]: a["id"] for a in client.get("/api/agents", headers=auth).json()["agents"]
    }
    ids["agent_id"] = agents["planning"]
    task = post(
        f"/api/agents/{agents['planning']}/tasks/assign",
        {"taskType": "propose_campaign", "inputData": {"opportunityId": ids["opportunity_id"]}},
    )
    ids["task_id"] = task["id"]
    post(
        f"/api/agents/{agents['outreach']}/tasks/assign",
        {"taskType": "draft_outreach", "inputData": {"opportunityId": ids["opportunity_id"]}},
    )
    client.post(f"/api/agents/{agents['research']}/pause", headers=auth)
    post(
        f"/api/agents/{agents['planning']}/messages/send",
        {"toAgentType": "research", "messageType": "request", "subject": "help", "payload": {}},
    )
    run_until_idle(ctx)
    drafts = client.get("/api/agents/outreach/drafts", headers=auth).json()["drafts"]
    assert drafts, "the outreach agent should draft a message to the owner's contact"
    # The body names the owner's contact and event, so the marker checks cover it.
    assert OWNER_MARKER in drafts[0]["messageBody"]
    ids["draft_id"] = drafts[0]["id"]
    # A second draft (LinkedIn-only contact), approved: its send is the owner's send.
    linkedin = post(
        "/api/contacts",
        {
            "full_name": f"{OWNER_MARKER} Other",
            "linkedin_url": "https://www.linkedin.com/in/owneronly-other",
        },
    )
    post(
        f"/api/events/{event['id']}/sessions/{ids['session_id']}/speakers",
        {"contact_id": linkedin["id"]},
    )
    post(
        f"/api/agents/{agents['outreach']}/tasks/assign",
        {
            "taskType": "draft_outreach",
            "inputData": {"opportunityId": ids["opportunity_id"], "contactIds": [linkedin["id"]]},
        },
    )
    run_until_idle(ctx)
    other = next(
        d
        for d in client.get("/api/agents/outreach/drafts", headers=auth).json()["drafts"]
        if d["contactId"] == linkedin["id"]
    )
    post(f"/api/agents/outreach/drafts/{other['id']}/approve", {})
    ids["send_id"] = client.get("/api/outreach/sends", headers=auth).json()["sends"][0]["id"]
    # Sent by hand: the Follow-up agent plans the owner's follow-ups.
    post(f"/api/agents/outreach/drafts/{other['id']}/mark-sent", {})
    run_until_idle(ctx)
    followups = client.get("/api/followups", headers=auth).json()["followUps"]
    assert followups, "a sent first message should get follow-ups"
    ids["followup_id"] = followups[0]["id"]
    clock.advance(timedelta(hours=2))
    Pumps(factory=ctx.session_factory, clock=ctx.clock, worker="meta").sweep()
    pending = client.get("/api/agents/tasks/pending", headers=auth).json()["pending"]
    escalation = next(p for p in pending if p["kind"] == "escalation")
    ids["approval_id"] = escalation["id"]
    assert any(p["kind"] == "task" for p in pending)
    ids["suppression_id"] = post(
        "/api/suppressions",
        {"kind": "email", "value": "gone@example.com", "note": f"{OWNER_MARKER} asked"},
    )["id"]
    return ids


def _fill(path: str, ids: dict[str, str]) -> str:
    import re

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in NON_ID_PARAMS:
            return NON_ID_PARAMS[name]
        if name not in ids:
            pytest.fail(
                f"the access meta-test has no object for path parameter '{name}' "
                f"(route {path}); add one to _owner_objects"
            )
        return ids[name]

    return re.sub(r"\{(\w+)\}", value, path)


def _filled(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _fill(value, ids)
    if isinstance(value, list):
        return [_filled(v, ids) for v in value]
    return value


def _body(endpoint: Endpoint, ids: dict[str, str]) -> dict[str, Any]:
    key = (endpoint.method, endpoint.path)
    if key in UPLOADS:
        return {
            "files": {"file": ("accounts.csv", io.BytesIO(b"name\nOutsider Co\n"), "text/csv")},
            "data": {"kind": "accounts"},
        }
    if endpoint.path.startswith("/api/"):
        if endpoint.has_body and key not in API_BODIES:
            pytest.fail(f"no sample body for {key} in the access meta-test")
        sample = API_BODIES.get(key)
        if sample is None:
            return {}
        filled = {k: _filled(v, ids) for k, v in sample.items()}
        return {"json": filled}
    return {"data": dict(FORM_FIELDS.get(key, {}))}


@pytest.fixture
def setup(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext, clock: ManualClock
) -> tuple[dict[str, str], list[Endpoint]]:
    ids = _owner_objects(client, world, ctx, clock)
    routes = [
        e
        for e in endpoints(app)
        if (e.method, e.path) not in PUBLIC and not e.path.startswith("/static")
    ]
    assert len(routes) > 40
    return ids, routes


def test_anonymous_callers_are_turned_away_everywhere(
    app: FastAPI, setup: tuple[dict[str, str], list[Endpoint]]
) -> None:
    ids, routes = setup
    anonymous = TestClient(app)
    for endpoint in routes:
        url = _fill(endpoint.path, ids)
        response = anonymous.request(
            endpoint.method, url, follow_redirects=False, **_body(endpoint, ids)
        )
        where = f"{endpoint.method} {endpoint.path}"
        if endpoint.path.startswith("/api/"):
            assert response.status_code == 401, where
        elif endpoint.path.startswith("/live/"):
            assert response.status_code in (303, 401), where
        else:
            assert response.status_code == 303, where
            assert response.headers["location"].startswith("/login"), where
        assert OWNER_MARKER not in response.text, where


def test_outsiders_never_see_or_touch_the_owners_objects(
    app: FastAPI,
    client: TestClient,
    world: World,
    setup: tuple[dict[str, str], list[Endpoint]],
) -> None:
    ids, routes = setup
    before = client.get("/api/opportunities", headers=world.owner.auth).json()
    api = TestClient(app, headers=world.outsider.auth)
    browser = TestClient(app)
    sign_in(browser, world.outsider.email)
    checked = 0
    for endpoint in routes:
        if endpoint.path.startswith("/live/"):
            continue  # a stream: its scoping is covered by the live-update tests
        url = _fill(endpoint.path, ids)
        owns_ids = any("{" + name + "}" in endpoint.path for name in ids)
        where = f"{endpoint.method} {endpoint.path}"
        if endpoint.path.startswith("/api/"):
            response = api.request(endpoint.method, url, **_body(endpoint, ids))
        else:
            kwargs = _body(endpoint, ids)
            if endpoint.method == "POST":
                kwargs.setdefault("data", {})["csrf_token"] = csrf_from(
                    browser.get("/settings").text
                )
            response = browser.request(endpoint.method, url, follow_redirects=False, **kwargs)
        assert response.status_code < 500, where
        if owns_ids:
            assert response.status_code == 404, f"{where} answered {response.status_code}"
        assert OWNER_MARKER not in response.text, where
        checked += 1
    assert checked > 40
    after = client.get("/api/opportunities", headers=world.owner.auth).json()
    assert after == before
    owner_agents = client.get("/api/agents", headers=world.owner.auth).json()["agents"]
    assert all(a["name"] != "Renamed" for a in owner_agents)
