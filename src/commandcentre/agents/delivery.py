"""Delivering agent messages, and escalating requests nobody answered in time."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from commandcentre.agents import activity, bus, claims
from commandcentre.agents.base import AgentContext
from commandcentre.agents.config import CONFIG_MODELS, AgentConfig
from commandcentre.agents.models import Agent, AgentMessage
from commandcentre.agents.registry import agent_for
from commandcentre.clock import Clock
from commandcentre.db.scoping import bind_workspace

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
    """Hand one claimed message to its recipient; see deliver_batch."""
    return deliver_batch(factory=factory, clock=clock, message_ids=[message_id], worker=worker)[0]


def deliver_batch(
    *,
    factory: sessionmaker[Session],
    clock: Clock,
    message_ids: list[uuid.UUID],
    worker: str,
) -> list[str | None]:
    """Hand claimed messages to their recipients in one transaction, each in its own savepoint.

    A message's effects and its delivered status commit together, and a crash anywhere
    leaves nothing half-done: the transaction rolls back, the leases run out and the
    messages are due again (handlers are idempotent). A failing handler rolls back only its
    own savepoint and the message is retried later (or dead). Sharing the transaction, the
    lookups and the counter updates is what makes small messages cheap. Returns each
    message's new status, None where this worker's claim was lost.
    """

    def run() -> list[str | None]:
        with (
            claims.worker_session(factory) as session,
            session.begin(),
            activity.deferred_metrics(session, clock),
            activity.deferred_rows(session),
        ):
            batch = _hold_all(session=session, message_ids=message_ids, worker=worker)
            _prepare(session=session, batch=batch)
            done: dict[uuid.UUID, str] = {}
            for run_ in _same_workspace_runs(batch.messages):
                done.update(_deliver_run(session=session, clock=clock, batch=batch, run=run_))
            # Every message's rows are flushed; marking and counters span workspaces.
            claims.as_system(session)
            _mark_delivered(
                session=session,
                clock=clock,
                message_ids=[m for m, status in done.items() if status == "delivered"],
            )
        return [done.get(message_id) for message_id in message_ids]

    return claims.retrying_deadlocks(run, what="delivery batch")


@dataclass(slots=True)
class _Batch:
    """The held messages (oldest first) and their recipients, kept referenced for the
    transaction: the session's identity map holds rows only weakly."""

    messages: list[AgentMessage]
    recipients: dict[uuid.UUID, Agent]
    configs: dict[uuid.UUID, AgentConfig] = field(default_factory=dict)


def _hold_all(*, session: Session, message_ids: list[uuid.UUID], worker: str) -> _Batch:
    """Lock the batch's messages this worker still owns, then load them and their recipients.

    Locking first, before any side effect, is how a worker whose lease was taken over
    finds out now rather than after it acted.
    """
    claims.as_system(session)
    held = claims.hold_all(
        session,
        AgentMessage,
        message_ids,
        conditions=[AgentMessage.status == "pending", AgentMessage.claimed_by == worker],
    )
    if not held:
        return _Batch([], {})
    messages = sorted(held, key=lambda m: (m.created_at, m.id))
    agent_ids = {m.to_agent_id for m in messages if m.to_agent_id is not None}
    recipients = {
        agent.id: agent for agent in session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))
    }
    return _Batch(messages, recipients)


def _prepare(*, session: Session, batch: _Batch) -> None:
    """Let each recipient look up what its messages need in one go (an optional
    ``prepare_messages(session, messages)`` on the agent class). Only an optimisation: a
    failure is logged and each message then finds what it needs by itself."""
    groups: dict[tuple[uuid.UUID, uuid.UUID], list[AgentMessage]] = {}
    for message in batch.messages:
        if message.to_agent_id in batch.recipients:
            assert message.to_agent_id is not None
            groups.setdefault((message.workspace_id, message.to_agent_id), []).append(message)
    for (workspace_id, agent_id), messages in groups.items():
        prepare = getattr(
            agent_for(batch.recipients[agent_id].agent_type), "prepare_messages", None
        )
        if prepare is None:
            continue
        claims.bind_to(session, workspace_id)
        try:
            with session.begin_nested():
                prepare(session, messages)
        except Exception as exc:
            log.warning("preparing messages for agent %s failed: %s", agent_id, exc)
    claims.as_system(session)


