"""When every follow-up went unanswered: ask the user, with a recommended next move.

Moves, most personal first: LinkedIn instead of email (same person, other channel), a
meeting at the next event where this person appears, or another contact at the same
account. The user accepts the move, stops, or takes it from here by hand.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity, tasks
from commandcentre.agents.bus import Bus
from commandcentre.agents.models import Agent, Approval
from commandcentre.clock import Clock
from commandcentre.intel.models import Appearance, Contact, Event, Opportunity
from commandcentre.outreach import pacing
from commandcentre.outreach.models import OutreachDraft

KIND = "followup_escalation"
ACCEPT, STOP, BY_HAND = "accept the move", "stop", "review by hand"
CHOICES = [ACCEPT, STOP, BY_HAND]


def _next_event(session: Session, contact: Contact, after: Event | None) -> dict[str, Any] | None:
    stmt = (
        select(Event, Opportunity.id)
        .join(Appearance, Appearance.event_id == Event.id)
        .outerjoin(Opportunity, Opportunity.event_id == Event.id)
        .where(Appearance.contact_id == contact.id, Event.start_date.is_not(None))
        .order_by(Event.start_date)
    )
    if after is not None and after.start_date is not None:
        stmt = stmt.where(Event.start_date > after.start_date, Event.id != after.id)
    row = session.execute(stmt.limit(1)).first()
    if row is None:
        return None
    event, opportunity_id = row
    return {
        "move": "next_event",
        "text": f"Ask {contact.full_name} for a meeting at {event.name} "
        f"({event.start_date.isoformat() if event.start_date else 'date unknown'})",
        "eventId": str(event.id),
        "opportunityId": str(opportunity_id) if opportunity_id else None,
    }


def _colleague(session: Session, contact: Contact) -> dict[str, Any] | None:
    if contact.account_id is None:
        return None
    other = session.scalars(
        select(Contact)
        .where(
            Contact.account_id == contact.account_id,
            Contact.id != contact.id,
            Contact.outreach_status == "new",
            Contact.email.is_not(None),
        )
        .order_by(Contact.full_name)
        .limit(1)
    ).first()
    if other is None:
        return None
    return {
        "move": "other_contact",
        "text": f"Write to {other.full_name}"
        + (f" ({other.title})" if other.title else "")
        + " at the same account instead",
        "contactId": str(other.id),
    }


def recommend(session: Session, contact: Contact, draft: OutreachDraft) -> list[dict[str, Any]]:
    """Possible next moves, the recommended one first."""
    moves: list[dict[str, Any]] = []
    if draft.channel == "email" and contact.linkedin_url:
        moves.append(
            {
                "move": "linkedin",
                "text": f"Message {contact.full_name} on LinkedIn instead of email",
                "profile": contact.linkedin_url,
            }
        )
    opportunity = session.get(Opportunity, draft.opportunity_id) if draft.opportunity_id else None
    event = session.get(Event, opportunity.event_id) if opportunity else None
    for found in (_next_event(session, contact, event), _colleague(session, contact)):
        if found is not None:
            moves.append(found)
    return moves


def escalate(
    session: Session, clock: Clock, agent: Agent, contact: Contact, draft: OutreachDraft
) -> None:
    moves = recommend(session, contact, draft)
    best = moves[0] if moves else None
    subject = f"No answer from {contact.full_name} after every follow-up" + (
        f": {best['text']}?" if best else ""
    )
    payload = {
        "kind": KIND,
        "contactId": str(contact.id),
        "originalOutreachId": str(draft.id),
        "opportunityId": str(draft.opportunity_id) if draft.opportunity_id else None,
        "recommendation": best,
        "alternatives": moves[1:],
        "reasoning": "Every planned follow-up went out and none was answered; repeating "
        "the same channel would pester. " + (best["text"] if best else "No other route is known."),
    }
    Bus(session=session, clock=clock, sender=agent).escalate(subject, payload, CHOICES)


def apply_choice(session: Session, clock: Clock, approval: Approval, choice: str) -> None:
    """Carry out the user's decision on a follow-up escalation."""
    context = approval.context
    if context.get("kind") != KIND:
        return
    if choice == STOP:
        _stop(session, clock, context)
        return
    if choice != ACCEPT:
        return
    move = context.get("recommendation") or {}
    draft_id = context.get("originalOutreachId")
    draft = session.get(OutreachDraft, uuid.UUID(str(draft_id))) if draft_id else None
    outreach = pacing.outreach_agent(session)
    if draft is None or outreach is None:
        return
    kind = move.get("move")
    if kind == "linkedin":
        _linkedin_draft(session, clock, draft, str(move.get("profile", "")))
    elif kind in ("other_contact", "next_event"):
        opportunity = move.get("opportunityId") or (
            str(draft.opportunity_id) if draft.opportunity_id else None
        )
        if opportunity is None:
            return
        contact = move.get("contactId") or str(draft.contact_id)
        tasks.assign(
            session=session,
            clock=clock,
            agent=outreach,
            task_type="draft_outreach",
            priority="high",
            input_data={"opportunityId": opportunity, "contactIds": [contact]},
            created_by=approval.decided_by,
        )


def _stop(session: Session, clock: Clock, context: dict[str, Any]) -> None:
    """Nothing more goes to this person from this sequence: pending follow-ups end and
    drafts still waiting for review are withdrawn."""
    contact_id = context.get("contactId")
    if not contact_id:
        return
    contact = uuid.UUID(str(contact_id))
    # Imported here: execute imports this module for escalations.
    from commandcentre.followups.execute import cancel_for_contact

    cancel_for_contact(session, clock, [contact], "stopped after the escalation")
    session.execute(
        update(OutreachDraft)
        .where(OutreachDraft.contact_id == contact, OutreachDraft.status == "pending_approval")
        .values(
            status="rejected",
            rejection_reason="stopped after the escalation",
            updated_at=clock.now(),
        )
        .execution_options(synchronize_session=False)
    )


def _linkedin_draft(session: Session, clock: Clock, draft: OutreachDraft, profile: str) -> None:
    if not profile:
        return
    now = clock.now()
    linkedin = OutreachDraft(
        agent_id=draft.agent_id,
        contact_id=draft.contact_id,
        opportunity_id=draft.opportunity_id,
        parent_draft_id=draft.id,
        channel="linkedin",
        recipient=profile,
        subject=draft.subject,
        message_body=draft.message_body,
        personalization_context={
            **(draft.personalization_context or {}),
            "reasoning": "Email went unanswered; the same message on LinkedIn, as you chose.",
        },
        claims=list(draft.claims or []),
        flags=[],
        status="pending_approval",
        writer=draft.writer,
        created_at=now,
        updated_at=now,
    )
    session.add(linkedin)
    session.flush()
    activity.record(
        session=session,
        clock=clock,
        agent_id=draft.agent_id,
        activity_type="draft_created",
        description=f"Drafted a LinkedIn message to {profile} after email went unanswered",
        details={"parentDraftId": str(draft.id)},
        entity_type="outreach_draft",
        entity_id=linkedin.id,
    )
