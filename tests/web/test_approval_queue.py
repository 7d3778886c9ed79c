"""The outreach approval queue: pages and API for approve, edit, reject, bulk, undo,
regenerate, LinkedIn tasks and sends that need review; who may do each.

Drafts are made the way the Outreach agent makes them (``drafts.create_drafts`` with the
offline writer) in the owner's workspace; pages are used through a signed-in session and
the API with bearer tokens.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import select

from cctest.outreach import OPEN_WINDOW, Drafted, drain, outbox_sender, seed_drafts
from cctest.personas import World, sign_in
from cctest.smtp import MailSink, smtp_server
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.outreach.dispatch import Sender
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.outreach.transport import transport_from_settings

DRAFTS = "/api/agents/outreach/drafts"
QUEUE = "/outreach/queue"
# Long enough that nothing leaves during a test unless the clock is moved past it.
UNDO = {"businessHoursOnly": False, "undoDelaySeconds": 300}


def _seed(ctx: AppContext, people: int = 2, **kwargs: Any) -> Drafted:
    """Pending drafts in the owner's workspace (the world's "acme")."""
    kwargs.setdefault("config", UNDO)
    return seed_drafts(ctx, people, slug="acme", **kwargs)


def _draft(ctx: AppContext, drafted: Drafted, draft_id: uuid.UUID) -> OutreachDraft:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = session.get(OutreachDraft, draft_id)
        assert draft is not None
        session.expunge(draft)
        return draft


def _send(ctx: AppContext, drafted: Drafted, draft_id: uuid.UUID) -> Send | None:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        send = session.scalars(select(Send).where(Send.draft_id == draft_id)).first()
        if send is not None:
            session.expunge(send)
        return send


def _sent_for(ctx: AppContext, drafted: Drafted, draft_id: uuid.UUID) -> Send:
    """The draft's send, which the test has made sure exists."""
    send = _send(ctx, drafted, draft_id)
    assert send is not None
    return send


def _form(client: TestClient, csrf: str, path: str, **fields: str | list[str]) -> Response:
    """A page form posted with its CSRF token; a redirect is returned, not followed, so
    the test reads where the action sends the user."""
    return client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)


def _approve_by_api(client: TestClient, world: World, *draft_ids: uuid.UUID) -> None:
    """The owner approves through the API, as a reviewer elsewhere would."""
    for draft_id in draft_ids:
        approved = client.post(f"{DRAFTS}/{draft_id}/approve", headers=world.owner.auth)
        assert approved.status_code == 200, approved.text


def _section(html: str, element_id: str) -> str:
    at = html.index(f'id="{element_id}"')
    start = html.rindex("<", 0, at)
    tag = re.match(r"<(\w+)", html[start:])
    assert tag
    return html[start : html.index(f"</{tag.group(1)}>", at)]


@pytest.fixture
def browser(client: TestClient, world: World) -> tuple[TestClient, str]:
    """The owner, signed in: the client and the page CSRF token."""
    csrf = sign_in(client, world.owner.email)
    return client, csrf


# --------------------------------------------------------------------------- the page


def test_queue_shows_each_draft_with_context_claims_and_reasoning(
    browser: tuple[TestClient, str], ctx: AppContext, world: World
) -> None:
    client, _ = browser
    drafted = _seed(ctx, 2)
    page = client.get(QUEUE)
    assert page.status_code == 200
    html = page.text
    assert "2 waiting" in html
    first = _draft(ctx, drafted, drafted.draft_ids[0])
    card = html[html.index(f'id="draft-{first.id}"') :]
    card = card[: card.index("</article>")]
    # Context: contact, event, channel, recipient, suggested send, writer.
    assert "Person 0" in card or "Person 1" in card
    assert "Data Summit" in card
    assert first.recipient in card
    assert "Email" in card
    assert "Suggested send" in card
    assert "offline writer" in card
    # Claims sit next to the value stored in their source field.
    assert first.claims, "the offline writer cites what it uses"
    claim = first.claims[0]
    assert claim["source_field"] in card
    assert 'class="claims"' in card
    row = card[card.index(claim["source_field"]) :]
    row = row[: row.index("</tr>")]
    assert "Not stored any more" not in row
    assert "Why it was written this way" in card
    assert (first.personalization_context or {})["reasoning"][:30] in card
    # Every action is a form with the page's CSRF token; bulk checkboxes join one form.
    for action in ("approve", "reject", "regenerate"):
        assert f'action="/outreach/drafts/{first.id}/{action}"' in card
    assert 'form="bulk-form"' in card
    assert '<script src="/static/approvals.js" defer></script>' in html
    assert "<script>" not in html
    # The approvals page and the nav lead here, with the count.
    approvals = client.get("/approvals").text
    assert '<strong id="drafts-pending">2</strong>' in approvals
    assert 'href="/outreach/queue"' in _section(approvals, "draft-approvals")
    assert 'href="/outreach/queue"' in html[: html.index("<main")]


