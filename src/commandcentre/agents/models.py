"""The agent runtime's tables: agents, tasks, messages, approvals, activity, metrics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commandcentre.db.base import (
    Base,
    ClaimMixin,
    IdMixin,
    TimestampMixin,
    WorkspaceScoped,
    enum_check,
)

AGENT_TYPES = ("outreach", "followup", "planning", "research")
AGENT_STATUSES = ("idle", "active", "waiting_approval", "paused", "error")
TASK_PRIORITIES = ("low", "medium", "high", "urgent")
TASK_STATUSES = (
    "pending",
    "in_progress",
    "waiting_approval",
    "completed",
    "failed",
    "cancelled",
    "dead",
)
MESSAGE_TYPES = ("request", "response", "notification", "escalation")
MESSAGE_STATUSES = ("pending", "delivered", "failed", "dead")
APPROVAL_KINDS = ("task", "escalation")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "cancelled", "expired")


class Agent(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "ai_agents"
    __table_args__ = (
        UniqueConstraint("workspace_id", "agent_type"),
        enum_check("agent_type", AGENT_TYPES),
        enum_check("status", AGENT_STATUSES),
    )

    agent_type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(24), default="idle")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    paused_at: Mapped[datetime | None]
    last_active_at: Mapped[datetime | None]


class AgentTask(IdMixin, TimestampMixin, ClaimMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_tasks"
    __table_args__ = (
        enum_check("priority", TASK_PRIORITIES),
        enum_check("status", TASK_STATUSES),
        # The claim query: due pending tasks by priority then age.
        Index(
            "ix_agent_tasks_due",
            "priority_rank",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_agent_tasks_leases",
            "lease_expires_at",
            sqlite_where=text("status = 'in_progress'"),
            postgresql_where=text("status = 'in_progress'"),
        ),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    task_type: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    # urgent=0 ... low=3 so an ascending index serves "most urgent first".
    priority_rank: Mapped[int] = mapped_column(default=2)
    status: Mapped[str] = mapped_column(String(24), default="pending")
    input_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_data: Mapped[dict[str, Any] | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_opportunities.id", ondelete="SET NULL")
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="SET NULL")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class AgentMessage(IdMixin, ClaimMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_messages"
    __table_args__ = (
        enum_check("message_type", MESSAGE_TYPES),
        enum_check("status", MESSAGE_STATUSES),
        # A request gets exactly one response.
        Index(
            "uq_agent_messages_response_to_id",
            "response_to_id",
            unique=True,
            sqlite_where=text("response_to_id IS NOT NULL"),
            postgresql_where=text("response_to_id IS NOT NULL"),
        ),
        Index(
            "ix_agent_messages_due",
            "to_agent_id",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    from_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    to_agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    message_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requires_response: Mapped[bool] = mapped_column(default=False)
    response_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_messages.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    response_deadline_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]
    # Set when an unanswered request was escalated, so it escalates once.
    escalated_at: Mapped[datetime | None]
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_tasks.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]


class Approval(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A decision waiting for the user: a task that needs approval, or an escalation."""

    __tablename__ = "agent_approvals"
    __table_args__ = (
        enum_check("kind", APPROVAL_KINDS),
        enum_check("status", APPROVAL_STATUSES),
        Index(
            "ix_agent_approvals_pending",
            "workspace_id",
            "created_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_tasks.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_messages.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    choices: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decision: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]


class ActivityEntry(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_activity_log"
    __table_args__ = (
        Index("ix_agent_activity_log_workspace_created", "workspace_id", "created_at"),
        Index("ix_agent_activity_log_agent_created", "agent_id", "created_at"),
    )

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE")
    )
    activity_type: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_tasks.id", ondelete="SET NULL")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_messages.id", ondelete="SET NULL")
    )
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]

    # Never loaded or set: it is here so that one flush writes a message before the log
    # entries about it (the unit of work orders inserts by relationships, not foreign keys).
    message: Mapped[AgentMessage | None] = relationship(lazy="raise", viewonly=False)


class AgentMetrics(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """Daily counters per agent, fed by the activity function."""

    __tablename__ = "agent_performance_metrics"
    __table_args__ = (UniqueConstraint("agent_id", "metric_date"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    metric_date: Mapped[date]
    tasks_completed: Mapped[int] = mapped_column(default=0)
    tasks_failed: Mapped[int] = mapped_column(default=0)
    messages_sent: Mapped[int] = mapped_column(default=0)
    messages_received: Mapped[int] = mapped_column(default=0)
    outreach_sent: Mapped[int] = mapped_column(default=0)
    responses_received: Mapped[int] = mapped_column(default=0)
    followups_scheduled: Mapped[int] = mapped_column(default=0)
    followups_completed: Mapped[int] = mapped_column(default=0)
    opportunities_identified: Mapped[int] = mapped_column(default=0)
    total_response_seconds: Mapped[float] = mapped_column(default=0.0)
    response_count: Mapped[int] = mapped_column(default=0)
