"""The suppression list: normalising, idempotent adds, matching and its use in drafting."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from cctest.runtime import seed_opportunity
from commandcentre.agents import bus
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.intel.models import Contact
from commandcentre.llm.offline import OfflineWriter
from commandcentre.outreach import drafts, review, suppression
from commandcentre.outreach.models import OutreachDraft


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("email", "  Dana@Helix.Example ", "dana@helix.example"),
        ("email", "a.b+tag@sub.helix.example.", "a.b+tag@sub.helix.example"),
        ("domain", "@Helix.Example", "helix.example"),
        ("domain", "sub.helix.example.", "sub.helix.example"),
    ],
)
def test_normalise(kind: str, value: str, stored: str) -> None:
    assert suppression.normalise(kind, value) == stored


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("email", "no-at-sign", "value"),
        ("email", "two words@x.example", "value"),
        ("email", "a@nodot", "value"),
        ("domain", "dana@helix.example", "value"),
        ("domain", "-bad-.example", "value"),
        ("phone", "123", "kind"),
    ],
)
def test_normalise_rejects(kind: str, value: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        suppression.normalise(kind, value)
    assert raised.value.field == field


def _workspace(ctx: AppContext) -> uuid.UUID:
    return seed_opportunity(ctx, slug=f"sup-{uuid.uuid4().hex[:8]}").workspace_id


def test_add_is_idempotent_and_keeps_the_first_reason(ctx: AppContext) -> None:
    ws = _workspace(ctx)
    with workspace_session(ctx.session_factory, ws) as s:
        first = suppression.add(s, ctx.clock, "email", "Dana@Helix.example", "unsubscribe")
        again = suppression.add(s, ctx.clock, "email", "dana@helix.example ", "manual", "x")
        assert again.id == first.id
        assert again.reason == "unsubscribe"
        assert [r.value for r in suppression.list_(s)] == ["dana@helix.example"]
        with pytest.raises(InvalidInput):
            suppression.add(s, ctx.clock, "email", "dana@helix.example", "because")


def test_is_suppressed_matches_address_or_domain(ctx: AppContext, clock: ManualClock) -> None:
    ws = _workspace(ctx)
    other = _workspace(ctx)
    with workspace_session(ctx.session_factory, ws) as s:
        assert suppression.is_suppressed(s, "dana@helix.example") is None
        by_domain = suppression.add(s, clock, "domain", "helix.example", "complaint")
        by_email = suppression.add(s, clock, "email", "dana@helix.example", "bounce")
        assert suppression.is_suppressed(s, "DANA@helix.example") is by_email
        assert suppression.is_suppressed(s, "sam@helix.example") is by_domain
        # A subdomain is another domain: only exact entries block.
        assert suppression.is_suppressed(s, "sam@eu.helix.example") is None
        assert suppression.is_suppressed(s, "") is None
        suppression_id, domain_id = by_email.id, by_domain.id
    with workspace_session(ctx.session_factory, other) as s:
        assert suppression.is_suppressed(s, "dana@helix.example") is None
        with pytest.raises(NotFound):
            suppression.remove(s, suppression_id)
    with workspace_session(ctx.session_factory, ws) as s:
        suppression.remove(s, suppression_id)
        left = suppression.is_suppressed(s, "dana@helix.example")
        assert left is not None
        assert left.id == domain_id
        assert [r.kind for r in suppression.list_(s)] == ["domain"]


def test_drafting_skips_and_approval_refuses_suppressed_people(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx, slug=f"sup-{uuid.uuid4().hex[:8]}")
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        people = list(s.scalars(select(Contact).order_by(Contact.full_name)))
        for i, person in enumerate(people):
            person.email = f"person{i}@helix.example"
        suppression.add(s, ctx.clock, "email", "PERSON0@helix.example", "unsubscribe")
        agent = bus.agent_by_type(session=s, agent_type="outreach")
        made = drafts.create_drafts(
            session=s,
            clock=ctx.clock,
            agent=agent,
            opportunity_id=seeded.opportunity_id,
            contact_ids=None,
            writer=OfflineWriter(),
            sender_name="Sam",
            sender_company="Acme",
        )
        assert sorted(d.recipient for d in made) == [
            "person1@helix.example",
            "person2@helix.example",
        ]
        # Suppressed after drafting: the approval is the last human gate before sending.
        suppression.add(s, ctx.clock, "domain", "helix.example", "complaint")
        with pytest.raises(Conflict) as raised:
            review.approve(s, ctx.clock, made[0].id, None)
        assert "complaint" in raised.value.message
        draft = s.get(OutreachDraft, made[0].id)
        assert draft is not None
        assert draft.status == "pending_approval"
