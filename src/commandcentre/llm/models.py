"""Language-model bookkeeping: the usage ledger and the response cache."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commandcentre.db.base import Base, IdMixin, WorkspaceScoped


class LlmUsage(IdMixin, WorkspaceScoped, Base):
    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_agent_created", "agent_id", "created_at"),)

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="SET NULL")
    )
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_tasks.id", ondelete="SET NULL")
    )
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(100))
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    cached: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    created_at: Mapped[datetime]


class LlmCacheEntry(IdMixin, WorkspaceScoped, Base):
    """Cached model answers, per workspace so no text crosses tenants."""

    __tablename__ = "llm_cache"
    __table_args__ = (UniqueConstraint("workspace_id", "cache_key"),)

    cache_key: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(100))
    response: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class LlmLimitState(IdMixin, Base):
    """Shared by every worker of every workspace: a provider's rate limit and breaker.

    One row per provider (and model endpoint); workers update it with conditional UPDATEs
    so the limit holds across processes without another service.
    """

    __tablename__ = "llm_limit_state"
    __table_args__ = (UniqueConstraint("key"),)

    key: Mapped[str] = mapped_column(String(200))
    # Token bucket: tokens left as of refilled_at.
    tokens: Mapped[float] = mapped_column(default=0.0)
    refilled_at: Mapped[datetime]
    # Circuit breaker: consecutive failures, and until when calls are refused.
    failures: Mapped[int] = mapped_column(default=0)
    open_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]
