"""Public unsubscribe links, one-click POSTs, and the suppression list API."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cctest.personas import World
from cctest.runtime import run_until_idle
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.models import Contact
from commandcentre.outreach.models import Suppression
from commandcentre.outreach.unsubscribe import make_token
from commandcentre.workspaces.models import Workspace

DRAFTS = "/api/agents/outreach/drafts"
SUPPRESSIONS = "/api/suppressions"


def _post(client: TestClient, auth: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body, headers=auth)
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


def _workspace_id(ctx: AppContext, slug: str) -> uuid.UUID:
    with system_session(ctx.session_factory) as s:
        return s.scalars(select(Workspace.id).where(Workspace.slug == slug)).one()


def _contact(client: TestClient, auth: dict[str, str], email: str) -> str:
    body = {"full_name": "Dana Speaker", "organisation": "Helix", "email": email}
    return str(_post(client, auth, "/api/contacts", body)["id"])


def _token(ctx: AppContext, slug: str, contact_id: str, email: str) -> str:
    return make_token(
        ctx.settings.secret_key,
        workspace_id=_workspace_id(ctx, slug),
        contact_id=contact_id,
        email=email,
    )


def _state(ctx: AppContext, slug: str, contact_id: str) -> tuple[str, list[tuple[str, str]]]:
    with workspace_session(ctx.session_factory, _workspace_id(ctx, slug)) as s:
        contact = s.get(Contact, uuid.UUID(contact_id))
        assert contact is not None
        rows = [(r.value, r.reason) for r in s.scalars(select(Suppression))]
        return contact.outreach_status, rows


def test_get_only_confirms(client: TestClient, world: World, ctx: AppContext) -> None:
    contact_id = _contact(client, world.owner.auth, "dana@helix.example")
    token = _token(ctx, world.owner.workspace_slug, contact_id, "dana@helix.example")
    page = TestClient(client.app).get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "dana@helix.example" in page.text
    assert f'action="/unsubscribe/{token}"' in page.text
    assert _state(ctx, world.owner.workspace_slug, contact_id) == ("new", [])


def test_one_click_post_without_cookies(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext
) -> None:
    owner = world.owner.workspace_slug
    contact_id = _contact(client, world.owner.auth, "dana@helix.example")
    rival_contact = _contact(client, world.outsider.auth, "dana@helix.example")
    token = _token(ctx, owner, contact_id, "Dana@Helix.example")
    # A mail provider's one-click request: form data, no cookies, no CSRF token.
    provider = TestClient(app)
    done = provider.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "unsubscribed" in done.text
    assert not provider.cookies
    assert _state(ctx, owner, contact_id) == (
        "do_not_contact",
        [("dana@helix.example", "unsubscribe")],
    )
    again = provider.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert _state(ctx, owner, contact_id)[1] == [("dana@helix.example", "unsubscribe")]
    # The same address in another workspace is that workspace's business.
    assert _state(ctx, world.outsider.workspace_slug, rival_contact) == ("new", [])


def test_bad_tokens_are_plain_404s(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext
) -> None:
    contact_id = _contact(client, world.owner.auth, "dana@helix.example")
    token = _token(ctx, world.owner.workspace_slug, contact_id, "dana@helix.example")
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    forged = make_token(
        "another-secret",
        workspace_id=_workspace_id(ctx, world.owner.workspace_slug),
        contact_id=contact_id,
        email="dana@helix.example",
    )
    unknown_ws = make_token(
        ctx.settings.secret_key, workspace_id=uuid.uuid4(), contact_id=contact_id, email="a@b.co"
    )
    anonymous = TestClient(app)
    for bad in (tampered, forged, "not-a-token", unknown_ws):
        for method in ("GET", "POST"):
            response = anonymous.request(method, f"/unsubscribe/{bad}")
            assert response.status_code == 404, (method, bad)
            assert "dana" not in response.text
    assert _state(ctx, world.owner.workspace_slug, contact_id) == ("new", [])


def _one_draft(client: TestClient, auth: dict[str, str], ctx: AppContext, email: str) -> str:
    event = _post(client, auth, "/api/events", {"name": "Robo Expo", "start_date": "2026-04-20"})
    _post(client, auth, "/api/accounts", {"name": "Helix Robotics", "tier": 1})
    talk = _post(client, auth, f"/api/events/{event['id']}/sessions", {"title": "Fleet data"})
    contact = _post(
        client,
        auth,
        "/api/contacts",
        {"full_name": "Dana Speaker", "organisation": "Helix Robotics", "email": email},
    )
    _post(
        client,
        auth,
        f"/api/events/{event['id']}/sessions/{talk['id']}/speakers",
        {"contact_id": contact["id"]},
    )
    client.post("/api/discovery/run", headers=auth)
    opportunity = client.get("/api/opportunities", headers=auth).json()["items"][0]
    agents = {
        a["agentType"]: a["id"] for a in client.get("/api/agents", headers=auth).json()["agents"]
    }
    _post(
        client,
        auth,
        f"/api/agents/{agents['outreach']}/tasks/assign",
        {"taskType": "draft_outreach", "inputData": {"opportunityId": opportunity["id"]}},
    )
    run_until_idle(ctx)
    listed = client.get(DRAFTS, headers=auth).json()["drafts"]
    assert len(listed) == 1
    return str(listed[0]["id"])


def test_approving_a_draft_to_a_suppressed_address_is_refused(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    auth = world.owner.auth
    draft_id = _one_draft(client, auth, ctx, "dana@helix.example")
    added = client.post(
        SUPPRESSIONS, json={"kind": "domain", "value": "HELIX.example"}, headers=auth
    )
    assert added.status_code == 201
    assert added.json()["value"] == "helix.example"
    assert added.json()["reason"] == "manual"
    refused = client.post(f"{DRAFTS}/{draft_id}/approve", headers=auth)
    assert refused.status_code == 409
    assert "suppressed" in refused.json()["detail"]
    assert "manual" in refused.json()["detail"]
    # Lifting the suppression lets the approval through.
    gone = client.delete(f"{SUPPRESSIONS}/{added.json()['id']}", headers=auth)
    assert gone.status_code == 204
    assert client.post(f"{DRAFTS}/{draft_id}/approve", headers=auth).status_code == 200


def test_suppression_api(client: TestClient, world: World, ctx: AppContext) -> None:
    auth = world.owner.auth
    body = {"kind": "email", "value": "Sam@Helix.example", "reason": "bounce", "note": "hard"}
    first = client.post(SUPPRESSIONS, json=body, headers=auth)
    assert first.status_code == 201
    again = client.post(SUPPRESSIONS, json=body, headers=auth)
    assert again.json()["id"] == first.json()["id"]
    listed = client.get(SUPPRESSIONS, headers=auth).json()
    assert [(r["kind"], r["value"], r["reason"], r["note"]) for r in listed] == [
        ("email", "sam@helix.example", "bounce", "hard")
    ]
    for bad in ({"kind": "email", "value": "nope"}, {"kind": "domain", "value": "a@b.example"}):
        response = client.post(SUPPRESSIONS, json=bad, headers=auth)
        assert response.status_code == 422
        assert response.json()["field"] == "value"
    assert (
        client.post(SUPPRESSIONS, json={"kind": "x", "value": "a"}, headers=auth).status_code == 422
    )
    # Another workspace neither sees nor removes it.
    assert client.get(SUPPRESSIONS, headers=world.outsider.auth).json() == []
    theirs = client.delete(f"{SUPPRESSIONS}/{first.json()['id']}", headers=world.outsider.auth)
    assert theirs.status_code == 404
    assert client.delete(f"{SUPPRESSIONS}/{uuid.uuid4()}", headers=auth).status_code == 404
    with system_session(ctx.session_factory) as s:
        assert s.scalar(select(func.count()).select_from(Suppression)) == 1