def test_flags_are_explained_in_words(browser: tuple[TestClient, str], ctx: AppContext) -> None:
    client, _ = browser
    drafted = _seed(ctx, 1)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = session.get(OutreachDraft, drafted.draft_ids[0])
        assert draft is not None
        draft.flags = ["possible_injection", "something_new"]
    html = client.get(QUEUE).text
    assert "looks like instructions" in html
    assert "Something new." in html


def test_approve_and_edit_then_approve_by_form(
    browser: tuple[TestClient, str], ctx: AppContext
) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 2)
    first, second = drafted.draft_ids
    done = _form(client, csrf, f"/outreach/drafts/{first}/approve")
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"{QUEUE}?done=approved")
    assert _draft(ctx, drafted, first).status == "approved"

    bad = _form(
        client, csrf, f"/outreach/drafts/{second}/approve", subject="Hello", message_body="   "
    )
    assert bad.status_code == 422
    assert "must not be empty" in _section(bad.text, f"error-{second}")
    assert _draft(ctx, drafted, second).status == "pending_approval"

    edited = _form(
        client,
        csrf,
        f"/outreach/drafts/{second}/approve",
        subject="See you there",
        message_body="Hi,\n\nShort.",
    )
    assert edited.status_code == 303
    draft = _draft(ctx, drafted, second)
    assert (draft.status, draft.subject, draft.message_body) == (
        "approved",
        "See you there",
        "Hi,\n\nShort.",
    )
    # Approved drafts move to "on their way", queued, with the undo button.
    html = client.get(QUEUE).text
    assert "0 waiting" in html
    way = html[html.index('id="on-their-way"') :]
    undo_form = way[way.index(f'action="/outreach/drafts/{second}/undo"') :]
    assert f'name="csrf_token" value="{csrf}"' in undo_form[: undo_form.index("</form>")]
    assert "left to take it back" in way
    # Without a CSRF token nothing happens.
    assert client.post(f"/outreach/drafts/{first}/undo", data={}).status_code == 403


def test_reject_needs_a_reason(browser: tuple[TestClient, str], ctx: AppContext) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 1)
    (draft_id,) = drafted.draft_ids
    blank = _form(client, csrf, f"/outreach/drafts/{draft_id}/reject", reason="  ")
    assert blank.status_code == 422
    assert "say why" in _section(blank.text, f"error-{draft_id}")
    assert _draft(ctx, drafted, draft_id).status == "pending_approval"
    done = _form(client, csrf, f"/outreach/drafts/{draft_id}/reject", reason="Wrong person")
    assert done.status_code == 303
    draft = _draft(ctx, drafted, draft_id)
    assert (draft.status, draft.rejection_reason) == ("rejected", "Wrong person")
    # Deciding twice is refused in words, on the page.
    again = _form(client, csrf, f"/outreach/drafts/{draft_id}/approve")
    assert again.status_code == 409
    assert "this one is rejected" in again.text


