"""API shapes for event intelligence: what the JSON API accepts and returns.

Inputs validate exactly what their JSON schema promises, so a client generated from the
OpenAPI document is neither surprised by a rejection nor allowed to send what the schema
forbids: strings, integers and booleans are strict, dates and times must be ISO strings.
Rules that span fields or rows (end after start, unique names) live in the services.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
)

from commandcentre.intel.models import (
    INTEL_CATEGORIES,
    OPPORTUNITY_STATUSES,
    OUTREACH_STATUSES,
)
from commandcentre.pagination import PaginationOut
from commandcentre.web.api.responses import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorDetail,
    FieldErrorDetail,
    ValidationErrorDetail,
    error_responses,
)

# Re-exported: the intel routers and import service use these names from here.
__all__ = [
    "LIST_ERRORS",
    "READ_ERRORS",
    "WRITE_ERRORS",
    "ErrorDetail",
    "FieldErrorDetail",
    "ValidationErrorDetail",
    "error_responses",
]

OutreachStatus = Literal[
    "new", "queued", "contacted", "replied", "meeting", "not_interested", "do_not_contact"
]
IntelCategory = Literal[
    "note", "news", "funding", "hiring", "product", "leadership", "partnership", "earnings", "other"
]
OpportunityStatus = Literal["new", "reviewing", "delegated", "in_progress", "won", "dismissed"]


def _check_same(literal: Any, values: tuple[str, ...]) -> None:
    # The literals are spelt out for the type checker; the tables' CHECK lists are the truth.
    if tuple(get_args(literal)) != values:
        raise RuntimeError(f"{literal} is out of step with {values}")


_check_same(OutreachStatus, OUTREACH_STATUSES)
_check_same(IntelCategory, INTEL_CATEGORIES)
_check_same(OpportunityStatus, OPPORTUNITY_STATUSES)

# --------------------------------------------------------------------------- field types

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Character classes are spelt out rather than using \s, which means different things in
# the regex engines of pydantic, Python and JSON Schema clients.
_VISIBLE_CHAR = r"[^@\x00-\x20\x7f-\x9f]"
EMAIL_PATTERN = rf"^{_VISIBLE_CHAR}+@{_VISIBLE_CHAR}+\.{_VISIBLE_CHAR}+$"
# A host name, optionally inside a URL: "acme.com", "https://www.acme.com:443/about".
DOMAIN_PATTERN = (
    r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59}))"
    r"\.?(?::[0-9]{1,5})?(?:[/?#][^\x00-\x20\x7f]*)?$"
)


def _iso_date_only(value: object) -> object:
    # Lax pydantic would turn 0 into 1970-01-01; the schema says "string, format date".
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise ValueError("must be a date written as YYYY-MM-DD")


def _number_only(value: object) -> object:
    # Lax pydantic would read "2" as 2; the schema says "integer" (which 2.0 still is).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    return value


def _iso_datetime_only(value: object) -> object:
    if isinstance(value, datetime | str):
        return value
    raise ValueError("must be an ISO 8601 date and time with a time zone")


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime_only)]
# PostgreSQL text cannot hold NUL characters, so no string may carry one.
NO_NUL = r"^[^\x00]*$"
# Required text: at least one character that is not a space by Python's rules (the services
# collapse spacing with str.split), spelt out because \s differs between regex engines.
_SPACES = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
VISIBLE = rf"^[^\x00]*[^{_SPACES}][^\x00]*$"


def _text(max_length: int, *, required: bool = False) -> Any:
    if required:
        return Field(min_length=1, max_length=max_length, pattern=VISIBLE)
    return Field(max_length=max_length, pattern=NO_NUL)


Name300 = Annotated[StrictStr, _text(300, required=True)]
Title500 = Annotated[StrictStr, _text(500, required=True)]
Tag = Annotated[StrictStr, _text(100, required=True)]
Alias = Annotated[StrictStr, _text(300, required=True)]
Line40 = Annotated[StrictStr, _text(40)]
Line64 = Annotated[StrictStr, _text(64)]
Line100 = Annotated[StrictStr, _text(100)]
Line150 = Annotated[StrictStr, _text(150)]
Line200 = Annotated[StrictStr, _text(200)]
Line300 = Annotated[StrictStr, _text(300)]
Line500 = Annotated[StrictStr, _text(500)]
Url = Annotated[StrictStr, _text(2000)]
LongText = Annotated[StrictStr, _text(20000)]
Email = Annotated[StrictStr, Field(max_length=320, pattern=EMAIL_PATTERN)]
Tier = Annotated[int, Field(ge=1, le=3), BeforeValidator(_number_only)]
Domain = Annotated[StrictStr, Field(max_length=255, pattern=DOMAIN_PATTERN)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**constraints: Any) -> Any:
    """A PATCH field that may be left out but not sent as null (its column is NOT NULL)."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --------------------------------------------------------------------------- errors


