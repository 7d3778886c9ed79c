"""Experiments (A/B variants of agent settings) and rules learned from feedback."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commandcentre.db.base import Base, IdMixin, TimestampMixin, WorkspaceScoped, enum_check


class Experiment(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        enum_check("status", ("draft", "running", "stopped")),
    )

    name: Mapped[str] = mapped_column(String(200))
    agent_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="draft")


class ExperimentVariant(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "experiment_variants"
    __table_args__ = (UniqueConstraint("experiment_id", "name"),)

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    weight: Mapped[int] = mapped_column(default=1)


class FeedbackRule(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A standing instruction drawn from the user's edits and rejections."""

    __tablename__ = "feedback_rules"

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), index=True
    )
    rule: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
