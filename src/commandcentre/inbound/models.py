"""Inbound mail: every message that came back, once, and where polling left off."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commandcentre.db.base import (
    Base,
    ClaimMixin,
    IdMixin,
    TimestampMixin,
    WorkspaceScoped,
    enum_check,
)

INBOUND_SOURCES = ("imap", "webhook", "manual")
CLASSIFICATIONS = (
    "reply",
    "out_of_office",
    "bounce_hard",
    "bounce_soft",
    "unsubscribe",
    "unknown",
)
INBOUND_STATUSES = ("pending", "processed", "quarantined", "dead")


class InboundMessage(IdMixin, TimestampMixin, ClaimMixin, WorkspaceScoped, Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        enum_check("source", INBOUND_SOURCES),
        enum_check("status", INBOUND_STATUSES),
    )

    mailbox_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL")
    )
    source: Mapped[str] = mapped_column(String(16))
    # Message-ID header when present, else a hash of the raw message.
    dedupe_key: Mapped[str] = mapped_column(String(500))
    message_id_header: Mapped[str | None] = mapped_column(String(500))
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[str | None] = mapped_column(Text)
    from_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(1000))
    body_text: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    classification: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    matched_send_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("outreach_sends.id", ondelete="SET NULL")
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)


class ImapCheckpoint(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "imap_checkpoints"
    __table_args__ = (UniqueConstraint("mailbox_id", "folder"),)

    mailbox_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int]
    last_uid: Mapped[int] = mapped_column(default=0)