def test_regenerate_follows_the_instruction_and_stays_pending(
    browser: tuple[TestClient, str], ctx: AppContext, world: World
) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 2)
    first, second = drafted.draft_ids
    empty = _form(client, csrf, f"/outreach/drafts/{first}/regenerate", instruction=" ")
    assert empty.status_code == 422
    done = _form(client, csrf, f"/outreach/drafts/{first}/regenerate", instruction="shorter please")
    assert done.status_code == 303
    draft = _draft(ctx, drafted, first)
    assert draft.status == "pending_approval"
    assert draft.personalization_context["instruction"] == "shorter please"
    assert "Rewritten on your instruction" in client.get(QUEUE).text

    api = client.post(
        f"{DRAFTS}/{second}/regenerate",
        json={"instruction": "mention the keynote"},
        headers=world.teammate.auth,
    )
    assert api.status_code == 200, api.text
    assert api.json()["status"] == "pending_approval"
    assert set(api.json()) >= {"id", "contactId", "claims", "flags", "messageBody"}
    blank = client.post(
        f"{DRAFTS}/{second}/regenerate", json={"instruction": ""}, headers=world.owner.auth
    )
    assert blank.status_code == 422


# --------------------------------------------------------------------------- bulk


def test_bulk_approve_by_form_and_api_with_one_bad_id(
    browser: tuple[TestClient, str], ctx: AppContext, world: World
) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 4)
    a, b, c, d = drafted.draft_ids
    nothing = _form(client, csrf, "/outreach/drafts/bulk-approve")
    assert nothing.status_code == 422
    done = _form(client, csrf, "/outreach/drafts/bulk-approve", draft_ids=[str(a), str(b)])
    assert done.status_code == 303
    assert done.headers["location"] == f"{QUEUE}?approved=2"
    assert "Approved 2 drafts." in client.get(done.headers["location"]).text
    assert {_draft(ctx, drafted, x).status for x in (a, b)} == {"approved"}

    # A form naming an approved draft approves the rest and says which one failed.
    mixed = _form(client, csrf, "/outreach/drafts/bulk-approve", draft_ids=[str(a), str(c)])
    assert mixed.status_code == 409
    assert "Approved 1 draft; 1 could not be." in mixed.text
    assert _draft(ctx, drafted, c).status == "approved"

    missing = uuid.uuid4()
    api = client.post(
        f"{DRAFTS}/bulk-approve",
        json={"draftIds": [str(d), str(missing)]},
        headers=world.teammate.auth,
    )
    assert api.status_code == 200, api.text
    body = api.json()
    assert body["approved"] == 1
    results = {r["draftId"]: r for r in body["results"]}
    assert results[str(d)] == {"draftId": str(d), "approved": True, "error": None}
    assert results[str(missing)]["approved"] is False
    assert "not found" in results[str(missing)]["error"]
    assert _draft(ctx, drafted, d).status == "approved"
    assert (
        client.post(f"{DRAFTS}/bulk-approve", json={"draftIds": []}, headers=world.owner.auth)
    ).status_code == 422


# --------------------------------------------------------------------------- after approval


def test_undo_within_the_delay_and_refused_once_the_send_started(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock, world: World
) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 2)
    first, second = drafted.draft_ids
    _approve_by_api(client, world, first, second)
    assert _sent_for(ctx, drafted, first).status == "queued"

    taken = _form(client, csrf, f"/outreach/drafts/{first}/undo")
    assert taken.status_code == 303
    assert _draft(ctx, drafted, first).status == "pending_approval"
    assert _send(ctx, drafted, first) is None

    # Past the undo delay the sender picks the other one up; it can no longer be taken back.
    clock.advance(timedelta(seconds=301))
    assert outbox_sender(ctx).claim_due() != []
    late = _form(client, csrf, f"/outreach/drafts/{second}/undo")
    assert late.status_code == 409
    assert "can no longer be taken back" in late.text
    api = client.post(f"{DRAFTS}/{second}/undo", headers=world.owner.auth)
    assert api.status_code == 409
    assert _draft(ctx, drafted, second).status == "approved"

    # The first one, approved again through the API, is taken back through the API.
    assert client.post(f"{DRAFTS}/{first}/approve", headers=world.owner.auth).status_code == 200
    undone = client.post(f"{DRAFTS}/{first}/undo", headers=world.teammate.auth)
    assert undone.status_code == 200, undone.text
    assert undone.json()["status"] == "pending_approval"


