"""Storing imported records idempotently, and running a whole import.

Parsers (`importers/`) turn a file into records; this module decides what each record
means for the database:

* Re-importing the same file creates nothing new. Every row is identified by a key (see
  `event_key`, `session_key`, `person_key`, `account_key`, `intel_key`) and looked up in
  indexes loaded once per import, so storing never queries per row.
* An existing row only takes the *non-empty* values of a record: an import never blanks
  out data. It counts as updated only when a value really changed.
* Every input row gets one outcome: created, updated (the row's object or something it
  brings along, such as a talk or an appearance, changed), skipped (nothing new), or a
  `RowError`. Values that would not fit their column are refused per row, before anything
  is written, so the database never rejects a half-written import.
* The whole import runs in the caller's transaction. `import_into_workspace` wraps it:
  one transaction for the import and its `ImportRun`; on a fatal `ImportFileError`
  nothing is written except a failed `ImportRun`, in a transaction of its own.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from typing import Any, Literal, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.clock import Clock, SystemClock
from commandcentre.db.base import Base, new_id
from commandcentre.db.scoping import current_workspace, workspace_session
from commandcentre.intel.importers import detect
from commandcentre.intel.importers.reading import ImportFileError, check_size, format_size
from commandcentre.intel.importers.records import (
    AccountRecord,
    EventRecord,
    IntelRecord,
    ParseResult,
    PersonRecord,
    RowError,
    SessionRecord,
)
from commandcentre.intel.matching import normalise_company
from commandcentre.intel.models import (
    INTEL_CATEGORIES,
    Account,
    AccountIntel,
    Appearance,
    Contact,
    Event,
    EventSession,
    ImportRun,
)
from commandcentre.pagination import Page, paginate

__all__ = [
    "FORMATS",
    "IMPORT_KINDS",
    "EntityCounts",
    "FileTooLarge",
    "ImportFileError",
    "ImportKind",
    "ImportSummary",
    "account_key",
    "check_file_size",
    "event_key",
    "get_or_create_event",
    "import_into_workspace",
    "intel_key",
    "list_runs",
    "normalise_text",
    "parse_mapping",
    "person_key",
    "record_failed_run",
    "record_failure",
    "run_import",
    "session_key",
    "store_accounts",
    "store_events",
    "store_intel",
    "store_people",
]

ImportKind = Literal["events", "speakers", "contacts", "accounts"]
PersonRole = Literal["speaker", "contact"]
Outcome = Literal["created", "updated", "unchanged"]
ProgressCallback = Callable[[int, int], None]
R = TypeVar("R")

IMPORT_KINDS: tuple[ImportKind, ...] = ("events", "speakers", "contacts", "accounts")
AUTO = detect.AUTO
FORMATS: Mapping[ImportKind, tuple[str, ...]] = {
    "events": detect.EVENT_FORMATS,
    "speakers": detect.PEOPLE_FORMATS,
    "contacts": detect.PEOPLE_FORMATS,
    "accounts": detect.ACCOUNT_FORMATS,
}
DEFAULT_MAX_FIELD_CHARS = 10_000
# Rows per INSERT batch: large batches save round trips, bounded ones keep statements small.
INSERT_BATCH = 2_000
# An ImportRun keeps this many row errors; the count is always complete.
MAX_STORED_ERRORS = 1_000
# A new account whose source gives no tier is a middle one.
_DEFAULT_TIER = 2
_CATEGORY_SYNONYMS: Mapping[str, str] = {
    "product_launch": "product",
    "launch": "product",
    "leadership_change": "leadership",
    "people": "leadership",
    "funding_round": "funding",
    "acquisition": "news",
    "press": "news",
}

_NON_WORD = re.compile(r"[\W_]+")
_OUTCOME_RANK: Mapping[Outcome, int] = {"unchanged": 0, "updated": 1, "created": 2}


class FileTooLarge(ImportFileError):
    """The file is over the size limit (HTTP 413 rather than 422)."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"the file is {format_size(size)}; the limit is {format_size(max_bytes)}")


def check_file_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise FileTooLarge(size, max_bytes)


# --------------------------------------------------------------------------- summary


@dataclass(slots=True)
class EntityCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def to_json(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass(slots=True)
class ImportSummary:
    """What one import did.

    `created`/`updated`/`skipped` count input rows (a row is skipped when it brought
    nothing new, or the parser skipped it); `counts` tells, per kind of object (events,
    sessions, contacts, appearances, accounts, intel), what was written.
    """

    kind: str
    format: str
    filename: str = ""
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, EntityCounts] = field(default_factory=dict)
    run_id: uuid.UUID | None = None

    def entity(self, name: str) -> EntityCounts:
        return self.counts.setdefault(name, EntityCounts())

    def add_row(self, outcome: Outcome) -> None:
        if outcome == "created":
            self.created += 1
        elif outcome == "updated":
            self.updated += 1
        else:
            self.skipped += 1

    def error(self, row: int, message: str, field: str | None = None) -> None:
        self.errors.append(RowError(row=row, message=message, field=field))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": self.format,
            "file": self.filename,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": [error_json(error) for error in self.errors],
            "counts": {name: counts.to_json() for name, counts in self.counts.items()},
        }


