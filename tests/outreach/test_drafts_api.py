"""The drafts API: the review queue, approve (with edits), reject, and who may do it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cctest.personas import World
from cctest.runtime import run_until_idle
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.outreach.compose import approval_hash
from commandcentre.outreach.models import OutreachDraft

DRAFTS = "/api/agents/outreach/drafts"


def _post(client: TestClient, world: World, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=world.owner.auth)
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()  # type: ignore[no-any-return]


def _drafts(client: TestClient, world: World, ctx: AppContext, people: int = 2) -> list[str]:
    """Drafts for the owner's workspace, made the way the product makes them."""
    auth = world.owner.auth
    event = _post(client, world, "/api/events", {"name": "Robo Expo", "start_date": "2026-04-20"})
    account = _post(client, world, "/api/accounts", {"name": "Helix Robotics", "tier": 1})
    talk = _post(client, world, f"/api/events/{event['id']}/sessions", {"title": "Fleet data"})
    for i in range(people):
        contact = _post(
            client,
            world,
            "/api/contacts",
            {
                "full_name": f"Dana Speaker{i}",
                "organisation": "Helix Robotics",
                "email": f"dana{i}@helix.example",
                "title": "CTO",
            },
        )
        _post(
            client,
            world,
            f"/api/events/{event['id']}/sessions/{talk['id']}/speakers",
            {"contact_id": contact["id"]},
        )
    assert account["id"]
    client.post("/api/discovery/run", headers=auth)
    opportunity = client.get("/api/opportunities", headers=auth).json()["items"][0]
    agents = {
        a["agentType"]: a["id"] for a in client.get("/api/agents", headers=auth).json()["agents"]
    }
    _post(
        client,
        world,
        f"/api/agents/{agents['outreach']}/tasks/assign",
        {"taskType": "draft_outreach", "inputData": {"opportunityId": opportunity["id"]}},
    )
    run_until_idle(ctx)
    listed = client.get(DRAFTS, headers=auth).json()["drafts"]
    assert len(listed) == people
    return [d["id"] for d in listed]


def test_list_shows_the_review_queue(client: TestClient, world: World, ctx: AppContext) -> None:
    _drafts(client, world, ctx)
    body = client.get(DRAFTS, params={"status": "pending_approval"}, headers=world.owner.auth)
    assert body.status_code == 200
    data = body.json()
    assert data["pagination"] == {"page": 1, "limit": 25, "total": 2}
    first = data["drafts"][0]
    assert set(first) == {
        "id",
        "contactId",
        "opportunityId",
        "channel",
        "recipient",
        "subject",
        "messageBody",
        "status",
        "flags",
        "claims",
        "suggestedSendAt",
        "personalizationContext",
        "createdAt",
    }
    assert first["recipient"].endswith("@helix.example")
    assert first["claims"]
    assert set(first["claims"][0]) == {"text", "sourceField"}
    assert first["personalizationContext"]["writer"] == "offline"
    paged = client.get(DRAFTS, params={"limit": 1, "page": 2}, headers=world.owner.auth).json()
    assert len(paged["drafts"]) == 1
    assert (
        client.get(DRAFTS, params={"status": "approved"}, headers=world.owner.auth).json()["drafts"]
        == []
    )
    assert client.get(DRAFTS, params={"status": "bogus"}, headers=world.owner.auth).status_code == (
        422
    )


def test_approve_reject_and_wrong_state(client: TestClient, world: World, ctx: AppContext) -> None:
    first, second = _drafts(client, world, ctx)
    auth = world.owner.auth
    approved = client.post(f"{DRAFTS}/{first}/approve", headers=auth)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    again = client.post(f"{DRAFTS}/{first}/approve", headers=auth)
    assert again.status_code == 409
    assert client.post(
        f"{DRAFTS}/{first}/reject", json={"reason": "x"}, headers=auth
    ).status_code == (409)

    assert client.post(f"{DRAFTS}/{second}/reject", json={}, headers=auth).status_code == 422
    blank = client.post(f"{DRAFTS}/{second}/reject", json={"reason": "  "}, headers=auth)
    assert blank.status_code == 422
    rejected = client.post(
        f"{DRAFTS}/{second}/reject", json={"reason": "Wrong person"}, headers=auth
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert client.post(f"{DRAFTS}/{second}/approve", headers=auth).status_code == 409
    statuses = {d["status"] for d in client.get(DRAFTS, headers=auth).json()["drafts"]}
    assert statuses == {"approved", "rejected"}


def test_edit_then_approve_hashes_the_edited_text(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    (draft_id,) = _drafts(client, world, ctx, people=1)
    # a teammate may review too
    teammate = world.teammate.auth
    bad = client.post(
        f"{DRAFTS}/{draft_id}/approve", json={"subject": "two\nlines"}, headers=teammate
    )
    assert bad.status_code == 422
    edited = client.post(
        f"{DRAFTS}/{draft_id}/approve",
        json={"subject": "See you at Robo Expo", "messageBody": "Hi Dana,\n\nShort and sweet."},
        headers=teammate,
    )
    assert edited.status_code == 200, edited.text
    out = edited.json()
    assert out["subject"] == "See you at Robo Expo"
    assert out["messageBody"] == "Hi Dana,\n\nShort and sweet."
    assert out["recipient"] == "dana0@helix.example"

    with system_session(ctx.session_factory) as s:
        row = s.scalars(select(OutreachDraft)).one()
        assert row.approval_hash == approval_hash(
            "dana0@helix.example", "See you at Robo Expo", "Hi Dana,\n\nShort and sweet."
        )
        assert row.approved_by is not None
        assert row.approved_at == ctx.clock.now()


def test_outsiders_and_anonymous_callers_are_turned_away(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext
) -> None:
    (draft_id,) = _drafts(client, world, ctx, people=1)
    outsider = world.outsider.auth
    assert client.get(DRAFTS, headers=outsider).json()["drafts"] == []
    assert client.post(f"{DRAFTS}/{draft_id}/approve", headers=outsider).status_code == 404
    assert (
        client.post(f"{DRAFTS}/{draft_id}/reject", json={"reason": "x"}, headers=outsider)
    ).status_code == 404
    anonymous = TestClient(app)
    assert anonymous.get(DRAFTS).status_code == 401
    assert anonymous.post(f"{DRAFTS}/{draft_id}/approve").status_code == 401
    assert client.get(DRAFTS, headers=world.owner.auth).json()["drafts"][0]["status"] == (
        "pending_approval"
    )
