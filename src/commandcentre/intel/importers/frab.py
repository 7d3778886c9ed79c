"""Events from frab/pentabarf schedule XML (FOSDEM, CCC, pretalx's schedule.xml).

    <schedule>
      <conference><title/><acronym/><start/><end/><time_zone_name/><base_url/></conference>
      <day date="..."><room name="...">
        <event guid="..." id="...">
          <date>ISO datetime</date><start>HH:MM</start><duration>HH:MM</duration>
          <room/><title/><subtitle/><track/><type/><abstract/><description/>
          <persons><person id="...">Name</person></persons>
        </event>
      </room></day>
    </schedule>

The whole file is one event; each <event> is a session. Abstracts often hold HTML, which
is turned into plain text. The parser is defusedxml's: entity declarations (the "billion
laughs" attack) and external references are refused with an `ImportFileError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from html.parser import HTMLParser
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from commandcentre.intel.importers.reading import (
    ImportFileError,
    RowNotes,
    RowProblem,
    check_size,
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

_DURATION = re.compile(r"^(\d{1,3}):(\d{2})(?::(\d{2}))?$")
_ENCODING_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*encoding=", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Slot:
    """An <event> element with the day and room it is listed under."""

    day: str | None
    room: str | None
    element: Element


def parse_frab_xml(data: bytes) -> ParseResult[EventRecord]:
    check_size(data)
    root = _parse(data)
    if root.tag != "schedule":
        raise ImportFileError(f"not a frab/pretalx schedule: the root element is <{root.tag}>")
    conference = root.find("conference")
    if conference is None:
        raise ImportFileError("not a frab/pretalx schedule: no <conference> element")
    title = clean_line(conference.findtext("title"), field="title")
    if title is None:
        raise ImportFileError("the schedule's <conference> has no <title>")
    zone = _zone(conference.findtext("time_zone_name"))

    def build(notes: RowNotes, slot: _Slot) -> SessionRecord:
        return _session(slot, zone)

    sessions = collect_rows(
        ParseResult[SessionRecord](format="frab-xml"), enumerate(_slots(root), 1), build
    )
    event = _event(title, conference, sessions.records, zone)
    return ParseResult(
        format="frab-xml", records=[event], errors=sessions.errors, skipped=sessions.skipped
    )


def _parse(data: bytes) -> Element:
    try:
        return _fromstring(data)
    except ParseError as first_error:
        # XML without an encoding declaration must be UTF-8, but hand-edited files saved
        # as Windows-1252 exist; give them a second chance through our own decoding.
        if _ENCODING_DECLARATION.match(data) or _is_utf8(data):
            raise _xml_error(first_error) from None
        try:
            return _fromstring(decode(data).encode("utf-8"))
        except ParseError:
            raise _xml_error(first_error) from None


def _fromstring(data: bytes) -> Element:
    try:
        return fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ImportFileError(
            "the XML declares entities or external references, which are not accepted "
            f"(they can be used to overload the server): {exc}"
        ) from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _xml_error(error: ParseError) -> ImportFileError:
    line, column = error.position
    reason = str(error).split(":", 1)[0]
    return ImportFileError(f"not valid XML at line {line} column {column + 1}: {reason}")


def _zone(name: str | None) -> tzinfo:
    if name and name.strip():
        try:
            return ZoneInfo(name.strip())
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return UTC


def _slots(root: Element) -> Iterator[_Slot]:
    for day in root.iterfind("day"):
        for room in day.iterfind("room"):
            for element in room.iterfind("event"):
                yield _Slot(day.get("date"), room.get("name"), element)


def _session(slot: _Slot, zone: tzinfo) -> SessionRecord:
    element = slot.element
    title = clean_line(element.findtext("title"), field="title")
    if title is None:
        raise RowProblem("the <event> has no <title>", "title")
    starts_at = _start(element, slot.day, zone)
    duration = _duration(element.findtext("duration"))
    return SessionRecord(
        title=title,
        abstract=_abstract(element),
        starts_at=starts_at,
        ends_at=starts_at + duration if starts_at and duration is not None else None,
        room=clean_line(element.findtext("room"), field="room") or clean_line(slot.room),
        track=clean_line(element.findtext("track"), field="track"),
        session_type=clean_line(element.findtext("type"), field="type"),
        external_id=element.get("guid") or element.get("id"),
        speakers=tuple(_speakers(element)),
    )


def _start(element: Element, day: str | None, zone: tzinfo) -> datetime | None:
    """UTC start from <date> (ISO with offset), or from the day's date and <start>."""
    stamp = clean_line(element.findtext("date"), field="date")
    moment = _iso_moment(stamp) if stamp else _day_and_time(day, element.findtext("start"))
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _iso_moment(stamp: str) -> datetime:
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        raise RowProblem(f"<date> '{shorten(stamp)}' is not an ISO date-time", "date") from None


def _day_and_time(day: str | None, start: str | None) -> datetime | None:
    if not day or not start:
        return None
    try:
        return datetime.combine(
            date.fromisoformat(day.strip()[:10]), time.fromisoformat(start.strip())
        )
    except ValueError:
        raise RowProblem(
            f"<start> '{shorten(start)}' on {shorten(day)} is not a time", "start"
        ) from None


def _duration(value: str | None) -> timedelta | None:
    """frab and pretalx write "HH:MM"; some generators add seconds ("HH:MM:SS")."""
    if value is None or not value.strip():
        return None
    match = _DURATION.match(value.strip())
    if not match:
        raise RowProblem(f"<duration> '{shorten(value)}' is not HH:MM", "duration")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _abstract(element: Element) -> str | None:
    parts = [
        html_to_text(element.findtext(tag) or "") for tag in ("subtitle", "abstract", "description")
    ]
    unique: list[str] = []
    for part in parts:
        if part and part not in unique:
            unique.append(part)
    return clean_text("\n\n".join(unique), field="abstract")


def _speakers(element: Element) -> Iterator[PersonRecord]:
    for person in element.iterfind("persons/person"):
        name = clean_line(person.text, field="person")
        if name:
            first, last = split_name(name)
            yield PersonRecord(full_name=name, first_name=first, last_name=last)


def _event(
    title: str, conference: Element, sessions: list[SessionRecord], zone: tzinfo
) -> EventRecord:
    days = [day for s in sessions if (day := _local_day(s.starts_at, zone)) is not None]
    start = _conference_date(conference.findtext("start")) or min(days, default=None)
    end = _conference_date(conference.findtext("end")) or max(days, default=None)
    url = clean_line(conference.findtext("base_url")) or clean_line(conference.findtext("url"))
    acronym = clean_line(conference.findtext("acronym"))
    return EventRecord(
        name=title,
        start_date=start,
        end_date=end,
        url=url,
        description=clean_text(html_to_text(conference.findtext("subtitle") or "")),
        external_id=acronym or url or f"{title}|{start.isoformat() if start else ''}",
        sessions=tuple(sessions),
    )


def _local_day(moment: datetime | None, zone: tzinfo) -> date | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(zone).date()
    except OverflowError:
        return None


def _conference_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


class _TextExtractor(HTMLParser):
    _PARAGRAPHS = frozenset(("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"))
    _LINES = frozenset(("br", "li", "tr", "ul", "ol"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._LINES:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._PARAGRAPHS or tag in ("ul", "ol"):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(value: str) -> str:
    """Plain text of an HTML fragment, keeping paragraphs and list items on their lines."""
    if "<" not in value and "&" not in value:
        return value.strip()
    extractor = _TextExtractor()
    extractor.feed(value)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