# --------------------------------------------------------------------------- events


class EventCreate(_In):
    name: Name300
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    url: Url | None = None
    city: Line200 | None = None
    country: Line200 | None = None
    online: StrictBool = False
    topics: list[Tag] = Field(default_factory=list, max_length=50)
    description: LongText | None = None
    external_id: Line500 | None = Field(
        default=None, description="The source's id; events are deduplicated on it when given."
    )
    source: Line40 | None = None


class EventUpdate(_In):
    """Only the fields sent are changed; send null to clear an optional field."""

    name: Name300 = omittable()
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None
    url: Url | None = None
    city: Line200 | None = None
    country: Line200 | None = None
    online: StrictBool = omittable()
    topics: list[Tag] = omittable(max_length=50)
    description: LongText | None = None
    external_id: Line500 | None = None
    source: Line40 | None = None


class SessionCreate(_In):
    title: Title500
    abstract: LongText | None = None
    starts_at: IsoDateTime | None = None
    ends_at: IsoDateTime | None = None
    room: Line200 | None = None
    track: Line200 | None = None
    session_type: Line100 | None = None
    external_id: Line500 | None = None


class ContactLinkIn(_In):
    contact_id: uuid.UUID


class EventRef(_Out):
    id: uuid.UUID
    name: str
    start_date: date | None
    end_date: date | None
    city: str | None
    country: str | None
    online: bool


class EventOut(EventRef):
    url: str | None
    topics: list[str]
    description: str | None
    external_id: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class EventList(BaseModel):
    items: list[EventOut]
    pagination: PaginationOut


class ContactRef(_Out):
    id: uuid.UUID
    full_name: str
    title: str | None
    organisation: str | None
    account_id: uuid.UUID | None
    outreach_status: str


class SessionOut(_Out):
    id: uuid.UUID
    event_id: uuid.UUID
    title: str
    abstract: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    room: str | None
    track: str | None
    session_type: str | None
    external_id: str | None
    speakers: list[ContactRef] = Field(default_factory=list)


class SessionList(BaseModel):
    items: list[SessionOut]
    pagination: PaginationOut


class ParticipantOut(BaseModel):
    """Someone at the event but not tied to one session: attendee, sponsor, organiser."""

    role: str
    contact: ContactRef


class EventDetailOut(EventOut):
    sessions: list[SessionOut]
    participants: list[ParticipantOut]
    opportunity_id: uuid.UUID | None


class AppearanceOut(_Out):
    id: uuid.UUID
    contact_id: uuid.UUID
    event_id: uuid.UUID
    session_id: uuid.UUID | None
    role: str
    appearance_key: str


# --------------------------------------------------------------------------- contacts


class ContactCreate(_In):
    full_name: Name300
    first_name: Line150 | None = None
    last_name: Line150 | None = None
    email: Email | None = None
    title: Line300 | None = None
    organisation: Line300 | None = None
    linkedin_url: Line500 | None = None
    bio: LongText | None = None
    timezone: Line64 | None = None
    outreach_status: OutreachStatus = "new"
    account_id: uuid.UUID | None = None


