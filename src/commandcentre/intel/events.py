"""Events, their sessions (talks), and the contacts who speak at or attend them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.intel.contacts import like_pattern
from commandcentre.intel.imports import event_key, session_key
from commandcentre.intel.models import Appearance, Contact, Event, EventSession, Opportunity
from commandcentre.intel.schemas import EventCreate, EventUpdate, SessionCreate
from commandcentre.pagination import Page, paginate

ATTENDEE_KEY = "attendee"


def event_dedupe_key(*, name: str, start_date: date | None, external_id: str | None) -> str:
    """The import's key, so an event typed in here is recognised by a later import."""
    return event_key(name, start_date, external_id)


def session_dedupe_key(*, title: str, starts_at: datetime | None, external_id: str | None) -> str:
    # Stored times come back in UTC; keying the same instant the same way keeps it stable.
    return session_key(title, starts_at.astimezone(UTC) if starts_at else None, external_id)


def json_list_any(
    session: Session,
    column: InstrumentedAttribute[list[str]],
    test: Callable[[ColumnElement[str]], ColumnElement[bool]],
) -> ColumnElement[bool]:
    """True when some element of a JSON list column passes `test`.

    JSON lists are unpacked by the database (json_each / jsonb_array_elements_text) so
    the filter runs in SQL and pagination counts stay right.
    """
    if session.get_bind().dialect.name == "postgresql":
        elements = func.jsonb_array_elements_text(column).table_valued("value")
    else:
        elements = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(elements).where(test(elements.c.value)))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _topics(values: Iterable[str]) -> list[str]:
    """Trimmed, first spelling kept, no repeats regardless of case."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        topic = " ".join(value.split())
        if topic and topic.casefold() not in seen:
            seen.add(topic.casefold())
            out.append(topic)
    return out


# --------------------------------------------------------------------------- events: reads


def get(*, session: Session, event_id: uuid.UUID) -> Event | None:
    return session.get(Event, event_id)


def get_by_dedupe_key(*, session: Session, dedupe_key: str) -> Event | None:
    return session.scalar(select(Event).where(Event.dedupe_key == dedupe_key))


def list_query(
    *,
    session: Session,
    today: date,
    q: str | None = None,
    upcoming: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    topic: str | None = None,
) -> Select[Event]:
    stmt = select(Event)
    if q and q.strip():
        pattern = like_pattern(q.strip())
        stmt = stmt.where(
            or_(
                Event.name.ilike(pattern, escape="\\"),
                Event.city.ilike(pattern, escape="\\"),
                Event.country.ilike(pattern, escape="\\"),
            )
        )
    if upcoming:
        stmt = stmt.where(Event.start_date >= today)
    if date_from is not None:
        stmt = stmt.where(Event.start_date >= date_from)
    if date_to is not None:
        stmt = stmt.where(Event.start_date <= date_to)
    if topic and topic.strip():
        wanted = topic.strip().lower()
        stmt = stmt.where(json_list_any(session, Event.topics, lambda v: func.lower(v) == wanted))
    return stmt.order_by(Event.start_date.asc().nulls_last(), Event.name, Event.id)


def list_(
    *,
    session: Session,
    today: date,
    q: str | None = None,
    upcoming: bool = False,
    date_from: date | None = None,
    date_to: date | None = None,
    topic: str | None = None,
    page: int = 1,
    limit: int = 25,
) -> Page[Event]:
    """Events by start date; `upcoming` keeps those starting on or after `today`."""
    stmt = list_query(
        session=session,
        today=today,
        q=q,
        upcoming=upcoming,
        date_from=date_from,
        date_to=date_to,
        topic=topic,
    )
    return paginate(session, stmt, page=page, limit=limit)


def opportunity_ids(
    *, session: Session, event_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """event id -> opportunity id, for the events that are opportunities."""
    ids = list(event_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Opportunity.event_id, Opportunity.id).where(Opportunity.event_id.in_(ids))
    )
    return {event_id: opp_id for event_id, opp_id in rows}  # noqa: C416 - rows are Row objects


@dataclass(frozen=True, slots=True)
class SessionDetail:
    session: EventSession
    speakers: list[Contact]


@dataclass(frozen=True, slots=True)
class Participant:
    contact: Contact
    role: str


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: Event
    sessions: list[SessionDetail]
    # People at the event without a session: attendees, sponsors, organisers, and speakers
    # a source named without saying which talk is theirs.
    participants: list[Participant]
    opportunity_id: uuid.UUID | None


def _sessions_query(event_id: uuid.UUID) -> Select[EventSession]:
    return (
        select(EventSession)
        .where(EventSession.event_id == event_id)
        .order_by(EventSession.starts_at.asc().nulls_last(), EventSession.title, EventSession.id)
    )


def speakers_by_session(
    *, session: Session, session_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Contact]]:
    ids = list(session_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Appearance.session_id, Contact)
        .join(Contact, Contact.id == Appearance.contact_id)
        .where(Appearance.session_id.in_(ids))
        .order_by(Contact.full_name, Contact.id)
    )
    out: dict[uuid.UUID, list[Contact]] = {sid: [] for sid in ids}
    for session_id, contact in rows:
        if session_id is not None:
            out[session_id].append(contact)
    return out


def get_detail(*, session: Session, event_id: uuid.UUID) -> EventDetail | None:
    event = get(session=session, event_id=event_id)
    if event is None:
        return None
    ev_sessions = list(session.scalars(_sessions_query(event.id)))
    speakers = speakers_by_session(session=session, session_ids=[s.id for s in ev_sessions])
    participants = session.execute(
        select(Appearance.role, Contact)
        .join(Contact, Contact.id == Appearance.contact_id)
        .where(Appearance.event_id == event.id, Appearance.session_id.is_(None))
        .order_by(Appearance.role, Contact.full_name, Contact.id)
    )
    return EventDetail(
        event=event,
        sessions=[SessionDetail(session=s, speakers=speakers[s.id]) for s in ev_sessions],
        participants=[Participant(contact=c, role=role) for role, c in participants],
        opportunity_id=session.scalar(
            select(Opportunity.id).where(Opportunity.event_id == event.id)
        ),
    )


# --------------------------------------------------------------------------- events: changes


def _check_dates(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise InvalidInput("end_date must be on or after start_date", field="end_date")


def _check_key_free(session: Session, key: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(Event.id).where(Event.dedupe_key == key)
    if exclude is not None:
        stmt = stmt.where(Event.id != exclude)
    if session.scalar(stmt) is not None:
        raise Conflict("an event with this name and start date already exists", field="name")


def _flush_event(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Only a concurrent insert of the same event gets past the check before the flush.
        raise Conflict(
            "an event with this name and start date already exists", field="name"
        ) from exc


def create(*, session: Session, data: EventCreate, source: str | None = "manual") -> Event:
    name = " ".join(data.name.split())
    if not name:
        raise InvalidInput("name is required", field="name")
    _check_dates(data.start_date, data.end_date)
    external_id = _clean(data.external_id)
    key = event_dedupe_key(name=name, start_date=data.start_date, external_id=external_id)
    _check_key_free(session, key)
    event = Event(
        name=name,
        start_date=data.start_date,
        end_date=data.end_date,
        url=_clean(data.url),
        city=_clean(data.city),
        country=_clean(data.country),
        online=data.online,
        topics=_topics(data.topics),
        description=_clean(data.description),
        external_id=external_id,
        dedupe_key=key,
        source=_clean(data.source) or source,
    )
    session.add(event)
    _flush_event(session)
    return event


_PLAIN_FIELDS = ("url", "city", "country", "description", "external_id", "source")


def update(*, session: Session, event_id: uuid.UUID, data: EventUpdate) -> Event:
    event = get(session=session, event_id=event_id)
    if event is None:
        raise NotFound("no such event")
    sent = data.model_fields_set
    if "name" in sent:
        name = " ".join((data.name or "").split())
        if not name:
            raise InvalidInput("name is required", field="name")
        event.name = name
    if "start_date" in sent:
        event.start_date = data.start_date
    if "end_date" in sent:
        event.end_date = data.end_date
    _check_dates(event.start_date, event.end_date)
    if "online" in sent:
        event.online = data.online
    if "topics" in sent:
        event.topics = _topics(data.topics)
    for field in _PLAIN_FIELDS:
        if field in sent:
            setattr(event, field, _clean(getattr(data, field)))
    key = event_dedupe_key(
        name=event.name, start_date=event.start_date, external_id=event.external_id
    )
    if key != event.dedupe_key:
        _check_key_free(session, key, exclude=event.id)
        event.dedupe_key = key
    _flush_event(session)
    return event


def delete(*, session: Session, event_id: uuid.UUID) -> None:
    event = get(session=session, event_id=event_id)
    if event is None:
        raise NotFound("no such event")
    session.delete(event)
    session.flush()


# --------------------------------------------------------------------------- sessions


def get_session(
    *, session: Session, event_id: uuid.UUID, session_id: uuid.UUID
) -> EventSession | None:
    """The session, only if it belongs to that event."""
    found = session.get(EventSession, session_id)
    if found is None or found.event_id != event_id:
        return None
    return found


def list_sessions(
    *, session: Session, event_id: uuid.UUID, page: int = 1, limit: int = 25
) -> Page[SessionDetail]:
    if get(session=session, event_id=event_id) is None:
        raise NotFound("no such event")
    found = paginate(session, _sessions_query(event_id), page=page, limit=limit)
    speakers = speakers_by_session(session=session, session_ids=[s.id for s in found.items])
    return Page(
        items=[SessionDetail(session=s, speakers=speakers[s.id]) for s in found.items],
        page=found.page,
        limit=found.limit,
        total=found.total,
    )


def add_session(*, session: Session, event_id: uuid.UUID, data: SessionCreate) -> EventSession:
    event = get(session=session, event_id=event_id)
    if event is None:
        raise NotFound("no such event")
    title = " ".join(data.title.split())
    if not title:
        raise InvalidInput("title is required", field="title")
    if data.starts_at and data.ends_at and data.ends_at < data.starts_at:
        raise InvalidInput("ends_at must be on or after starts_at", field="ends_at")
    external_id = _clean(data.external_id)
    key = session_dedupe_key(title=title, starts_at=data.starts_at, external_id=external_id)
    taken = select(EventSession.id).where(
        EventSession.event_id == event.id, EventSession.dedupe_key == key
    )
    if session.scalar(taken) is not None:
        raise Conflict("this event already has a session with that title and time", field="title")
    ev_session = EventSession(
        event_id=event.id,
        title=title,
        abstract=_clean(data.abstract),
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        room=_clean(data.room),
        track=_clean(data.track),
        session_type=_clean(data.session_type),
        external_id=external_id,
        dedupe_key=key,
    )
    session.add(ev_session)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "this event already has a session with that title and time", field="title"
        ) from exc
    return ev_session


# --------------------------------------------------------------------------- appearances


def _contact(session: Session, contact_id: uuid.UUID) -> Contact:
    # Another workspace's contact is invisible to this session, so it is "not found" too.
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound("no such contact", field="contact_id")
    return contact


def _appear(
    session: Session,
    *,
    contact: Contact,
    event_id: uuid.UUID,
    session_id: uuid.UUID | None,
    role: str,
    key: str,
) -> Appearance:
    taken = select(Appearance.id).where(
        Appearance.contact_id == contact.id,
        Appearance.event_id == event_id,
        Appearance.appearance_key == key,
    )
    what = "speaker of this session" if session_id else f"{role} of this event"
    if session.scalar(taken) is not None:
        raise Conflict(f"{contact.full_name} is already a {what}", field="contact_id")
    appearance = Appearance(
        contact_id=contact.id,
        event_id=event_id,
        session_id=session_id,
        role=role,
        appearance_key=key,
    )
    session.add(appearance)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{contact.full_name} is already a {what}", field="contact_id") from exc
    return appearance


def add_speaker(
    *, session: Session, event_id: uuid.UUID, session_id: uuid.UUID, contact_id: uuid.UUID
) -> Appearance:
    """Make a contact a speaker of one session of the event."""
    if get(session=session, event_id=event_id) is None:
        raise NotFound("no such event")
    ev_session = get_session(session=session, event_id=event_id, session_id=session_id)
    if ev_session is None:
        raise NotFound("no such session at this event")
    return _appear(
        session,
        contact=_contact(session, contact_id),
        event_id=event_id,
        session_id=ev_session.id,
        role="speaker",
        key=str(ev_session.id),
    )


def add_attendee(*, session: Session, event_id: uuid.UUID, contact_id: uuid.UUID) -> Appearance:
    if get(session=session, event_id=event_id) is None:
        raise NotFound("no such event")
    return _appear(
        session,
        contact=_contact(session, contact_id),
        event_id=event_id,
        session_id=None,
        role="attendee",
        key=ATTENDEE_KEY,
    )
