from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from commandcentre.intel.importers.frab import html_to_text, parse_frab_xml
from commandcentre.intel.importers.reading import ImportFileError
from commandcentre.intel.importers.records import EventRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"
SCHEDULE = FIXTURES / "pretalx_schedule.xml"


def schedule(events: str, conference: str = "<title>Conf</title>") -> bytes:
    return (
        f"<schedule><conference>{conference}</conference>"
        f"<day date='2025-03-12'><room name='Hall'>{events}</room></day></schedule>"
    ).encode()


def only_event(data: bytes) -> EventRecord:
    (event,) = parse_frab_xml(data).records
    return event


def test_pretalx_export_is_one_event() -> None:
    result = parse_frab_xml(SCHEDULE.read_bytes())
    assert result.format == "frab-xml"
    (event,) = result.records
    assert event.name == "Data Days Rhein-Main 2025"
    assert (event.start_date, event.end_date) == (date(2025, 3, 12), date(2025, 3, 13))
    assert event.url == "https://pretalx.example.org/datadays-2025/schedule/"
    assert event.external_id == "datadays-2025"
    assert [s.title for s in event.sessions] == [
        "Keynote: The Boring Data Stack",
        "Streaming without tears",
        "Hands-on: feature stores from scratch",
        "Closing & Lightning Talks",
    ]


def test_pretalx_event_without_title_is_a_row_error() -> None:
    result = parse_frab_xml(SCHEDULE.read_bytes())
    (error,) = result.errors
    assert (error.row, error.field) == (4, "title")


def test_pretalx_session_fields() -> None:
    keynote, _, workshop, closing = only_event(SCHEDULE.read_bytes()).sessions
    assert keynote.starts_at == datetime(2025, 3, 12, 8, 30, tzinfo=UTC)
    assert keynote.ends_at == datetime(2025, 3, 12, 9, 15, tzinfo=UTC)
    assert (keynote.room, keynote.track, keynote.session_type) == ("Main Hall", None, "Keynote")
    assert keynote.external_id == "0b9b1c7e-7d1f-5a52-9d2f-3f3b6e1d9a10"
    assert (workshop.room, workshop.track, workshop.session_type) == (
        "Room 2.01",
        "Machine Learning",
        "Workshop",
    )
    assert workshop.ends_at is not None
    assert workshop.starts_at is not None
    assert workshop.ends_at - workshop.starts_at == timedelta(minutes=90)
    assert (closing.abstract, closing.speakers) == (None, ())


def test_pretalx_html_abstracts_become_text() -> None:
    keynote, streaming, workshop, _ = only_event(SCHEDULE.read_bytes()).sessions
    assert keynote.abstract == (
        "Why the teams that ship the most pick boring tools & keep them.\n\n"
        "A tour of five years of data platforms:\n\n- what we kept\n- what we replaced"
    )
    assert streaming.abstract == (
        "Kafka, Flink and a lot of patience\n\n"
        "Exactly-once is a promise with footnotes. We read them."
    )
    assert workshop.abstract == "Bring a laptop with Python 3.12.\nWe build one in 90 minutes."


def test_pretalx_speakers() -> None:
    keynote, streaming, workshop, _ = only_event(SCHEDULE.read_bytes()).sessions
    (jane,) = keynote.speakers
    assert (jane.full_name, jane.first_name, jane.last_name) == (
        "Dr. Jane van der Berg",
        "Jane",
        "van der Berg",
    )
    assert [p.full_name for p in streaming.speakers] == ["Ömer Yılmaz", "Chloé Martin"]  # noqa: RUF001
    assert len(workshop.speakers) == 3


def test_start_from_day_and_time_in_conference_zone() -> None:
    data = schedule(
        "<event id='1'><start>10:00</start><duration>00:30:00</duration><title>T</title></event>",
        "<title>Conf</title><time_zone_name>Europe/Berlin</time_zone_name>",
    )
    (session,) = only_event(data).sessions
    assert session.starts_at == datetime(2025, 3, 12, 9, 0, tzinfo=UTC)
    assert session.ends_at == datetime(2025, 3, 12, 9, 30, tzinfo=UTC)
    assert session.room == "Hall"
    assert session.external_id == "1"


def test_event_dates_from_sessions_when_conference_has_none() -> None:
    data = schedule("<event><date>2025-03-12T10:00:00+01:00</date><title>T</title></event>")
    event = only_event(data)
    assert (event.start_date, event.end_date, event.external_id) == (
        date(2025, 3, 12),
        date(2025, 3, 12),
        "Conf|2025-03-12",
    )


@pytest.mark.parametrize(
    ("element", "field"),
    [("<date>tomorrow</date>", "date"), ("<duration>half an hour</duration>", "duration")],
)
def test_bad_values_are_row_errors(element: str, field: str) -> None:
    data = schedule(f"<event><title>Bad</title>{element}</event><event><title>Good</title></event>")
    result = parse_frab_xml(data)
    assert [s.title for s in result.records[0].sessions] == ["Good"]
    assert [(e.row, e.field) for e in result.errors] == [(1, field)]


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?>\n<!DOCTYPE schedule [\n'
        b'<!ENTITY lol "lol">\n<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
        b"<schedule><conference><title>&lol2;</title></conference></schedule>"
    )
    with pytest.raises(ImportFileError, match="entities"):
        parse_frab_xml(bomb)


def test_external_entity_is_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?>\n<!DOCTYPE schedule [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        b"<schedule><conference><title>&x;</title></conference></schedule>"
    )
    with pytest.raises(ImportFileError, match="entities"):
        parse_frab_xml(xxe)


def test_malformed_xml_names_the_position() -> None:
    with pytest.raises(
        ImportFileError, match=r"^not valid XML at line 2 column \d+: mismatched tag"
    ):
        parse_frab_xml(b"<schedule>\n<conference><title>x</conference></schedule>")


def test_wrong_root_element() -> None:
    with pytest.raises(ImportFileError, match="root element is <rss>"):
        parse_frab_xml(b"<rss><channel/></rss>")


def test_missing_conference_title() -> None:
    with pytest.raises(ImportFileError, match="no <title>"):
        parse_frab_xml(b"<schedule><conference/></schedule>")


def test_cp1252_file_without_encoding_declaration() -> None:
    data = schedule(
        "<event><title>Café talk</title><persons><person>René Müller</person></persons></event>"
    )
    (session,) = only_event(data.decode().encode("cp1252")).sessions
    assert (session.title, session.speakers[0].full_name) == ("Café talk", "René Müller")


def test_html_to_text_plain_text_is_untouched() -> None:
    assert html_to_text("  a < b and c > d  ") == "a < b and c > d"
