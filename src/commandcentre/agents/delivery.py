"""Delivering agent messages, and escalating requests nobody answered in time."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import activity, bus, claims
from commandcentre.agents.base import AgentContext
from commandcentre.agents.config import CONFIG_MODELS
from commandcentre.agents.models import Agent, AgentMessage
from commandcentre.agents.registry import agent_for
from commandcentre.clock import Clock
from commandcentre.db.scoping import SYSTEM_KEY, bind_workspace

log = logging.getLogger(__name__)
DEFAULT_LEASE = timedelta(minutes=2)


def claim_due(
    *,
    factory: sessionmaker[Session],
    clock: Clock,
    worker: str,
    limit: int = 20,
    lease: timedelta = DEFAULT_LEASE,
) -> list[uuid.UUID]:
    """Messages to running agents wait in order; a paused agent's messages wait for it."""
    now = clock.now()
    running = select(Agent.id).where(Agent.paused_at.is_(None))
    candidates = (
        select(AgentMessage.id)
        .where(
            AgentMessage.status == "pending",
            AgentMessage.to_agent_id.in_(running),
            or_(AgentMessage.next_attempt_at.is_(None), AgentMessage.next_attempt_at <= now),
        )
        .order_by(AgentMessage.created_at)
        .limit(limit)
    )
    with claims.system_transaction(factory) as session:
        return claims.claim(
            session,
            AgentMessage,
            candidates,
            values={
                "claimed_by": worker,
                "lease_expires_at": now + lease,
                "attempts": AgentMessage.attempts + 1,
                "status": "pending",
                "next_attempt_at": now + lease,
            },
        )


def deliver(
    *, factory: sessionmaker[Session], clock: Clock, message_id: uuid.UUID, worker: str
) -> str | None:
    """Hand one claimed message to its recipient; effects and delivery commit together."""
    with claims.system_transaction(factory) as session:
        held = claims.hold(
            session,
            AgentMessage,
            message_id,
            conditions=[AgentMessage.status == "pending", AgentMessage.claimed_by == worker],
        )
        if not held:
            return None
        message = session.get(AgentMessage, message_id)
        assert message is not None
        assert message.to_agent_id is not None
        del session.info[SYSTEM_KEY]
        bind_workspace(session, message.workspace_id)
        recipient = session.get(Agent, message.to_agent_id)
        assert recipient is not None
        try:
            with session.begin_nested():
                _handle(session=session, clock=clock, recipient=recipient, message=message)
        except Exception as exc:
            log.warning("message %s failed: %s", message_id, exc)
            return _failed(session=session, clock=clock, message=message, error=exc)
        message.status = "delivered"
        message.read_at = message.read_at or clock.now()
        message.claimed_by = None
        message.lease_expires_at = None
        return message.status


def _handle(*, session: Session, clock: Clock, recipient: Agent, message: AgentMessage) -> None:
    handler = agent_for(recipient.agent_type)
    config = CONFIG_MODELS[recipient.agent_type].model_validate(recipient.config)
    ctx = AgentContext(
        workspace_id=message.workspace_id,
        session=session,
        clock=clock,
        agent=recipient,
        config=config,
        bus=bus.Bus(session=session, clock=clock, sender=recipient),
    )
    message.read_at = clock.now()
    activity.bump_metrics(
        session=session, clock=clock, agent_id=recipient.id, counts={"messages_received": 1}
    )
    handler.handle_message(ctx, message)


def _failed(*, session: Session, clock: Clock, message: AgentMessage, error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"[:4000]
    message.last_error = text
    message.claimed_by = None
    message.lease_expires_at = None
    if message.attempts >= message.max_attempts:
        message.status = "dead"
        activity.record(
            session=session,
            clock=clock,
            agent_id=message.to_agent_id,
            activity_type="message_dead",
            message_id=message.id,
            description=f"Could not deliver '{message.subject}' after {message.attempts} "
            f"attempts: {text[:200]}",
            details={"error": text},
        )
    else:
        message.next_attempt_at = clock.now() + claims.backoff(message.attempts)
    return message.status


def sweep(*, factory: sessionmaker[Session], clock: Clock, limit: int = 200) -> int:
    """Escalate overdue requests (once each); expired delivery claims simply become due."""
    now = clock.now()
    with claims.system_transaction(factory) as session:
        overdue = list(
            session.scalars(
                select(AgentMessage)
                .where(
                    AgentMessage.requires_response.is_(True),
                    AgentMessage.responded_at.is_(None),
                    AgentMessage.escalated_at.is_(None),
                    AgentMessage.response_deadline_at < now,
                )
                .limit(limit)
            )
        )
        grouped: dict[uuid.UUID, list[AgentMessage]] = {}
        for message in overdue:
            grouped.setdefault(message.workspace_id, []).append(message)
    count = 0
    for workspace_id, messages in grouped.items():
        with claims.worker_session(factory) as session:
            bind_workspace(session, workspace_id)
            with session.begin():
                for stale in messages:
                    count += _escalate_overdue(session=session, clock=clock, message_id=stale.id)
    return count


def _escalate_overdue(*, session: Session, clock: Clock, message_id: uuid.UUID) -> int:
    message = session.get(AgentMessage, message_id)
    if message is None or message.escalated_at is not None or message.responded_at is not None:
        return 0
    message.escalated_at = clock.now()
    sender = session.get(Agent, message.from_agent_id) if message.from_agent_id else None
    recipient = session.get(Agent, message.to_agent_id) if message.to_agent_id else None
    to_name = recipient.name if recipient else "another agent"
    bus.escalate(
        session=session,
        clock=clock,
        sender=sender,
        subject=f"No answer from {to_name}: {message.subject}",
        payload={
            "requestId": str(message.id),
            "request": message.payload,
            "waitingSince": message.created_at.isoformat(),
            "recipientPaused": bool(recipient and recipient.paused_at),
        },
        choices=["wait longer", "cancel request", "handle it myself"],
    )
    return 1
