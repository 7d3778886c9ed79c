"""First-message drafts: grounded facts in, reviewed drafts out.

Code, never the writer, decides who a draft goes to and whether it may skip review: the
writer only sees the few facts a first message needs and returns text, claims and flags.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.agents.config import OutreachConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.scoping import current_workspace
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.intel.models import (
    Account,
    AccountIntel,
    Appearance,
    Contact,
    Event,
    EventSession,
    Opportunity,
    OpportunityContact,
)
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.types import Channel, DraftRequest, Fact, Writer
from commandcentre.llm.writer import draft_with_grounding
from commandcentre.outreach import review, suppression
from commandcentre.outreach.models import OutreachDraft
from commandcentre.outreach.timing import suggest_send_time
from commandcentre.workspaces.models import Workspace

FIRST_MESSAGE_ASK = "a short conversation at the event"
MAX_INSTRUCTION = 500
MAX_INTEL_FACTS = 2
# Fields whose text comes from the person or a scraped page, not from the workspace.
UNTRUSTED_FIELDS = frozenset({"contact.bio", "session.abstract"})
SKIPPED_OUTREACH_STATUSES = frozenset({"do_not_contact"})


def _fact(facts: list[Fact], field: str, value: str | None) -> None:
    # Blank values would only teach the writer to invent; leave the fact out instead.
    if value is not None and value.strip():
        facts.append(Fact(field=field, value=value.strip()))


def _talk(session: Session, contact: Contact, event_id: uuid.UUID) -> EventSession | None:
    return session.scalars(
        select(EventSession)
        .join(Appearance, Appearance.session_id == EventSession.id)
        .where(Appearance.contact_id == contact.id, Appearance.event_id == event_id)
        .order_by(EventSession.starts_at, EventSession.created_at)
        .limit(1)
    ).first()


def _account(session: Session, contact: Contact, opportunity: Opportunity) -> Account | None:
    # The account the opportunity was built on says why this person matters here.
    account_id = session.scalar(
        select(OpportunityContact.account_id).where(
            OpportunityContact.opportunity_id == opportunity.id,
            OpportunityContact.contact_id == contact.id,
        )
    )
    if account_id is not None:
        return session.get(Account, account_id)
    return contact.account


def facts_for(session: Session, contact: Contact, opportunity: Opportunity) -> list[Fact]:
    """Only the fields a first message needs about this one contact at this one event."""
    facts: list[Fact] = []
    _fact(facts, "contact.full_name", contact.full_name)
    _fact(facts, "contact.title", contact.title)
    _fact(facts, "contact.organisation", contact.organisation)
    event = session.get(Event, opportunity.event_id)
    talk = _talk(session, contact, opportunity.event_id)
    if talk is not None:
        _fact(facts, "session.title", talk.title)
        _fact(facts, "session.abstract", talk.abstract)
    if event is not None:
        _fact(facts, "event.name", event.name)
        _fact(facts, "event.start_date", event.start_date.isoformat() if event.start_date else None)
        _fact(facts, "event.city", event.city)
    account = _account(session, contact, opportunity)
    if account is not None:
        _fact(facts, "account.name", account.name)
        intel = session.scalars(
            select(AccountIntel)
            .where(AccountIntel.account_id == account.id)
            # Undated notes sort after dated ones on every backend.
            .order_by(
                AccountIntel.noted_on.is_(None),
                AccountIntel.noted_on.desc(),
                AccountIntel.created_at.desc(),
            )
            .limit(MAX_INTEL_FACTS)
        )
        for item in intel:
            _fact(facts, f"intel.{item.id}.title", item.title)
    if talk is None:
        # A bio is long, self-written text; it only earns its place when there is no talk.
        _fact(facts, "contact.bio", contact.bio)
    return facts


def channel_for(contact: Contact) -> tuple[Channel, str] | None:
    """The channel and recipient, chosen from stored data only."""
    if contact.email and contact.email.strip():
        if contact.email_status == "invalid":
            return None
        return "email", contact.email.strip()
    if contact.linkedin_url and contact.linkedin_url.strip():
        return "linkedin", contact.linkedin_url.strip()
    return None


def _contacts(
    session: Session, opportunity: Opportunity, contact_ids: Sequence[uuid.UUID] | None
) -> list[Contact]:
    if contact_ids is None:
        stmt = (
            select(Contact)
            .join(OpportunityContact, OpportunityContact.contact_id == Contact.id)
            .where(OpportunityContact.opportunity_id == opportunity.id)
        )
    else:
        stmt = select(Contact).where(Contact.id.in_(list(contact_ids)))
    return list(session.scalars(stmt.order_by(Contact.full_name, Contact.id)))


def create_drafts(
    *,
    session: Session,
    clock: Clock,
    agent: Agent,
    opportunity_id: uuid.UUID,
    contact_ids: Sequence[uuid.UUID] | None,
    writer: Writer,
    sender_name: str,
    sender_company: str,
    task_id: uuid.UUID | None = None,
) -> list[OutreachDraft]:
    """One first-message draft per reachable contact not yet drafted for this opportunity."""
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise NotFound("opportunity not found")
    config = OutreachConfig.model_validate(agent.config or {})
    workspace = session.get(Workspace, current_workspace(session))
    default_tz = workspace.timezone if workspace else "UTC"
    event = session.get(Event, opportunity.event_id)
    already = set(
        session.scalars(
            select(OutreachDraft.contact_id).where(OutreachDraft.opportunity_id == opportunity.id)
        )
    )
    now = clock.now()
    created: list[OutreachDraft] = []
    for contact in _contacts(session, opportunity, contact_ids):
        if contact.id in already or contact.outreach_status in SKIPPED_OUTREACH_STATUSES:
            continue
        route = channel_for(contact)
        if route is None:
            continue
        channel, recipient = route
        if channel == "email" and suppression.is_suppressed(session, recipient) is not None:
            continue
        facts = facts_for(session, contact, opportunity)
        request = DraftRequest(
            recipient_name=contact.full_name,
            recipient_first_name=contact.first_name or "",
            sender_name=sender_name,
            sender_company=sender_company,
            tone=config.tone,
            channel=channel,
            ask=FIRST_MESSAGE_ASK,
            facts=facts,
            untrusted_fields=set(UNTRUSTED_FIELDS),
        )
        result = draft_with_grounding(writer, request, fallback=OfflineWriter())
        flags = list(result.flags)
        draft = OutreachDraft(
            agent_id=agent.id,
            task_id=task_id,
            contact_id=contact.id,
            opportunity_id=opportunity.id,
            channel=channel,
            recipient=recipient,
            subject=result.subject,
            message_body=result.body,
            personalization_context={
                "facts": [f.field for f in facts],
                "reasoning": result.reasoning,
                "writer": result.writer,
            },
            claims=[c.model_dump() for c in result.claims],
            flags=flags,
            suggested_send_at=suggest_send_time(
                now=now,
                event_start=event.start_date if event else None,
                recipient_tz=contact.timezone,
                default_tz=default_tz,
            ),
            writer=result.writer,
            created_at=now,
            updated_at=now,
        )
        # Any flag (injection, fallback, regeneration) means a person must read it first.
        draft.status = "pending_approval"
        session.add(draft)
        session.flush()
        if config.autoApprove and not flags:
            review.mark_approved(session, clock, draft, user_id=None)
        already.add(contact.id)
        created.append(draft)
        activity.record(
            session=session,
            clock=clock,
            agent_id=agent.id,
            activity_type="draft_created",
            description=f"Drafted a {channel} message to {contact.full_name}"
            + (" (auto-approved)" if draft.status == "approved" else ""),
            details={"status": draft.status, "flags": flags, "writer": result.writer},
            task_id=task_id,
            entity_type="outreach_draft",
            entity_id=draft.id,
        )
    return created


def regenerate(
    session: Session,
    clock: Clock,
    draft_id: uuid.UUID,
    instruction: str,
    writer: Writer | None = None,
) -> OutreachDraft:
    """Write a pending draft again, following the user's instruction; it stays pending."""
    instruction = instruction.strip()
    if not instruction:
        raise InvalidInput("say what should change", field="instruction")
    if len(instruction) > MAX_INSTRUCTION:
        raise InvalidInput(
            f"keep the instruction under {MAX_INSTRUCTION} characters", field="instruction"
        )
    draft = session.get(OutreachDraft, draft_id)
    if draft is None:
        raise NotFound("draft not found")
    if draft.status != "pending_approval":
        raise Conflict("only a draft pending approval can be written again", field="status")
    contact = session.get(Contact, draft.contact_id)
    opportunity = session.get(Opportunity, draft.opportunity_id) if draft.opportunity_id else None
    if contact is None or opportunity is None:
        raise Conflict("the contact or opportunity of this draft no longer exists")
    agent = session.get(Agent, draft.agent_id) if draft.agent_id else None
    config = OutreachConfig.model_validate(agent.config if agent else {})
    workspace = session.get(Workspace, current_workspace(session))
    company = workspace.name.strip() if workspace and workspace.name.strip() else "our team"
    facts = facts_for(session, contact, opportunity)
    request = DraftRequest(
        recipient_name=contact.full_name,
        recipient_first_name=contact.first_name or "",
        sender_name=f"The {company} team",
        sender_company=company,
        tone=config.tone,
        channel=draft.channel,  # type: ignore[arg-type]
        ask=FIRST_MESSAGE_ASK,
        facts=facts,
        untrusted_fields=set(UNTRUSTED_FIELDS),
    )
    result = draft_with_grounding(writer or OfflineWriter(), request, fallback=OfflineWriter())
    now = clock.now()
    draft.subject = result.subject
    draft.message_body = result.body
    draft.claims = [c.model_dump() for c in result.claims]
    draft.flags = list(result.flags)
    draft.writer = result.writer
    draft.personalization_context = {
        **(draft.personalization_context or {}),
        "facts": [f.field for f in facts],
        "reasoning": result.reasoning,
        "writer": result.writer,
        "instruction": instruction,
    }
    draft.updated_at = now
    activity.record(
        session=session,
        clock=clock,
        agent_id=draft.agent_id,
        activity_type="draft_regenerated",
        description=f"Rewrote the {draft.channel} draft to {draft.recipient} as asked",
        details={"instruction": instruction, "writer": result.writer},
        entity_type="outreach_draft",
        entity_id=draft.id,
    )
    return draft
