"""Events from the tech-conferences JSON format (github.com/tech-conferences/conference-data).

Each file is a JSON array of objects with name, url, startDate, endDate, city, country,
online, locales, cfpUrl, cfpEndDate and social handles; the topic comes only from the
file name, so the caller passes it in.

`external_id` is "<url>|<startDate>": many series reuse one URL every year, so the URL
alone would merge editions. The rare multi-city event listed twice with the same URL and
date gets "|<city>" added from its second listing on, so no listing is lost.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from commandcentre.intel.importers.reading import (
    RowNotes,
    RowProblem,
    clean_line,
    collect_rows,
    decode,
    find_record_list,
    json_kind,
    load_json,
    shorten,
)
from commandcentre.intel.importers.records import EventRecord, ParseResult

_LIST_KEYS = ("conferences", "events", "data")
_TRUE_WORDS = frozenset(("true", "yes", "1", "y"))


def parse_conferences_json(data: bytes, *, topic: str | None = None) -> ParseResult[EventRecord]:
    items = find_record_list(load_json(decode(data)), _LIST_KEYS, "conferences")
    topics = tuple(t for t in (clean_line(topic, field="topic"),) if t)
    used_ids: set[str] = set()

    def build(notes: RowNotes, item: object) -> EventRecord:
        event = _event(notes.row, item, topics)
        return _with_unique_id(event, used_ids)

    return collect_rows(
        ParseResult[EventRecord](format="conferences-json"), enumerate(items, start=1), build
    )


def _event(number: int, item: object, topics: tuple[str, ...]) -> EventRecord:
    if not isinstance(item, dict):
        raise RowProblem(f"expected an object, found {json_kind(item)}")
    name = clean_line(item.get("name"), field="name")
    if name is None:
        raise RowProblem("no name", "name")
    start = parse_iso_date(item.get("startDate"), "startDate")
    end = parse_iso_date(item.get("endDate"), "endDate") or start
    if start is not None and end is not None and end < start:
        raise RowProblem(f"endDate {end} is before startDate {start}", "endDate")
    url = clean_line(item.get("url"), field="url")
    return EventRecord(
        name=name,
        start_date=start,
        end_date=end,
        url=url,
        city=clean_line(item.get("city"), field="city"),
        country=clean_line(item.get("country"), field="country"),
        online=_flag(item.get("online")),
        topics=topics,
        description=_cfp(item),
        external_id=f"{url or name}|{start.isoformat() if start else ''}",
        row=number,
    )


def parse_iso_date(value: object, field: str) -> date | None:
    """A "YYYY-MM-DD" date (a datetime's date part is accepted); `RowProblem` if invalid."""
    text = clean_line(value, field=field)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise RowProblem(f"{field} '{shorten(text)}' is not a date (YYYY-MM-DD)", field) from None


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().casefold() in _TRUE_WORDS
    return value is True


def _cfp(item: dict[object, object]) -> str | None:
    # The call for papers is the speaking opportunity; there is no field for it, so it
    # goes into the description where people see it.
    url = clean_line(item.get("cfpUrl"), field="cfpUrl")
    if url is None:
        return None
    closes = clean_line(item.get("cfpEndDate"), field="cfpEndDate")
    return f"Call for papers: {url}" + (f" (closes {closes})" if closes else "")


def _with_unique_id(event: EventRecord, used: set[str]) -> EventRecord:
    external_id = event.external_id or ""
    if external_id in used and event.city:
        external_id = f"{external_id}|{event.city}"
    used.add(external_id)
    return event if external_id == event.external_id else replace(event, external_id=external_id)
