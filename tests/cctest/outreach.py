"""Approved outreach ready to send: a workspace, reachable contacts and drafts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from cctest.runtime import Seeded, seed_opportunity
from commandcentre.agents.base import AgentContext
from commandcentre.agents.models import Agent, AgentMessage
from commandcentre.agents.pumps import Pumps
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.followups.agent import FollowupAgent
from commandcentre.followups.models import FollowUp
from commandcentre.intel.models import Contact
from commandcentre.llm.offline import OfflineWriter
from commandcentre.outreach import drafts, review
from commandcentre.outreach.dispatch import Sender
from commandcentre.outreach.models import OutreachDraft
from commandcentre.outreach.transport import transport_from_settings

# Always open, no undo wait: tests that are not about timing send at once.
OPEN_WINDOW: dict[str, Any] = {"businessHoursOnly": False, "undoDelaySeconds": 0}


@dataclass(frozen=True)
class Drafted:
    seeded: Seeded
    draft_ids: list[uuid.UUID]

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.seeded.workspace_id


def seed_drafts(
    ctx: AppContext,
    people: int,
    *,
    slug: str = "sending",
    config: dict[str, Any] | None = None,
    approve: bool = False,
    keep_suggested_time: bool = False,
) -> Drafted:
    """``people`` contacts with email addresses and one pending draft each, optionally
    approved (by no user, as an auto-approve rule would)."""
    seeded = seed_opportunity(ctx, slug=slug, people=people)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        for i, contact in enumerate(session.scalars(select(Contact).order_by(Contact.full_name))):
            contact.email = f"person{i}@helix.example"
        agent = session.get(Agent, seeded.agents["outreach"])
        assert agent is not None
        agent.config = {**agent.config, **(config if config is not None else OPEN_WINDOW)}
        session.flush()
        made = drafts.create_drafts(
            session=session,
            clock=ctx.clock,
            agent=agent,
            opportunity_id=seeded.opportunity_id,
            contact_ids=None,
            writer=OfflineWriter(),
            sender_name="The Acme team",
            sender_company="Acme",
        )
        ids = [d.id for d in made]
        if not keep_suggested_time:
            # Most tests are not about timing: send as soon as the approval allows.
            for draft in made:
                draft.suggested_send_at = None
        if approve:
            for draft in made:
                review.approve(session, ctx.clock, draft.id, None)
    return Drafted(seeded, ids)


def outbox_sender(ctx: AppContext, worker: str = "sender") -> Sender:
    return Sender(
        factory=ctx.session_factory,
        clock=ctx.clock,
        settings=ctx.settings,
        transport=transport_from_settings(ctx.settings),
        worker=worker,
    )


def drain(sender: Sender, rounds: int = 50) -> int:
    """Send and reconcile until nothing more is due now."""
    total = 0
    for _ in range(rounds):
        done = sender.process() + sender.reconcile()
        total += done
        if not done:
            return total
    return total


def second_draft(ctx: AppContext, drafted: Drafted, status: str) -> uuid.UUID:
    """Another first message to the first draft's contact (as for a second event)."""
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        original = session.get(OutreachDraft, drafted.draft_ids[0])
        assert original is not None
        second = OutreachDraft(
            agent_id=original.agent_id,
            contact_id=original.contact_id,
            opportunity_id=original.opportunity_id,
            channel="email",
            recipient=original.recipient,
            subject="Another event",
            message_body="Hello again",
            status=status,
            created_at=ctx.clock.now(),
            updated_at=ctx.clock.now(),
        )
        session.add(second)
        session.flush()
        return second.id


def first_draft(ctx: AppContext, drafted: Drafted) -> OutreachDraft:
    """The first draft as stored now, detached so its fields stay readable."""
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = session.get(OutreachDraft, drafted.draft_ids[0])
        assert draft is not None
        session.expunge(draft)
        return draft


def outbox_pumps(ctx: AppContext) -> Pumps:
    """Every pump a worker runs, stepped by hand, with email written to the outbox."""
    return Pumps(factory=ctx.session_factory, clock=ctx.clock, worker="w", sends=outbox_sender(ctx))


def settle(pumps: Pumps, rounds: int = 10) -> None:
    """Step every pump until none has anything left to do now."""
    for _ in range(rounds):
        done = (
            pumps.process_messages()
            + pumps.process_tasks()
            + pumps.process_followups()
            + pumps.process_sends()
        )
        if not done:
            return


def send_first_message(ctx: AppContext, drafted: Drafted) -> Pumps:
    """Approve the first draft (by no user) and settle the pumps: it is sent, and the
    Follow-up agent plans what follows. The pumps, to step on as the clock moves."""
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        review.approve(session, ctx.clock, drafted.draft_ids[0], None)
    pumps = outbox_pumps(ctx)
    settle(pumps)
    return pumps


def refuse_writes_for(monkeypatch: pytest.MonkeyPatch, poisoned: set[str]) -> None:
    """The Follow-up agent handles the notices about these drafts as usual, then adds a row
    the database refuses (when it is written, not when it is made)."""
    original = FollowupAgent.handle_message

    def handle(self: FollowupAgent, ctx: AgentContext, message: AgentMessage) -> None:
        original(self, ctx, message)
        if message.payload.get("originalOutreachId") in poisoned:
            ctx.session.add(
                FollowUp(
                    agent_id=ctx.agent.id,
                    contact_id=uuid.uuid4(),
                    followup_type="not-a-type",
                    scheduled_at=ctx.clock.now(),
                )
            )

    monkeypatch.setattr(FollowupAgent, "handle_message", handle)