def error_json(error: RowError) -> dict[str, Any]:
    return {"row": error.row, "field": error.field, "message": error.message}


# --------------------------------------------------------------------------- keys


@lru_cache(maxsize=65_536)
def normalise_text(value: str) -> str:
    """Comparable form of a name or title: case, accents, punctuation and spacing ignored."""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = _NON_WORD.sub(" ", bare).split()
    # A name of punctuation only ("???") must still have a key of its own.
    return " ".join(words) if words else " ".join(value.casefold().split())


def _fit(key: str, column: str, model: type[Base]) -> str:
    # Keys only compare; a cut key of a 600-character title still identifies it.
    limit = _limits(model).get(column)
    return key[:limit] if limit else key


def event_key(name: str, start_date: date | None, external_id: str | None) -> str:
    if external_id:
        return _fit(f"id:{external_id}", "dedupe_key", Event)
    day = start_date.isoformat() if start_date else ""
    return _fit(f"name:{normalise_text(name)}|{day}", "dedupe_key", Event)


def session_key(title: str, starts_at: datetime | None, external_id: str | None) -> str:
    if external_id:
        return _fit(f"id:{external_id}", "dedupe_key", EventSession)
    moment = starts_at.isoformat() if starts_at else ""
    return _fit(f"title:{normalise_text(title)}|{moment}", "dedupe_key", EventSession)


def person_key(full_name: str, organisation: str | None) -> str:
    org = normalise_company(organisation) if organisation else ""
    return _fit(f"{normalise_text(full_name)}|{org}", "name_key", Contact)


def account_key(name: str) -> str:
    return _fit(normalise_company(name), "normalised_name", Account)


def intel_key(noted_on: date | None, title: str) -> str:
    day = noted_on.isoformat() if noted_on else ""
    return _fit(f"{day}|{normalise_text(title)}", "dedupe_key", AccountIntel)


# --------------------------------------------------------------------------- values


@cache
def _limits(model: type[Base]) -> dict[str, int | None]:
    """Column name -> longest string it takes (None for Text and JSON)."""
    table = model.__table__
    return {column.name: getattr(column.type, "length", None) for column in table.columns}


def _too_long(model: type[Base], values: Mapping[str, object], max_text: int) -> RowError | None:
    """The first value that would not fit its column, as a row error (row filled in later)."""
    limits = _limits(model)
    for name, value in values.items():
        limit = min(limits.get(name) or max_text, max_text)
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if isinstance(item, str) and len(item) > limit:
                return RowError(
                    0, f"{name} is too long: {len(item):,} characters; the limit is {limit:,}", name
                )
    return None


def _clean(value: object) -> object:
    # PostgreSQL refuses NUL in text; parsers drop it, but records also come from code.
    if isinstance(value, str):
        return value.replace("\x00", "").strip() or None
    if isinstance(value, list | tuple):
        return [text for text in (_clean(item) for item in value) if text]
    return value


def _values(**values: object) -> dict[str, object]:
    return {name: _clean(value) for name, value in values.items()}


def _blank(value: object) -> bool:
    return value is None or value == "" or value is False or value == []


def _merged_list(current: Sequence[str], new: Sequence[str]) -> list[str]:
    seen = {item.casefold() for item in current}
    merged = list(current)
    for item in new:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            merged.append(item)
    return merged


def _update(obj: Base, values: Mapping[str, object], *, fill_only: bool = False) -> bool:
    """Copy the non-empty values onto `obj`; lists are merged. True if anything changed.

    `fill_only` sets only values `obj` lacks: a file naming the same thing twice must
    not flip it back and forth, so the first row wins and later ones only add.
    """
    changed = False
    for name, value in values.items():
        if _blank(value):
            continue
        current = getattr(obj, name)
        if fill_only and not _blank(current) and not isinstance(current, list):
            continue
        if isinstance(value, list) and isinstance(current, list):
            value = _merged_list(current, value)
        if current != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _stronger(left: Outcome, right: Outcome) -> Outcome:
    return left if _OUTCOME_RANK[left] >= _OUTCOME_RANK[right] else right


# --------------------------------------------------------------------------- writing


