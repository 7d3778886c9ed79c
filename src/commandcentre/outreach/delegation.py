"""Delegating an opportunity to the Outreach agent: what it would do, then asking it to.

The preview applies the same rules drafting applies (``drafts.create_drafts``), so what the
user is shown — who gets a message, on which channel, when, and who is skipped and why —
is what the agent will do when the task runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents import bus, tasks
from commandcentre.agents.models import Agent, AgentTask
from commandcentre.clock import Clock
from commandcentre.db.scoping import current_workspace
from commandcentre.errors import InvalidInput, NotFound
from commandcentre.intel.models import Contact, Event, Opportunity, OpportunityContact
from commandcentre.outreach import drafts, pacing, suppression
from commandcentre.outreach.models import OutreachDraft
from commandcentre.outreach.timing import resolve_zone, suggest_send_time
from commandcentre.planning.models import PlanningRecommendation
from commandcentre.workspaces.models import Workspace

# Recommendations that still speak for the opportunity (superseded ones were replaced).
CURRENT_RECOMMENDATION = ("pending", "accepted", "dismissed")


@dataclass(frozen=True, slots=True)
class Planned:
    """A contact the Outreach agent would write to."""

    contact: Contact
    channel: str
    recipient: str
    send_at: datetime
    timezone: str


@dataclass(frozen=True, slots=True)
class Skipped:
    contact: Contact
    reason: str


@dataclass(frozen=True, slots=True)
class Preview:
    opportunity: Opportunity
    agent: Agent | None
    recommendation: PlanningRecommendation | None
    planned: list[Planned]
    skipped: list[Skipped]

    @property
    def can_delegate(self) -> bool:
        return self.agent is not None and bool(self.planned)


def recommendation_for(
    session: Session, opportunity_id: uuid.UUID
) -> PlanningRecommendation | None:
    """Planning's current recommendation for the opportunity, newest first."""
    return session.scalars(
        select(PlanningRecommendation)
        .where(
            PlanningRecommendation.opportunity_id == opportunity_id,
            PlanningRecommendation.status.in_(CURRENT_RECOMMENDATION),
        )
        .order_by(PlanningRecommendation.created_at.desc(), PlanningRecommendation.id)
        .limit(1)
    ).first()


def _outreach_agent(session: Session) -> Agent | None:
    try:
        return bus.agent_by_type(session=session, agent_type="outreach")
    except NotFound:
        return None


def _skip_reason(session: Session, contact: Contact, drafted: set[uuid.UUID]) -> str | None:
    if contact.id in drafted:
        return "Already has a message drafted for this opportunity."
    if contact.outreach_status in drafts.SKIPPED_OUTREACH_STATUSES:
        return "Marked do not contact."
    route = drafts.channel_for(contact)
    if route is None:
        if contact.email and contact.email_status == "invalid":
            return "The email address is known to be invalid and there is no LinkedIn profile."
        return "No email address or LinkedIn profile on file."
    channel, recipient = route
    if channel == "email" and suppression.is_suppressed(session, recipient) is not None:
        return f"{recipient} is on the suppression list."
    return None


def preview(*, session: Session, clock: Clock, opportunity_id: uuid.UUID) -> Preview:
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise NotFound("There is no such opportunity.")
    event = session.get(Event, opportunity.event_id)
    workspace = session.get(Workspace, current_workspace(session))
    default_tz = workspace.timezone if workspace else "UTC"
    contacts = session.scalars(
        select(Contact)
        .join(OpportunityContact, OpportunityContact.contact_id == Contact.id)
        .where(OpportunityContact.opportunity_id == opportunity.id)
        .order_by(Contact.full_name, Contact.id)
    )
    drafted = set(
        session.scalars(
            select(OutreachDraft.contact_id).where(OutreachDraft.opportunity_id == opportunity.id)
        )
    )
    now = clock.now()
    hours = pacing.outreach_config(session, None).sending_hours
    planned: list[Planned] = []
    skipped: list[Skipped] = []
    seen: set[uuid.UUID] = set()
    for contact in contacts:
        if contact.id in seen:
            continue
        seen.add(contact.id)
        reason = _skip_reason(session, contact, drafted)
        route = drafts.channel_for(contact)
        if reason is not None or route is None:
            skipped.append(Skipped(contact, reason or "Not reachable."))
            continue
        zone = resolve_zone(contact.timezone, default_tz)
        planned.append(
            Planned(
                contact=contact,
                channel=route[0],
                recipient=route[1],
                send_at=suggest_send_time(
                    now=now,
                    event_start=event.start_date if event else None,
                    recipient_tz=contact.timezone,
                    business_hours=hours,
                    default_tz=default_tz,
                ),
                timezone=zone.key,
            )
        )
    return Preview(
        opportunity=opportunity,
        agent=_outreach_agent(session),
        recommendation=recommendation_for(session, opportunity.id),
        planned=planned,
        skipped=skipped,
    )


def delegate(
    *,
    session: Session,
    clock: Clock,
    opportunity_id: uuid.UUID,
    contact_ids: Sequence[uuid.UUID],
    user_id: uuid.UUID | None,
) -> AgentTask:
    """Assign a ``draft_outreach`` task for the chosen contacts the agent can reach."""
    found = preview(session=session, clock=clock, opportunity_id=opportunity_id)
    if found.agent is None:
        raise NotFound("this workspace has no outreach agent")
    reachable = {p.contact.id for p in found.planned}
    wanted = list(dict.fromkeys(contact_ids))
    if not wanted:
        raise InvalidInput("choose at least one person to write to", field="contact_ids")
    # Only people the preview offered: an id from elsewhere (or one skipped since the
    # page was drawn) would otherwise be written to without being shown first.
    unknown = [c for c in wanted if c not in reachable]
    if unknown:
        raise InvalidInput(
            "some of the chosen people cannot be written to any more; look again",
            field="contact_ids",
        )
    return tasks.assign(
        session=session,
        clock=clock,
        agent=found.agent,
        task_type="draft_outreach",
        priority="high",
        input_data={
            "opportunityId": str(opportunity_id),
            "contactIds": [str(c) for c in wanted],
        },
        created_by=user_id,
    )
