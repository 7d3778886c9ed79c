"""Outreach: drafts, the send chain of each approved draft, mailboxes and suppression."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from commandcentre.db.base import (
    Base,
    ClaimMixin,
    IdMixin,
    TimestampMixin,
    WorkspaceScoped,
    enum_check,
)

CHANNELS = ("email", "linkedin")
DRAFT_STATUSES = ("draft", "pending_approval", "approved", "sent", "rejected")
SEND_STATUSES = (
    "queued",
    "claimed",
    "in_flight",
    "sent",
    "retry_wait",
    "failed",
    "unknown",
    "needs_review",
    "cancelled",
    "dead",
    # LinkedIn: nothing is sent automatically; the user copies the text and marks it sent.
    "manual",
)
SUPPRESSION_KINDS = ("email", "domain")
SUPPRESSION_REASONS = ("unsubscribe", "bounce", "manual", "complaint")


class OutreachDraft(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "agent_outreach_drafts"
    __table_args__ = (
        enum_check("channel", CHANNELS),
        enum_check("status", DRAFT_STATUSES),
        Index("ix_agent_outreach_drafts_workspace_status", "workspace_id", "status"),
    )

    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="SET NULL"), index=True
    )
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_tasks.id", ondelete="SET NULL")
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="CASCADE"), index=True
    )
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_opportunities.id", ondelete="SET NULL"), index=True
    )
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_campaigns.id", ondelete="SET NULL")
    )
    parent_draft_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("agent_outreach_drafts.id", ondelete="SET NULL"), index=True
    )
    followup_number: Mapped[int] = mapped_column(default=0)
    channel: Mapped[str] = mapped_column(String(16), default="email")
    recipient: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(500), default="")
    message_body: Mapped[str] = mapped_column(Text)
    personalization_context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    claims: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    flags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(24), default="draft")
    suggested_send_at: Mapped[datetime | None]
    writer: Mapped[str | None] = mapped_column(String(100))
    approved_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    approved_at: Mapped[datetime | None]
    # SHA-256 of recipient + subject + body at approval; the sender refuses anything else.
    approval_hash: Mapped[str | None] = mapped_column(String(64))
    rejection_reason: Mapped[str | None] = mapped_column(Text)


class Mailbox(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("workspace_id", "from_address"),)

    name: Mapped[str] = mapped_column(String(200))
    from_address: Mapped[str] = mapped_column(String(320))
    daily_cap: Mapped[int] = mapped_column(default=50)
    imap_folder_sent: Mapped[str | None] = mapped_column(String(200))
    # The provider files every accepted message in the Sent folder itself (Gmail, Microsoft
    # 365). Only then does "not in Sent" prove a message with an unknown outcome never left.
    sent_copies_automatic: Mapped[bool] = mapped_column(default=False)
    is_default: Mapped[bool] = mapped_column(default=False)


class Send(IdMixin, TimestampMixin, ClaimMixin, WorkspaceScoped, Base):
    """One approved message's way out; recorded before the attempt, updated after."""

    __tablename__ = "outreach_sends"
    __table_args__ = (
        UniqueConstraint("draft_id"),
        UniqueConstraint("message_id"),
        enum_check("status", SEND_STATUSES),
        enum_check("channel", CHANNELS),
        Index(
            "ix_outreach_sends_due",
            "not_before",
            sqlite_where=text("status IN ('queued', 'retry_wait')"),
            postgresql_where=text("status IN ('queued', 'retry_wait')"),
        ),
        Index("ix_outreach_sends_mailbox_started", "mailbox_id", "started_at"),
        Index("ix_outreach_sends_agent_started", "agent_id", "started_at"),
        Index("ix_outreach_sends_workspace_started", "workspace_id", "started_at"),
        # The last touch of a contact (minimum gap between touches).
        Index("ix_outreach_sends_contact_started", "contact_id", "started_at"),
    )

    draft_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent_outreach_drafts.id", ondelete="CASCADE")
    )
    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL")
    )
    agent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="SET NULL")
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16), default="email")
    recipient: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(500), default="")
    # Assigned and committed just before the first attempt, kept for every later one.
    message_id: Mapped[str | None] = mapped_column(String(300))
    approval_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    not_before: Mapped[datetime]
    # When the attempt began; what counts against the rolling 24-hour caps.
    started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class Suppression(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "kind", "value"),
        enum_check("kind", SUPPRESSION_KINDS),
        enum_check("reason", SUPPRESSION_REASONS),
    )

    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
