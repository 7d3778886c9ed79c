"""Approved drafts on their way out: one ``Send`` row per draft, queued at approval.

The send pump (``outreach.sendpump``) does the sending; this module holds what the web and
the agents need: queue a send, take it back during the undo delay, mark a LinkedIn task
done, and resolve a send that needs a person's review.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from commandcentre.agents import activity, wakeup
from commandcentre.clock import Clock
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.outreach import pacing, receipts
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.pagination import Page, paginate


def enqueue(session: Session, clock: Clock, draft: OutreachDraft) -> Send:
    """Queue the approved draft: email waits out the undo delay (and its suggested time);
    LinkedIn becomes a task for the user."""
    return enqueue_many(session, clock, [draft])[0]


def enqueue_many(session: Session, clock: Clock, drafts: Sequence[OutreachDraft]) -> list[Send]:
    """enqueue for several approved drafts, reading each agent's settings once."""
    if any(draft.approval_hash is None for draft in drafts):
        raise Conflict("only an approved draft can be sent")
    now = clock.now()
    delays: dict[uuid.UUID | None, timedelta] = {}
    sends: list[Send] = []
    for draft in drafts:
        if draft.agent_id not in delays:
            config = pacing.outreach_config(session, draft.agent_id)
            delays[draft.agent_id] = timedelta(seconds=config.undoDelaySeconds)
        not_before = now + delays[draft.agent_id]
        if draft.suggested_send_at is not None and draft.suggested_send_at > not_before:
            not_before = draft.suggested_send_at
        sends.append(
            Send(
                draft_id=draft.id,
                agent_id=draft.agent_id,
                contact_id=draft.contact_id,
                channel=draft.channel,
                recipient=draft.recipient,
                subject=draft.subject,
                approval_hash=draft.approval_hash,
                status="manual" if draft.channel == "linkedin" else "queued",
                not_before=not_before,
                created_at=now,
                updated_at=now,
            )
        )
    session.add_all(sends)
    session.flush()
    if any(send.status == "queued" and send.not_before <= now for send in sends):
        # Due at once (no undo delay, no later suggested time): a worker sends it as soon as
        # this commits instead of at its next look for due sends.
        wakeup.after_commit(session, "sends")
    return sends


def send_for(session: Session, draft_id: uuid.UUID) -> Send | None:
    return session.scalars(select(Send).where(Send.draft_id == draft_id)).first()


def withdraw(session: Session, draft: OutreachDraft) -> None:
    """Delete the draft's send if it has not been picked up; Conflict once it has."""
    removed = session.execute(
        delete(Send)
        .where(
            Send.draft_id == draft.id,
            Send.status.in_(("queued", "manual")),
            Send.attempts == 0,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not removed:
        raise Conflict("this message is already on its way and can no longer be taken back")


def mark_manual_sent(
    session: Session, clock: Clock, draft_id: uuid.UUID, user_id: uuid.UUID | None
) -> Send:
    """The user sent a LinkedIn message by hand and says so."""
    send = send_for(session, draft_id)
    if send is None:
        raise NotFound("this draft has no approved message to mark as sent")
    if send.channel != "linkedin" or send.status != "manual":
        raise Conflict("only an approved LinkedIn message waiting for you can be marked as sent")
    receipts.mark_sent(session, clock, send, by_user=user_id)
    return send


RESOLUTIONS = ("sent", "resend", "cancel")


def get_send_or_404(session: Session, send_id: uuid.UUID) -> Send:
    send = session.get(Send, send_id)
    if send is None:
        raise NotFound("send not found")
    return send


def resolve(
    session: Session,
    clock: Clock,
    send_id: uuid.UUID,
    outcome: str,
    user_id: uuid.UUID | None,
) -> Send:
    """A person settles a send that needs review: ``sent`` (it did arrive), ``resend``
    (queue it again, same Message-ID) or ``cancel``."""
    if outcome not in RESOLUTIONS:
        raise InvalidInput(f"outcome must be one of {', '.join(RESOLUTIONS)}", field="outcome")
    send = get_send_or_404(session, send_id)
    if send.status != "needs_review":
        raise Conflict(
            f"only a send that needs review can be resolved; this one is "
            f"{send.status.replace('_', ' ')}",
            field="status",
        )
    now = clock.now()
    who = {"userId": str(user_id) if user_id else None}
    if outcome == "sent":
        receipts.mark_sent(session, clock, send, by_user=user_id)
        return send
    if outcome == "resend":
        send.status = "queued"
        send.not_before = now
        send.started_at = None
        send.last_error = None
        wakeup.after_commit(session, "sends")
        text = f"Queued again by hand for {send.recipient}"
    else:
        send.status = "cancelled"
        text = f"Cancelled by hand: the message to {send.recipient} will not be sent"
    send.updated_at = now
    activity.record(
        session=session,
        clock=clock,
        agent_id=send.agent_id,
        activity_type=f"send_resolved_{outcome}",
        description=text,
        details=who,
        entity_type="outreach_send",
        entity_id=send.id,
    )
    return send


def list_sends(
    session: Session, status: str | None = None, page: int = 1, limit: int = 25
) -> Page[Send]:
    stmt = select(Send)
    if status is not None:
        stmt = stmt.where(Send.status == status)
    return paginate(session, stmt.order_by(Send.created_at.desc(), Send.id), page=page, limit=limit)
