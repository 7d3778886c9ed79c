"""What happens to a send after its attempt: the receipt recorded, or the mailbox's answer.

A receipt makes the send ``sent`` (the draft, the contact, counters, and the Follow-up agent
told), ``retry_wait`` or ``failed`` (a refused address is marked invalid and suppressed), or
``unknown`` until reconciliation asks the mailbox whether its Message-ID left. A send never
handed to the transport goes back to the queue. ``mark_sent`` is also how a person records a
send as delivered by hand.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity, bus, claims
from commandcentre.agents.config import FollowupConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.followups.rules import add_business_days
from commandcentre.intel.models import Contact
from commandcentre.outreach import suppression
from commandcentre.outreach.channels.email import SendOutcome, SendReceipt
from commandcentre.outreach.decisions import load_agents, log_send
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.outreach.transport import Transport
from commandcentre.settings import settings_of

log = logging.getLogger(__name__)

# Unreachable IMAP: reconciliation keeps asking this long before a person must decide.
LOOKUP_GIVE_UP = timedelta(hours=1)
LOOKUP_RETRY = timedelta(minutes=2)


def apply_receipt(
    session: Session,
    clock: Clock,
    send: Send,
    receipt: SendReceipt,
    followup: _FollowupAgent | None = None,
) -> str:
    now = clock.now()
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    detail = f"{receipt.phase}: {receipt.code or ''} {receipt.detail}".strip()
    if receipt.outcome is SendOutcome.sent:
        _mark_sent(session, clock, send, followup=followup)
        return send.status
    if receipt.outcome is SendOutcome.retryable:
        send.last_error = detail
        # Never accepted, so it never reached anyone: it does not count against the caps.
        send.started_at = None
        if send.attempts >= send.max_attempts:
            send.status = "failed"
            log_send(
                session, clock, send, f"Gave up after {send.attempts} attempts: {detail}", "failed"
            )
        else:
            send.status = "retry_wait"
            send.not_before = now + claims.backoff(send.attempts, base=30.0, cap=3600.0)
        return send.status
    if receipt.outcome is SendOutcome.permanent:
        send.status = "failed"
        send.last_error = detail
        send.started_at = None
        if receipt.phase == "rcpt":
            _mark_address_invalid(session, clock, send)
        log_send(session, clock, send, f"The mail server refused it: {detail}", "failed")
        return send.status
    send.status = "unknown"
    send.last_error = detail
    # Give the provider a moment to file its Sent copy before looking for it.
    send.next_attempt_at = now + reconcile_delay(session)
    log_send(session, clock, send, f"Outcome unknown ({detail}); checking the mailbox", "unknown")
    return send.status


def release(session: Session, clock: Clock, send: Send) -> str:
    """A send decided but never handed to the transport (its lease ran out first, so the
    sweep may have made it unknown) goes back to the queue with its Message-ID: it did not
    leave, so it does not count against the caps. Its attempt count stays, so a receipt
    of this decision can never be taken for one of a later decision."""
    now = clock.now()
    send.status = "queued"
    send.not_before = now
    send.started_at = None
    send.next_attempt_at = None
    send.claimed_by = None
    send.lease_expires_at = None
    send.last_error = "not attempted before its lease ran out; queued again"
    send.updated_at = now
    log_send(session, clock, send, "Not attempted before its lease ran out; queued again", "queued")
    return send.status


def reconcile_delay(session: Session) -> timedelta:
    return timedelta(seconds=settings_of(session).mail_reconcile_delay_seconds)


def settle_unknown(
    session: Session, clock: Clock, transport: Transport, send: Send, found: bool | None
) -> str:
    now = clock.now()
    unknown_since = send.started_at or now
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    if found:
        mark_sent(session, clock, send, reconciled=True)
    elif found is False and transport.absence_is_proof:
        # Proven not to have left: sending it again (same Message-ID) is not a blind resend.
        send.status = "queued"
        send.started_at = None
        send.not_before = now
        send.last_error = "not in the mailbox: it never left; queued again"
        log_send(session, clock, send, "The message had not left; queued again", "queued")
    elif found is None and transport.can_lookup and now - unknown_since < LOOKUP_GIVE_UP:
        send.next_attempt_at = now + LOOKUP_RETRY
        return send.status
    else:
        send.status = "needs_review"
        send.last_error = (
            "could not confirm whether it was delivered; a person must decide"
            if found is None
            else "not found in the Sent folder; a person must decide"
        )
        log_send(session, clock, send, "Needs review: delivery could not be confirmed", "review")
    return send.status


def mark_sent(
    session: Session,
    clock: Clock,
    send: Send,
    *,
    reconciled: bool = False,
    by_user: uuid.UUID | None = None,
) -> None:
    """Record a send as delivered: the draft, the contact, counters, and Follow-up told."""
    _mark_sent(session, clock, send, reconciled=reconciled, by_user=by_user)


def _mark_sent(
    session: Session,
    clock: Clock,
    send: Send,
    *,
    reconciled: bool = False,
    by_user: uuid.UUID | None = None,
    followup: _FollowupAgent | None = None,
) -> None:
    now = clock.now()
    send.status = "sent"
    send.sent_at = now
    send.started_at = send.started_at or now
    send.last_error = None
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    if followup is None:
        followup_number = _mark_draft_and_contact(session, send, now)
    else:
        followup_number = followup.mark_draft_and_contact(send)
    how = " (confirmed in the Sent folder)" if reconciled else ""
    if by_user is not None:
        how = " (marked as sent by hand)"
    log_send(session, clock, send, f"Sent to {send.recipient}{how}", "sent")
    if send.agent_id is not None:
        activity.bump_metrics(
            session=session, clock=clock, agent_id=send.agent_id, counts={"outreach_sent": 1}
        )
        _tell_followup(session, clock, send, followup_number, followup)


def _mark_draft_and_contact(session: Session, send: Send, now: datetime) -> int | None:
    """The draft becomes sent and a new contact contacted; the draft's follow-up number
    (None: the draft is gone)."""
    draft = session.get(OutreachDraft, send.draft_id)
    if draft is not None:
        draft.status = "sent"
        draft.updated_at = now
    contact = session.get(Contact, send.contact_id) if send.contact_id else None
    if contact is not None and contact.outreach_status in CONTACTED_FROM:
        contact.outreach_status = "contacted"
    return draft.followup_number if draft is not None else None


# A contact in one of these becomes "contacted" when a message to it has gone.
CONTACTED_FROM = ("new", "queued")


@dataclass(frozen=True, slots=True)
class _FollowupAgent:
    """What recording many sends of one workspace shares, looked up once: the Follow-up
    agent and its settings, the sending agents, and the drafts' follow-up numbers. The
    drafts and contacts of the sends are marked together, by ``finish``."""

    agent: Agent | None
    config: FollowupConfig
    # Held here because the session keeps unchanged rows only while something refers to
    # them: the lookups while recording then find them in the session.
    agents: tuple[Agent, ...] = ()
    followup_numbers: dict[uuid.UUID, int] = field(default_factory=dict)
    sent_drafts: list[uuid.UUID] = field(default_factory=list)
    contacted: list[uuid.UUID] = field(default_factory=list)

    @classmethod
    def of(cls, agent: Agent | None) -> _FollowupAgent:
        return cls(agent, FollowupConfig.model_validate(agent.config if agent else {}))

    def mark_draft_and_contact(self, send: Send) -> int | None:
        """_mark_draft_and_contact, written later for the whole batch."""
        number = self.followup_numbers.get(send.draft_id)
        if number is not None:
            self.sent_drafts.append(send.draft_id)
        if send.contact_id is not None:
            self.contacted.append(send.contact_id)
        return number

    def finish(self, session: Session, now: datetime) -> None:
        """One statement each for the drafts and the contacts of the sends recorded (the
        session is bound to their workspace, which filters both)."""
        if self.sent_drafts:
            session.execute(
                update(OutreachDraft)
                .where(OutreachDraft.id.in_(self.sent_drafts))
                .values(status="sent", updated_at=now)
                .execution_options(synchronize_session=False)
            )
        if self.contacted:
            session.execute(
                update(Contact)
                .where(Contact.id.in_(self.contacted), Contact.outreach_status.in_(CONTACTED_FROM))
                .values(outreach_status="contacted")
                .execution_options(synchronize_session=False)
            )
        self.sent_drafts.clear()
        self.contacted.clear()


def load_for_receipts(session: Session, sends: list[Send]) -> _FollowupAgent:
    """What recording these sends reads, a query per kind: the Follow-up agent and the
    sending agents (one query), and the drafts' follow-up numbers (no rows loaded: the
    drafts and contacts are written by one statement each, see _FollowupAgent.finish)."""
    agents = load_agents(session, {send.agent_id for send in sends if send.agent_id}, "followup")
    found = _FollowupAgent.of(agents.get("followup"))
    draft_ids = {send.draft_id for send in sends}
    numbers = session.execute(
        select(OutreachDraft.id, OutreachDraft.followup_number).where(
            OutreachDraft.id.in_(draft_ids)
        )
    ).all()
    return replace(
        found,
        agents=tuple({id(agent): agent for agent in agents.values()}.values()),
        followup_numbers=dict(numbers),
    )


def _tell_followup(
    session: Session,
    clock: Clock,
    send: Send,
    followup_number: int | None,
    followup: _FollowupAgent | None = None,
) -> None:
    outreach = session.get(Agent, send.agent_id) if send.agent_id else None
    if outreach is None or followup_number is None or followup_number > 0:
        return
    if followup is None:
        followup = _FollowupAgent.of(bus.find_agent(session, "followup"))
    if followup.agent is None:
        log.info("workspace %s has no Follow-up agent to tell", send.workspace_id)
        return
    sent_at = send.sent_at or clock.now()
    payload = {
        "contactId": str(send.contact_id) if send.contact_id else None,
        "originalOutreachId": str(send.draft_id),
        "sendId": str(send.id),
        "messageId": send.message_id,
        "sentAt": sent_at.isoformat(),
        "followupDate": add_business_days(
            sent_at.date(), followup.config.followupDelayDays
        ).isoformat(),
    }
    # What Bus.notify does, with the recipient already known.
    bus.send(
        session=session,
        clock=clock,
        sender=outreach,
        recipient=followup.agent,
        message_type="notification",
        subject=f"Sent first message to {send.recipient}",
        payload=payload,
    )


def _mark_address_invalid(session: Session, clock: Clock, send: Send) -> None:
    contact = session.get(Contact, send.contact_id) if send.contact_id else None
    if contact is not None:
        contact.email_status = "invalid"
    suppression.add(session, clock, "email", send.recipient, "bounce", "refused by the server")
