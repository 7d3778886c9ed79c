"""The follow-up screens: the schedule by day, cancel, skip and reschedule (with the
follow-up rules refusing forbidden times), through pages and the API; who may do each.

Follow-ups are made the way the product makes them: a first message is approved and sent
from the owner's workspace, and the Follow-up agent plans its follow-ups when the Outreach
agent reports the send (pumps stepped by hand). Sent Monday 2 March 2026 09:00 UTC, so the
reminder is due Thursday 5 March 09:00 and the value-add Tuesday 10 March 09:00; the
event runs 1-2 April.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from cctest.outreach import OPEN_WINDOW, first_draft, seed_drafts, send_first_message, settle
from cctest.personas import World, sign_in
from commandcentre.agents.models import ActivityEntry, Agent
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.followups.models import FollowUp
from commandcentre.intel.models import Contact
from commandcentre.outreach.models import OutreachDraft
from commandcentre.workspaces.models import Workspace


@dataclass(frozen=True)
class Planned:
    workspace_id: uuid.UUID
    reminder: uuid.UUID
    value_add: uuid.UUID
    escalation: uuid.UUID
    subject: str


def plan_followups(ctx: AppContext) -> Planned:
    """A first message to Person 0, sent; its follow-ups planned by the Follow-up agent."""
    drafted = seed_drafts(ctx, 1, slug="acme", config=OPEN_WINDOW)
    subject = first_draft(ctx, drafted).subject
    send_first_message(ctx, drafted)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        rows = {f.followup_type: f.id for f in session.scalars(select(FollowUp))}
    assert set(rows) == {"reminder", "value_add", "escalation"}
    return Planned(
        drafted.workspace_id, rows["reminder"], rows["value_add"], rows["escalation"], subject
    )


def _row(ctx: AppContext, planned: Planned, followup_id: uuid.UUID) -> FollowUp:
    with workspace_session(ctx.session_factory, planned.workspace_id) as session:
        row = session.get(FollowUp, followup_id)
        assert row is not None
        session.expunge(row)
        return row


def _item(html: str, followup_id: uuid.UUID) -> str:
    start = html.index(f'id="followup-{followup_id}"')
    return html[start : html.index("</li>", start)]


def _days(html: str) -> list[str]:
    return re.findall(r'<h2 id="day-heading-[^"]+">([^<]+)</h2>', html)


@pytest.fixture
def browser(client: TestClient, world: World) -> tuple[TestClient, str]:
    """The owner, signed in: the client and the page CSRF token."""
    return client, sign_in(client, world.owner.email)


def _post(client: TestClient, csrf: str, path: str, **fields: str) -> tuple[int, str, str]:
    response = client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)
    return response.status_code, response.headers.get("location", ""), response.text


# --------------------------------------------------------------------------- the list


def test_follow_ups_are_listed_by_day_in_the_workspace_time_zone(
    browser: tuple[TestClient, str], ctx: AppContext
) -> None:
    client, _ = browser
    planned = plan_followups(ctx)
    with workspace_session(ctx.session_factory, planned.workspace_id) as session:
        session.execute(
            update(Workspace)
            .where(Workspace.id == planned.workspace_id)
            .values(timezone="Europe/Berlin")
        )
    html = client.get("/followups").text
    # Scheduled ones by default, each day once, in calendar order.
    assert _days(html) == [
        "Thursday 05 March 2026",
        "Tuesday 10 March 2026",
        "Friday 13 March 2026",
    ]
    reminder = _item(html, planned.reminder)
    # 09:00 UTC is 10:00 in Berlin in March (CET).
    assert "05 Mar 2026 10:00" in reminder
    assert "Reminder" in reminder
    assert "#1" in reminder
    assert "Person 0" in reminder
    assert planned.subject in reminder
    assert "Times in Europe/Berlin" in html
    # The move box holds the planned time, as wall time in the workspace's zone.
    assert 'value="2026-03-05T10:00"' in reminder
    for action in ("reschedule", "skip", "cancel"):
        assert f'action="/followups/{planned.reminder}/{action}"' in reminder
    assert "asks you what next" in _item(html, planned.escalation)
    # Filters: by type, by status, every status.
    only = client.get("/followups?status=all&followup_type=value_add").text
    assert _days(only) == ["Tuesday 10 March 2026"]
    assert client.get("/followups?status=executed").text.count('class="followup"') == 0
    assert 'id="no-followups"' in client.get("/followups?status=executed").text
    # Nonsense filters are read as the defaults, never as an error.
    odd = client.get("/followups?status=nope&followup_type=%00&page=x")
    assert odd.status_code == 200
    assert _days(odd.text) == _days(html)
    assert 'href="/followups"' in html[: html.index("<main")]


def test_cancel_skip_and_reschedule_from_the_page(
    browser: tuple[TestClient, str], ctx: AppContext
) -> None:
    client, csrf = browser
    planned = plan_followups(ctx)
    base = f"/followups/{planned.reminder}"

    # Cancelling needs a reason; the refusal sits next to the follow-up, nothing changes.
    code, _, html = _post(client, csrf, f"{base}/cancel", reason="  ")
    assert code == 422
    assert "Say why the follow-up is cancelled" in _item(html, planned.reminder)
    assert _row(ctx, planned, planned.reminder).status == "scheduled"

    code, where, _ = _post(
        client, csrf, f"{base}/cancel", reason="met her at the booth", status="all", page="1"
    )
    assert code == 303
    assert where.startswith("/followups?status=all&followup_type=&done=cancelled")
    row = _row(ctx, planned, planned.reminder)
    assert (row.status, row.cancel_reason) == ("cancelled", "met her at the booth")
    # The later follow-ups were not asked about, so they stand.
    assert _row(ctx, planned, planned.value_add).status == "scheduled"
    listed = client.get(where).text
    assert "Cancelled: your reason is kept" in listed
    assert "met her at the booth" in _item(listed, planned.reminder)
    assert f'action="{base}/cancel"' not in listed

    # Only a scheduled follow-up can change: a second decision is a conflict, said plainly.
    code, _, html = _post(client, csrf, f"{base}/skip", status="all")
    assert code == 409
    assert "already cancelled" in _item(html, planned.reminder)

    code, _, _ = _post(client, csrf, f"/followups/{planned.value_add}/skip")
    assert code == 303
    skipped = _row(ctx, planned, planned.value_add)
    assert (skipped.status, skipped.cancel_reason) == ("skipped", "skipped by hand")
    assert "skipped by hand" in client.get("/followups?status=skipped").text

    with workspace_session(ctx.session_factory, planned.workspace_id) as session:
        logged = session.scalars(
            select(ActivityEntry.activity_type).where(ActivityEntry.entity_type == "followup")
        ).all()
    assert sorted(logged) == ["followup_cancelled", "followup_skipped"]


def test_cancelling_the_whole_sequence(browser: tuple[TestClient, str], ctx: AppContext) -> None:
    client, csrf = browser
    planned = plan_followups(ctx)
    code, _, _ = _post(
        client,
        csrf,
        f"/followups/{planned.reminder}/cancel",
        reason="wrong person",
        whole_sequence="true",
    )
    assert code == 303
    for followup_id in (planned.reminder, planned.value_add, planned.escalation):
        assert _row(ctx, planned, followup_id).status == "cancelled"


def test_reschedule_keeps_to_the_follow_up_rules(
    browser: tuple[TestClient, str], ctx: AppContext
) -> None:
    client, csrf = browser
    planned = plan_followups(ctx)
    path = f"/followups/{planned.reminder}/reschedule"

    # A Saturday: refused with the rule, and the next allowed time is offered in the box.
    code, _, html = _post(client, csrf, path, scheduled_at="2026-03-07T10:00")
    assert code == 422
    item = _item(html, planned.reminder)
    assert "outside business hours or on a weekend" in item
    assert "The next allowed time is Mon 09 Mar 2026 09:00 (UTC)" in item
    assert 'value="2026-03-09T09:00"' in item
    # The day before the event: no regular follow-up is allowed from then on.
    code, _, html = _post(client, csrf, path, scheduled_at="2026-03-31T10:00")
    assert code == 422
    item = _item(html, planned.reminder)
    assert "never the day before the event" in item
    assert "No allowed time is left for this follow-up" in item
    assert 'value="2026-03-31T10:00"' in item  # what was typed, kept
    # The past, and what is not a time at all.
    for typed, words in (
        ("2026-03-01T10:00", "must be in the future"),
        ("next tuesday", "Enter a date and time"),
        ("0001-01-01T00:00", "within a year"),
        ("2026-03-06T10:00+02:00", "without a time zone"),
    ):
        code, _, html = _post(client, csrf, path, scheduled_at=typed)
        assert code == 422, typed
        assert words in _item(html, planned.reminder), typed
    assert _row(ctx, planned, planned.reminder).scheduled_at.isoformat() == (
        "2026-03-05T09:00:00+00:00"
    )

    code, _, _ = _post(client, csrf, path, scheduled_at="2026-03-06T11:30")
    assert code == 303
    moved = _row(ctx, planned, planned.reminder)
    assert moved.scheduled_at.isoformat() == "2026-03-06T11:30:00+00:00"
    assert moved.status == "scheduled"
    assert moved.claimed_by is None
    with workspace_session(ctx.session_factory, planned.workspace_id) as session:
        entry = session.scalars(
            select(ActivityEntry).where(ActivityEntry.activity_type == "followup_rescheduled")
        ).one()
    assert entry.details["after"] == "2026-03-06T11:30:00+00:00"
    assert "Fri 06 Mar 2026 11:30 (UTC)" in entry.description


def test_forms_need_the_csrf_token(browser: tuple[TestClient, str], ctx: AppContext) -> None:
    client, _ = browser
    planned = plan_followups(ctx)
    response = client.post(f"/followups/{planned.reminder}/skip", data={"csrf_token": "wrong"})
    assert response.status_code == 403
    assert _row(ctx, planned, planned.reminder).status == "scheduled"


# --------------------------------------------------------------------------- the API


def test_api_lists_pages_and_filters(client: TestClient, world: World, ctx: AppContext) -> None:
    planned = plan_followups(ctx)
    auth = world.owner.auth
    body = client.get("/api/followups?limit=2", headers=auth).json()
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3}
    first = body["followUps"][0]
    assert first["id"] == str(planned.reminder)
    assert first["followupType"] == "reminder"
    assert first["followupNumber"] == 1
    assert first["status"] == "scheduled"
    assert first["contactName"] == "Person 0"
    assert first["originalSubject"] == planned.subject
    assert first["scheduledAt"].startswith("2026-03-05T09:00:00")
    second_page = client.get("/api/followups?limit=2&page=2", headers=auth).json()
    assert [f["followupType"] for f in second_page["followUps"]] == ["escalation"]
    only = client.get("/api/followups?followup_type=value_add", headers=auth).json()
    assert [f["id"] for f in only["followUps"]] == [str(planned.value_add)]
    assert client.get("/api/followups?status=nope", headers=auth).status_code == 422


def test_api_cancel_skip_and_reschedule(client: TestClient, world: World, ctx: AppContext) -> None:
    planned = plan_followups(ctx)
    auth = world.teammate.auth  # a teammate may manage the schedule too
    base = "/api/followups"

    refused = client.post(
        f"{base}/{planned.reminder}/reschedule",
        json={"scheduledAt": "2026-03-07T10:00:00+00:00"},
        headers=auth,
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "scheduledAt"
    assert "Mon 09 Mar 2026 09:00" in refused.json()["detail"]
    naive = client.post(
        f"{base}/{planned.reminder}/reschedule",
        json={"scheduledAt": "2026-03-06T10:00:00"},
        headers=auth,
    )
    assert naive.status_code == 422
    moved = client.post(
        f"{base}/{planned.reminder}/reschedule",
        json={"scheduledAt": "2026-03-06T12:00:00+01:00"},
        headers=auth,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["scheduledAt"].startswith("2026-03-06T11:00:00")

    skipped = client.post(f"{base}/{planned.reminder}/skip", headers=auth)
    assert skipped.status_code == 200
    assert skipped.json()["status"] == "skipped"
    again = client.post(f"{base}/{planned.reminder}/skip", headers=auth)
    assert again.status_code == 409

    assert (
        client.post(f"{base}/{planned.value_add}/cancel", json={}, headers=auth).status_code == 422
    )
    cancelled = client.post(
        f"{base}/{planned.value_add}/cancel",
        json={"reason": "they moved on", "wholeSequence": True},
        headers=auth,
    )
    assert cancelled.status_code == 200
    assert [
        (f["followupType"], f["status"], f["cancelReason"]) for f in cancelled.json()["cancelled"]
    ] == [
        ("value_add", "cancelled", "they moved on"),
        ("escalation", "cancelled", "they moved on"),
    ]
    assert client.post(f"{base}/{uuid.uuid4()}/skip", headers=auth).status_code == 404


# --------------------------------------------------------------------------- who may


def test_outsiders_see_nothing_and_touch_nothing(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext
) -> None:
    planned = plan_followups(ctx)
    api = TestClient(app, headers=world.outsider.auth)
    assert api.get("/api/followups").json()["followUps"] == []
    assert api.post(f"/api/followups/{planned.reminder}/skip").status_code == 404
    assert (
        api.post(
            f"/api/followups/{planned.reminder}/cancel", json={"reason": "mine now"}
        ).status_code
        == 404
    )
    assert (
        api.post(
            f"/api/followups/{planned.reminder}/reschedule",
            json={"scheduledAt": "2026-03-06T11:00:00+00:00"},
        ).status_code
        == 404
    )
    browser = TestClient(app)
    csrf = sign_in(browser, world.outsider.email)
    listed = browser.get("/followups?status=all").text
    assert "Person 0" not in listed
    assert 'id="no-followups"' in listed
    for action, fields in (
        ("skip", {}),
        ("cancel", {"reason": "mine now"}),
        ("reschedule", {"scheduled_at": "2026-03-06T11:00"}),
    ):
        code, _, _ = _post(browser, csrf, f"/followups/{planned.reminder}/{action}", **fields)
        assert code == 404, action
    row = _row(ctx, planned, planned.reminder)
    assert (row.status, row.scheduled_at.isoformat()) == ("scheduled", "2026-03-05T09:00:00+00:00")


def test_a_teammate_uses_the_page(
    app: FastAPI, client: TestClient, world: World, ctx: AppContext
) -> None:
    planned = plan_followups(ctx)
    csrf = sign_in(client, world.teammate.email)
    assert "Person 0" in client.get("/followups").text
    code, _, _ = _post(client, csrf, f"/followups/{planned.escalation}/skip")
    assert code == 303
    assert _row(ctx, planned, planned.escalation).status == "skipped"


# --------------------------------------------------------------------------- escalations


def test_an_escalation_reads_as_a_recommendation_with_three_choices(
    browser: tuple[TestClient, str], ctx: AppContext, clock: ManualClock
) -> None:
    client, csrf = browser
    drafted = seed_drafts(ctx, 1, slug="acme", config=OPEN_WINDOW)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        followup = session.get(Agent, drafted.seeded.agents["followup"])
        assert followup is not None
        followup.config = {**followup.config, "autoApprove": True}
        session.execute(update(Contact).values(linkedin_url="https://www.linkedin.com/in/p0"))
    pumps = send_first_message(ctx, drafted)
    for _ in range(4):  # every follow-up goes out unanswered, then the agent asks
        clock.advance(timedelta(days=3))
        settle(pumps)
    html = client.get("/approvals").text
    start = html.index('data-escalation="followup"')
    card = html[html.rindex("<article", 0, start) : html.index("</article>", start)]
    assert "Recommended:</strong> Message Person 0 on LinkedIn instead of email" in card
    assert "Every planned follow-up went out and none was answered" in card
    assert "Everything that happened with this contact" in card
    for choice in ("Accept the move", "Stop", "Review by hand"):
        assert f">{choice}</button>" in card
    approval_id = re.search(r'action="/approvals/([^/]+)/decide"', card)
    assert approval_id
    code, where, _ = _post(
        client, csrf, f"/approvals/{approval_id.group(1)}/decide", choice="accept the move"
    )
    assert (code, where) == (303, "/approvals?done=decided")
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        linkedin = session.scalars(
            select(OutreachDraft).where(OutreachDraft.channel == "linkedin")
        ).one()
    assert linkedin.status == "pending_approval"
