"""The approval queue as people read it: each draft with its context and send state.

Review decisions themselves live in ``review`` and ``sending``; this module only gathers
what a reviewer needs to decide well (who, where, when, why, and where each claim came
from) in a few queries per page, and lists sends for the "Sent & scheduled" view.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commandcentre.agents.models import Agent
from commandcentre.db.scoping import current_workspace
from commandcentre.intel.models import Contact, Event, Opportunity
from commandcentre.outreach import drafts as drafting
from commandcentre.outreach.models import SEND_STATUSES, OutreachDraft, Send
from commandcentre.outreach.timing import resolve_zone
from commandcentre.pagination import Page, paginate
from commandcentre.workspaces.models import Workspace

# Plain words for the flags drafting may set; an unknown flag is shown by its name.
FLAG_TEXT = {
    "regenerated": "Written a second time after the first attempt was refused.",
    "fell_back_to_offline": "The language model was unavailable, so the built-in writer "
    "wrote this from a template.",
    "possible_injection": "A bio or abstract contained text that looks like instructions; "
    "it was treated as data, but read the message closely.",
    "writer_error": "The language model failed while writing this draft.",
    "grounding_failed": "A statement could not be matched to stored data and was dropped "
    "or rewritten; check the claims.",
    "spend_limit_reached": "The daily spend limit for the language model was reached.",
}

# Sends a person can still take back: nothing has been attempted yet.
UNDOABLE = frozenset({"queued", "manual"})
# Sends that wait for a person to say what happened.
NEEDS_PERSON = frozenset({"needs_review"})
SEND_STATUS_TEXT = {
    "queued": "Queued",
    "claimed": "Being sent",
    "in_flight": "Being sent",
    "sent": "Sent",
    "retry_wait": "Waiting to retry",
    "failed": "Failed",
    "unknown": "Outcome unknown",
    "needs_review": "Needs review",
    "cancelled": "Cancelled",
    "dead": "Failed for good",
    "manual": "LinkedIn: send by hand",
}
if set(SEND_STATUS_TEXT) != set(SEND_STATUSES):
    raise RuntimeError("send status words are out of step with the model")


def flag_text(flag: str) -> str:
    return FLAG_TEXT.get(flag, flag.replace("_", " ").capitalize() + ".")


@dataclass(frozen=True, slots=True)
class ClaimView:
    text: str
    source_field: str
    # The stored value today; None when the field no longer holds anything.
    source_value: str | None


@dataclass(frozen=True, slots=True)
class SendView:
    send: Send
    now: datetime

    @property
    def label(self) -> str:
        return SEND_STATUS_TEXT.get(self.send.status, self.send.status)

    @property
    def can_undo(self) -> bool:
        return self.send.status in UNDOABLE and self.send.attempts == 0

    @property
    def needs_person(self) -> bool:
        return self.send.status in NEEDS_PERSON

    @property
    def is_manual(self) -> bool:
        return self.send.status == "manual"

    @property
    def time_left(self) -> str:
        """How long until the send may go out, in words ("" once it is due)."""
        left = self.send.not_before - self.now
        if left <= timedelta(0):
            return ""
        minutes = int(left.total_seconds() // 60)
        if minutes < 1:
            return f"{int(left.total_seconds())} s"
        if minutes < 120:
            return f"{minutes} min"
        hours = minutes // 60
        if hours < 48:
            return f"{hours} h"
        return f"{hours // 24} days"


@dataclass(frozen=True, slots=True)
class DraftView:
    draft: OutreachDraft
    contact: Contact | None
    opportunity: Opportunity | None
    event: Event | None
    writer_agent: str
    claims: list[ClaimView]
    flags: list[tuple[str, str]]
    send: SendView | None = None
    facts: dict[str, str] = field(default_factory=dict)
    # The recipient's time zone (else the workspace's), for the suggested send time.
    zone: str = "UTC"

    @property
    def reasoning(self) -> str:
        context = self.draft.personalization_context or {}
        return str(context.get("reasoning") or "")

    @property
    def instruction(self) -> str:
        context = self.draft.personalization_context or {}
        return str(context.get("instruction") or "")


def _facts(session: Session, draft: OutreachDraft, contact: Contact | None) -> dict[str, str]:
    opportunity = session.get(Opportunity, draft.opportunity_id) if draft.opportunity_id else None
    if contact is None or opportunity is None:
        return {}
    return {f.field: f.value for f in drafting.facts_for(session, contact, opportunity)}


def view(session: Session, draft: OutreachDraft, now: datetime) -> DraftView:
    contact = session.get(Contact, draft.contact_id)
    opportunity = session.get(Opportunity, draft.opportunity_id) if draft.opportunity_id else None
    event = session.get(Event, opportunity.event_id) if opportunity else None
    agent = session.get(Agent, draft.agent_id) if draft.agent_id else None
    facts = _facts(session, draft, contact)
    claims = [
        ClaimView(
            text=str(c.get("text", "")),
            source_field=str(c.get("source_field") or c.get("sourceField") or ""),
            source_value=facts.get(str(c.get("source_field") or c.get("sourceField") or "")),
        )
        for c in draft.claims or []
    ]
    found = session.scalars(select(Send).where(Send.draft_id == draft.id)).first()
    workspace = session.get(Workspace, current_workspace(session))
    zone = resolve_zone(
        contact.timezone if contact else None, workspace.timezone if workspace else "UTC"
    )
    return DraftView(
        draft=draft,
        contact=contact,
        opportunity=opportunity,
        event=event,
        writer_agent=agent.name if agent else "",
        claims=claims,
        flags=[(f, flag_text(f)) for f in draft.flags or []],
        send=SendView(found, now) if found else None,
        facts=facts,
        zone=zone.key,
    )


def pending(session: Session, now: datetime, *, page: int, limit: int) -> Page[DraftView]:
    """Drafts waiting for a decision, oldest first: first written, first reviewed."""
    stmt = (
        select(OutreachDraft)
        .where(OutreachDraft.status == "pending_approval")
        .order_by(OutreachDraft.created_at, OutreachDraft.id)
    )
    found = paginate(session, stmt, page=page, limit=limit)
    items = [view(session, d, now) for d in found.items]
    return Page(items=items, page=found.page, limit=found.limit, total=found.total)


def on_their_way(session: Session, now: datetime, limit: int = 50) -> list[DraftView]:
    """Approved drafts not yet out: undo while queued, LinkedIn tasks, sends to review."""
    stmt = (
        select(OutreachDraft)
        .where(OutreachDraft.status == "approved")
        .order_by(OutreachDraft.approved_at.desc(), OutreachDraft.id)
        .limit(limit)
    )
    return [view(session, d, now) for d in session.scalars(stmt)]


def pending_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count(OutreachDraft.id)).where(OutreachDraft.status == "pending_approval")
        )
        or 0
    )


def list_sends(
    session: Session, *, status: str | None = None, page: int = 1, limit: int = 25
) -> Page[Send]:
    """Newest first; a status filter narrows it to one state."""
    stmt = select(Send)
    if status is not None:
        stmt = stmt.where(Send.status == status)
    stmt = stmt.order_by(Send.created_at.desc(), Send.id)
    return paginate(session, stmt, page=page, limit=limit)


@dataclass(frozen=True, slots=True)
class SendRow:
    send: SendView
    draft: OutreachDraft | None
    contact_name: str


def send_rows(session: Session, sends: list[Send], now: datetime) -> list[SendRow]:
    draft_ids = [s.draft_id for s in sends]
    found = {
        d.id: d
        for d in session.scalars(select(OutreachDraft).where(OutreachDraft.id.in_(draft_ids)))
    }
    contact_ids = [s.contact_id for s in sends if s.contact_id]
    names: dict[uuid.UUID, str] = {
        row.id: row.full_name
        for row in session.execute(
            select(Contact.id, Contact.full_name).where(Contact.id.in_(contact_ids))
        )
    }
    return [
        SendRow(
            send=SendView(s, now),
            draft=found.get(s.draft_id),
            contact_name=names.get(s.contact_id, "") if s.contact_id else "",
        )
        for s in sends
    ]
