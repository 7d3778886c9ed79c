"""A contact's timeline: every touch and reply, across agents and channels, in time order.

Built from the rows that are the record (drafts, sends, follow-ups, inbound messages), plus
the agents' activity entries about the contact itself (a sequence planned, an absence
noticed). Activity entries that only restate a row shown here (the reply an inbound row
already shows) are left out, so each thing that happened appears once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from commandcentre.agents.models import ActivityEntry
from commandcentre.errors import NotFound
from commandcentre.followups.manage import STATUS_TEXT, TYPE_TEXT
from commandcentre.followups.models import FollowUp
from commandcentre.inbound.models import InboundMessage
from commandcentre.intel.models import Contact
from commandcentre.outreach.models import OutreachDraft, Send

Kind = Literal["draft", "send", "followup", "inbound", "activity"]
# Several things at the same instant read in the order they happen: a follow-up is
# carried out, then its draft written, approved and sent; a reply comes in, then what was
# still pending is stopped; what is still to come goes last.
_ORDER: dict[tuple[str, str], int] = {
    ("followup", "executed"): 0,
    ("draft", "created"): 1,
    ("draft", "approved"): 2,
    ("inbound", "*"): 5,
    ("draft", "rejected"): 6,
    ("followup", "cancelled"): 6,
    ("followup", "skipped"): 6,
    ("followup", "scheduled"): 7,
}


def _rank(item: TimelineItem) -> int:
    if item.kind == "send":
        return 3
    if item.kind == "activity":
        return 4
    return _ORDER.get((item.kind, item.event), _ORDER.get((item.kind, "*"), 4))


MAX_ITEMS = 500
CLASSIFICATION_TEXT = {
    "reply": "Reply",
    "out_of_office": "Out of office",
    "bounce_hard": "Bounced",
    "bounce_soft": "Temporary delivery problem",
    "unsubscribe": "Asked to unsubscribe",
    "unknown": "Unclassified message",
}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: datetime
    kind: Kind
    event: str  # what happened, a stable word: created, approved, sent, scheduled, ...
    title: str
    detail: str | None
    status: str | None
    channel: str | None
    ref_id: uuid.UUID  # the row this item comes from
    sentiment: str | None = None
    classification: str | None = None


def _channel_text(channel: str | None) -> str:
    return "LinkedIn" if channel == "linkedin" else "email"


def _drafts(drafts: list[OutreachDraft]) -> list[TimelineItem]:
    items = []
    for d in drafts:
        what = (
            f"Follow-up #{d.followup_number} drafted"
            if d.followup_number
            else "First message drafted"
        )
        subject = d.subject or f"{_channel_text(d.channel)} message"
        items.append(
            TimelineItem(d.created_at, "draft", "created", what, subject, d.status, d.channel, d.id)
        )
        if d.approved_at is not None:
            by = "automatically" if d.approved_by is None else "by a person"
            items.append(
                TimelineItem(
                    d.approved_at,
                    "draft",
                    "approved",
                    f"Approved {by}",
                    subject,
                    d.status,
                    d.channel,
                    d.id,
                )
            )
        if d.status == "rejected":
            items.append(
                TimelineItem(
                    d.updated_at,
                    "draft",
                    "rejected",
                    "Draft rejected",
                    f"{subject}: {d.rejection_reason}" if d.rejection_reason else subject,
                    d.status,
                    d.channel,
                    d.id,
                )
            )
    return items


def _sends(sends: list[Send]) -> list[TimelineItem]:
    items = []
    for s in sends:
        when = s.sent_at or s.started_at or s.created_at
        channel = _channel_text(s.channel)
        title = (
            f"Sent by {channel}"
            if s.status == "sent"
            else f"{channel.capitalize()} message {s.status.replace('_', ' ')}"
        )
        detail = s.subject or None
        if s.last_error and s.status != "sent":
            detail = f"{detail}: {s.last_error}" if detail else s.last_error
        items.append(TimelineItem(when, "send", s.status, title, detail, s.status, s.channel, s.id))
    return items


def _followups(rows: list[FollowUp]) -> list[TimelineItem]:
    items = []
    for f in rows:
        # An escalation is not a message: the moment to ask the user what next.
        name, kind = (
            ("Escalation", "")
            if f.followup_type == "escalation"
            else (
                f"Follow-up #{f.followup_number}",
                f" ({TYPE_TEXT.get(f.followup_type, f.followup_type)})",
            )
        )
        if f.status == "scheduled":
            when, title = f.scheduled_at, f"{name} scheduled{kind}"
            detail = f"waiting: {f.last_error}" if f.last_error else None
        elif f.status == "executed":
            when = f.executed_at or f.updated_at
            title = f"{name} carried out{kind}"
            detail = None
        else:
            when = f.updated_at
            title = f"{name} {STATUS_TEXT[f.status].lower()}{kind}"
            detail = f.cancel_reason
        items.append(TimelineItem(when, "followup", f.status, title, detail, f.status, None, f.id))
    return items


def _inbound(rows: list[InboundMessage]) -> list[TimelineItem]:
    items = []
    for m in rows:
        what = CLASSIFICATION_TEXT.get(m.classification or "unknown", "Message")
        how = "marked by hand" if m.source == "manual" else f"received by {m.source}"
        title = f"{what} ({how})"
        detail = m.body_text[:300] if m.source == "manual" and m.body_text else m.subject
        items.append(
            TimelineItem(
                m.received_at,
                "inbound",
                m.classification or "unknown",
                title,
                detail,
                m.status,
                None,
                m.id,
                sentiment=m.sentiment,
                classification=m.classification,
            )
        )
    return items


def _activity(entries: list[ActivityEntry]) -> list[TimelineItem]:
    items = []
    for e in entries:
        if (e.details or {}).get("inboundId"):
            continue  # the inbound message itself is on the timeline
        items.append(
            TimelineItem(
                e.created_at,
                "activity",
                e.activity_type,
                e.description,
                None,
                None,
                None,
                e.id,
            )
        )
    return items


def for_contact(session: Session, contact_id: uuid.UUID) -> list[TimelineItem]:
    """Everything that happened with this contact, oldest first (at most ``MAX_ITEMS``,
    the most recent ones)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    drafts = list(
        session.scalars(select(OutreachDraft).where(OutreachDraft.contact_id == contact.id))
    )
    draft_ids = [d.id for d in drafts]
    sends = list(
        session.scalars(
            select(Send).where(
                or_(Send.contact_id == contact.id, Send.draft_id.in_(draft_ids))
                if draft_ids
                else Send.contact_id == contact.id
            )
        )
    )
    followups = list(session.scalars(select(FollowUp).where(FollowUp.contact_id == contact.id)))
    inbound = list(
        session.scalars(select(InboundMessage).where(InboundMessage.contact_id == contact.id))
    )
    about = [
        and_(ActivityEntry.entity_type == "contact", ActivityEntry.entity_id == contact.id),
    ]
    followup_ids = [f.id for f in followups]
    if followup_ids:
        # Moves made by hand: the row only shows the latest time.
        about.append(
            and_(
                ActivityEntry.entity_type == "followup",
                ActivityEntry.entity_id.in_(followup_ids),
                ActivityEntry.activity_type == "followup_rescheduled",
            )
        )
    entries = list(
        session.scalars(
            select(ActivityEntry)
            .where(or_(*about))
            .order_by(ActivityEntry.created_at.desc())
            .limit(MAX_ITEMS)
        )
    )
    items = (
        _drafts(drafts)
        + _sends(sends)
        + _followups(followups)
        + _inbound(inbound)
        + _activity(entries)
    )
    items.sort(key=lambda i: (i.at, _rank(i), str(i.ref_id)))
    return items[-MAX_ITEMS:]
