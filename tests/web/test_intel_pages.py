"""Server-rendered intel pages: events, contacts, accounts, opportunities.

Data is seeded through the JSON API with the owner's bearer token; pages are read through
a signed-in browser session, as a user would.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi.testclient import TestClient

from cctest.personas import World, sign_in
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.models import Opportunity, OpportunityContact
from commandcentre.workspaces import services as ws

MISSING = "00000000-0000-4000-8000-000000000000"


def _post(client: TestClient, path: str, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _seed_opportunity(
    ctx: AppContext,
    event_id: str,
    *,
    score: float,
    explanation: dict[str, Any] | None = None,
    links: tuple[tuple[str, str, str], ...] = (),
) -> str:
    """An opportunity as discovery stores it; links are (contact, account, role)."""
    with system_session(ctx.session_factory) as session:
        workspace = ws.get_workspace_by_slug(session=session, slug="acme")
        assert workspace is not None
        workspace_id = workspace.id
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, workspace_id) as session:
        opportunity = Opportunity(
            event_id=uuid.UUID(event_id),
            signal_score=score,
            score_explanation=explanation or {},
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


def _summit(client: TestClient, world: World, ctx: AppContext) -> dict[str, str]:
    """One event with a talk by a tier-1 account's CTO, an attendee, and its opportunity."""
    auth = world.owner.auth
    event = _post(
        client,
        "/api/events",
        auth,
        name="Data Summit",
        start_date="2026-03-12",
        end_date="2026-03-13",
        city="Lisbon",
        url="javascript:alert(1)",
    )
    acme = _post(client, "/api/accounts", auth, name="Acme Corp", tier=1, domain="acme.com")
    ann = _post(
        client, "/api/contacts", auth, full_name="Ann Archer", title="CTO", account_id=acme["id"]
    )
    bob = _post(client, "/api/contacts", auth, full_name="Bob Byte", organisation="Initech")
    talk = _post(
        client,
        f"/api/events/{event['id']}/sessions",
        auth,
        title="Streaming at scale",
        starts_at="2026-03-12T10:30:00Z",
    )
    _post(
        client,
        f"/api/events/{event['id']}/sessions/{talk['id']}/speakers",
        auth,
        contact_id=ann["id"],
    )
    _post(client, f"/api/events/{event['id']}/attendees", auth, contact_id=bob["id"])
    _post(client, f"/api/accounts/{acme['id']}/intel", auth, title="Raised Series C")
    opportunity = _seed_opportunity(
        ctx,
        event["id"],
        score=82,
        explanation={
            "summary": "A tier-1 CTO speaks.",
            "factors": [{"name": "seniority", "points": 25, "detail": "CTO of Acme Corp"}],
        },
        links=((ann["id"], acme["id"], "speaker"),),
    )
    return {
        "event": event["id"],
        "account": acme["id"],
        "ann": ann["id"],
        "bob": bob["id"],
        "opportunity": opportunity,
    }


