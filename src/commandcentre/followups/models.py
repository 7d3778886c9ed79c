"""The follow-up schedule (seed shape)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from commandcentre.db.base import (
    Base,
    ClaimMixin,
    IdMixin,
    TimestampMixin,
    WorkspaceScoped,
    enum_check,
)

FOLLOWUP_TYPES = (
    "reminder",
    "value_add",
    "check_in",
    "post_event",
    "meeting_note",
    # Not a message: the moment to ask the user what next, when every follow-up went unanswered.
    "escalation",
)
FOLLOWUP_STATUSES = ("scheduled", "executed", "cancelled", "skipped")


class FollowUp(IdMixin, TimestampMixin, ClaimMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_followup_schedule"
    __table_args__ = (
        enum_check("followup_type", FOLLOWUP_TYPES),
        enum_check("status", FOLLOWUP_STATUSES),
        Index(
            "ix_agent_followup_schedule_due",
            "scheduled_at",
            sqlite_where=text("status = 'scheduled'"),
            postgresql_where=text("status = 'scheduled'"),
        ),
    )

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="CASCADE"), index=True
    )
    original_outreach_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_outreach_drafts.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_outreach_drafts.id", ondelete="SET NULL"), index=True
    )
    followup_number: Mapped[int] = mapped_column(default=1)
    followup_type: Mapped[str] = mapped_column(String(16), default="reminder")
    scheduled_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    executed_at: Mapped[datetime | None]
    cancel_reason: Mapped[str | None] = mapped_column(Text)
