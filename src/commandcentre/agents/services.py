"""Agents as the user manages them: create, configure, pause, inspect."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commandcentre.agents import activity, bus, wakeup
from commandcentre.agents.config import merged_config, validate_config
from commandcentre.agents.models import (
    AGENT_TYPES,
    ActivityEntry,
    Agent,
    AgentMessage,
    AgentMetrics,
    AgentTask,
)
from commandcentre.clock import Clock
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.pagination import Page, paginate


def list_(*, session: Session) -> list[Agent]:
    order = {t: i for i, t in enumerate(("planning", "outreach", "followup", "research"))}
    agents = sorted(session.scalars(select(Agent)), key=lambda a: order.get(a.agent_type, 99))
    activity.derive_statuses(session=session, agents=agents)
    return agents


def get(*, session: Session, agent_id: uuid.UUID) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("agent not found")
    # Callers that show the status derive it (status(), the API's agent view); most
    # callers only need the row, so no status queries here.
    return agent


def get_by_type(*, session: Session, agent_type: str) -> Agent:
    return bus.agent_by_type(session=session, agent_type=agent_type)


def create(
    *, session: Session, clock: Clock, agent_type: str, name: str, config: dict[str, Any] | None
) -> Agent:
    if agent_type not in AGENT_TYPES:
        raise InvalidInput(f"agentType must be one of {', '.join(AGENT_TYPES)}", field="agentType")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("name must be 1-200 characters", field="name")
    if session.scalar(select(Agent.id).where(Agent.agent_type == agent_type)):
        raise Conflict(f"this workspace already has a {agent_type} agent", field="agentType")
    agent = Agent(agent_type=agent_type, name=name, config=validate_config(agent_type, config))
    session.add(agent)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(
            f"this workspace already has a {agent_type} agent", field="agentType"
        ) from None
    activity.record(
        session=session,
        clock=clock,
        agent_id=agent.id,
        activity_type="agent_created",
        description=f"{name} agent created",
    )
    return agent


def update_config(
    *,
    session: Session,
    clock: Clock,
    agent_id: uuid.UUID,
    changes: dict[str, Any],
    name: str | None = None,
) -> Agent:
    agent = get(session=session, agent_id=agent_id)
    new_config = merged_config(agent.agent_type, agent.config, changes)
    changed = sorted(k for k in new_config if new_config[k] != agent.config.get(k))
    agent.config = new_config
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise InvalidInput("name must be 1-200 characters", field="name")
        agent.name = name.strip()
    if changed:
        activity.record(
            session=session,
            clock=clock,
            agent_id=agent.id,
            activity_type="config_changed",
            description=f"Settings changed: {', '.join(changed)}",
            details={k: new_config[k] for k in changed},
        )
    return agent


def pause(*, session: Session, clock: Clock, agent_id: uuid.UUID) -> Agent:
    agent = get(session=session, agent_id=agent_id)
    if agent.paused_at is None:
        agent.paused_at = clock.now()
        agent.status = "paused"
        activity.record(
            session=session,
            clock=clock,
            agent_id=agent.id,
            activity_type="agent_paused",
            description=f"{agent.name} paused",
        )
    return agent


def resume(*, session: Session, clock: Clock, agent_id: uuid.UUID) -> Agent:
    agent = get(session=session, agent_id=agent_id)
    if agent.paused_at is not None:
        agent.paused_at = None
        agent.status = "idle"
        session.flush()
        activity.derive_status(session=session, agent=agent)
        activity.record(
            session=session,
            clock=clock,
            agent_id=agent.id,
            activity_type="agent_resumed",
            description=f"{agent.name} resumed",
        )
        wakeup.after_commit(session, "tasks")
        wakeup.after_commit(session, "messages")
    return agent


@dataclass(frozen=True, slots=True)
class Performance:
    tasks_completed: int
    tasks_failed: int
    success_rate: float
    average_response_time: float  # seconds from assignment to completion


@dataclass(frozen=True, slots=True)
class Status:
    agent: Agent
    current_tasks: list[AgentTask]
    performance: Performance
    message_queue: int
    pending_approvals: int


def performance(*, session: Session, agent_id: uuid.UUID) -> Performance:
    row = session.execute(
        select(
            func.coalesce(func.sum(AgentMetrics.tasks_completed), 0),
            func.coalesce(func.sum(AgentMetrics.tasks_failed), 0),
            func.coalesce(func.sum(AgentMetrics.total_response_seconds), 0.0),
            func.coalesce(func.sum(AgentMetrics.response_count), 0),
        ).where(AgentMetrics.agent_id == agent_id)
    ).one()
    done, failed, seconds, count = int(row[0]), int(row[1]), float(row[2]), int(row[3])
    finished = done + failed
    return Performance(
        tasks_completed=done,
        tasks_failed=failed,
        success_rate=round(done / finished, 4) if finished else 1.0,
        average_response_time=round(seconds / count, 3) if count else 0.0,
    )


def status(*, session: Session, agent_id: uuid.UUID) -> Status:
    from commandcentre.agents.models import Approval

    agent = get(session=session, agent_id=agent_id)
    activity.derive_status(session=session, agent=agent)
    current = list(
        session.scalars(
            select(AgentTask)
            .where(
                AgentTask.agent_id == agent.id,
                AgentTask.status.in_(("in_progress", "pending", "waiting_approval")),
            )
            .order_by(AgentTask.priority_rank, AgentTask.created_at)
            .limit(20)
        )
    )
    queue = session.scalar(
        select(func.count(AgentMessage.id)).where(
            AgentMessage.to_agent_id == agent.id, AgentMessage.status == "pending"
        )
    )
    approvals = session.scalar(
        select(func.count(Approval.id)).where(
            Approval.agent_id == agent.id, Approval.status == "pending"
        )
    )
    return Status(
        agent,
        current,
        performance(session=session, agent_id=agent.id),
        int(queue or 0),
        int(approvals or 0),
    )


def list_activity(
    *,
    session: Session,
    agent_id: uuid.UUID | None,
    page: int,
    limit: int,
    activity_type: str | None = None,
) -> Page[ActivityEntry]:
    stmt = select(ActivityEntry)
    if agent_id is not None:
        stmt = stmt.where(ActivityEntry.agent_id == agent_id)
    if activity_type:
        stmt = stmt.where(ActivityEntry.activity_type == activity_type)
    stmt = stmt.order_by(ActivityEntry.created_at.desc(), ActivityEntry.id.desc())
    return paginate(session, stmt, page=page, limit=limit)


def list_messages(
    *, session: Session, agent_id: uuid.UUID | None, limit: int = 50
) -> list[AgentMessage]:
    stmt = select(AgentMessage)
    if agent_id is not None:
        stmt = stmt.where(
            or_(AgentMessage.from_agent_id == agent_id, AgentMessage.to_agent_id == agent_id)
        )
    return list(session.scalars(stmt.order_by(AgentMessage.created_at.desc()).limit(limit)))


def send_message(
    *,
    session: Session,
    clock: Clock,
    from_agent_id: uuid.UUID,
    to_agent_type: str | None,
    to_agent_id: uuid.UUID | None,
    message_type: str,
    subject: str,
    payload: dict[str, Any],
    requires_response: bool,
    response_to_id: uuid.UUID | None,
) -> AgentMessage:
    sender = get(session=session, agent_id=from_agent_id)
    recipient: Agent | None = None
    if to_agent_id is not None:
        recipient = get(session=session, agent_id=to_agent_id)
    elif to_agent_type is not None:
        recipient = get_by_type(session=session, agent_type=to_agent_type)
    response_to = None
    if response_to_id is not None:
        response_to = session.get(AgentMessage, response_to_id)
        if response_to is None:
            raise NotFound("the message to respond to was not found")
    if message_type == "escalation":
        return bus.escalate(
            session=session,
            clock=clock,
            sender=sender,
            subject=subject,
            payload=payload,
            choices=bus.ESCALATION_CHOICES,
        )
    if recipient is None:
        raise InvalidInput("say which agent receives the message", field="toAgentType")
    return bus.send(
        session=session,
        clock=clock,
        sender=sender,
        recipient=recipient,
        message_type=message_type,
        subject=subject,
        payload=payload,
        requires_response=requires_response,
        response_to=response_to,
    )
