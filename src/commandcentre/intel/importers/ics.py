"""Events from iCalendar (.ics) files.

A calendar is read in one of two shapes:

* the schedule of one event, whose VEVENTs are its sessions: when the caller names the
  event, or when the calendar has an X-WR-CALNAME and its VEVENTs span at most 14 days
  (a conference, not a year of meetups). The event's dates are the sessions' range.
* a list of events, one per VEVENT, otherwise.

Schedules exported from conference sites often carry the speaker only inside SUMMARY,
as "Title (talk by Name)" or "Title (talk by Name, Affiliation)"; those become the
session's speakers. VEVENTs with an empty SUMMARY are skipped and counted. Times are
converted to UTC; floating times are read in the calendar's X-WR-TIMEZONE, else UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Component

from commandcentre.intel.importers.reading import (
    ImportFileError,
    RowNotes,
    RowProblem,
    clean_line,
    clean_text,
    collect_rows,
    decode,
    shorten,
    split_name,
)
from commandcentre.intel.importers.records import (
    EventRecord,
    ParseResult,
    PersonRecord,
    SessionRecord,
)

MAX_SCHEDULE_DAYS = 14

_BYLINE = re.compile(
    r"^(?P<title>.*?\S)\s*\((?P<kind>(?:lightning )?talk|keynote|workshop|tutorial|demo|panel"
    r"|session|presentation)\s+by\s+(?P<who>[^()]+)\)$",
    re.IGNORECASE,
)
_PEOPLE_SEPARATOR = re.compile(r"\s+(?:and|&)\s+|\s*;\s*")
_NOT_A_NAME = re.compile(r"[:@\d]")
_SCHEDULE_WORDS = re.compile(
    r"\s+(?:schedule|calendar|agenda|programme|program|timetable)$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One VEVENT, read once and shaped into a session or an event later."""

    row: int
    summary: str
    session: SessionRecord
    first_day: date | None
    last_day: date | None
    url: str | None


def parse_ics(data: bytes, *, event_name: str | None = None) -> ParseResult[EventRecord]:
    calendars = _calendars(decode(data))
    vevents = [vevent for calendar in calendars for vevent in calendar.walk("VEVENT")]
    if not vevents:
        raise ImportFileError("the calendar has no events (no VEVENT entries)")
    floating = _floating_zone(calendars[0])

    def build(notes: RowNotes, vevent: Component) -> _Entry | None:
        return _entry(notes.row, vevent, floating)

    entries = collect_rows(ParseResult[_Entry](format="ics"), enumerate(vevents, 1), build)
    result = ParseResult[EventRecord](format="ics", errors=entries.errors, skipped=entries.skipped)
    name = clean_line(event_name, field="event_name") or _schedule_name(
        calendars[0], entries.records
    )
    if name is not None:
        result.records.append(_one_event(name, entries.records))
    else:
        result.records.extend(_own_event(entry) for entry in entries.records)
    return result


def _calendars(text: str) -> list[Calendar]:
    if "BEGIN:VCALENDAR" not in text.upper():
        raise ImportFileError("not an iCalendar file: no BEGIN:VCALENDAR line")
    try:
        parsed = Calendar.from_ical(text, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        reason = str(exc).split("\n", 1)[0]
        raise ImportFileError(f"not a valid iCalendar file: {shorten(reason, 200)}") from None
    calendars = parsed if isinstance(parsed, list) else [parsed]
    if not calendars:
        raise ImportFileError("not a valid iCalendar file: no calendar found")
    return calendars


def _floating_zone(calendar: Calendar) -> tzinfo:
    name = clean_line(calendar.get("X-WR-TIMEZONE"))
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _entry(row: int, vevent: Component, floating: tzinfo) -> _Entry | None:
    summary = clean_line(vevent.get("SUMMARY"), field="SUMMARY")
    if summary is None:
        return None
    start = _when(vevent, "DTSTART", floating)
    end = _when(vevent, "DTEND", floating)
    if end is None and start is not None:
        end = _after_duration(vevent, start)
    title, kind, speakers = parse_byline(summary)
    session = SessionRecord(
        title=title,
        abstract=clean_text(vevent.get("DESCRIPTION"), field="DESCRIPTION"),
        starts_at=start.astimezone(UTC) if isinstance(start, datetime) else None,
        ends_at=end.astimezone(UTC) if isinstance(end, datetime) else None,
        room=clean_line(vevent.get("LOCATION"), field="LOCATION"),
        session_type=kind,
        external_id=clean_line(vevent.get("UID"), field="UID"),
        speakers=speakers,
    )
    first_day = _day(start)
    return _Entry(
        row=row,
        summary=summary,
        session=session,
        first_day=first_day,
        last_day=_last_day(first_day, end),
        url=clean_line(vevent.get("URL"), field="URL"),
    )


def _when(vevent: Component, name: str, floating: tzinfo) -> datetime | date | None:
    """A property's value as an aware local datetime or an all-day date."""
    prop = vevent.get(name)
    if prop is None:
        return None
    value = _value(prop)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=floating)
    if isinstance(value, date):
        return value
    raise RowProblem(f"{name} is not a date or date-time: '{shorten(str(prop), 40)}'", name)


