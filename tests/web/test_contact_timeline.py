"""The contact timeline (every touch and reply in time order), "mark replied", and the
agents' headline numbers on the dashboard that those touches feed.

A first message to Person 0 goes out Monday 2 March 2026 09:00 UTC; three business days
later the Follow-up agent writes the first follow-up; then the user marks the contact as
replied, which stops what is still pending.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import expect
from sqlalchemy import select

from cctest.live import chromium_page, live_server, sign_in_page
from cctest.outreach import OPEN_WINDOW, first_draft, seed_drafts, send_first_message, settle
from cctest.personas import World, sign_in
from cctest.services import chromium_available, require
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.followups.models import FollowUp
from commandcentre.inbound.models import InboundMessage
from commandcentre.outreach.models import OutreachDraft
from commandcentre.web.app import create_app
from commandcentre.web.pages.agents import agent_panel


@dataclass(frozen=True)
class Story:
    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    first_draft: uuid.UUID
    pumps: Pumps


def first_follow_up_written(ctx: AppContext, clock: ManualClock) -> Story:
    """Sent, then three business days of silence: follow-up #1 is drafted."""
    drafted = seed_drafts(ctx, 1, slug="acme", config=OPEN_WINDOW)
    contact_id = first_draft(ctx, drafted).contact_id
    pumps = send_first_message(ctx, drafted)
    clock.advance(timedelta(days=3))
    settle(pumps)
    return Story(drafted.workspace_id, contact_id, drafted.draft_ids[0], pumps)


def _followups(ctx: AppContext, story: Story) -> list[tuple[str, str, str | None]]:
    with workspace_session(ctx.session_factory, story.workspace_id) as session:
        rows = session.scalars(select(FollowUp).order_by(FollowUp.scheduled_at))
        return [(f.followup_type, f.status, f.cancel_reason) for f in rows]


def _titles(html: str) -> list[str]:
    section = html[html.index('id="timeline-items"') :]
    section = section[: section.index("</ol>")]
    return re.findall(r'<strong data-field="title">([^<]+)</strong>', section)


@pytest.fixture
def browser(client: TestClient, world: World) -> tuple[TestClient, str]:
    return client, sign_in(client, world.owner.email)