def test_sent_and_scheduled_list_and_api(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock, world: World
) -> None:
    client, _ = browser
    drafted = _seed(ctx, 2, config=OPEN_WINDOW)
    first, second = drafted.draft_ids
    _approve_by_api(client, world, first, second)
    # One goes out; the other is approved again later and waits.
    undone = client.post(f"{DRAFTS}/{second}/undo", headers=world.owner.auth)
    assert undone.status_code == 200
    assert drain(outbox_sender(ctx)) == 1
    clock.advance(timedelta(minutes=1))
    assert client.post(f"{DRAFTS}/{second}/approve", headers=world.owner.auth).status_code == 200

    listed = client.get("/api/outreach/sends", headers=world.teammate.auth)
    assert listed.status_code == 200
    data = listed.json()
    assert data["pagination"] == {"page": 1, "limit": 25, "total": 2}
    statuses = {s["draftId"]: s["status"] for s in data["sends"]}
    assert statuses == {str(first): "sent", str(second): "queued"}
    only_sent = client.get(
        "/api/outreach/sends", params={"status": "sent"}, headers=world.owner.auth
    ).json()
    assert [s["draftId"] for s in only_sent["sends"]] == [str(first)]
    assert only_sent["sends"][0]["sentAt"] is not None
    assert (
        client.get("/api/outreach/sends", params={"status": "nope"}, headers=world.owner.auth)
    ).status_code == 422

    page = client.get("/outreach/sends").text
    assert page.count('class="card send-card"') == 2
    assert 'data-send-status="sent"' in page
    assert 'data-send-status="queued"' in page
    assert f'action="/outreach/drafts/{second}/undo"' in page
    filtered = client.get("/outreach/sends", params={"status": "sent"}).text
    assert filtered.count('class="card send-card"') == 1


def test_linkedin_task_shows_text_and_profile_then_marked_sent(
    browser: tuple[TestClient, str], ctx: AppContext, world: World
) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 2)
    first, second = drafted.draft_ids
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        for i, draft_id in enumerate((first, second)):
            draft = session.get(OutreachDraft, draft_id)
            assert draft is not None
            draft.channel = "linkedin"
            draft.recipient = f"https://www.linkedin.com/in/person-{i}"
    _approve_by_api(client, world, first, second)
    assert _sent_for(ctx, drafted, first).status == "manual"

    html = client.get(QUEUE).text
    card = html[html.index(f'id="draft-{first}"') :]
    card = card[: card.index("</article>")]
    body = _draft(ctx, drafted, first).message_body
    assert 'class="copy-text" readonly' in card
    assert body.split("\n")[0] in card
    assert 'href="https://www.linkedin.com/in/person-0"' in card
    assert 'data-copy="copy-' in card
    assert "hidden" in card
    mark_form = card[card.index(f'action="/outreach/drafts/{first}/mark-sent"') :]
    assert f'name="csrf_token" value="{csrf}"' in mark_form[: mark_form.index("</form>")]

    marked = _form(client, csrf, f"/outreach/drafts/{first}/mark-sent")
    assert marked.status_code == 303
    assert _sent_for(ctx, drafted, first).status == "sent"
    again = _form(client, csrf, f"/outreach/drafts/{first}/mark-sent")
    assert again.status_code == 409

    api = client.post(f"{DRAFTS}/{second}/mark-sent", headers=world.teammate.auth)
    assert api.status_code == 200, api.text
    assert api.json()["status"] == "sent"
    assert api.json()["channel"] == "linkedin"
    assert client.post(f"{DRAFTS}/{second}/mark-sent", headers=world.owner.auth).status_code == 409


def _needs_review(ctx: AppContext, clock: ManualClock, drafted: Drafted) -> None:
    """Let the SMTP server hang up after the body: the outcome is unknown, and with no
    IMAP to look in Sent the send ends up needing a person's review."""
    sink = MailSink(drop_after_body=lambda _: True)
    with smtp_server(sink) as server:
        settings = ctx.settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": server.port, "smtp_security": "none"}
        )
        sender = Sender(
            factory=ctx.session_factory,
            clock=ctx.clock,
            settings=settings,
            transport=transport_from_settings(settings),
            worker="review-test",
        )
        drain(sender)
        clock.advance(timedelta(seconds=31))
        drain(sender)


