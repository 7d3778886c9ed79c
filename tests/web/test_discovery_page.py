"""The "Run discovery" button: renders a CSRF-protected form that runs discovery."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cctest.personas import World, sign_in
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.models import Account, Appearance, Contact, Event, Opportunity
from commandcentre.web.templating import templates
from commandcentre.workspaces import services as ws


def seed_one_opportunity(ctx: AppContext, slug: str = "acme") -> None:
    with system_session(ctx.session_factory) as session:
        workspace = ws.get_workspace_by_slug(session=session, slug=slug)
        assert workspace is not None
        workspace_id = workspace.id
    with workspace_session(ctx.session_factory, workspace_id) as session:
        account = Account(name="Globex", normalised_name="globex", tier=1)
        contact = Contact(
            full_name="Ana Alvarez", organisation="Globex Ltd", name_key="ana alvarez|globex"
        )
        start = ctx.clock.now().date() + timedelta(days=21)
        event = Event(name="Data Summit", start_date=start, dedupe_key="data summit")
        session.add_all([account, contact, event])
        session.flush()
        session.add(
            Appearance(
                contact_id=contact.id, event_id=event.id, role="speaker", appearance_key="speaker"
            )
        )


def opportunity_count(ctx: AppContext) -> int:
    with system_session(ctx.session_factory) as session:
        return session.scalar(select(func.count(Opportunity.id))) or 0


def test_button_is_a_csrf_protected_form() -> None:
    html = templates.get_template("opportunities/_discover_button.html").render(
        csrf_token="tok-123"
    )
    assert 'method="post"' in html
    assert 'action="/opportunities/discover"' in html
    assert 'name="csrf_token" value="tok-123"' in html
    assert 'class="primary"' in html
    assert "Run discovery" in html


def test_posting_the_form_runs_discovery_and_redirects(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    seed_one_opportunity(ctx)
    csrf = sign_in(client, world.owner.email)
    response = client.post(
        "/opportunities/discover", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/opportunities?discovered=1"
    assert opportunity_count(ctx) == 1

    again = client.post(
        "/opportunities/discover", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert again.headers["location"] == "/opportunities?discovered=0"
    assert opportunity_count(ctx) == 1


def test_the_form_needs_the_csrf_token(client: TestClient, world: World, ctx: AppContext) -> None:
    seed_one_opportunity(ctx)
    sign_in(client, world.owner.email)
    missing = client.post("/opportunities/discover", data={}, follow_redirects=False)
    forged = client.post(
        "/opportunities/discover", data={"csrf_token": "forged"}, follow_redirects=False
    )
    assert (missing.status_code, forged.status_code) == (403, 403)
    assert opportunity_count(ctx) == 0


def test_anonymous_callers_are_sent_to_sign_in(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    seed_one_opportunity(ctx)
    response = client.post(
        "/opportunities/discover", data={"csrf_token": "x"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert opportunity_count(ctx) == 0


def test_outsider_runs_discovery_only_in_their_own_workspace(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    seed_one_opportunity(ctx, "acme")
    csrf = sign_in(client, world.outsider.email)
    response = client.post(
        "/opportunities/discover", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert response.headers["location"] == "/opportunities?discovered=0"
    assert opportunity_count(ctx) == 0
