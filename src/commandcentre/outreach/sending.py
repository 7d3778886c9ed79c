"""Approved drafts on their way out: one ``Send`` row per draft, queued at approval.

The send pump (``outreach.sendpump``) does the sending; this module holds what the web and
the agents need: queue a send, take it back during the undo delay, mark a LinkedIn task
done, and resolve a send that needs a person's review.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from commandcentre.agents.config import OutreachConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.errors import Conflict
from commandcentre.outreach.models import OutreachDraft, Send


def outreach_config(session: Session, agent_id: uuid.UUID | None) -> OutreachConfig:
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    return OutreachConfig.model_validate(agent.config if agent is not None else {})


def enqueue(session: Session, clock: Clock, draft: OutreachDraft) -> Send:
    """Queue the approved draft: email waits out the undo delay (and its suggested time);
    LinkedIn becomes a task for the user."""
    if draft.approval_hash is None:
        raise Conflict("only an approved draft can be sent")
    config = outreach_config(session, draft.agent_id)
    now = clock.now()
    not_before = now + timedelta(seconds=config.undoDelaySeconds)
    if draft.suggested_send_at is not None and draft.suggested_send_at > not_before:
        not_before = draft.suggested_send_at
    send = Send(
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
    session.add(send)
    session.flush()
    return send


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
    raise NotImplementedError


def resolve(
    session: Session,
    clock: Clock,
    send_id: uuid.UUID,
    outcome: str,
    user_id: uuid.UUID | None,
) -> Send:
    """A person settles a send that needs review: ``sent`` (it did arrive), ``resend``
    (queue it again, same Message-ID) or ``cancel``."""
    raise NotImplementedError
