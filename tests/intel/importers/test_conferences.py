from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from commandcentre.intel.importers.conferences import parse_conferences_json
from commandcentre.intel.importers.reading import ImportFileError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def test_excerpt_of_real_file() -> None:
    result = parse_conferences_json(
        (FIXTURES / "conferences_excerpt.json").read_bytes(), topic="python"
    )
    assert result.format == "conferences-json"
    assert result.errors == []
    first = result.records[0]
    assert first.name == "PyCon+Web"
    assert (first.start_date, first.end_date) == (date(2025, 1, 24), date(2025, 1, 25))
    assert (first.city, first.country, first.online) == ("Berlin", "Germany", False)
    assert first.url == "https://www.pyconweb.com"
    assert first.topics == ("python",)
    assert first.external_id == "https://www.pyconweb.com|2025-01-24"
    assert first.description == (
        "Call for papers: https://www.papercall.io/pyconweb2025 (closes 2024-12-11)"
    )
    assert [r.row for r in result.records] == [1, 2, 3, 4, 5, 6, 7]


def test_online_event_without_city() -> None:
    records = parse_conferences_json((FIXTURES / "conferences_excerpt.json").read_bytes()).records
    azure = next(r for r in records if r.name == "Azure Cosmos DB Conf")
    assert (azure.online, azure.city, azure.country, azure.topics) == (True, None, None, ())


def test_missing_online_flag_means_in_person() -> None:
    records = parse_conferences_json((FIXTURES / "conferences_excerpt.json").read_bytes()).records
    assert next(r for r in records if r.name == "Akademy").online is False


def test_same_url_and_date_in_two_cities_keeps_both() -> None:
    records = parse_conferences_json((FIXTURES / "conferences_excerpt.json").read_bytes()).records
    summits = [r for r in records if r.name == "InnerSource Summit"]
    assert [r.external_id for r in summits] == [
        "https://innersourcecommons.org/events/isc-2025|2025-11-13",
        "https://innersourcecommons.org/events/isc-2025|2025-11-13|New York, NY",
    ]


def test_editions_of_a_series_sharing_a_url_get_different_ids() -> None:
    items = [
        {"name": "axe-con", "url": "https://www.deque.com/axe-con", "startDate": "2024-02-20"},
        {"name": "Axe-con", "url": "https://www.deque.com/axe-con", "startDate": "2025-02-25"},
    ]
    ids = [r.external_id for r in parse_conferences_json(json.dumps(items).encode()).records]
    assert len(set(ids)) == 2


def test_without_url_the_id_is_name_and_date() -> None:
    items = [{"name": "Local Meetup", "startDate": "2025-05-01"}]
    (record,) = parse_conferences_json(json.dumps(items).encode()).records
    assert (record.external_id, record.end_date) == ("Local Meetup|2025-05-01", date(2025, 5, 1))


def test_row_errors_keep_the_other_rows() -> None:
    items = [
        {"name": "Good", "startDate": "2025-01-01", "endDate": "2025-01-02"},
        {"url": "https://nameless.example"},
        {"name": "Bad date", "startDate": "2025-02-30"},
        {"name": "Backwards", "startDate": "2025-03-05", "endDate": "2025-03-01"},
        "not an object",
        {"name": "x" * 1001},
    ]
    result = parse_conferences_json(json.dumps(items).encode())
    assert [r.name for r in result.records] == ["Good"]
    assert [(e.row, e.field) for e in result.errors] == [
        (2, "name"),
        (3, "startDate"),
        (4, "endDate"),
        (5, None),
        (6, "name"),
    ]
    assert result.errors[2].message == "endDate 2025-03-01 is before startDate 2025-03-05"


def test_list_wrapped_in_an_object() -> None:
    data = json.dumps({"conferences": [{"name": "X", "startDate": "2025-01-01"}]}).encode()
    assert [r.name for r in parse_conferences_json(data).records] == ["X"]


def test_invalid_json_is_a_file_error_with_position() -> None:
    with pytest.raises(ImportFileError, match=r"^not valid JSON at line 2 column 11: "):
        parse_conferences_json(b'[\n  {"name" "x"}\n]')


@pytest.mark.skipif(not SHARED.exists(), reason="shared data folder ../shared/data is missing")
def test_all_real_conference_files() -> None:
    files = sorted((SHARED / "conferences").glob("*/*.json"))
    assert len(files) == 99
    total = 0
    for path in files:
        result = parse_conferences_json(path.read_bytes(), topic=path.stem)
        assert result.errors == [], path
        assert all(r.topics == (path.stem,) and r.start_date and r.end_date for r in result.records)
        assert len({r.external_id for r in result.records}) == len(result.records), path
        total += len(result.records)
    assert total == 2032
