"""The one way agent activity is written: log entry, daily counters, agent status, live feed."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from commandcentre.agents.live import feed
from commandcentre.agents.models import ActivityEntry, Agent, AgentMetrics, AgentTask
from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace

METRIC_FIELDS = frozenset(
    {
        "tasks_completed",
        "tasks_failed",
        "messages_sent",
        "messages_received",
        "outreach_sent",
        "responses_received",
        "followups_scheduled",
        "followups_completed",
        "opportunities_identified",
    }
)


def record(
    *,
    session: Session,
    clock: Clock,
    agent_id: uuid.UUID | None,
    activity_type: str,
    description: str,
    details: dict[str, Any] | None = None,
    task_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    metrics: dict[str, float] | None = None,
) -> ActivityEntry:
    now = clock.now()
    entry = ActivityEntry(
        agent_id=agent_id,
        activity_type=activity_type,
        description=description,
        details=details or {},
        task_id=task_id,
        message_id=message_id,
        entity_type=entity_type,
        entity_id=entity_id,
        created_at=now,
    )
    session.add(entry)
    if agent_id is not None:
        if metrics:
            bump_metrics(session=session, clock=clock, agent_id=agent_id, counts=metrics)
        refresh_status(session=session, clock=clock, agent_id=agent_id)
    session.flush()
    workspace_id = current_workspace(session)
    # Wake local streams only once the change is visible to them.
    session.info.setdefault("after_commit_publish", set()).add(workspace_id)
    return entry


def bump_metrics(
    *, session: Session, clock: Clock, agent_id: uuid.UUID, counts: dict[str, float]
) -> None:
    """Add to today's counters with one upsert, safe when workers write at once."""
    unknown = set(counts) - METRIC_FIELDS - {"total_response_seconds", "response_count"}
    if unknown:
        raise ValueError(f"unknown metrics: {sorted(unknown)}")
    now = clock.now()
    values: dict[str, Any] = {
        "id": new_id(),
        "workspace_id": current_workspace(session),
        "agent_id": agent_id,
        "metric_date": now.date(),
        "created_at": now,
        "updated_at": now,
        **counts,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(AgentMetrics).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["agent_id", "metric_date"],
        set_={
            **{name: getattr(AgentMetrics, name) + stmt.excluded[name] for name in counts},
            "updated_at": stmt.excluded.updated_at,
        },
    )
    session.execute(stmt)


def derive_status(*, session: Session, agent: Agent) -> str:
    """idle | active | waiting_approval | paused | error, from the agent's work."""
    if agent.paused_at is not None:
        return "paused"
    counts = dict(
        session.execute(
            select(AgentTask.status, func.count())
            .where(
                AgentTask.agent_id == agent.id,
                AgentTask.status.in_(("pending", "in_progress", "waiting_approval")),
            )
            .group_by(AgentTask.status)
        ).all()
    )
    if counts.get("in_progress"):
        return "active"
    if counts.get("waiting_approval"):
        return "waiting_approval"
    if counts.get("pending"):
        return "active"
    return "idle"


def refresh_status(*, session: Session, clock: Clock, agent_id: uuid.UUID) -> None:
    agent = session.get(Agent, agent_id)
    if agent is None:
        return
    session.flush()
    status = derive_status(session=session, agent=agent)
    if agent.status != status:
        agent.status = status
    agent.last_active_at = clock.now()


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    for workspace_id in session.info.pop("after_commit_publish", ()):
        feed.publish(workspace_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("after_commit_publish", None)
