"""Opportunities API (read side): order, filters, the explained detail, status, privacy.

Discovery writes opportunities; these tests store them directly so every case (an odd
explanation, a given score) is exact.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from cctest.personas import World
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.models import Opportunity, OpportunityContact
from commandcentre.workspaces import services as ws

EXPLANATION = {
    "summary": "Two tier-1 accounts speak.",
    "factors": [
        {"name": "accounts", "points": 30.0, "detail": "2 target accounts"},
        {"name": "timing", "points": 12.5, "detail": "7 weeks away"},
    ],
}


def _post(client: TestClient, path: str, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def seed_opportunity(
    ctx: AppContext,
    event_id: str,
    *,
    score: float,
    status: str = "new",
    explanation: Any = None,
    links: tuple[tuple[str, str, str], ...] = (),
    slug: str = "acme",
) -> str:
    """An opportunity as discovery would store it; links are (contact, account, role)."""
    with system_session(ctx.session_factory) as session:
        workspace = ws.get_workspace_by_slug(session=session, slug=slug)
        assert workspace is not None
        workspace_id = workspace.id
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, workspace_id) as session:
        opportunity = Opportunity(
            event_id=uuid.UUID(event_id),
            status=status,
            signal_score=score,
            score_explanation=explanation if explanation is not None else {},
            account_count=len({account for _, account, _ in links}),
            contact_count=len(links),
            first_seen_at=now,
            last_discovered_at=now,
        )
        session.add(opportunity)
        session.flush()
        for contact_id, account_id, role in links:
            session.add(
                OpportunityContact(
                    opportunity_id=opportunity.id,
                    contact_id=uuid.UUID(contact_id),
                    account_id=uuid.UUID(account_id),
                    role=role,
                )
            )
        return str(opportunity.id)


def _event(client: TestClient, auth: dict[str, str], name: str, start: str | None) -> str:
    return str(_post(client, "/api/events", auth, name=name, start_date=start)["id"])


def test_list_orders_by_signal_then_date_and_filters(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    auth = world.owner.auth
    seed_opportunity(ctx, _event(client, auth, "Late strong", "2026-09-01"), score=80)
    seed_opportunity(ctx, _event(client, auth, "Soon strong", "2026-03-12"), score=80)
    seed_opportunity(ctx, _event(client, auth, "Past", "2026-02-01"), score=95, status="reviewing")
    seed_opportunity(ctx, _event(client, auth, "Weak", "2026-04-01"), score=20, status="won")
    seed_opportunity(ctx, _event(client, auth, "Undated", None), score=50)

    def names(query: str) -> list[str]:
        response = client.get(f"/api/opportunities?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [o["event"]["name"] for o in response.json()["items"]]

    assert names("") == ["Past", "Soon strong", "Late strong", "Undated", "Weak"]
    assert names("status=won") == ["Weak"]
    assert names("new=true") == ["Soon strong", "Late strong", "Undated"]
    assert names("min_score=60") == ["Past", "Soon strong", "Late strong"]
    assert names("upcoming=true&min_score=21") == ["Soon strong", "Late strong"]

    first = client.get("/api/opportunities?limit=2", headers=auth).json()
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 5}
    soon = first["items"][1]
    assert soon["days_until"] == 10  # the app clock says 2026-03-02
    assert (soon["signal_score"], soon["status"]) == (80.0, "new")
    past = first["items"][0]
    assert past["days_until"] == -29
    assert client.get("/api/opportunities?status=maybe", headers=auth).json()["field"] == "status"
    assert client.get("/api/opportunities?min_score=-1", headers=auth).status_code == 422


def test_detail_shows_accounts_people_talks_and_the_explanation(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    auth = world.owner.auth
    event_id = _event(client, auth, "Data Summit", "2026-04-20")
    big = _post(client, "/api/accounts", auth, name="Bigco", tier=1)
    small = _post(client, "/api/accounts", auth, name="Aardvark", tier=2)
    ann = _post(client, "/api/contacts", auth, full_name="Ann", title="CTO", account_id=big["id"])
    ben = _post(client, "/api/contacts", auth, full_name="Ben", account_id=small["id"])
    talk = _post(client, f"/api/events/{event_id}/sessions", auth, title="Scaling data")
    _post(
        client,
        f"/api/events/{event_id}/sessions/{talk['id']}/speakers",
        auth,
        contact_id=ann["id"],
    )
    _post(client, f"/api/events/{event_id}/attendees", auth, contact_id=ben["id"])
    opp = seed_opportunity(
        ctx,
        event_id,
        score=72.5,
        explanation=EXPLANATION,
        links=((ann["id"], big["id"], "speaker"), (ben["id"], small["id"], "attendee")),
    )

    detail = client.get(f"/api/opportunities/{opp}", headers=auth).json()
    assert detail["event"]["name"] == "Data Summit"
    assert detail["event"]["topics"] == []
    assert detail["days_until"] == 49
    assert (detail["account_count"], detail["contact_count"]) == (2, 2)
    assert detail["score_explanation"] == EXPLANATION
    # Tier 1 first, whatever the names.
    assert [(a["name"], a["tier"]) for a in detail["accounts"]] == [("Bigco", 1), ("Aardvark", 2)]
    ann_out = detail["accounts"][0]["contacts"][0]
    assert (ann_out["full_name"], ann_out["title"], ann_out["role"]) == ("Ann", "CTO", "speaker")
    assert ann_out["talk_titles"] == ["Scaling data"]
    assert detail["accounts"][1]["contacts"][0]["talk_titles"] == []
    # The event page links to its opportunity.
    assert client.get(f"/api/events/{event_id}", headers=auth).json()["opportunity_id"] == opp


def test_odd_or_missing_explanations_still_render(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    auth = world.owner.auth
    empty = seed_opportunity(ctx, _event(client, auth, "A", "2026-05-01"), score=10)
    odd = seed_opportunity(
        ctx,
        _event(client, auth, "B", "2026-05-01"),
        score=10,
        explanation={"summary": 3, "factors": [{"points": 1}, "x", {"name": "n", "points": "?"}]},
    )
    assert client.get(f"/api/opportunities/{empty}", headers=auth).json()["score_explanation"] == {
        "summary": "",
        "factors": [],
    }
    assert client.get(f"/api/opportunities/{odd}", headers=auth).json()["score_explanation"] == {
        "summary": "",
        "factors": [{"name": "n", "points": 0.0, "detail": ""}],
    }


def test_status_changes(client: TestClient, world: World, ctx: AppContext) -> None:
    auth = world.owner.auth
    opp = seed_opportunity(ctx, _event(client, auth, "A", "2026-05-01"), score=10)
    path = f"/api/opportunities/{opp}"
    moved = client.patch(path, json={"status": "reviewing"}, headers=auth)
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "reviewing"
    bad = client.patch(path, json={"status": "maybe"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["field"] == "status"
    assert client.patch(path, json={}, headers=auth).json()["field"] == "status"
    assert client.get("/api/opportunities?new=true", headers=auth).json()["items"] == []


def test_every_opportunity_route_is_workspace_private(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    owner, mate, outsider = world.owner.auth, world.teammate.auth, world.outsider.auth
    opp = seed_opportunity(ctx, _event(client, owner, "Summit", "2026-05-01"), score=50)
    path = f"/api/opportunities/{opp}"

    assert client.get("/api/opportunities", headers=mate).json()["pagination"]["total"] == 1
    assert client.get(path, headers=mate).status_code == 200
    assert client.patch(path, json={"status": "delegated"}, headers=mate).status_code == 200

    assert client.get("/api/opportunities", headers=outsider).json()["items"] == []
    assert client.get(path, headers=outsider).status_code == 404
    assert client.patch(path, json={"status": "dismissed"}, headers=outsider).status_code == 404

    assert client.get("/api/opportunities").status_code == 401
    assert client.get(path).status_code == 401
    assert client.patch(path, json={"status": "won"}).status_code == 401
    assert client.get(path, headers=owner).json()["status"] == "delegated"
