from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from commandcentre.intel.importers.ics import parse_byline, parse_ics
from commandcentre.intel.importers.reading import ImportFileError
from commandcentre.intel.importers.records import EventRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
EXCERPT = FIXTURES / "pyconuk2015_excerpt.ics"


def calendar(*vevents: str, header: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{vevent.strip()}\r\nEND:VEVENT\r\n" for vevent in vevents)
    text = (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{header}{body}END:VCALENDAR\r\n"
    )
    return text.encode()


def only_event(data: bytes, **kwargs: str) -> EventRecord:
    (event,) = parse_ics(data, **kwargs).records
    return event


# --- the real PyCon UK 2015 calendar (excerpt) ------------------------------------------


def test_excerpt_is_one_event_named_after_the_calendar() -> None:
    result = parse_ics(EXCERPT.read_bytes())
    assert result.format == "ics"
    (event,) = result.records
    # X-WR-CALNAME is "PyCon UK 2015 Schedule"; the trailing "Schedule" is not the name.
    assert event.name == "PyCon UK 2015"
    assert (event.start_date, event.end_date) == (date(2015, 9, 18), date(2015, 9, 21))
    assert len(event.sessions) == 9
    assert result.skipped == 1  # the VEVENT with an empty SUMMARY
    assert result.errors == []


def test_excerpt_speakers_from_summary() -> None:
    sessions = {s.title: s for s in only_event(EXCERPT.read_bytes()).sessions}
    sarah = sessions["Forming a PyCon UK research community"]
    assert sarah.session_type == "talk"
    assert [(p.full_name, p.first_name, p.last_name, p.organisation) for p in sarah.speakers] == [
        ("Sarah Mount", "Sarah", "Mount", "University of Wolverhampton")
    ]
    nukes = sessions["Python powered Nukes"]
    assert [p.full_name for p in nukes.speakers] == ["Babak Khataee", "Dan Milburn"]
    demo = sessions["Demo: Simple web services for scientific data"]
    assert (demo.session_type, demo.speakers[0].organisation) == (
        "demo",
        "Culham Centre for Fusion Energy",
    )
    pypy = sessions["Understanding PyPy"]
    assert pypy.speakers[0].last_name == "Fernández Castaño"


def test_excerpt_folded_lines_and_escaped_commas() -> None:
    sessions = only_event(EXCERPT.read_bytes()).sessions
    titles = [s.title for s in sessions]
    assert "Keynote: Van Lindberg, PSF Chair" in titles
    # This SUMMARY is folded across two lines in the file.
    flaws = next(s for s in sessions if s.title.startswith("Using logical flaws"))
    assert flaws.title == "Using logical flaws to steal and modify business critical data"
    assert flaws.speakers[0].full_name == "Frans Rosén"
    assert all(s.external_id and "\n" not in s.external_id for s in sessions)


def test_excerpt_panel_title_is_not_a_speaker() -> None:
    sessions = only_event(EXCERPT.read_bytes()).sessions
    panel = next(s for s in sessions if s.session_type == "panel")
    assert panel.title == "Discussion: From data to dissemination - dealing with publications"
    assert panel.speakers == ()


def test_excerpt_times_are_utc() -> None:
    sessions = only_event(EXCERPT.read_bytes()).sessions
    keynote = next(s for s in sessions if s.title.startswith("Keynote: Van"))
    assert keynote.starts_at == datetime(2015, 9, 18, 9, 30, tzinfo=UTC)
    assert keynote.ends_at == datetime(2015, 9, 18, 10, 30, tzinfo=UTC)
    assert keynote.room == "PythonAnywhere Room (CC1.3)"


def test_event_name_makes_one_event() -> None:
    event = only_event(EXCERPT.read_bytes(), event_name="PyCon UK 2015 (Cardiff)")
    assert event.name == "PyCon UK 2015 (Cardiff)"
    assert event.external_id == "PyCon UK 2015 (Cardiff)|2015-09-18"


# --- shapes ------------------------------------------------------------------------------


def test_without_calendar_name_each_vevent_is_an_event() -> None:
    data = calendar(
        "UID:a\r\nSUMMARY:Meetup A\r\nDTSTART:20250110T180000Z\r\nURL:https://a.example",
        "UID:b\r\nSUMMARY:Meetup B\r\nDTSTART;VALUE=DATE:20250214\r\nDESCRIPTION:Line 1\\nLine 2",
    )
    result = parse_ics(data)
    assert [(e.name, e.start_date, e.end_date, e.external_id, e.row) for e in result.records] == [
        ("Meetup A", date(2025, 1, 10), date(2025, 1, 10), "a", 1),
        ("Meetup B", date(2025, 2, 14), date(2025, 2, 14), "b", 2),
    ]
    assert result.records[0].url == "https://a.example"
    assert result.records[1].description == "Line 1\nLine 2"


def test_calendar_name_spanning_more_than_two_weeks_is_a_list_of_events() -> None:
    data = calendar(
        "SUMMARY:January meetup\r\nDTSTART;VALUE=DATE:20250110",
        "SUMMARY:February meetup\r\nDTSTART;VALUE=DATE:20250214",
        header="X-WR-CALNAME:Python Meetups\r\n",
    )
    assert [e.name for e in parse_ics(data).records] == ["January meetup", "February meetup"]


def test_calendar_name_within_fourteen_days_is_one_event() -> None:
    data = calendar(
        "SUMMARY:Day one\r\nDTSTART;VALUE=DATE:20250601",
        "SUMMARY:Last day\r\nDTSTART;VALUE=DATE:20250614\r\nDTEND;VALUE=DATE:20250615",
        header="X-WR-CALNAME:Summer Sprint Calendar\r\n",
    )
    event = only_event(data)
    assert (event.name, event.start_date, event.end_date) == (
        "Summer Sprint",
        date(2025, 6, 1),
        date(2025, 6, 14),
    )
    assert all(s.starts_at is None for s in event.sessions)


def test_time_zones_become_utc() -> None:
    data = calendar(
        "SUMMARY:Berlin\r\nDTSTART;TZID=Europe/Berlin:20250312T093000\r\nDURATION:PT45M",
        "SUMMARY:Floating\r\nDTSTART:20250312T100000\r\nDTEND:20250312T110000",
        header="X-WR-TIMEZONE:America/New_York\r\n",
    )
    berlin, floating = only_event(data, event_name="Conf").sessions
    assert berlin.starts_at == datetime(2025, 3, 12, 8, 30, tzinfo=UTC)
    assert berlin.ends_at == datetime(2025, 3, 12, 9, 15, tzinfo=UTC)
    # Floating times are read in the calendar's X-WR-TIMEZONE.
    assert floating.starts_at == datetime(2025, 3, 12, 14, 0, tzinfo=UTC)


def test_event_dates_use_local_days_and_exclusive_ends() -> None:
    data = calendar(
        "SUMMARY:Late\r\nDTSTART;TZID=Europe/Berlin:20250312T233000\r\n"
        "DTEND;TZID=Europe/Berlin:20250313T000000",
    )
    event = only_event(data, event_name="Conf")
    assert (event.start_date, event.end_date) == (date(2025, 3, 12), date(2025, 3, 12))


def test_bad_date_is_a_row_error() -> None:
    data = calendar("SUMMARY:Good\r\nDTSTART:20250101T100000Z", "SUMMARY:Bad\r\nDTSTART:soon")
    result = parse_ics(data, event_name="Conf")
    assert [s.title for s in result.records[0].sessions] == ["Good"]
    (error,) = result.errors
    assert (error.row, error.field) == (2, "DTSTART")


def test_not_a_calendar() -> None:
    with pytest.raises(ImportFileError, match="no BEGIN:VCALENDAR"):
        parse_ics(b"First Name,Last Name\nAda,Lovelace\n")


def test_broken_calendar() -> None:
    with pytest.raises(ImportFileError, match="not a valid iCalendar file"):
        parse_ics(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\n")


def test_calendar_without_events() -> None:
    with pytest.raises(ImportFileError, match="no VEVENT"):
        parse_ics(calendar())


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("Plain title", ("Plain title", None, [])),
        ("T (talk by Ada Lovelace)", ("T", "talk", [("Ada Lovelace", None)])),
        ("T (Workshop by Ada, Example Ltd)", ("T", "workshop", [("Ada", "Example Ltd")])),
        (
            "T (talk by A B & C D; E F)",
            ("T", "talk", [("A B", None), ("C D", None), ("E F", None)]),
        ),
        ("T (talk by Track 2: TBA)", ("T", "talk", [])),
        ("(talk by Ada)", ("(talk by Ada)", None, [])),
    ],
)
def test_parse_byline(
    summary: str, expected: tuple[str, str | None, list[tuple[str, str | None]]]
) -> None:
    title, kind, speakers = parse_byline(summary)
    assert (title, kind, [(p.full_name, p.organisation) for p in speakers]) == expected