def test_needs_review_is_resolved_from_the_page_and_the_api(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock, world: World
) -> None:
    client, csrf = browser
    drafted = _seed(ctx, 2, config=OPEN_WINDOW)
    first, second = drafted.draft_ids
    _approve_by_api(client, world, first, second)
    _needs_review(ctx, clock, drafted)
    one, two = _sent_for(ctx, drafted, first), _sent_for(ctx, drafted, second)
    assert (one.status, two.status) == ("needs_review", "needs_review")

    page = client.get("/outreach/sends", params={"status": "needs_review"}).text
    assert page.count('class="card send-card"') == 2
    assert f'action="/outreach/sends/{one.id}/resolve"' in page
    assert "It was sent" in page
    assert "Send again" in page
    assert "Cancel" in page
    wrong = _form(client, csrf, f"/outreach/sends/{one.id}/resolve", outcome="maybe")
    assert wrong.status_code == 422
    done = _form(client, csrf, f"/outreach/sends/{one.id}/resolve", outcome="sent")
    assert done.status_code == 303
    assert _sent_for(ctx, drafted, first).status == "sent"
    twice = _form(client, csrf, f"/outreach/sends/{one.id}/resolve", outcome="cancel")
    assert twice.status_code == 409

    api = client.post(
        f"/api/outreach/sends/{two.id}/resolve",
        json={"outcome": "resend"},
        headers=world.teammate.auth,
    )
    assert api.status_code == 200, api.text
    assert api.json()["status"] == "queued"
    bad = client.post(
        f"/api/outreach/sends/{two.id}/resolve", json={"outcome": "x"}, headers=world.owner.auth
    )
    assert bad.status_code == 422


# --------------------------------------------------------------------------- who may


def test_teammate_can_review_outsider_gets_404_and_sees_nothing(
    app: FastAPI, client: TestClient, ctx: AppContext, world: World
) -> None:
    drafted = _seed(ctx, 2)
    first, second = drafted.draft_ids
    teammate = TestClient(app)
    csrf = sign_in(teammate, world.teammate.email)
    html = teammate.get(QUEUE).text
    assert f'id="draft-{first}"' in html
    done = _form(teammate, csrf, f"/outreach/drafts/{first}/approve")
    assert done.status_code == 303

    outsider = TestClient(app)
    csrf = sign_in(outsider, world.outsider.email)
    page = outsider.get(QUEUE)
    assert page.status_code == 200
    assert str(first) not in page.text
    assert "Person 0" not in page.text
    assert "0 waiting" in page.text
    assert str(first) not in outsider.get("/outreach/sends").text
    for action, data in (
        ("approve", {}),
        ("reject", {"reason": "no"}),
        ("regenerate", {"instruction": "no"}),
        ("undo", {}),
        ("mark-sent", {}),
    ):
        response = _form(outsider, csrf, f"/outreach/drafts/{first}/{action}", **data)
        assert response.status_code == 404, action
    bulk = _form(outsider, csrf, "/outreach/drafts/bulk-approve", draft_ids=[str(second)])
    assert bulk.status_code == 409
    assert "not found" in bulk.text
    auth = world.outsider.auth
    assert client.post(f"{DRAFTS}/{second}/approve", headers=auth).status_code == 404
    assert client.post(f"{DRAFTS}/{first}/undo", headers=auth).status_code == 404
    assert client.post(f"{DRAFTS}/{second}/mark-sent", headers=auth).status_code == 404
    assert (
        client.post(f"{DRAFTS}/{second}/regenerate", json={"instruction": "x"}, headers=auth)
    ).status_code == 404
    outsider_bulk = client.post(
        f"{DRAFTS}/bulk-approve", json={"draftIds": [str(second)]}, headers=auth
    ).json()
    assert outsider_bulk["approved"] == 0
    assert client.get("/api/outreach/sends", headers=auth).json()["sends"] == []
    send = _sent_for(ctx, drafted, first)
    assert (
        client.post(
            f"/api/outreach/sends/{send.id}/resolve", json={"outcome": "cancel"}, headers=auth
        )
    ).status_code == 404
    assert (
        _form(outsider, csrf, f"/outreach/sends/{send.id}/resolve", outcome="cancel").status_code
        == 404
    )
    assert _draft(ctx, drafted, second).status == "pending_approval"