def test_timeline_shows_the_send_the_follow_up_and_the_reply_in_order(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock
) -> None:
    client, csrf = browser
    story = first_follow_up_written(ctx, clock)
    page = f"/contacts/{story.contact_id}"
    before = client.get(page).text
    assert f'action="/contacts/{story.contact_id}/mark-replied"' in before
    assert "Follow-up #2 scheduled (Value add)" in _titles(before)

    clock.advance(timedelta(hours=2))
    response = client.post(
        f"{page}/mark-replied",
        data={"csrf_token": csrf, "sentiment": "positive", "note": "Called back, wants a demo"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{page}?done=replied#timeline"
    html = client.get(response.headers["location"]).text
    assert "Marked as replied" in html
    titles = _titles(html)
    sent = titles.index("Sent by email")
    followup = titles.index("Follow-up #1 carried out (Reminder)")
    reply = titles.index("Reply (marked by hand)")
    assert sent < followup < reply
    assert titles[0] == "First message drafted"
    assert "Follow-up #1 drafted" in titles
    # What was still to come is stopped, with the reason, and the pending draft rejected.
    assert "Follow-up #2 cancelled (Value add)" in titles
    assert "the contact replied" in html
    assert "Called back, wants a demo" in html
    assert 'class="badge sentiment-positive"' in html
    assert _followups(ctx, story) == [
        ("reminder", "executed", None),
        ("value_add", "cancelled", "the contact replied"),
        ("escalation", "cancelled", "the contact replied"),
    ]
    with workspace_session(ctx.session_factory, story.workspace_id) as session:
        drafted = session.scalars(
            select(OutreachDraft).where(OutreachDraft.followup_number == 1)
        ).one()
        assert (drafted.status, drafted.rejection_reason) == ("rejected", "the contact replied")

    # The same story through the API, in the same order.
    api = client.get(f"/api/contacts/{story.contact_id}/timeline", headers={}).json()
    kinds = [(i["kind"], i["event"]) for i in api["items"]]
    assert kinds.index(("send", "sent")) < kinds.index(("followup", "executed"))
    assert kinds.index(("followup", "executed")) < kinds.index(("inbound", "reply"))
    reply_item = next(i for i in api["items"] if i["kind"] == "inbound")
    assert (reply_item["sentiment"], reply_item["classification"]) == ("positive", "reply")
    stamps = [i["at"] for i in api["items"]]
    assert stamps == sorted(stamps)

    # Nothing more goes out, however long the silence afterwards.
    clock.advance(timedelta(days=30))
    settle(story.pumps)
    assert [s for _, s, _ in _followups(ctx, story)] == ["executed", "cancelled", "cancelled"]


def test_mark_replied_form_refuses_what_it_cannot_record(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock
) -> None:
    client, csrf = browser
    story = first_follow_up_written(ctx, clock)
    response = client.post(
        f"/contacts/{story.contact_id}/mark-replied",
        data={"csrf_token": csrf, "sentiment": "ecstatic", "note": "keep me"},
    )
    assert response.status_code == 422
    assert "Choose positive, neutral or negative." in response.text
    assert 'value="keep me"' in response.text
    assert (
        client.post(
            f"/contacts/{story.contact_id}/mark-replied", data={"csrf_token": "stale"}
        ).status_code
        == 403
    )
    with workspace_session(ctx.session_factory, story.workspace_id) as session:
        assert session.scalars(select(InboundMessage)).first() is None
    assert [s for _, s, _ in _followups(ctx, story)] == ["executed", "scheduled", "scheduled"]


def test_mark_replied_by_api_and_who_may(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext, clock: ManualClock
) -> None:
    story = first_follow_up_written(ctx, clock)
    path = f"/api/contacts/{story.contact_id}"
    outsider = TestClient(app, headers=world.outsider.auth)
    assert outsider.get(f"{path}/timeline").status_code == 404
    assert outsider.post(f"{path}/mark-replied", json={}).status_code == 404
    browser = TestClient(app)
    csrf = sign_in(browser, world.outsider.email)
    assert browser.get(f"/contacts/{story.contact_id}").status_code == 404
    refused = browser.post(f"/contacts/{story.contact_id}/mark-replied", data={"csrf_token": csrf})
    assert refused.status_code == 404
    assert [s for _, s, _ in _followups(ctx, story)] == ["executed", "scheduled", "scheduled"]

    bad = client.post(
        f"{path}/mark-replied", json={"sentiment": "ecstatic"}, headers=world.teammate.auth
    )
    assert bad.status_code == 422
    done = client.post(
        f"{path}/mark-replied",
        json={"sentiment": "negative", "note": "not now"},
        headers=world.teammate.auth,
    )
    assert done.status_code == 200, done.text
    assert done.json()["cancelledFollowups"] == 2
    items = client.get(f"{path}/timeline", headers=world.owner.auth).json()["items"]
    assert any(i["kind"] == "inbound" and i["sentiment"] == "negative" for i in items)
    # Marked at the very instant the follow-up ran: still read in the order things happened.
    kinds = [(i["kind"], i["event"]) for i in items]
    executed = kinds.index(("followup", "executed"))
    assert executed < kinds.index(("draft", "created"), 1) < kinds.index(("inbound", "reply"))
    assert kinds.index(("inbound", "reply")) < kinds.index(("followup", "cancelled"))
    assert "Escalation cancelled" in [i["title"] for i in items[-3:]]
    assert (
        client.get(f"/api/contacts/{uuid.uuid4()}/timeline", headers=world.owner.auth).status_code
        == 404
    )


def test_dashboard_cards_show_the_weeks_headline_numbers(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock
) -> None:
    client, csrf = browser
    story = first_follow_up_written(ctx, clock)
    client.post(
        f"/contacts/{story.contact_id}/mark-replied",
        data={"csrf_token": csrf, "sentiment": "positive"},
    )
    html = client.get("/").text

    def card(agent_type: str) -> str:
        start = html.index(f'data-agent-type="{agent_type}"')
        return html[start : html.index("</article>", start)]

    def number(markup: str, key: str) -> str:
        found = re.search(rf'data-field="metric-{key}">([^<]*)<', markup)
        assert found, key
        return found.group(1)

    outreach, followup, planning = card("outreach"), card("followup"), card("planning")
    assert "Last 7 days" in outreach
    assert number(outreach, "sent") == "1"
    assert number(outreach, "responses") == "1"
    assert number(outreach, "response-rate") == "100%"
    assert number(followup, "followups-scheduled") == "2"
    assert number(followup, "followups-completed") == "1"
    assert number(planning, "opportunities") == "0"
    assert "metric-" not in card("research")
    # The live stream carries the same numbers, so the cards stay current.
    with workspace_session(ctx.session_factory, story.workspace_id) as session:
        data = agent_panel(session, clock.now().date()).as_json()
    live = {a["agentType"]: {h["key"]: h["value"] for h in a["headline"]} for a in data["agents"]}
    assert live["outreach"] == {"sent": "1", "responses": "1", "response-rate": "100%"}
    assert live["followup"] == {"followups-scheduled": "2", "followups-completed": "1"}
    # A week later the window has moved on: nothing of this shows any more.
    clock.advance(timedelta(days=7))
    later = client.get("/").text
    start = later.index('data-agent-type="outreach"')
    assert number(later[start : later.index("</article>", start)], "sent") == "0"
    assert number(later[start : later.index("</article>", start)], "response-rate") == "—"


@pytest.mark.browser
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_headline_numbers_update_live_on_the_dashboard(
    ctx: AppContext, world: World, clock: ManualClock
) -> None:
    require("chromium", chromium_available())
    with live_server(create_app(ctx)) as url:
        api = httpx2.Client(base_url=url, headers=world.owner.auth, timeout=5)
        contact = api.post("/api/contacts", json={"full_name": "Ada Live"}).json()["id"]
        with chromium_page(url) as page:
            sign_in_page(page, world.owner.email)
            expect(page.locator("#agent-panel")).to_have_attribute("data-live", "on")
            card = page.locator('[data-agent-type="outreach"]')
            expect(card.locator('[data-field="metric-responses"]')).to_have_text("0")
            page.evaluate("window.notReloaded = true")
            # A reply recorded elsewhere (here: the API) reaches the open dashboard.
            done = api.post(f"/api/contacts/{contact}/mark-replied", json={"sentiment": "positive"})
            assert done.status_code == 200, done.text
            expect(card.locator('[data-field="metric-responses"]')).to_have_text("1")
            expect(card.locator('[data-field="metric-response-rate"]')).to_have_text("—")
            assert page.evaluate("window.notReloaded") is True
