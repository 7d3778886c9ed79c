"""Choosing a parser: format names, detection from name and content, and dispatchers.

Content wins over the file extension (a schedule.xml downloaded as ".txt" is still XML);
the extension decides only when the content gives no sign.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import PurePath
from typing import Literal

from commandcentre.intel.importers.accounts import parse_accounts_csv
from commandcentre.intel.importers.conferences import parse_conferences_json
from commandcentre.intel.importers.frab import parse_frab_xml
from commandcentre.intel.importers.hubspot import parse_hubspot_contacts
from commandcentre.intel.importers.ics import parse_ics
from commandcentre.intel.importers.linkedin import parse_linkedin_connections
from commandcentre.intel.importers.people import parse_people
from commandcentre.intel.importers.reading import ImportFileError, check_size, header_key
from commandcentre.intel.importers.records import (
    AccountRecord,
    EventRecord,
    ParseResult,
    PersonRecord,
)

Kind = Literal["events", "people", "accounts"]

EVENT_FORMATS: tuple[str, ...] = ("conferences-json", "ics", "frab-xml")
PEOPLE_FORMATS: tuple[str, ...] = ("csv", "json", "linkedin", "hubspot")
ACCOUNT_FORMATS: tuple[str, ...] = ("csv",)
AUTO = "auto"

FORMATS: Mapping[Kind, tuple[str, ...]] = {
    "events": EVENT_FORMATS,
    "people": PEOPLE_FORMATS,
    "accounts": ACCOUNT_FORMATS,
}

FORMAT_LABELS: Mapping[str, str] = {
    "conferences-json": "tech-conferences JSON",
    "ics": "iCalendar (.ics)",
    "frab-xml": "frab/pretalx schedule XML",
    "csv": "CSV",
    "json": "JSON list of objects",
    "linkedin": "LinkedIn Connections.csv",
    "hubspot": "HubSpot contacts export",
}

_PEEK_BYTES = 65_536
_XML_SCHEDULE = re.compile(
    r"^(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE[^>]*>\s*)?(?:<!--.*?-->\s*)*<schedule[\s>/]",
    re.DOTALL,
)
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "an Excel workbook or another zip archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Office file"),
    (b"%PDF", "a PDF document"),
)
_TEXT_EXTENSIONS = frozenset((".csv", ".tsv", ".txt"))
_LINKEDIN_HEADERS = (
    "first name,last name,url,email address",
    "first name,last name,email address,company",
)


def detect_format(kind: Kind, filename: str, data: bytes) -> str:
    """The format name for `data`, from content sniffing first and the extension second."""
    check_size(data)
    _refuse_binary(data, filename)
    head = _peek(data)
    extension = PurePath(filename).suffix.lower()
    sniff: Callable[[str, str], str | None] = _SNIFFERS[kind]
    found = sniff(head, extension)
    if found is None:
        raise ImportFileError(
            f"cannot tell the format of '{filename}'; accepted {kind} formats: {_accepted(kind)}"
        )
    return found


def _accepted(kind: Kind) -> str:
    return ", ".join(f"{name} ({FORMAT_LABELS[name]})" for name in FORMATS[kind])


def _refuse_binary(data: bytes, filename: str) -> None:
    for signature, what in _BINARY_SIGNATURES:
        if data.startswith(signature):
            raise ImportFileError(
                f"'{filename}' is {what}, not a text file; save it as CSV (UTF-8) and upload that"
            )


def _peek(data: bytes) -> str:
    head = data[:_PEEK_BYTES]
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, errors="replace")
    # NULs removed so that UTF-16 without a byte-order mark still reads as ASCII.
    return head.decode("utf-8", errors="replace").replace("\x00", "")


def _first_lines(head: str, count: int = 10) -> list[str]:
    return [line.strip() for line in head.splitlines() if line.strip()][:count]


def _is_json(head: str) -> bool:
    return head.lstrip().startswith(("[", "{"))


def _sniff_events(head: str, extension: str) -> str | None:
    stripped = head.lstrip()
    if stripped[:15].upper() == "BEGIN:VCALENDAR":
        return "ics"
    if _XML_SCHEDULE.match(stripped):
        return "frab-xml"
    if _is_json(stripped) and '"startDate"' in head:
        return "conferences-json"
    return {
        ".ics": "ics",
        ".ical": "ics",
        ".ifb": "ics",
        ".xml": "frab-xml",
        ".json": "conferences-json",
    }.get(extension)


def _sniff_people(head: str, extension: str) -> str | None:
    lines = _first_lines(head)
    if _is_json(head):
        return "json"
    if lines and lines[0].strip('",') == "Notes:":
        return "linkedin"
    if any(line.lower().replace('"', "").startswith(_LINKEDIN_HEADERS) for line in lines):
        return "linkedin"
    if lines and header_key(re.split(r"[,;\t]", lines[0], maxsplit=1)[0]) == "recordid":
        return "hubspot"
    if extension == ".json":
        return "json"
    return "csv" if _looks_tabular(lines, extension) else None


def _sniff_accounts(head: str, extension: str) -> str | None:
    if _is_json(head) or head.lstrip().startswith("<"):
        return None
    return "csv" if _looks_tabular(_first_lines(head), extension) else None


def _looks_tabular(lines: list[str], extension: str) -> bool:
    if extension in _TEXT_EXTENSIONS:
        return True
    return bool(lines) and any(sep in lines[0] for sep in (",", ";", "\t"))


_SNIFFERS: Mapping[Kind, Callable[[str, str], str | None]] = {
    "events": _sniff_events,
    "people": _sniff_people,
    "accounts": _sniff_accounts,
}


def _choose(kind: Kind, fmt: str, filename: str, data: bytes) -> str:
    if fmt == AUTO:
        return detect_format(kind, filename, data)
    if fmt not in FORMATS[kind]:
        raise ImportFileError(
            f"unknown {kind} format '{fmt}'; accepted: {AUTO}, {', '.join(FORMATS[kind])}"
        )
    return fmt


def parse_events(
    data: bytes,
    *,
    fmt: str,
    filename: str,
    event_name: str | None = None,
    topic: str | None = None,
) -> ParseResult[EventRecord]:
    """Events from any event format; `fmt` may be "auto".

    `event_name` names the one event of an .ics schedule and overrides a frab schedule's
    conference title; `topic` is added to every event's topics.
    """
    chosen = _choose("events", fmt, filename, data)
    if chosen == "conferences-json":
        return parse_conferences_json(data, topic=topic)
    if chosen == "ics":
        result = parse_ics(data, event_name=event_name)
    else:
        result = parse_frab_xml(data)
        if event_name and event_name.strip():
            result.records = [replace(e, name=event_name.strip()) for e in result.records]
    if topic and topic.strip():
        result.records = [_with_topic(event, topic.strip()) for event in result.records]
    return result


def _with_topic(event: EventRecord, topic: str) -> EventRecord:
    if topic in event.topics:
        return event
    return replace(event, topics=(*event.topics, topic))


def parse_people_file(
    data: bytes, *, fmt: str, filename: str, mapping: Mapping[str, str] | None = None
) -> ParseResult[PersonRecord]:
    """People from any people format; `fmt` may be "auto".

    An explicit `mapping` means the user has said which column is which, so LinkedIn and
    HubSpot files are then read with the generic CSV reader and that mapping.
    """
    chosen = _choose("people", fmt, filename, data)
    if mapping and chosen in ("linkedin", "hubspot"):
        chosen = "csv"
    if chosen == "linkedin":
        return parse_linkedin_connections(data)
    if chosen == "hubspot":
        return parse_hubspot_contacts(data)
    return parse_people(data, fmt="json" if chosen == "json" else "csv", mapping=mapping)


def parse_accounts_file(data: bytes, *, fmt: str, filename: str) -> ParseResult[AccountRecord]:
    _choose("accounts", fmt, filename, data)
    return parse_accounts_csv(data)
