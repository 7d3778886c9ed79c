"""Event intelligence: events and their sessions, contacts, accounts, intel, opportunities."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commandcentre.db.base import Base, IdMixin, TimestampMixin, WorkspaceScoped, enum_check

OUTREACH_STATUSES = (
    "new",
    "queued",
    "contacted",
    "replied",
    "meeting",
    "not_interested",
    "do_not_contact",
)
APPEARANCE_ROLES = ("speaker", "attendee", "sponsor", "organiser")
INTEL_CATEGORIES = (
    "note",
    "news",
    "funding",
    "hiring",
    "product",
    "leadership",
    "partnership",
    "earnings",
    "other",
)
OPPORTUNITY_STATUSES = ("new", "reviewing", "delegated", "in_progress", "won", "dismissed")
IMPORT_KINDS = ("events", "speakers", "contacts", "accounts")


class Event(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "collected_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        Index("ix_collected_events_workspace_start", "workspace_id", "start_date"),
    )

    name: Mapped[str] = mapped_column(String(300))
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    url: Mapped[str | None] = mapped_column(String(2000))
    city: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(200))
    online: Mapped[bool] = mapped_column(default=False)
    topics: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(500))
    # external id when the source has one, else normalised name + start date.
    dedupe_key: Mapped[str] = mapped_column(String(600))
    source: Mapped[str | None] = mapped_column(String(40))

    sessions: Mapped[list[EventSession]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventSession.starts_at"
    )


class EventSession(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A talk or session of an event."""

    __tablename__ = "event_sessions"
    __table_args__ = (UniqueConstraint("event_id", "dedupe_key"),)

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collected_events.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    abstract: Mapped[str | None] = mapped_column(Text)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    room: Mapped[str | None] = mapped_column(String(200))
    track: Mapped[str | None] = mapped_column(String(200))
    session_type: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(500))
    dedupe_key: Mapped[str] = mapped_column(String(600))

    event: Mapped[Event] = relationship(back_populates="sessions")


class Account(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A target account on the watchlist."""

    __tablename__ = "watchlists"
    __table_args__ = (
        UniqueConstraint("workspace_id", "normalised_name"),
        CheckConstraint("tier BETWEEN 1 AND 3", name="tier_range"),
    )

    name: Mapped[str] = mapped_column(String(300))
    normalised_name: Mapped[str] = mapped_column(String(300))
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    aliases: Mapped[list[str]] = mapped_column(default=list)
    tier: Mapped[int] = mapped_column(default=2)
    industry: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)


class Contact(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A speaker or other contact (the saved speaker profile)."""

    __tablename__ = "saved_speaker_profiles"
    __table_args__ = (
        enum_check("outreach_status", OUTREACH_STATUSES),
        enum_check("email_status", ("unknown", "valid", "invalid")),
        Index(
            "uq_saved_speaker_profiles_workspace_email",
            "workspace_id",
            "email",
            unique=True,
            sqlite_where=text("email IS NOT NULL"),
            postgresql_where=text("email IS NOT NULL"),
        ),
        Index("ix_saved_speaker_profiles_workspace_name_key", "workspace_id", "name_key"),
    )

    full_name: Mapped[str] = mapped_column(String(300))
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str | None] = mapped_column(String(320))
    email_status: Mapped[str] = mapped_column(String(16), default="unknown")
    title: Mapped[str | None] = mapped_column(String(300))
    organisation: Mapped[str | None] = mapped_column(String(300))
    linkedin_url: Mapped[str | None] = mapped_column(String(500))
    bio: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(String(64))
    outreach_status: Mapped[str] = mapped_column(String(24), default="new")
    # Out-of-office: follow-ups wait until this instant.
    followups_paused_until: Mapped[datetime | None]
    # Normalised name + organisation: identifies a person when there is no email.
    name_key: Mapped[str] = mapped_column(String(600))
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("watchlists.id", ondelete="SET NULL"), index=True
    )
    match_method: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(40))

    account: Mapped[Account | None] = relationship()


class Appearance(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """A contact at an event: speaking at a session, attending, sponsoring."""

    __tablename__ = "contact_event_appearances"
    __table_args__ = (
        UniqueConstraint("contact_id", "event_id", "appearance_key"),
        enum_check("role", APPEARANCE_ROLES),
    )

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collected_events.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("event_sessions.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="speaker")
    # session id, or the role when there is no session: keeps re-imports idempotent.
    appearance_key: Mapped[str] = mapped_column(String(64))

    contact: Mapped[Contact] = relationship()
    event: Mapped[Event] = relationship()
    session: Mapped[EventSession | None] = relationship()


class AccountIntel(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    __tablename__ = "account_intelligence"
    __table_args__ = (
        enum_check("category", INTEL_CATEGORIES),
        UniqueConstraint("account_id", "dedupe_key"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(String(16), default="note")
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    noted_on: Mapped[date | None]
    source_url: Mapped[str | None] = mapped_column(String(2000))
    source_name: Mapped[str | None] = mapped_column(String(200))
    dedupe_key: Mapped[str] = mapped_column(String(600))

    account: Mapped[Account] = relationship()


class Opportunity(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """An event where target accounts speak or attend."""

    __tablename__ = "user_opportunities"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        enum_check("status", OPPORTUNITY_STATUSES),
        Index("ix_user_opportunities_workspace_score", "workspace_id", "signal_score"),
    )

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collected_events.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="new")
    signal_score: Mapped[float] = mapped_column(default=0.0)
    score_explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    account_count: Mapped[int] = mapped_column(default=0)
    contact_count: Mapped[int] = mapped_column(default=0)
    priority_score: Mapped[float | None]
    first_seen_at: Mapped[datetime]
    last_discovered_at: Mapped[datetime]

    event: Mapped[Event] = relationship()
    links: Mapped[list[OpportunityContact]] = relationship(
        back_populates="opportunity", cascade="all, delete-orphan"
    )


class OpportunityContact(IdMixin, WorkspaceScoped, Base):
    """Which target-account people make an opportunity, and through which account."""

    __tablename__ = "opportunity_contacts"
    __table_args__ = (UniqueConstraint("opportunity_id", "contact_id"),)

    opportunity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_opportunities.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("saved_speaker_profiles.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlists.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="speaker")

    opportunity: Mapped[Opportunity] = relationship(back_populates="links")
    contact: Mapped[Contact] = relationship()
    account: Mapped[Account] = relationship()


class ImportRun(IdMixin, TimestampMixin, WorkspaceScoped, Base):
    """The record of one import: what it read and what it changed."""

    __tablename__ = "import_runs"
    __table_args__ = (
        enum_check("kind", IMPORT_KINDS),
        enum_check("status", ("completed", "failed")),
    )

    kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    skipped_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    message: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
