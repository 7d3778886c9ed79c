"""Planning outputs: recommendations per opportunity and campaigns."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from commandcentre.db.base import Base, IdMixin, TimestampMixin, WorkspaceScoped, enum_check

RECOMMENDATION_STATUSES = ("pending", "accepted", "dismissed", "superseded")
CAMPAIGN_STATUSES = ("draft", "active", "paused", "completed", "cancelled")


class PlanningRecommendation(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_planning_recommendations"
    __table_args__ = (enum_check("status", RECOMMENDATION_STATUSES),)

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_opportunities.id", ondelete="CASCADE"), index=True
    )
    recommendation_type: Mapped[str] = mapped_column(String(64))
    priority_score: Mapped[float] = mapped_column(default=0.0)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    recommended_actions: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending")


class Campaign(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_campaigns"
    __table_args__ = (enum_check("status", CAMPAIGN_STATUSES),)

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="SET NULL"), index=True
    )
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_opportunities.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    goals: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target_contact_ids: Mapped[list[str]] = mapped_column(default=list)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
