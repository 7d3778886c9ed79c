"""Plain records that every importer produces and the import service stores.

Parsers know nothing about the database: they turn a file into these records plus
per-row errors, so each format can be tested on its own and the storing rules
(idempotency, matching people) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem with one input row; `row` is 1-based as a user sees it in the file."""

    row: int
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A speaker or contact. `full_name` is always set; first/last when known."""

    full_name: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    title: str | None = None
    organisation: str | None = None
    linkedin_url: str | None = None
    bio: str | None = None
    timezone: str | None = None
    # A talk the person gives at the event being imported, when the source says so.
    talk_title: str | None = None
    talk_abstract: str | None = None
    row: int | None = None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A talk or session of an event, with the names of the people who give it."""

    title: str
    abstract: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    room: str | None = None
    track: str | None = None
    session_type: str | None = None
    external_id: str | None = None
    speakers: tuple[PersonRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class EventRecord:
    name: str
    start_date: date | None = None
    end_date: date | None = None
    url: str | None = None
    city: str | None = None
    country: str | None = None
    online: bool = False
    topics: tuple[str, ...] = ()
    description: str | None = None
    external_id: str | None = None
    sessions: tuple[SessionRecord, ...] = ()
    row: int | None = None


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """A target account for the watchlist. `tier` is 1 (most important) to 3, or None
    when the source does not say (new accounts then get 2; existing ones keep theirs)."""

    name: str
    domain: str | None = None
    aliases: tuple[str, ...] = ()
    tier: int | None = None
    industry: str | None = None
    notes: str | None = None
    row: int | None = None


@dataclass(frozen=True, slots=True)
class IntelRecord:
    """A dated note or news item about an account."""

    account_name: str
    title: str
    body: str | None = None
    noted_on: date | None = None
    source_url: str | None = None
    source_name: str | None = None
    category: str = "note"


@dataclass(slots=True)
class ParseResult(Generic[T]):
    """What a parser found: good records, row errors and how many rows it skipped."""

    format: str
    records: list[T] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    skipped: int = 0