class ContactUpdate(_In):
    """Only the fields sent are changed; send null to clear an optional field."""

    full_name: Name300 = omittable()
    first_name: Line150 | None = None
    last_name: Line150 | None = None
    email: Email | None = None
    title: Line300 | None = None
    organisation: Line300 | None = None
    linkedin_url: Line500 | None = None
    bio: LongText | None = None
    timezone: Line64 | None = None
    outreach_status: OutreachStatus = omittable()
    account_id: uuid.UUID | None = None


class ContactOut(_Out):
    id: uuid.UUID
    full_name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    email_status: str
    title: str | None
    organisation: str | None
    linkedin_url: str | None
    bio: str | None
    timezone: str | None
    outreach_status: str
    account_id: uuid.UUID | None
    match_method: str | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class ContactList(BaseModel):
    items: list[ContactOut]
    pagination: PaginationOut


class AccountRef(_Out):
    id: uuid.UUID
    name: str
    tier: int
    domain: str | None


class ContactAppearanceOut(BaseModel):
    id: uuid.UUID
    role: str
    event: EventRef
    session_id: uuid.UUID | None
    session_title: str | None


class ContactDetailOut(ContactOut):
    account: AccountRef | None
    appearances: list[ContactAppearanceOut]


# --------------------------------------------------------------------------- accounts


class AccountCreate(_In):
    name: Name300
    domain: Domain | None = Field(
        default=None, description="A host name or URL; stored as the bare host, e.g. acme.com."
    )
    aliases: list[Alias] = Field(default_factory=list, max_length=50)
    tier: Tier = 2
    industry: Line200 | None = None
    notes: LongText | None = None


class AccountUpdate(_In):
    """Only the fields sent are changed; send null to clear an optional field."""

    name: Name300 = omittable()
    domain: Domain | None = None
    aliases: list[Alias] = omittable(max_length=50)
    tier: Tier = omittable()
    industry: Line200 | None = None
    notes: LongText | None = None


class AccountOut(_Out):
    id: uuid.UUID
    name: str
    normalised_name: str
    domain: str | None
    aliases: list[str]
    tier: int
    industry: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime


class AccountList(BaseModel):
    items: list[AccountOut]
    pagination: PaginationOut


class IntelCreate(_In):
    category: IntelCategory = "note"
    title: Title500
    body: LongText | None = None
    noted_on: IsoDate | None = Field(default=None, description="Defaults to today.")
    source_url: Url | None = None
    source_name: Line200 | None = None


class IntelOut(_Out):
    id: uuid.UUID
    account_id: uuid.UUID
    category: str
    title: str
    body: str | None
    noted_on: date | None
    source_url: str | None
    source_name: str | None
    created_at: datetime


class IntelList(BaseModel):
    items: list[IntelOut]
    pagination: PaginationOut


class AccountDetailOut(AccountOut):
    intel: list[IntelOut] = Field(description="Newest first.")
    contacts: list[ContactRef]


# --------------------------------------------------------------------------- opportunities


class OpportunityOut(_Out):
    id: uuid.UUID
    event_id: uuid.UUID
    event: EventRef
    status: str
    signal_score: float
    priority_score: float | None
    account_count: int
    contact_count: int
    days_until: int | None = Field(
        description="Days from today to the event's start; negative once it has started."
    )
    first_seen_at: datetime
    last_discovered_at: datetime


class OpportunityList(BaseModel):
    items: list[OpportunityOut]
    pagination: PaginationOut


class ScoreFactorOut(BaseModel):
    name: str
    points: float
    detail: str


class ScoreExplanationOut(BaseModel):
    summary: str
    factors: list[ScoreFactorOut]


class OpportunityPersonOut(BaseModel):
    contact_id: uuid.UUID
    full_name: str
    title: str | None
    organisation: str | None
    email: str | None
    outreach_status: str
    role: str
    talk_titles: list[str]


class OpportunityAccountOut(BaseModel):
    id: uuid.UUID
    name: str
    tier: int
    domain: str | None
    contacts: list[OpportunityPersonOut]


class OpportunityDetailOut(OpportunityOut):
    event: EventOut
    score_explanation: ScoreExplanationOut
    accounts: list[OpportunityAccountOut]


class OpportunityStatusIn(_In):
    status: OpportunityStatus