def test_event_pages_search_page_and_show_sessions(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    ids = _summit(client, world, ctx)
    auth = world.owner.auth
    for n in range(25):
        _post(client, "/api/events", auth, name=f"Meetup {n:02}", start_date="2026-06-01")
    sign_in(client, world.owner.email)

    listing = client.get("/events?q=meetup")
    assert listing.status_code == 200
    assert "Meetup 00" in listing.text
    assert "Data Summit" not in listing.text
    assert "25 events" in listing.text
    first_page = client.get("/events")
    assert "Page 1 of 2" in first_page.text
    # The pager keeps the filters.
    filtered = client.get("/events?upcoming=true&q=m")
    assert re.search(r'href="/events\?upcoming=true&amp;q=m&amp;page=2"', filtered.text)
    assert "Meetup 24" in client.get("/events?upcoming=true&q=m&page=2").text
    assert "Data Summit" in client.get("/events?upcoming=on").text
    assert "Page 1" in client.get("/events?page=nonsense").text

    detail = client.get(f"/events/{ids['event']}")
    assert detail.status_code == 200
    text = detail.text
    assert "12 Mar 2026 \N{EN DASH} 13 Mar 2026" in text
    assert "Streaming at scale" in text
    assert f'href="/contacts/{ids["ann"]}"' in text
    assert "Bob Byte" in text
    assert "attendee" in text
    assert f'href="/opportunities/{ids["opportunity"]}"' in text
    # A stored javascript: URL is shown, never linked.
    assert 'href="javascript:' not in text
    assert client.get("/events/not-an-id").status_code == 404


def test_contact_pages_show_filters_and_appearances(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    ids = _summit(client, world, ctx)
    sign_in(client, world.owner.email)

    listing = client.get("/contacts?q=initech")
    assert listing.status_code == 200
    assert "Bob Byte" in listing.text
    assert "Ann Archer" not in listing.text
    at_account = client.get(f"/contacts?account_id={ids['account']}")
    assert "Ann Archer" in at_account.text
    assert "Bob Byte" not in at_account.text
    assert "Acme Corp" in at_account.text
    at_event = client.get(f"/contacts?event_id={ids['event']}&outreach_status=new")
    assert "Ann Archer" in at_event.text
    assert "Bob Byte" in at_event.text
    assert "Bob Byte" in client.get("/contacts?outreach_status=bogus").text

    detail = client.get(f"/contacts/{ids['ann']}")
    assert detail.status_code == 200
    assert "CTO" in detail.text
    assert f'href="/accounts/{ids["account"]}"' in detail.text
    assert "Streaming at scale" in detail.text
    assert "Data Summit" in detail.text


def test_adding_an_account_through_the_form(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world.owner.email)
    empty = client.get("/accounts")
    assert "The watchlist is empty" in empty.text
    assert 'action="/accounts"' in empty.text

    added = client.post(
        "/accounts",
        data={
            "csrf_token": csrf,
            "name": "Globex Corporation",
            "domain": "https://www.globex.example/about",
            "tier": "1",
            "aliases": "Globex, Globex Labs",
            "industry": "Energy",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    location = added.headers["location"]
    assert location.startswith("/accounts/")
    page = client.get(location)
    assert "Added to the watchlist." in page.text
    assert "globex.example" in page.text
    assert "Globex Labs" in page.text
    assert "Tier 1" in page.text

    bad = client.post(
        "/accounts",
        data={"csrf_token": csrf, "name": "  ", "tier": "9", "domain": "no way"},
    )
    assert bad.status_code == 422
    assert "Enter the company name." in bad.text
    assert "Choose tier 1, 2 or 3." in bad.text
    assert 'value="no way"' in bad.text  # what was typed stays in the form
    bad_domain = client.post(
        "/accounts", data={"csrf_token": csrf, "name": "Initech", "domain": "no way"}
    )
    assert bad_domain.status_code == 422
    assert "is not a domain" in bad_domain.text
    assert 'value="Initech"' in bad_domain.text
    dup = client.post("/accounts", data={"csrf_token": csrf, "name": "GLOBEX inc"})
    assert dup.status_code == 422
    assert "already on the watchlist" in dup.text

    assert client.post("/accounts", data={"csrf_token": "forged", "name": "X"}).status_code == 403
    listing = client.get("/accounts?q=globex&tier=1")
    assert "Globex Corporation" in listing.text
    assert "Initech" not in client.get("/accounts").text


def test_account_page_notes_and_people(client: TestClient, world: World, ctx: AppContext) -> None:
    ids = _summit(client, world, ctx)
    csrf = sign_in(client, world.owner.email)
    path = f"/accounts/{ids['account']}"

    page = client.get(path)
    assert page.status_code == 200
    assert "Raised Series C" in page.text
    assert "02 Mar 2026" in page.text  # noted today by the app clock
    assert "Ann Archer" in page.text

    noted = client.post(
        f"{path}/intel",
        data={
            "csrf_token": csrf,
            "category": "hiring",
            "title": "Hiring 20 data engineers",
            "noted_on": "2026-02-20",
            "source_name": "Careers page",
            "source_url": "https://acme.com/careers",
        },
        follow_redirects=False,
    )
    assert noted.status_code == 303
    shown = client.get(noted.headers["location"])
    assert "Note added." in shown.text
    assert "Hiring 20 data engineers" in shown.text
    assert 'href="https://acme.com/careers"' in shown.text
    # Newest first.
    assert shown.text.index("Raised Series C") < shown.text.index("Hiring 20 data engineers")

    bad = client.post(
        f"{path}/intel",
        data={"csrf_token": csrf, "title": " ", "noted_on": "yesterday", "category": "gossip"},
    )
    assert bad.status_code == 422
    assert "Enter a title for the note." in bad.text
    assert "Enter a date such as 2026-03-12." in bad.text
    assert "Choose a category from the list." in bad.text
    dup = client.post(
        f"{path}/intel",
        data={"csrf_token": csrf, "title": "raised series c", "category": "note"},
    )
    assert dup.status_code == 422
    assert "already has a note" in dup.text

    notes = client.get(f"/api/accounts/{ids['account']}/intel").json()["items"]
    hiring = next(n for n in notes if n["category"] == "hiring")
    removed = client.post(
        f"{path}/intel/{hiring['id']}/delete", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert removed.status_code == 200
    assert "Note deleted." in removed.text
    assert "Hiring 20 data engineers" not in removed.text


def test_opportunity_pages(client: TestClient, world: World, ctx: AppContext) -> None:
    ids = _summit(client, world, ctx)
    quiet = _post(client, "/api/events", world.owner.auth, name="Quiet Meetup", start_date=None)
    plain = _seed_opportunity(ctx, quiet["id"], score=12)
    csrf = sign_in(client, world.owner.email)

    listing = client.get("/opportunities")
    assert listing.status_code == 200
    text = listing.text
    assert "Data Summit" in text
    assert "12 Mar 2026" in text
    assert "in 10 days" in text
    assert '<span class="score high">82</span>' in text
    assert "status-new" in text
    assert text.index("Data Summit") < text.index("Quiet Meetup")
    assert "Quiet Meetup" not in client.get("/opportunities?min_score=50").text
    assert "Quiet Meetup" not in client.get("/opportunities?upcoming=true").text
    assert "Data Summit" in client.get("/opportunities?status=new&new=true").text
    assert "No opportunities match" in client.get("/opportunities?status=won").text
    assert "2 new opportunities" in client.get("/opportunities?discovered=2").text

    detail = client.get(f"/opportunities/{ids['opportunity']}")
    assert detail.status_code == 200
    for expected in (
        "A tier-1 CTO speaks.",
        "seniority",
        "+25.0",
        "CTO of Acme Corp",
        "Acme Corp",
        "Tier 1",
        "Ann Archer",
        "speaker",
        "Streaming at scale",
    ):
        assert expected in detail.text, expected
    assert "Bob Byte" not in detail.text  # attendees of no target account are not listed
    bare = client.get(f"/opportunities/{plain}")
    assert "No explanation recorded" in bare.text

    moved = client.post(
        f"/opportunities/{ids['opportunity']}/status",
        data={"csrf_token": csrf, "status": "reviewing"},
        follow_redirects=True,
    )
    assert moved.status_code == 200
    assert "Status updated." in moved.text
    assert "status-reviewing" in moved.text
    wrong = client.post(
        f"/opportunities/{ids['opportunity']}/status", data={"csrf_token": csrf, "status": "x"}
    )
    assert wrong.status_code == 422


def _routes(ids: dict[str, str]) -> tuple[list[str], list[str]]:
    """(GET pages, POST form targets) of the intel pages for the seeded objects."""
    gets = [
        "/events",
        f"/events/{ids['event']}",
        "/contacts",
        f"/contacts/{ids['ann']}",
        "/accounts",
        f"/accounts/{ids['account']}",
        "/opportunities",
        f"/opportunities/{ids['opportunity']}",
    ]
    posts = [
        "/accounts",
        f"/accounts/{ids['account']}/intel",
        f"/accounts/{ids['account']}/intel/{MISSING}/delete",
        f"/opportunities/{ids['opportunity']}/status",
    ]
    return gets, posts


def test_pages_send_anonymous_callers_to_sign_in(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    ids = _summit(client, world, ctx)
    gets, posts = _routes(ids)
    for path in gets:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    for path in posts:
        response = client.post(path, data={"title": "x"}, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path


def test_teammates_see_the_pages_and_outsiders_get_404(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    ids = _summit(client, world, ctx)
    gets, posts = _routes(ids)

    mate = TestClient(client.app)
    sign_in(mate, world.teammate.email)
    for path in gets:
        assert mate.get(path).status_code == 200, path
    assert "Data Summit" in mate.get("/opportunities").text

    outsider = TestClient(client.app)
    csrf = sign_in(outsider, world.outsider.email)
    for path in gets:
        response = outsider.get(path)
        if path.count("/") == 1:
            assert response.status_code == 200, path
            assert "Data Summit" not in response.text
            assert "Ann Archer" not in response.text
            assert "Acme Corp" not in response.text
        else:
            assert response.status_code == 404, path
    for path in posts[1:]:
        response = outsider.post(
            path, data={"csrf_token": csrf, "title": "Planted", "status": "won"}
        )
        assert response.status_code == 404, path
    # A filter naming another workspace's object shows nothing of it.
    at_account = outsider.get(f"/contacts?account_id={ids['account']}")
    assert "Ann Archer" not in at_account.text
    assert "Acme Corp" not in at_account.text
    owner_view = client.get(f"/api/opportunities/{ids['opportunity']}", headers=world.owner.auth)
    assert owner_view.json()["status"] == "new"
    notes = client.get(f"/api/accounts/{ids['account']}/intel", headers=world.owner.auth).json()
    assert [n["title"] for n in notes["items"]] == ["Raised Series C"]