# --- the full real file ------------------------------------------------------------------


@pytest.mark.skipif(not SHARED.exists(), reason="shared data folder ../shared/data is missing")
def test_full_pyconuk_2015_calendar() -> None:
    result = parse_ics((SHARED / "pyconuk2015" / "schedule.ics").read_bytes())
    (event,) = result.records
    assert event.name == "PyCon UK 2015"
    assert (event.start_date, event.end_date) == (date(2015, 9, 18), date(2015, 9, 21))
    # 162 VEVENTs: 4 have an empty SUMMARY.
    assert (len(event.sessions), result.skipped, result.errors) == (158, 4, [])
    # 72 SUMMARY lines carry a "(... by ...)" byline once unfolded (a grep over the raw
    # file finds 66, because folding splits six of them). One is a panel whose "speaker"
    # is its own title, so 71 sessions have speakers.
    with_speakers = [s for s in event.sessions if s.speakers]
    assert len(with_speakers) == 71
    assert sum(1 for s in with_speakers if s.session_type == "talk") == 61
    names = {p.full_name for s in with_speakers for p in s.speakers}
    assert len(names) == 68
    assert {"Zeth", "Chris", "Jørn Lomax", "Helen Sherwood-Taylor"} <= names
    assert all(s.starts_at is not None and s.starts_at.tzinfo is UTC for s in event.sessions)


@pytest.mark.skipif(not SHARED.exists(), reason="shared data folder ../shared/data is missing")
def test_full_pyconuk_2015_calendar_as_separate_events_when_named_differently() -> None:
    data = (SHARED / "pyconuk2015" / "schedule.ics").read_bytes()
    data = data.replace(b"X-WR-CALNAME:PyCon UK 2015 Schedule\r\n", b"")
    result = parse_ics(data)
    assert (len(result.records), result.skipped) == (158, 4)
