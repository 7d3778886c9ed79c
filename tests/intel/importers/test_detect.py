from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from commandcentre.intel.importers.detect import (
    ACCOUNT_FORMATS,
    EVENT_FORMATS,
    PEOPLE_FORMATS,
    Kind,
    detect_format,
    parse_accounts_file,
    parse_events,
    parse_people_file,
)
from commandcentre.intel.importers.reading import ImportFileError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_format_names() -> None:
    assert EVENT_FORMATS == ("conferences-json", "ics", "frab-xml")
    assert PEOPLE_FORMATS == ("csv", "json", "linkedin", "hubspot")
    assert ACCOUNT_FORMATS == ("csv",)


@pytest.mark.parametrize(
    ("kind", "fixture_name", "upload_name", "expected"),
    [
        ("events", "conferences_excerpt.json", "python.json", "conferences-json"),
        ("events", "conferences_excerpt.json", "download", "conferences-json"),
        ("events", "pyconuk2015_excerpt.ics", "schedule.ics", "ics"),
        ("events", "pyconuk2015_excerpt.ics", "schedule.txt", "ics"),
        ("events", "pretalx_schedule.xml", "schedule.xml", "frab-xml"),
        ("events", "pretalx_schedule.xml", "schedule", "frab-xml"),
        ("people", "linkedin_connections.csv", "Connections.csv", "linkedin"),
        ("people", "linkedin_connections_no_url.csv", "Connections.csv", "linkedin"),
        ("people", "hubspot_contacts.csv", "hubspot-crm-exports.csv", "hubspot"),
        ("people", "speakers.csv", "speakers.csv", "csv"),
        ("people", "salesforce_report.csv", "report.csv", "csv"),
        ("people", "speakers_sessionize.json", "speakers.json", "json"),
        ("people", "europython2024_speakers_excerpt.json", "export", "json"),
        ("accounts", "accounts.csv", "accounts.csv", "csv"),
        ("accounts", "accounts.csv", "accounts", "csv"),
    ],
)
def test_detect_format(kind: Kind, fixture_name: str, upload_name: str, expected: str) -> None:
    assert detect_format(kind, upload_name, fixture(fixture_name)) == expected


def test_detect_with_bom_and_utf16() -> None:
    linkedin = fixture("linkedin_connections.csv")
    assert detect_format("people", "c.csv", codecs.BOM_UTF8 + linkedin) == "linkedin"
    hubspot = fixture("hubspot_contacts.csv").decode()
    assert detect_format("people", "h.csv", hubspot.encode("utf-16")) == "hubspot"


def test_detect_ics_with_leading_whitespace_and_xml_with_doctype() -> None:
    assert detect_format("events", "x", b"\r\n  BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") == "ics"
    xml = b'<?xml version="1.0"?>\n<!-- pretalx -->\n<!DOCTYPE schedule>\n<schedule/>'
    assert detect_format("events", "x", xml) == "frab-xml"


def test_extension_decides_when_content_gives_no_sign() -> None:
    assert detect_format("events", "feed.ics", b"garbage") == "ics"
    assert detect_format("people", "list.json", b"garbage") == "json"
    assert detect_format("people", "list.txt", b"Ada") == "csv"


def test_unknown_format_lists_accepted_formats() -> None:
    with pytest.raises(ImportFileError) as info:
        detect_format("events", "notes.txt", b"just some words")
    message = str(info.value)
    assert "cannot tell the format of 'notes.txt'" in message
    for name in EVENT_FORMATS:
        assert name in message


def test_json_is_not_an_accounts_format() -> None:
    with pytest.raises(ImportFileError, match="accepted accounts formats: csv"):
        detect_format("accounts", "accounts.json", b'[{"name": "Example"}]')


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04rest-of-zip", "Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "old Excel"),
        (b"%PDF-1.7", "PDF"),
    ],
)
def test_binary_files_are_refused_with_advice(data: bytes, what: str) -> None:
    with pytest.raises(ImportFileError, match=f"{what}.*save it as CSV"):
        detect_format("people", "contacts.xlsx", data)


def test_detect_refuses_oversized_file() -> None:
    with pytest.raises(ImportFileError, match="the limit is 20 MB"):
        detect_format("people", "big.csv", b"Name\n" + b"x" * 25_000_000)


# --- dispatchers ------------------------------------------------------------------------


def test_parse_events_auto_conferences_with_topic() -> None:
    result = parse_events(
        fixture("conferences_excerpt.json"), fmt="auto", filename="python.json", topic="python"
    )
    assert result.format == "conferences-json"
    assert all(e.topics == ("python",) for e in result.records)


def test_parse_events_auto_ics_with_event_name_and_topic() -> None:
    result = parse_events(
        fixture("pyconuk2015_excerpt.ics"),
        fmt="auto",
        filename="schedule.ics",
        event_name="PyCon UK 2015",
        topic="python",
    )
    (event,) = result.records
    assert (event.name, event.topics) == ("PyCon UK 2015", ("python",))


def test_parse_events_frab_event_name_overrides_title() -> None:
    result = parse_events(
        fixture("pretalx_schedule.xml"), fmt="frab-xml", filename="s.xml", event_name="Data Days"
    )
    assert [e.name for e in result.records] == ["Data Days"]


def test_parse_events_unknown_format() -> None:
    with pytest.raises(ImportFileError, match="unknown events format 'csv'; accepted: auto, "):
        parse_events(b"x", fmt="csv", filename="x.csv")


@pytest.mark.parametrize(
    ("fixture_name", "expected_format", "count"),
    [
        ("linkedin_connections.csv", "linkedin", 2),
        ("hubspot_contacts.csv", "hubspot", 2),
        ("speakers.csv", "csv", 3),
        ("speakers_sessionize.json", "json", 2),
    ],
)
def test_parse_people_file_auto(fixture_name: str, expected_format: str, count: int) -> None:
    result = parse_people_file(fixture(fixture_name), fmt="auto", filename=fixture_name)
    assert (result.format, len(result.records)) == (expected_format, count)


def test_parse_people_file_mapping_reads_crm_export_as_generic_csv() -> None:
    result = parse_people_file(
        fixture("hubspot_contacts.csv"),
        fmt="auto",
        filename="contacts.csv",
        mapping={"organisation": "Contact owner"},
    )
    assert result.format == "csv"
    assert [r.organisation for r in result.records] == ["Owner Example", None]


def test_parse_accounts_file() -> None:
    result = parse_accounts_file(fixture("accounts.csv"), fmt="auto", filename="accounts.csv")
    assert len(result.records) == 3
    with pytest.raises(ImportFileError, match="unknown accounts format 'json'"):
        parse_accounts_file(fixture("accounts.csv"), fmt="json", filename="accounts.csv")
