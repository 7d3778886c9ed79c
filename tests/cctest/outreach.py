"""Approved outreach ready to send: a workspace, reachable contacts and drafts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from cctest.runtime import Seeded, seed_opportunity
from commandcentre.agents.models import Agent
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.intel.models import Contact
from commandcentre.llm.offline import OfflineWriter
from commandcentre.outreach import drafts, review
from commandcentre.outreach.dispatch import Sender
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
