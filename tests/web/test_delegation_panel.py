"""The Opportunity Delegation Panel: Planning's reasoning, a preview of what Outreach will
do (who, which channel, when, who is skipped and why) and one-click delegation."""

from __future__ import annotations

import re
import uuid
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cctest.personas import World, sign_in
from cctest.runtime import Seeded, run_until_idle, seed_opportunity
from commandcentre.agents.models import Agent, AgentTask
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.intel.models import Contact
from commandcentre.outreach import delegation, suppression
from commandcentre.outreach.models import OutreachDraft
from commandcentre.planning import recommendations


def _seed(ctx: AppContext) -> tuple[Seeded, dict[str, uuid.UUID]]:
    """Six people at one opportunity, each reachable (or not) for a different reason."""
    seeded = seed_opportunity(ctx, slug="acme", people=6)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        people = list(session.scalars(select(Contact).order_by(Contact.full_name)))
        ada, bo, cy, di, ed, flo = people
        ada.email, ada.timezone = "ada@helix.example", "America/New_York"
        bo.linkedin_url = "https://www.linkedin.com/in/bo"
        # cy: nothing on file
        di.email, di.outreach_status = "di@helix.example", "do_not_contact"
        ed.email = "ed@helix.example"
        suppression.add(
            session=session,
            clock=ctx.clock,
            kind="email",
            value="ed@helix.example",
            reason="unsubscribe",
        )
        flo.email, flo.email_status = "flo@helix.example", "invalid"
        names = {"ada": ada.id, "bo": bo.id, "cy": cy.id, "di": di.id, "ed": ed.id, "flo": flo.id}
        agent = session.get(Agent, seeded.agents["planning"])
        assert agent is not None
        recommendations.analyse(
            session=session, clock=ctx.clock, opportunity_id=seeded.opportunity_id, agent=agent
        )
    return seeded, names


def _panel(html: str) -> str:
    start = html.index('id="delegation"')
    return html[start : html.index("</section>", start)]


def test_preview_applies_the_drafting_rules(ctx: AppContext, clock: ManualClock) -> None:
    seeded, names = _seed(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        found = delegation.preview(
            session=session, clock=clock, opportunity_id=seeded.opportunity_id
        )
        planned = {p.contact.id: p for p in found.planned}
        skipped = {s.contact.id: s.reason for s in found.skipped}
    assert set(planned) == {names["ada"], names["bo"]}
    ada, bo = planned[names["ada"]], planned[names["bo"]]
    assert (ada.channel, ada.recipient, ada.timezone) == (
        "email",
        "ada@helix.example",
        "America/New_York",
    )
    assert (bo.channel, bo.timezone) == ("linkedin", "UTC")
    # Two days before the event, at the start of business hours in the recipient's zone.
    local = ada.send_at.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)
    assert "No email address or LinkedIn profile" in skipped[names["cy"]]
    assert "do not contact" in skipped[names["di"]]
    assert "suppression list" in skipped[names["ed"]]
    assert "invalid" in skipped[names["flo"]]
    assert found.recommendation is not None
    assert found.recommendation.reasoning.startswith("Discovery signal")


def test_panel_shows_reasoning_preview_and_delegates_the_chosen_people(
    client: TestClient, ctx: AppContext, world: World
) -> None:
    seeded, names = _seed(ctx)
    csrf = sign_in(client, world.owner.email)
    url = f"/opportunities/{seeded.opportunity_id}"
    html = client.get(url).text
    panel = _panel(html)
    assert "Planning recommends" in panel
    assert "Discovery signal" in panel
    assert "prioritise" in panel
    # Everyone reachable is ticked; skipped people are listed with the reason.
    boxes = re.findall(r'name="contact_ids" value="([^"]+)"[^>]*?(checked)?>', panel)
    assert {uuid.UUID(v) for v, _ in boxes} == {names["ada"], names["bo"]}
    assert all(checked for _, checked in boxes)
    assert "ada@helix.example" in panel
    assert "America/New_York" in panel
    assert "LinkedIn (you send it by hand)" in panel
    skipped = panel[panel.index('id="skipped"') :]
    assert "on the suppression list" in skipped
    assert "do not contact" in skipped
    assert f'action="{url}/delegate"' in panel

    none = client.post(f"{url}/delegate", data={"csrf_token": csrf})
    assert none.status_code == 422
    assert "choose at least one person" in _panel(none.text)
    sneaky = client.post(
        f"{url}/delegate", data={"csrf_token": csrf, "contact_ids": [str(names["ed"])]}
    )
    assert sneaky.status_code == 422
    assert "cannot be written to" in _panel(sneaky.text)
    no_csrf = client.post(f"{url}/delegate", data={"contact_ids": [str(names["ada"])]})
    assert no_csrf.status_code == 403
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        assert (
            session.scalars(select(AgentTask).where(AgentTask.task_type == "draft_outreach")).all()
            == []
        )

    done = client.post(
        f"{url}/delegate",
        data={"csrf_token": csrf, "contact_ids": [str(names["ada"])]},
        follow_redirects=False,
    )
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith(f"{url}?delegated=")
    assert location.endswith("#delegation")
    confirmed = _panel(client.get(location).text)
    assert "Delegated: the Outreach agent is drafting 1 message" in confirmed
    assert f'href="/agents/{seeded.agents["outreach"]}"' in confirmed
    assert 'href="/outreach/queue"' in confirmed
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        task = session.scalars(
            select(AgentTask).where(AgentTask.task_type == "draft_outreach")
        ).one()
        assert task.agent_id == seeded.agents["outreach"]
        assert task.input_data == {
            "opportunityId": str(seeded.opportunity_id),
            "contactIds": [str(names["ada"])],
        }
    run_until_idle(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        drafted = session.scalars(select(OutreachDraft)).all()
        assert [d.contact_id for d in drafted] == [names["ada"]]
    # Ada now has a draft, so the preview skips her; Bo is still offered.
    after = _panel(client.get(url).text)
    assert "Already has a message drafted" in after
    assert f'value="{names["bo"]}"' in after
    assert f'value="{names["ada"]}"' not in after


@pytest.mark.parametrize("who", ["teammate", "outsider"])
def test_who_may_delegate(
    app: FastAPI, client: TestClient, ctx: AppContext, world: World, who: str
) -> None:
    seeded, names = _seed(ctx)
    browser = TestClient(app)
    csrf = sign_in(browser, getattr(world, who).email)
    url = f"/opportunities/{seeded.opportunity_id}"
    page = browser.get(url)
    response = browser.post(
        f"{url}/delegate",
        data={"csrf_token": csrf, "contact_ids": [str(names["ada"])]},
        follow_redirects=False,
    )
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        tasks = session.scalars(
            select(AgentTask).where(AgentTask.task_type == "draft_outreach")
        ).all()
    if who == "teammate":
        assert page.status_code == 200
        assert response.status_code == 303
        assert len(tasks) == 1
    else:
        assert page.status_code == 404
        assert "Person 0" not in page.text
        assert response.status_code == 404
        assert tasks == []
