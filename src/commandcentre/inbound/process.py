"""What an incoming message means, applied once, in the transaction that records it.

Recording is idempotent (one row per message however often it arrives), and the effects of
a message run only when its row is created, in the same transaction, so a message that
arrives twice, or a poller killed half-way, never cancels, suppresses or counts twice.

Matching: our own Message-IDs in In-Reply-To/References (or the bounced message's own ID),
then the sender's address and the subject. Our own sent copies are never taken for replies.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.agents.bus import Bus, find_agent
from commandcentre.agents.config import FollowupConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.errors import NotFound
from commandcentre.followups.execute import cancel_for_contact
from commandcentre.followups.rules import resume_at
from commandcentre.inbound import store
from commandcentre.inbound.classify import Classification, classify
from commandcentre.inbound.models import InboundMessage
from commandcentre.inbound.parse import ParsedMessage, UnparseableMessage, parse_message
from commandcentre.intel.models import Contact
from commandcentre.outreach import suppression
from commandcentre.outreach.models import Mailbox, OutreachDraft, Send

SOFT_BOUNCE_PAUSE = timedelta(days=1)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|wg|tr)\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Match:
    send: Send | None
    contact: Contact | None
    how: str


def ingest_raw(
    session: Session,
    clock: Clock,
    raw: bytes,
    source: store.Source,
    mailbox_id: uuid.UUID | None = None,
) -> tuple[InboundMessage, bool]:
    """Record a raw message once and, the first time only, act on it."""
    try:
        parsed: ParsedMessage | None = parse_message(raw)
    except UnparseableMessage as exc:
        row, created = store.record_raw(session, clock, raw, source, mailbox_id)
        if created:
            _quarantine(row, f"unparseable: {exc.reason}")
        return row, created
    assert parsed is not None
    fields = store.fields_of(parsed, raw)
    row, created = store.record_fields(session, clock, fields, source, mailbox_id)
    if created:
        apply(session, clock, row, parsed)
    return row, created


def apply(session: Session, clock: Clock, row: InboundMessage, parsed: ParsedMessage) -> None:
    found = classify(parsed, received_at=row.received_at)
    row.classification = found.kind
    row.sentiment = found.sentiment
    if found.quarantine:
        _quarantine(row, found.reason)
        return
    if _is_our_own(session, parsed, row):
        row.status = "processed"
        row.reason = "our own sent message, not a reply"
        return
    match = _match(session, parsed, row)
    if match.contact is None:
        _quarantine(row, f"{found.reason}; no outreach of ours matches it")
        return
    row.contact_id = match.contact.id
    row.matched_send_id = match.send.id if match.send else None
    row.status = "processed"
    row.reason = f"{found.reason}; matched by {match.how}"
    _effects(session, clock, row, found, match)


def _quarantine(row: InboundMessage, reason: str) -> None:
    row.status = "quarantined"
    row.reason = reason[:2000]


def _is_our_own(session: Session, parsed: ParsedMessage, row: InboundMessage) -> bool:
    if parsed.message_id and session.scalar(
        select(Send.id).where(Send.message_id == parsed.message_id).limit(1)
    ):
        return True
    sender = (parsed.from_address or "").lower()
    return bool(
        sender
        and not parsed.is_delivery_report
        and session.scalar(select(Mailbox.id).where(Mailbox.from_address == sender).limit(1))
    )


def _match(session: Session, parsed: ParsedMessage, row: InboundMessage) -> Match:
    ids = [i for i in (parsed.in_reply_to, *parsed.references) if i]
    if parsed.original_message_id:
        ids.append(parsed.original_message_id)
    if ids:
        send = session.scalars(
            select(Send).where(Send.message_id.in_(ids)).order_by(Send.created_at.desc())
        ).first()
        if send is not None:
            contact = session.get(Contact, send.contact_id) if send.contact_id else None
            return Match(send, contact, "thread headers")
    addresses = [s.final_recipient for s in parsed.delivery_status if s.final_recipient]
    if parsed.from_address and not parsed.is_delivery_report:
        addresses.append(parsed.from_address)
    for address in addresses:
        found = _by_address(session, address.lower(), parsed.subject)
        if found is not None:
            return found
    return Match(None, None, "nothing")


def _by_address(session: Session, address: str, subject: str) -> Match | None:
    contact = session.scalars(
        select(Contact).where(func.lower(Contact.email) == address).limit(1)
    ).first()
    if contact is None:
        return None
    sends = list(
        session.scalars(
            select(Send)
            .where(Send.contact_id == contact.id, Send.status == "sent")
            .order_by(Send.sent_at.desc())
        )
    )
    if not sends:
        return None
    bare = _REPLY_PREFIX.sub("", subject or "").strip().lower()
    for send in sends:
        if bare and _REPLY_PREFIX.sub("", send.subject).strip().lower() == bare:
            return Match(send, contact, "sender and subject")
    return Match(sends[0], contact, "sender")


def _effects(
    session: Session, clock: Clock, row: InboundMessage, found: Classification, match: Match
) -> None:
    contact = match.contact
    assert contact is not None
    if found.kind == "reply":
        _reply(session, clock, row, contact, match.send, found)
    elif found.kind == "out_of_office":
        until = resume_at(
            notified_at=row.received_at,
            return_date=found.return_date,
            recipient_tz=contact.timezone,
        )
        contact.followups_paused_until = until
        _log(
            session,
            clock,
            contact,
            f"{contact.full_name} is away; follow-ups resume {until:%d %b %H:%M} UTC",
            row,
        )
    elif found.kind == "bounce_hard":
        contact.email_status = "invalid"
        if contact.email:
            suppression.add(session, clock, "email", contact.email, "bounce", found.reason[:500])
        cancel_for_contact(session, clock, [contact.id], "the address bounced")
        _log(
            session,
            clock,
            contact,
            f"Mail to {contact.full_name} bounced; address marked invalid",
            row,
        )
    elif found.kind == "bounce_soft":
        contact.followups_paused_until = row.received_at + SOFT_BOUNCE_PAUSE
        _log(
            session,
            clock,
            contact,
            f"Temporary delivery problem for {contact.full_name}; trying later",
            row,
        )
    elif found.kind == "unsubscribe":
        contact.outreach_status = "do_not_contact"
        if contact.email:
            suppression.add(session, clock, "email", contact.email, "unsubscribe", "asked by reply")
        cancel_for_contact(session, clock, [contact.id], "the contact unsubscribed")
        _reject_pending_followups(session, clock, contact.id, "the contact unsubscribed")
        _log(
            session, clock, contact, f"{contact.full_name} asked to be left alone; suppressed", row
        )


def _reply(
    session: Session,
    clock: Clock,
    row: InboundMessage,
    contact: Contact,
    send: Send | None,
    found: Classification,
) -> None:
    if contact.outreach_status in ("new", "queued", "contacted"):
        contact.outreach_status = "not_interested" if found.sentiment == "negative" else "replied"
    followup = find_agent(session, "followup")
    config = FollowupConfig.model_validate(followup.config if followup else {})
    stopped = [contact.id]
    if config.cancelColleaguesOnReply and contact.account_id is not None:
        stopped += list(
            session.scalars(
                select(Contact.id).where(
                    Contact.account_id == contact.account_id, Contact.id != contact.id
                )
            )
        )
    cancel_for_contact(session, clock, stopped, "the contact replied")
    _reject_pending_followups(session, clock, contact.id, "the contact replied")
    outreach = find_agent(session, "outreach")
    counts: dict[str, float] = {"responses_received": 1}
    if send is not None and send.sent_at is not None:
        counts["total_response_seconds"] = max(
            0.0, (row.received_at - send.sent_at).total_seconds()
        )
        counts["response_count"] = 1
    if outreach is not None:
        activity.bump_metrics(session=session, clock=clock, agent_id=outreach.id, counts=counts)
    _log(
        session,
        clock,
        contact,
        f"{contact.full_name} replied ({found.sentiment or 'neutral'})",
        row,
    )
    _warm_lead(session, clock, followup, contact, send, found)


def _warm_lead(
    session: Session,
    clock: Clock,
    followup: Agent | None,
    contact: Contact,
    send: Send | None,
    found: Classification,
) -> None:
    if followup is None or found.sentiment == "negative":
        return
    draft = session.get(OutreachDraft, send.draft_id) if send is not None else None
    payload = {
        "kind": "warm_lead",
        "contactId": str(contact.id),
        "sentiment": found.sentiment,
        "opportunityId": str(draft.opportunity_id) if draft and draft.opportunity_id else None,
    }
    with contextlib.suppress(NotFound):  # a workspace without a Planning agent
        Bus(session=session, clock=clock, sender=followup).notify(
            "planning", f"Warm lead: {contact.full_name} replied", payload
        )


def _reject_pending_followups(
    session: Session, clock: Clock, contact_id: uuid.UUID, reason: str
) -> None:
    session.execute(
        update(OutreachDraft)
        .where(
            OutreachDraft.contact_id == contact_id,
            OutreachDraft.status == "pending_approval",
            OutreachDraft.followup_number > 0,
        )
        .values(status="rejected", rejection_reason=reason, updated_at=clock.now())
        .execution_options(synchronize_session=False)
    )


def _log(session: Session, clock: Clock, contact: Contact, text: str, row: InboundMessage) -> None:
    followup = find_agent(session, "followup")
    activity.record(
        session=session,
        clock=clock,
        agent_id=followup.id if followup else None,
        activity_type=f"inbound_{row.classification}",
        description=text,
        details={"inboundId": str(row.id), "contactId": str(contact.id), "reason": row.reason},
        entity_type="contact",
        entity_id=contact.id,
    )


def mark_replied(
    session: Session,
    clock: Clock,
    contact_id: uuid.UUID,
    user_id: uuid.UUID | None,
    sentiment: str = "neutral",
    note: str | None = None,
) -> InboundMessage:
    """The user says this contact answered (a call, a chat at the booth, a reply elsewhere)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    now = clock.now()
    send = session.scalars(
        select(Send)
        .where(Send.contact_id == contact.id, Send.status == "sent")
        .order_by(Send.sent_at.desc())
        .limit(1)
    ).first()
    row = InboundMessage(
        source="manual",
        dedupe_key=f"manual:{uuid.uuid4()}",
        from_address=contact.email,
        subject="Marked as replied",
        body_text=note,
        received_at=now,
        classification="reply",
        sentiment=sentiment,
        contact_id=contact.id,
        matched_send_id=send.id if send else None,
        status="processed",
        reason="marked as replied by a user" + (f" ({user_id})" if user_id else ""),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    found = Classification("reply", "marked by hand", sentiment=sentiment)  # type: ignore[arg-type]
    _reply(session, clock, row, contact, send, found)
    return row