def _value(prop: object) -> object:
    # icalendar keeps unparsable values as "broken" properties that raise on access.
    try:
        return getattr(prop, "dt", None)
    except ValueError:
        return None


def _after_duration(vevent: Component, start: datetime | date) -> datetime | date | None:
    duration = _value(vevent.get("DURATION"))
    if not isinstance(duration, timedelta):
        return None
    return start + duration


def _day(moment: datetime | date | None) -> date | None:
    if isinstance(moment, datetime):
        return moment.date()
    return moment


def _last_day(first_day: date | None, end: datetime | date | None) -> date | None:
    """The last day an entry occupies: iCalendar ends are exclusive, so an all-day end
    date or an end at midnight belongs to the day before."""
    if end is None:
        return first_day
    if isinstance(end, datetime):
        day = end.date()
        at_midnight = end.time() == datetime.min.time()
    else:
        day, at_midnight = end, True
    if at_midnight and first_day is not None and day > first_day:
        day -= timedelta(days=1)
    return day if first_day is None else max(day, first_day)


def parse_byline(summary: str) -> tuple[str, str | None, tuple[PersonRecord, ...]]:
    """(title, session type, speakers) from "Title (talk by Name, Affiliation & Name)".

    A "speaker" that does not look like a person's name (a colon, digits) is dropped:
    real files put the panel title there.
    """
    match = _BYLINE.match(summary)
    if not match:
        return summary, None, ()
    parts = _PEOPLE_SEPARATOR.split(match.group("who"))
    speakers = tuple(person for person in map(_speaker, parts) if person is not None)
    return match.group("title"), match.group("kind").lower(), speakers


def _speaker(text: str) -> PersonRecord | None:
    name_part, _, affiliation = text.partition(",")
    name = " ".join(name_part.split())
    if not name or len(name) > 100 or len(name.split()) > 6 or _NOT_A_NAME.search(name):
        return None
    first, last = split_name(name)
    return PersonRecord(
        full_name=name,
        first_name=first,
        last_name=last,
        organisation=" ".join(affiliation.split()) or None,
    )


def _schedule_name(calendar: Calendar, entries: list[_Entry]) -> str | None:
    """The calendar's own name when it looks like one event's schedule, else None."""
    name = clean_line(calendar.get("X-WR-CALNAME"), field="X-WR-CALNAME")
    first, last = _range(entries)
    if name is None or first is None or last is None:
        return None
    if (last - first).days + 1 > MAX_SCHEDULE_DAYS:
        return None
    return _SCHEDULE_WORDS.sub("", name) or name


def _range(entries: list[_Entry]) -> tuple[date | None, date | None]:
    firsts = [entry.first_day for entry in entries if entry.first_day is not None]
    lasts = [entry.last_day for entry in entries if entry.last_day is not None]
    return (min(firsts, default=None), max(lasts, default=None))


def _one_event(name: str, entries: list[_Entry]) -> EventRecord:
    first, last = _range(entries)
    return EventRecord(
        name=name,
        start_date=first,
        end_date=last,
        external_id=f"{name}|{first.isoformat() if first else ''}",
        sessions=tuple(entry.session for entry in entries),
    )


def _own_event(entry: _Entry) -> EventRecord:
    session = entry.session
    return EventRecord(
        name=entry.summary,
        start_date=entry.first_day,
        end_date=entry.last_day,
        url=entry.url,
        description=session.abstract,
        external_id=session.external_id
        or f"{entry.summary}|{entry.first_day.isoformat() if entry.first_day else ''}",
        row=entry.row,
    )
