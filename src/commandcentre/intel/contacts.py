"""Contacts (saved speaker profiles): who they are, where they work, where they appear."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.intel.importers.reading import split_name
from commandcentre.intel.imports import person_key
from commandcentre.intel.models import (
    OUTREACH_STATUSES,
    Account,
    Appearance,
    Contact,
    Event,
)
from commandcentre.intel.schemas import EMAIL_PATTERN, ContactCreate, ContactUpdate
from commandcentre.pagination import Page, paginate

_EMAIL = re.compile(EMAIL_PATTERN)


def like_pattern(text: str) -> str:
    """A LIKE pattern for "contains `text`", with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def normalise_email(value: str) -> str:
    # Only ASCII spacing is trimmed: the pattern (shared with the API schema) decides the rest.
    email = value.strip(" \t\r\n").lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInput(f"'{value}' is not a valid email address", field="email")
    return email


def _clean(value: str | None) -> str | None:
    """Surrounding spaces dropped; a blank optional field is no value at all."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


# --------------------------------------------------------------------------- queries


def get(*, session: Session, contact_id: uuid.UUID) -> Contact | None:
    return session.get(Contact, contact_id)


def get_by_email(*, session: Session, email: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.email == email.strip().lower()))


def _search(q: str) -> ColumnElement[bool]:
    pattern = like_pattern(q.strip())
    return or_(
        Contact.full_name.ilike(pattern, escape="\\"),
        Contact.organisation.ilike(pattern, escape="\\"),
        Contact.title.ilike(pattern, escape="\\"),
        Contact.email.ilike(pattern, escape="\\"),
    )


def list_query(
    *,
    q: str | None = None,
    account_id: uuid.UUID | None = None,
    outreach_status: str | None = None,
    event_id: uuid.UUID | None = None,
) -> Select[Contact]:
    stmt = select(Contact)
    if q and q.strip():
        stmt = stmt.where(_search(q))
    if account_id is not None:
        stmt = stmt.where(Contact.account_id == account_id)
    if outreach_status:
        stmt = stmt.where(Contact.outreach_status == outreach_status)
    if event_id is not None:
        at_event = select(Appearance.contact_id).where(Appearance.event_id == event_id)
        stmt = stmt.where(Contact.id.in_(at_event))
    return stmt.order_by(Contact.full_name, Contact.id)


def list_(
    *,
    session: Session,
    q: str | None = None,
    account_id: uuid.UUID | None = None,
    outreach_status: str | None = None,
    event_id: uuid.UUID | None = None,
    page: int = 1,
    limit: int = 25,
) -> Page[Contact]:
    """Contacts by name; `event_id` keeps those who speak at or attend that event."""
    stmt = list_query(
        q=q, account_id=account_id, outreach_status=outreach_status, event_id=event_id
    ).options(selectinload(Contact.account))
    return paginate(session, stmt, page=page, limit=limit)


@dataclass(frozen=True, slots=True)
class ContactDetail:
    contact: Contact
    account: Account | None
    # Newest event first; each with its event and (for talks) its session loaded.
    appearances: list[Appearance]


def get_detail(*, session: Session, contact_id: uuid.UUID) -> ContactDetail | None:
    contact = get(session=session, contact_id=contact_id)
    if contact is None:
        return None
    appearances = session.scalars(
        select(Appearance)
        .join(Event, Event.id == Appearance.event_id)
        .where(Appearance.contact_id == contact.id)
        .options(selectinload(Appearance.event), selectinload(Appearance.session))
        .order_by(Event.start_date.desc().nulls_last(), Event.name, Appearance.role)
    )
    return ContactDetail(contact=contact, account=contact.account, appearances=list(appearances))


# --------------------------------------------------------------------------- changes


def _check_email_free(session: Session, email: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(Contact.id).where(Contact.email == email)
    if exclude is not None:
        stmt = stmt.where(Contact.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict(f"another contact already has the email {email}", field="email")


def _account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account", field="account_id")
    return account


def _flush(session: Session, email: str | None) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Only a concurrent write with the same email gets past the check above.
        raise Conflict(f"another contact already has the email {email}", field="email") from exc


def create(*, session: Session, data: ContactCreate, source: str | None = "manual") -> Contact:
    full_name = " ".join(data.full_name.split())
    if not full_name:
        raise InvalidInput("full_name is required", field="full_name")
    if data.outreach_status not in OUTREACH_STATUSES:
        raise InvalidInput("unknown outreach status", field="outreach_status")
    email = normalise_email(data.email) if data.email else None
    if email:
        _check_email_free(session, email)
    organisation = _clean(data.organisation)
    first, last = _clean(data.first_name), _clean(data.last_name)
    if first is None and last is None:
        first, last = split_name(full_name)
    contact = Contact(
        full_name=full_name,
        first_name=first,
        last_name=last,
        email=email,
        title=_clean(data.title),
        organisation=organisation,
        linkedin_url=_clean(data.linkedin_url),
        bio=_clean(data.bio),
        timezone=_clean(data.timezone),
        outreach_status=data.outreach_status,
        name_key=person_key(full_name, organisation),
        source=source,
    )
    if data.account_id is not None:
        contact.account = _account(session, data.account_id)
        contact.match_method = "manual"
    session.add(contact)
    _flush(session, email)
    return contact


_PLAIN_FIELDS = ("first_name", "last_name", "title", "linkedin_url", "bio", "timezone")


def update(*, session: Session, contact_id: uuid.UUID, data: ContactUpdate) -> Contact:
    contact = get(session=session, contact_id=contact_id)
    if contact is None:
        raise NotFound("no such contact")
    sent = data.model_fields_set
    if "full_name" in sent:
        full_name = " ".join((data.full_name or "").split())
        if not full_name:
            raise InvalidInput("full_name is required", field="full_name")
        contact.full_name = full_name
        if not sent & {"first_name", "last_name"}:
            contact.first_name, contact.last_name = split_name(full_name)
    if "organisation" in sent:
        contact.organisation = _clean(data.organisation)
    if "email" in sent:
        email = normalise_email(data.email) if data.email else None
        if email and email != contact.email:
            _check_email_free(session, email, exclude=contact.id)
        if email != contact.email:
            # A new address has not been checked yet, whatever the old one's status was.
            contact.email_status = "unknown"
        contact.email = email
    if "outreach_status" in sent:
        if data.outreach_status not in OUTREACH_STATUSES:
            raise InvalidInput("unknown outreach status", field="outreach_status")
        contact.outreach_status = data.outreach_status
    if "account_id" in sent:
        if data.account_id is None:
            contact.account = None
            contact.match_method = None
        else:
            contact.account = _account(session, data.account_id)
            contact.match_method = "manual"
    for name in _PLAIN_FIELDS:
        if name in sent:
            setattr(contact, name, _clean(getattr(data, name)))
    # Same key as imports use, so an import later recognises this person.
    contact.name_key = person_key(contact.full_name, contact.organisation)
    _flush(session, contact.email)
    return contact


def delete(*, session: Session, contact_id: uuid.UUID) -> None:
    contact = get(session=session, contact_id=contact_id)
    if contact is None:
        raise NotFound("no such contact")
    session.delete(contact)
    session.flush()