def _same_workspace_runs(messages: list[AgentMessage]) -> list[list[AgentMessage]]:
    """The batch cut where the workspace changes, keeping the messages' order."""
    runs: list[list[AgentMessage]] = []
    for message in messages:
        if runs and runs[-1][0].workspace_id == message.workspace_id:
            runs[-1].append(message)
        else:
            runs.append([message])
    return runs


def _deliver_run(
    *, session: Session, clock: Clock, batch: _Batch, run: list[AgentMessage]
) -> dict[uuid.UUID, str]:
    """One workspace's consecutive messages, all in one savepoint written by one flush (a
    savepoint and a flush per message cost more than most handlers). If any of them fails,
    that savepoint goes and each message is delivered again in its own (handlers are
    idempotent, and nothing of the first try is left), so a failure still costs only its
    own message."""
    claims.bind_to(session, run[0].workspace_id)
    if len(run) > 1:
        before = activity.snapshot_metrics(session)
        mark = activity.rows_mark(session)
        try:
            with session.begin_nested():
                for message in run:
                    _handle(
                        session=session,
                        clock=clock,
                        batch=batch,
                        recipient=_recipient(batch, message),
                        message=message,
                    )
                activity.write_rows(session)
        except Exception as exc:
            activity.restore_metrics(session, before)
            activity.rows_rollback(session, mark)
            log.info("delivering %d messages together failed (%s); one at a time", len(run), exc)
        else:
            return dict.fromkeys((message.id for message in run), "delivered")
    return {
        message.id: _deliver_one(session=session, clock=clock, batch=batch, message=message)
        for message in run
    }


def _recipient(batch: _Batch, message: AgentMessage) -> Agent:
    recipient = batch.recipients.get(message.to_agent_id) if message.to_agent_id else None
    if recipient is None:
        raise LookupError("the recipient agent no longer exists")
    return recipient


def _deliver_one(*, session: Session, clock: Clock, batch: _Batch, message: AgentMessage) -> str:
    claims.bind_to(session, message.workspace_id)
    before = activity.snapshot_metrics(session)
    mark = activity.rows_mark(session)
    try:
        recipient = _recipient(batch, message)
        with session.begin_nested():
            _handle(session=session, clock=clock, batch=batch, recipient=recipient, message=message)
            activity.write_rows(session)
    except Exception as exc:
        log.warning("message %s failed: %s", message.id, exc)
        activity.restore_metrics(session, before)
        activity.rows_rollback(session, mark)
        status = _failed(session=session, clock=clock, message=message, error=exc)
    else:
        status = "delivered"  # written for the whole batch at its end (_mark_delivered)
    # Written now, while the session is still bound to this message's workspace.
    session.flush()
    return status


def _mark_delivered(*, session: Session, clock: Clock, message_ids: list[uuid.UUID]) -> None:
    """One statement for the batch's delivered messages, in the transaction of their effects
    (the rows are locked by _hold_all; the handlers did not touch these columns)."""
    if not message_ids:
        return
    now = clock.now()
    session.execute(
        update(AgentMessage)
        .where(AgentMessage.id.in_(message_ids))
        .values(status="delivered", read_at=now, claimed_by=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    for message_id in message_ids:
        message = session.get(AgentMessage, message_id)  # loaded by _hold_all: no query
        if message is not None:
            for name, value in (
                ("status", "delivered"),
                ("read_at", now),
                ("claimed_by", None),
                ("lease_expires_at", None),
            ):
                set_committed_value(message, name, value)


def _handle(
    *, session: Session, clock: Clock, batch: _Batch, recipient: Agent, message: AgentMessage
) -> None:
    handler = agent_for(recipient.agent_type)
    config = batch.configs.get(recipient.id)
    if config is None:
        config = CONFIG_MODELS[recipient.agent_type].model_validate(recipient.config)
        batch.configs[recipient.id] = config
    ctx = AgentContext(
        workspace_id=message.workspace_id,
        session=session,
        clock=clock,
        agent=recipient,
        config=config,
        bus=bus.Bus(session=session, clock=clock, sender=recipient),
    )
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