class _Writer:
    """Collects new rows and writes them in batches at the end; stamps the clock's time.

    New rows stay out of the ORM session: the import's own indexes already hold them (so
    later rows of the file can still change them), and bulk INSERTs of plain rows cost a
    tenth of the unit of work's per-object bookkeeping. Changes to existing rows are
    ordinary ORM updates, flushed once at the end.
    """

    def __init__(
        self,
        session: Session,
        clock: Clock,
        total: int = 0,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        # An unscoped session would read (and match against) every workspace's rows.
        self.workspace_id = current_workspace(session)
        self.session = session
        self.now = clock.now()
        self.total = total
        self.on_progress = on_progress
        self.new: dict[type[Base], list[Base]] = {}
        self._seen: set[int] = set()

    def seen(self, obj: Base) -> bool:
        """Whether an earlier row of this import already created or matched `obj`."""
        return id(obj) in self._seen

    def mark(self, obj: Base) -> None:
        self._seen.add(id(obj))

    def add(self, obj: Base) -> None:
        # Bulk INSERTs bypass the session's before_flush stamping: stamp here.
        obj.workspace_id = self.workspace_id  # type: ignore[attr-defined]
        obj.created_at = self.now  # type: ignore[attr-defined]
        obj.updated_at = self.now  # type: ignore[attr-defined]
        self.mark(obj)
        self.new.setdefault(type(obj), []).append(obj)

    def touched(self, obj: Base) -> None:
        obj.updated_at = self.now  # type: ignore[attr-defined]

    def finish(self) -> None:
        """Insert the new rows, parents before children, then flush updated rows."""
        for model in _insert_order():
            objects = self.new.pop(model, [])
            for start in range(0, len(objects), INSERT_BATCH):
                self._insert(model, objects[start : start + INSERT_BATCH])
        self.session.flush()

    def _insert(self, model: type[Base], objects: Sequence[Base]) -> None:
        # One executemany per set of columns given; the columns' defaults fill in the rest.
        groups: dict[tuple[str, ...], list[dict[str, object]]] = {}
        for obj in objects:
            row = _row(obj)
            groups.setdefault(tuple(row), []).append(row)
        table = model.__table__
        for rows in groups.values():
            self.session.execute(table.insert(), rows)  # type: ignore[attr-defined]

    def rows(self, records: Sequence[R]) -> Iterator[tuple[int, R]]:
        """(1-based position, record), reporting progress after each record is handled."""
        for position, record in enumerate(records, start=1):
            yield position, record
            if self.on_progress is not None and (position % 500 == 0 or position == self.total):
                self.on_progress(position, self.total)


@cache
def _insert_order() -> tuple[type[Base], ...]:
    position = {table.name: i for i, table in enumerate(Base.metadata.sorted_tables)}
    models = (Event, Account, Contact, EventSession, Appearance, AccountIntel)
    return tuple(sorted(models, key=lambda model: position[model.__tablename__]))


@cache
def _column_keys(model: type[Base]) -> tuple[str, ...]:
    return tuple(attribute.key for attribute in sa_inspect(model).column_attrs)


def _row(obj: Base) -> dict[str, object]:
    state = obj.__dict__
    return {key: state[key] for key in _column_keys(type(obj)) if key in state}


class _People:
    """Contacts of the workspace, found by email, else by name + organisation."""

    def __init__(self, writer: _Writer, summary: ImportSummary, source: str, max_text: int):
        self.writer = writer
        self.summary = summary
        self.source = source
        self.max_text = max_text
        self.by_email: dict[str, Contact] = {}
        self.by_key: dict[str, list[Contact]] = {}
        self.by_name: dict[str, list[Contact]] = {}
        for contact in writer.session.scalars(select(Contact)):
            self._index(contact)

    def _index(self, contact: Contact) -> None:
        if contact.email:
            self.by_email[contact.email.lower()] = contact
        # Recomputed rather than read: rows written by other code may key differently.
        key = person_key(contact.full_name, contact.organisation)
        self.by_key.setdefault(key, []).append(contact)
        self.by_name.setdefault(normalise_text(contact.full_name), []).append(contact)

    def _unindex(self, contact: Contact) -> None:
        if contact.email and self.by_email.get(contact.email.lower()) is contact:
            del self.by_email[contact.email.lower()]
        for index, key in (
            (self.by_key, person_key(contact.full_name, contact.organisation)),
            (self.by_name, normalise_text(contact.full_name)),
        ):
            same = index.get(key, [])
            if contact in same:
                same.remove(contact)

    def find(self, full_name: str, organisation: str | None, email: str | None) -> Contact | None:
        """By email; else by name + organisation; else by name alone when one side names
        no organisation and exactly one person of that name is known (a byline without
        an affiliation, then a CRM export that has one)."""
        if email and email in self.by_email:
            return self.by_email[email]
        for contact in self.by_key.get(person_key(full_name, organisation), ()):
            if _same_email(contact, email):
                return contact
        namesakes = [
            contact
            for contact in self.by_name.get(normalise_text(full_name), ())
            if _same_email(contact, email)
        ]
        if len(namesakes) == 1 and not (organisation and namesakes[0].organisation):
            return namesakes[0]
        return None

    def upsert(self, record: PersonRecord) -> tuple[Contact, Outcome] | RowError:
        email = record.email.strip().lower() if record.email else None
        values = _values(
            full_name=record.full_name,
            first_name=record.first_name,
            last_name=record.last_name,
            email=email,
            title=record.title,
            organisation=record.organisation,
            linkedin_url=record.linkedin_url,
            bio=record.bio,
            timezone=record.timezone,
        )
        full_name = values["full_name"]
        if not isinstance(full_name, str):
            return RowError(0, "no name", "full_name")
        problem = _too_long(Contact, values, self.max_text)
        if problem is not None:
            return problem
        organisation = values["organisation"]
        org = organisation if isinstance(organisation, str) else None
        contact = self.find(full_name, org, email)
        if contact is None:
            contact = Contact(
                id=new_id(),
                name_key=person_key(full_name, org),
                source=self.source[:40],
                email_status="unknown",
                outreach_status="new",
                **values,
            )
            self._index(contact)
            self.writer.add(contact)
            self.summary.entity("contacts").add("created")
            return contact, "created"
        return contact, self._refresh(contact, values)

    def _refresh(self, contact: Contact, values: Mapping[str, object]) -> Outcome:
        self._unindex(contact)
        changed = _update(contact, values, fill_only=self.writer.seen(contact))
        self.writer.mark(contact)
        if changed:
            contact.name_key = person_key(contact.full_name, contact.organisation)
            self.writer.touched(contact)
        self._index(contact)
        outcome: Outcome = "updated" if changed else "unchanged"
        self.summary.entity("contacts").add(outcome)
        return outcome


def _same_email(contact: Contact, email: str | None) -> bool:
    # Two different addresses mean two people who share a name (and maybe an employer).
    return not email or not contact.email or contact.email.lower() == email


class _Sessions:
    """Talks of the events being imported, found by key, else by title."""

    def __init__(self, writer: _Writer, summary: ImportSummary, event_ids: Iterable[uuid.UUID]):
        self.writer = writer
        self.summary = summary
        self.by_key: dict[tuple[uuid.UUID, str], EventSession] = {}
        self.by_title: dict[tuple[uuid.UUID, str], list[EventSession]] = {}
        ids = list(event_ids)
        if ids:
            stmt = select(EventSession).where(EventSession.event_id.in_(ids))
            for talk in writer.session.scalars(stmt):
                self._index(talk)

    def _index(self, talk: EventSession) -> None:
        self.by_key[(talk.event_id, talk.dedupe_key)] = talk
        title = (talk.event_id, normalise_text(talk.title))
        self.by_title.setdefault(title, []).append(talk)

    def find(self, event: Event, key: str, record: SessionRecord) -> EventSession | None:
        found = self.by_key.get((event.id, key))
        if found is not None:
            return found
        # A talk first known by its title (a speakers list) later gains an id and a time.
        for talk in self.by_title.get((event.id, normalise_text(record.title)), ()):
            if _compatible(talk.external_id, record.external_id) and _compatible(
                talk.starts_at, record.starts_at
            ):
                return talk
        return None

    def upsert(
        self, event: Event, record: SessionRecord, max_text: int
    ) -> tuple[EventSession, Outcome] | RowError:
        values = _values(
            title=record.title,
            abstract=record.abstract,
            starts_at=_aware(record.starts_at),
            ends_at=_aware(record.ends_at),
            room=record.room,
            track=record.track,
            session_type=record.session_type,
            external_id=record.external_id,
        )
        title = values["title"]
        if not isinstance(title, str):
            return RowError(0, "a session has no title", "title")
        problem = _too_long(EventSession, values, max_text)
        if problem is not None:
            return problem
        key = session_key(title, record.starts_at, record.external_id)
        talk = self.find(event, key, record)
        if talk is not None and self._reused_id(talk, title):
            key = session_key(title, record.starts_at, None)
            talk = self.by_key.get((event.id, key))
        if talk is None:
            talk = EventSession(id=new_id(), event_id=event.id, dedupe_key=key, **values)
            self._index(talk)
            self.writer.add(talk)
            self.summary.entity("sessions").add("created")
            return talk, "created"
        changed = _update(talk, values, fill_only=self.writer.seen(talk))
        self.writer.mark(talk)
        if changed:
            self._rekey(talk)
            self.writer.touched(talk)
        outcome: Outcome = "updated" if changed else "unchanged"
        self.summary.entity("sessions").add(outcome)
        return talk, outcome

    def _reused_id(self, talk: EventSession, title: str) -> bool:
        """Whether a source gave two different talks one id (PyCon UK 2015's calendar does);
        then the later one is told apart by its title and start instead."""
        return self.writer.seen(talk) and normalise_text(talk.title) != normalise_text(title)

    def _rekey(self, talk: EventSession) -> None:
        """Keep the stored key the canonical one once a talk gains an id or a start time."""
        key = session_key(talk.title, talk.starts_at, talk.external_id)
        if key != talk.dedupe_key and (talk.event_id, key) not in self.by_key:
            self.by_key.pop((talk.event_id, talk.dedupe_key), None)
            talk.dedupe_key = key
            self.by_key[(talk.event_id, key)] = talk


def _compatible(stored: object, new: object) -> bool:
    return stored is None or new is None or stored == new


def _aware(moment: datetime | None) -> datetime | None:
    # Storage refuses naive datetimes; a parser that lost the zone meant UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class _Appearances:
    """Which (contact, event, appearance key) links exist, loaded once."""

    def __init__(self, writer: _Writer, summary: ImportSummary, event_ids: Iterable[uuid.UUID]):
        self.writer = writer
        self.summary = summary
        self.keys: set[tuple[uuid.UUID, uuid.UUID, str]] = set()
        ids = list(event_ids)
        if ids:
            stmt = select(
                Appearance.contact_id, Appearance.event_id, Appearance.appearance_key
            ).where(Appearance.event_id.in_(ids))
            self.keys.update((row[0], row[1], row[2]) for row in writer.session.execute(stmt))

    def ensure(
        self, contact: Contact, event: Event, talk: EventSession | None, role: str
    ) -> Outcome:
        key = str(talk.id) if talk is not None else role
        if (contact.id, event.id, key) in self.keys:
            self.summary.entity("appearances").add("unchanged")
            return "unchanged"
        self.keys.add((contact.id, event.id, key))
        self.writer.add(
            Appearance(
                id=new_id(),
                contact_id=contact.id,
                event_id=event.id,
                session_id=talk.id if talk is not None else None,
                role=role,
                appearance_key=key,
            )
        )
        self.summary.entity("appearances").add("created")
        return "created"


def _row_number(row: int | None, position: int) -> int:
    return row if row is not None else position


def _reject(summary: ImportSummary, problem: RowError, row: int, prefix: str = "") -> None:
    summary.error(row, prefix + problem.message, problem.field)


# --------------------------------------------------------------------------- events


def store_events(
    *,
    session: Session,
    records: Sequence[EventRecord],
    source: str,
    clock: Clock,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Store events with their sessions; speakers of sessions become contacts who speak."""
    summary = ImportSummary(kind="events", format=source)
    writer = _Writer(session, clock, len(records), on_progress)
    events = _Events(writer, summary, source, max_field_chars)
    has_sessions = any(record.sessions for record in records)
    has_speakers = any(talk.speakers for record in records for talk in record.sessions)
    existing_ids = list(events.ids()) if has_sessions else []
    talks = _Sessions(writer, summary, existing_ids)
    people = _People(writer, summary, source, max_field_chars) if has_speakers else None
    links = _Appearances(writer, summary, existing_ids if has_speakers else [])
    for position, record in writer.rows(records):
        row = _row_number(record.row, position)
        found = events.upsert(record)
        if isinstance(found, RowError):
            _reject(summary, found, row)
            continue
        event, outcome = found
        for talk_record in record.sessions:
            talk_outcome = _store_talk(
                event, talk_record, row, talks, people, links, summary, max_field_chars
            )
            outcome = _stronger(outcome, _as_change(talk_outcome))
        summary.add_row(outcome)
    writer.finish()
    return summary


def _as_change(outcome: Outcome) -> Outcome:
    """Something new under an existing row makes the row updated, not created."""
    return "updated" if outcome == "created" else outcome


def _store_talk(
    event: Event,
    record: SessionRecord,
    row: int,
    talks: _Sessions,
    people: _People | None,
    links: _Appearances,
    summary: ImportSummary,
    max_text: int,
) -> Outcome:
    prefix = f"session '{record.title[:80]}': "
    found = talks.upsert(event, record, max_text)
    if isinstance(found, RowError):
        _reject(summary, found, row, prefix)
        return "unchanged"
    talk, outcome = found
    for speaker in record.speakers:
        if people is None:  # pragma: no cover - people are loaded whenever speakers exist
            break
        person = people.upsert(speaker)
        if isinstance(person, RowError):
            _reject(summary, person, row, f"{prefix}speaker '{speaker.full_name[:80]}': ")
            continue
        contact, person_outcome = person
        outcome = _stronger(outcome, person_outcome)
        outcome = _stronger(outcome, links.ensure(contact, event, talk, "speaker"))
    return outcome


class _Events:
    def __init__(self, writer: _Writer, summary: ImportSummary, source: str, max_text: int):
        self.writer = writer
        self.summary = summary
        self.source = source
        self.max_text = max_text
        self.by_key: dict[str, Event] = {}
        for event in writer.session.scalars(select(Event)):
            self.by_key[event.dedupe_key] = event
            # Lets a record without an id find an event first stored with one.
            self.by_key.setdefault(event_key(event.name, event.start_date, None), event)

    def ids(self) -> Iterable[uuid.UUID]:
        return {event.id for event in self.by_key.values()}

    def upsert(self, record: EventRecord) -> tuple[Event, Outcome] | RowError:
        values = _values(
            name=record.name,
            start_date=record.start_date,
            end_date=record.end_date,
            url=record.url,
            city=record.city,
            country=record.country,
            online=record.online,
            topics=list(record.topics),
            description=record.description,
            external_id=record.external_id,
        )
        name = values["name"]
        if not isinstance(name, str):
            return RowError(0, "no name", "name")
        problem = _too_long(Event, values, self.max_text)
        if problem is not None:
            return problem
        key = event_key(name, record.start_date, record.external_id)
        event = self.by_key.get(key)
        if event is not None and self._reused_id(event, name):
            key = event_key(name, record.start_date, None)
            event = self.by_key.get(key)
        if event is None:
            event = Event(id=new_id(), dedupe_key=key, source=self.source[:40], **values)
            self.by_key[key] = event
            self.writer.add(event)
            self.summary.entity("events").add("created")
            return event, "created"
        changed = _update(event, values, fill_only=self.writer.seen(event))
        self.writer.mark(event)
        if changed:
            self.writer.touched(event)
        outcome: Outcome = "updated" if changed else "unchanged"
        self.summary.entity("events").add(outcome)
        return event, outcome

    def _reused_id(self, event: Event, name: str) -> bool:
        return self.writer.seen(event) and normalise_text(event.name) != normalise_text(name)


def get_or_create_event(
    *, session: Session, name: str, clock: Clock, source: str = "import"
) -> tuple[Event, bool]:
    """The event a speakers list belongs to: the one of that name (latest first), or a new one.

    Raises `ImportFileError` when the name is empty or too long to store.
    """
    clean = " ".join(name.split())
    if not clean:
        raise ImportFileError("name the event these people speak at")
    limit = _limits(Event)["name"] or 0
    if len(clean) > limit:
        raise ImportFileError(
            f"the event name is too long: {len(clean):,} characters; limit {limit}"
        )
    wanted = normalise_text(clean)
    matches = [
        event for event in session.scalars(select(Event)) if normalise_text(event.name) == wanted
    ]
    if matches:
        return max(matches, key=lambda event: event.start_date or date.min), False
    now = clock.now()
    event = Event(
        id=new_id(),
        name=clean,
        dedupe_key=event_key(clean, None, None),
        source=source[:40],
        created_at=now,
        updated_at=now,
    )
    session.add(event)
    session.flush()
    return event, True


# --------------------------------------------------------------------------- people


def store_people(
    *,
    session: Session,
    records: Sequence[PersonRecord],
    source: str,
    clock: Clock,
    event: Event | None = None,
    role: PersonRole = "speaker",
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Store speakers or contacts, deduplicated by email, else by name + organisation.

    With `event`, speakers get a speaker appearance there (on the session named by their
    `talk_title`, created when missing); contacts get an attendee appearance.
    """
    summary = ImportSummary(kind="speakers" if role == "speaker" else "contacts", format=source)
    writer = _Writer(session, clock, len(records), on_progress)
    people = _People(writer, summary, source, max_field_chars)
    event_ids = [event.id] if event is not None else []
    talks = _Sessions(writer, summary, event_ids if role == "speaker" else [])
    links = _Appearances(writer, summary, event_ids)
    for position, record in writer.rows(records):
        row = _row_number(record.row, position)
        found = people.upsert(record)
        if isinstance(found, RowError):
            _reject(summary, found, row)
            continue
        contact, outcome = found
        if event is not None:
            link = _link_person(contact, record, event, role, talks, links, max_field_chars)
            if isinstance(link, RowError):
                _reject(summary, link, row)
            else:
                outcome = _stronger(outcome, _as_change(link))
        summary.add_row(outcome)
    writer.finish()
    return summary


def _link_person(
    contact: Contact,
    record: PersonRecord,
    event: Event,
    role: PersonRole,
    talks: _Sessions,
    links: _Appearances,
    max_text: int,
) -> Outcome | RowError:
    if role == "contact":
        return links.ensure(contact, event, None, "attendee")
    if not record.talk_title:
        return links.ensure(contact, event, None, "speaker")
    found = talks.upsert(
        event, SessionRecord(title=record.talk_title, abstract=record.talk_abstract), max_text
    )
    if isinstance(found, RowError):
        return found
    talk, outcome = found
    return _stronger(outcome, links.ensure(contact, event, talk, "speaker"))


# --------------------------------------------------------------------------- accounts


def store_accounts(
    *,
    session: Session,
    records: Sequence[AccountRecord],
    clock: Clock,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
) -> ImportSummary:
    """Store watchlist accounts, deduplicated by normalised company name."""
    summary = ImportSummary(kind="accounts", format="records")
    writer = _Writer(session, clock, len(records))
    by_key: dict[str, Account] = {}
    for account in session.scalars(select(Account)):
        by_key[account.normalised_name] = account
        by_key.setdefault(account_key(account.name), account)
    for position, record in enumerate(records, start=1):
        row = _row_number(record.row, position)
        found = _upsert_account(writer, by_key, record, max_field_chars)
        if isinstance(found, RowError):
            _reject(summary, found, row)
            continue
        summary.entity("accounts").add(found)
        summary.add_row(found)
    writer.finish()
    return summary


def _upsert_account(
    writer: _Writer, by_key: dict[str, Account], record: AccountRecord, max_text: int
) -> Outcome | RowError:
    values = _values(
        name=record.name,
        domain=record.domain.lower() if record.domain else None,
        aliases=list(record.aliases),
        industry=record.industry,
        notes=record.notes,
    )
    name = values["name"]
    if not isinstance(name, str):
        return RowError(0, "no account name", "name")
    if record.tier is not None and record.tier not in (1, 2, 3):
        return RowError(0, f"tier {record.tier} is not 1, 2 or 3", "tier")
    problem = _too_long(Account, values, max_text)
    if problem is not None:
        return problem
    key = account_key(name)
    account = by_key.get(key)
    if account is None:
        tier = record.tier if record.tier is not None else _DEFAULT_TIER
        account = Account(id=new_id(), normalised_name=key, tier=tier, **values)
        by_key[key] = account
        writer.add(account)
        return "created"
    if record.tier is not None:
        values["tier"] = record.tier
    changed = _update(account, values, fill_only=writer.seen(account))
    writer.mark(account)
    if changed:
        writer.touched(account)
        return "updated"
    return "unchanged"


def store_intel(
    *,
    session: Session,
    records: Sequence[IntelRecord],
    clock: Clock | None = None,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
) -> ImportSummary:
    """Store dated notes about watchlist accounts, deduplicated by date + title per account.

    The account is found by its normalised name or an alias; a note about an account that
    is not on the watchlist is a row error (rows are numbered by position).
    """
    summary = ImportSummary(kind="intel", format="records")
    writer = _Writer(session, clock or SystemClock(), len(records))
    accounts: dict[str, Account] = {}
    for account in session.scalars(select(Account)):
        accounts[account.normalised_name] = account
        for alias in account.aliases:
            accounts.setdefault(account_key(alias), account)
    existing = {
        (note.account_id, note.dedupe_key): note for note in session.scalars(select(AccountIntel))
    }
    for position, record in enumerate(records, start=1):
        found = _upsert_intel(writer, accounts, existing, record, max_field_chars)
        if isinstance(found, RowError):
            _reject(summary, found, position)
            continue
        summary.entity("intel").add(found)
        summary.add_row(found)
    writer.finish()
    return summary


def _upsert_intel(
    writer: _Writer,
    accounts: Mapping[str, Account],
    existing: dict[tuple[uuid.UUID, str], AccountIntel],
    record: IntelRecord,
    max_text: int,
) -> Outcome | RowError:
    account = accounts.get(account_key(record.account_name))
    if account is None:
        return RowError(
            0, f"no account named '{record.account_name[:80]}' on the watchlist", "account_name"
        )
    values = _values(
        title=record.title,
        body=record.body,
        noted_on=record.noted_on,
        source_url=record.source_url,
        source_name=record.source_name,
        category=_category(record.category),
    )
    title = values["title"]
    if not isinstance(title, str):
        return RowError(0, "no title", "title")
    problem = _too_long(AccountIntel, values, max_text)
    if problem is not None:
        return problem
    key = (account.id, intel_key(record.noted_on, title))
    note = existing.get(key)
    if note is None:
        note = AccountIntel(id=new_id(), account_id=account.id, dedupe_key=key[1], **values)
        existing[key] = note
        writer.add(note)
        return "created"
    changed = _update(note, values, fill_only=writer.seen(note))
    writer.mark(note)
    if changed:
        writer.touched(note)
        return "updated"
    return "unchanged"


def _category(value: str) -> str:
    """One of the stored categories; unknown sources' labels become "other"."""
    text = value.strip().lower().replace(" ", "_").replace("-", "_")
    text = _CATEGORY_SYNONYMS.get(text, text)
    return text if text in INTEL_CATEGORIES else "other"


# --------------------------------------------------------------------------- running imports


def parse_mapping(lines: Iterable[str]) -> dict[str, str]:
    """{field: column} from "field=column" lines (blank lines ignored).

    Raises `ImportFileError` for a line without "=" or with an empty side, or a field
    named twice. Whether the field exists is the parser's call (it knows its fields).
    """
    mapping: dict[str, str] = {}
    for line in lines:
        text = line.strip()
        if not text:
            continue
        name, sep, column = text.partition("=")
        name, column = name.strip(), column.strip()
        if not sep or not name or not column:
            raise ImportFileError(
                f"column mapping '{text[:80]}' should look like field=column (e.g. email=E-Mail)"
            )
        if name in mapping:
            raise ImportFileError(f"the column mapping names '{name}' twice")
        mapping[name] = column
    return mapping


def _check_request(
    kind: ImportKind, event_name: str | None, mapping: Mapping[str, str] | None
) -> None:
    if kind not in IMPORT_KINDS:
        raise ImportFileError(f"unknown import kind '{kind}'; expected {', '.join(IMPORT_KINDS)}")
    if kind == "speakers" and not (event_name and event_name.strip()):
        raise ImportFileError("speakers are imported into an event: give the event's name")
    if kind == "accounts" and event_name and event_name.strip():
        raise ImportFileError("an event name does not apply to an accounts import")
    if mapping and kind in ("events", "accounts"):
        raise ImportFileError("a column mapping applies only to speakers and contacts files")


def run_import(
    *,
    session: Session,
    clock: Clock,
    kind: ImportKind,
    filename: str,
    data: bytes,
    fmt: str = AUTO,
    event_name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    user_id: uuid.UUID | None = None,
    max_bytes: int,
    max_field_chars: int,
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Parse `data`, store its records and add a completed `ImportRun`, all in `session`.

    Raises `ImportFileError` (message fit for users) before writing anything when the
    file cannot be imported at all; the caller rolls back and may `record_failed_run`.
    """
    _check_request(kind, event_name, mapping)
    check_file_size(len(data), max_bytes)
    check_size(data, max_bytes)  # the empty file
    if kind == "events":
        events = detect.parse_events(data, fmt=fmt, filename=filename, event_name=event_name)
        parsed: ParseResult[Any] = events
        summary = store_events(
            session=session,
            records=events.records,
            source=events.format,
            clock=clock,
            max_field_chars=max_field_chars,
            on_progress=on_progress,
        )
    elif kind == "accounts":
        accounts = detect.parse_accounts_file(data, fmt=fmt, filename=filename)
        parsed = accounts
        summary = store_accounts(
            session=session, records=accounts.records, clock=clock, max_field_chars=max_field_chars
        )
    else:
        people = detect.parse_people_file(data, fmt=fmt, filename=filename, mapping=mapping)
        parsed = people
        event, event_created = None, False
        if event_name and event_name.strip():
            event, event_created = get_or_create_event(
                session=session, name=event_name, clock=clock, source=people.format
            )
        summary = store_people(
            session=session,
            records=people.records,
            source=people.format,
            clock=clock,
            event=event,
            role="speaker" if kind == "speakers" else "contact",
            max_field_chars=max_field_chars,
            on_progress=on_progress,
        )
        if event_created:
            summary.entity("events").add("created")
    summary.kind, summary.format, summary.filename = kind, parsed.format, filename
    summary.skipped += parsed.skipped
    summary.errors = sorted([*parsed.errors, *summary.errors], key=lambda error: error.row)
    summary.run_id = _record_run(session, clock, summary, user_id).id
    return summary


def _record_run(
    session: Session, clock: Clock, summary: ImportSummary, user_id: uuid.UUID | None
) -> ImportRun:
    now = clock.now()
    run = ImportRun(
        kind=summary.kind,
        format=summary.format[:32],
        filename=summary.filename[:500],
        status="completed",
        created_count=summary.created,
        updated_count=summary.updated,
        skipped_count=summary.skipped,
        error_count=len(summary.errors),
        errors=[error_json(error) for error in summary.errors[:MAX_STORED_ERRORS]],
        message=None,
        user_id=user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    session.flush()
    return run


def record_failed_run(
    *,
    session: Session,
    clock: Clock,
    kind: ImportKind,
    filename: str,
    fmt: str,
    message: str,
    user_id: uuid.UUID | None = None,
) -> ImportRun:
    """Remember an import that could not run; call it in a transaction of its own."""
    now = clock.now()
    run = ImportRun(
        kind=kind,
        format=(fmt or AUTO)[:32],
        filename=filename[:500],
        status="failed",
        message=message,
        user_id=user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    session.flush()
    return run


def import_into_workspace(
    *,
    factory: sessionmaker[Session],
    workspace_id: uuid.UUID,
    clock: Clock,
    kind: ImportKind,
    filename: str,
    data: bytes,
    fmt: str = AUTO,
    event_name: str | None = None,
    mapping: Mapping[str, str] | None = None,
    user_id: uuid.UUID | None = None,
    max_bytes: int,
    max_field_chars: int,
    on_progress: ProgressCallback | None = None,
) -> ImportSummary:
    """`run_import` in one transaction; on `ImportFileError` record the failure and re-raise."""
    try:
        with workspace_session(factory, workspace_id) as session:
            return run_import(
                session=session,
                clock=clock,
                kind=kind,
                filename=filename,
                data=data,
                fmt=fmt,
                event_name=event_name,
                mapping=mapping,
                user_id=user_id,
                max_bytes=max_bytes,
                max_field_chars=max_field_chars,
                on_progress=on_progress,
            )
    except ImportFileError as exc:
        record_failure(
            factory=factory,
            workspace_id=workspace_id,
            clock=clock,
            kind=kind,
            filename=filename,
            fmt=fmt,
            error=exc,
            user_id=user_id,
        )
        raise


def record_failure(
    *,
    factory: sessionmaker[Session],
    workspace_id: uuid.UUID,
    clock: Clock,
    kind: ImportKind,
    filename: str,
    fmt: str,
    error: ImportFileError,
    user_id: uuid.UUID | None = None,
) -> None:
    """`record_failed_run` in a transaction of its own, for failures found by callers
    before the import starts (an upload over the size limit, a bad column mapping)."""
    with workspace_session(factory, workspace_id) as session:
        record_failed_run(
            session=session,
            clock=clock,
            kind=kind,
            filename=filename,
            fmt=fmt,
            message=str(error),
            user_id=user_id,
        )


def list_runs(*, session: Session, page: int = 1, limit: int = 20) -> Page[ImportRun]:
    """The workspace's imports, newest first."""
    stmt = select(ImportRun).order_by(ImportRun.created_at.desc(), ImportRun.id)
    return paginate(session, stmt, page=page, limit=limit)
