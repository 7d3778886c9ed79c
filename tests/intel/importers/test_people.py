from __future__ import annotations

import codecs
import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commandcentre.intel.importers.people import parse_people
from commandcentre.intel.importers.reading import ImportFileError
from commandcentre.intel.importers.records import PersonRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"


def fields(record: PersonRecord) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__ if getattr(record, name)}


# --- the speakers fixture ---------------------------------------------------------------


def test_speakers_csv_fixture() -> None:
    result = parse_people((FIXTURES / "speakers.csv").read_bytes(), fmt="csv")
    assert result.format == "csv"
    jane, sarah, omer = result.records
    assert fields(jane) == {
        "full_name": "Dr. Jane van der Berg",
        "first_name": "Jane",
        "last_name": "van der Berg",
        "email": "jane.vdberg@example.com",
        "title": "Principal Engineer",
        "organisation": "Example Widgets Ltd",
        "linkedin_url": "https://www.linkedin.com/in/janevdberg",
        "bio": "Jane builds data platforms.",
        "timezone": "Europe/Amsterdam",
        "talk_title": "The Boring Data Stack",
        "talk_abstract": "Why boring tools win.\nTwo lines, with a comma.",
        "row": 2,
    }
    # "Mount, Sarah" is a last-name-first entry; the quoted abstract above spans two lines
    # but is one spreadsheet row, so Sarah is row 3.
    assert (sarah.full_name, sarah.first_name, sarah.last_name, sarah.row) == (
        "Sarah Mount",
        "Sarah",
        "Mount",
        3,
    )
    assert sarah.email is None
    assert omer.linkedin_url is None
    assert [(e.row, e.field) for e in result.errors] == [
        (3, "email"),
        (4, "full_name"),
        (5, "linkedin_url"),
    ]
    assert "sarah@" in result.errors[0].message
    assert "kept" in result.errors[0].message


# --- header synonyms --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("FirstName", "first_name"),
        ("first_name", "first_name"),
        ("Given Name", "first_name"),
        ("Vorname", "first_name"),
        ("Surname", "last_name"),
        ("family_name", "last_name"),
        ("Nachname", "last_name"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("MAIL", "email"),
        ("JobTitle", "title"),
        ("Position", "title"),
        ("role", "title"),
        ("Organization", "organisation"),
        ("affiliation", "organisation"),
        ("Employer", "organisation"),
        ("Account Name", "organisation"),
        ("LinkedIn URL", "linkedin_url"),
        ("profile_url", "linkedin_url"),
        ("Biography", "bio"),
        ("About", "bio"),
        ("Time Zone", "timezone"),
        ("TZ", "timezone"),
        ("Session Title", "talk_title"),
        ("topic", "talk_title"),
        ("topic_summary", "talk_abstract"),
        ("Description of talk", "talk_abstract"),
    ],
)
def test_header_synonyms(header: str, field: str) -> None:
    value = "https://www.linkedin.com/in/x" if field == "linkedin_url" else "x@example.com"
    text = f"Full Name,{header}\nAda Example,{value}\n"
    (record,) = parse_people(text.encode(), fmt="csv").records
    assert getattr(record, field) == value


@pytest.mark.parametrize("header", ["name", "Full Name", "speaker", "Speaker Name"])
def test_full_name_synonyms(header: str) -> None:
    (record,) = parse_people(f"{header}\nAda Example\n".encode(), fmt="csv").records
    assert (record.full_name, record.first_name, record.last_name) == (
        "Ada Example",
        "Ada",
        "Example",
    )


def test_first_and_last_name_make_the_full_name() -> None:
    (record,) = parse_people(b"First Name,Last Name\nAda,Lovelace\n", fmt="csv").records
    assert (record.full_name, record.first_name, record.last_name) == (
        "Ada Lovelace",
        "Ada",
        "Lovelace",
    )


def test_only_a_last_name_is_enough() -> None:
    (record,) = parse_people(b"First Name,Last Name\n,Lovelace\n", fmt="csv").records
    assert (record.full_name, record.first_name, record.last_name) == ("Lovelace", None, "Lovelace")


# --- title vs talk title ----------------------------------------------------------------


def test_title_alone_is_a_job_title() -> None:
    (record,) = parse_people(b"Name,Title\nAda,CTO\n", fmt="csv").records
    assert (record.title, record.talk_title) == ("CTO", None)


def test_title_with_an_abstract_is_the_talk_title() -> None:
    data = b"Speaker,Title,Abstract\nAda,Engines of the future,We look ahead.\n"
    (record,) = parse_people(data, fmt="csv").records
    assert (record.title, record.talk_title, record.talk_abstract) == (
        None,
        "Engines of the future",
        "We look ahead.",
    )


def test_title_stays_job_title_when_a_talk_title_column_exists() -> None:
    data = b"Name,Title,Topic,Abstract\nAda,CTO,Engines,We look ahead.\n"
    (record,) = parse_people(data, fmt="csv").records
    assert (record.title, record.talk_title) == ("CTO", "Engines")


def test_title_stays_job_title_when_another_job_title_column_exists() -> None:
    data = b"Name,Position,Title,Abstract\nAda,,CTO,We look ahead.\n"
    (record,) = parse_people(data, fmt="csv").records
    assert (record.title, record.talk_title) == ("CTO", None)


def test_explicit_mapping_decides_title() -> None:
    data = b"Speaker,Title,Abstract\nAda,CTO,We look ahead.\n"
    (record,) = parse_people(data, fmt="csv", mapping={"title": "Title"}).records
    assert (record.title, record.talk_title) == ("CTO", None)


# --- LinkedIn in a URL column -----------------------------------------------------------


def test_url_column_is_used_only_for_linkedin_values() -> None:
    data = (
        b"Name,URL\nAda,https://www.linkedin.com/in/ada-example/\nBert,https://bert.example.com\n"
    )
    result = parse_people(data, fmt="csv")
    assert [r.linkedin_url for r in result.records] == [
        "https://www.linkedin.com/in/ada-example",
        None,
    ]
    assert result.errors == []


# --- explicit mapping -------------------------------------------------------------------


def test_explicit_mapping_for_unusual_headers() -> None:
    data = b"Who,Reach me at,Works for,Other email\nAda Example,ADA@example.com,Example Ltd,x@y.z\n"
    mapping = {"full_name": "Who", "email": "Reach me at", "organisation": "works for"}
    (record,) = parse_people(data, fmt="csv", mapping=mapping).records
    assert (record.full_name, record.email, record.organisation) == (
        "Ada Example",
        "ada@example.com",
        "Example Ltd",
    )


def test_mapping_overrides_auto_detection() -> None:
    data = b"Name,Email,Private Email\nAda,ada@work.example,ada@home.example\n"
    (record,) = parse_people(data, fmt="csv", mapping={"email": "Private Email"}).records
    assert record.email == "ada@home.example"


def test_mapping_with_unknown_field_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="unknown field 'phone' in the column mapping"):
        parse_people(b"Name\nAda\n", fmt="csv", mapping={"phone": "Name"})


def test_mapping_with_missing_column_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="column 'Company' \\(mapped to 'organisation'\\)"):
        parse_people(b'[{"Name": "Ada"}]', fmt="json", mapping={"organisation": "Company"})


def test_mapping_with_column_missing_from_csv_header_is_a_file_error() -> None:
    data = b"Name,Email\nAda,ada@example.com\n"
    with pytest.raises(ImportFileError, match="mapped columns 'Company'"):
        parse_people(data, fmt="csv", mapping={"organisation": "Company"})


# --- files as they come -----------------------------------------------------------------


def test_semicolon_separated_cp1252_file() -> None:
    text = "Vorname;Nachname;E-Mail;Firma\r\nJürgen;Müller;j.mueller@example.de;Café Größe GmbH\r\n"
    (record,) = parse_people(text.encode("cp1252"), fmt="csv").records
    assert (record.full_name, record.email, record.organisation) == (
        "Jürgen Müller",
        "j.mueller@example.de",
        "Café Größe GmbH",
    )


def test_tab_separated_utf16_file_from_excel() -> None:
    text = "First Name\tLast Name\tCompany\r\nZoë\tŁukasiewicz\tExample, Ltd\r\n"
    (record,) = parse_people(text.encode("utf-16"), fmt="csv").records
    assert (record.full_name, record.organisation) == ("Zoë Łukasiewicz", "Example, Ltd")


def test_utf8_bom_and_crlf() -> None:
    data = codecs.BOM_UTF8 + b"Name,Email\r\nAda,ada@example.com\r\nBert,bert@example.com\r\n"
    result = parse_people(data, fmt="csv")
    assert [(r.full_name, r.row) for r in result.records] == [("Ada", 2), ("Bert", 3)]


def test_control_characters_are_removed_from_cells() -> None:
    (record,) = parse_people(
        b"Name,Company\nAda\x00 Example\x07,Ex\x1bample Ltd\n", fmt="csv"
    ).records
    assert (record.full_name, record.organisation) == ("Ada Example", "Example Ltd")


def test_duplicate_rows_are_kept() -> None:
    result = parse_people(b"Name,Email\nAda,ada@example.com\nAda,ada@example.com\n", fmt="csv")
    assert len(result.records) == 2


def test_oversized_field_is_a_row_error_naming_the_field() -> None:
    data = b"Name,Bio\nAda,short\nBert," + b"b" * 10_001 + b"\nCarla,fine\n"
    result = parse_people(data, fmt="csv")
    assert [r.full_name for r in result.records] == ["Ada", "Carla"]
    (error,) = result.errors
    assert (error.row, error.field) == (3, "bio")
    assert "10,001 characters" in error.message


def test_oversized_file_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match=r"file is 20\.1 MB; the limit is 20 MB"):
        parse_people(b"Name\n" + b"Ada\n" * 5_025_000, fmt="csv")


def test_missing_name_column_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match=r"missing required column 'name'.*found: 'Email'"):
        parse_people(b"Email,Phone\nada@example.com,123\n", fmt="csv")


def test_file_without_header_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="no header row found"):
        parse_people(b"Ada,Lovelace\nBert,Sample\n", fmt="csv")


def test_unknown_format_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="unknown people format 'xml'"):
        parse_people(b"x", fmt="xml")  # type: ignore[arg-type]


# --- CRM exports read as plain CSV ------------------------------------------------------


def test_salesforce_report_footer_is_skipped_not_an_error() -> None:
    result = parse_people((FIXTURES / "salesforce_report.csv").read_bytes(), fmt="csv")
    assert [(r.full_name, r.title, r.organisation) for r in result.records] == [
        ("Tim Barr", "VP Operations", "Example Widgets Ltd"),
        ("Babara Levy", None, "Sample & Sons, Inc."),
    ]
    assert result.errors == []
    assert result.skipped == 2


def test_salesforce_api_names_export() -> None:
    result = parse_people((FIXTURES / "salesforce_api_names.csv").read_bytes(), fmt="csv")
    assert [(r.full_name, r.first_name, r.last_name, r.email) for r in result.records] == [
        ("Tim Barr", "Tim", "Barr", "tim.barr@example.com"),
        ("Babara Levy", "Babara", "Levy", None),
    ]


# --- JSON -------------------------------------------------------------------------------


def test_json_list_of_objects() -> None:
    data = json.dumps([{"name": "Ada Example", "company": "Example Ltd", "email": "A@EXAMPLE.COM"}])
    (record,) = parse_people(data.encode(), fmt="json").records
    assert (record.full_name, record.organisation, record.email, record.row) == (
        "Ada Example",
        "Example Ltd",
        "a@example.com",
        1,
    )


@pytest.mark.parametrize("key", ["speakers", "contacts", "data", "Speakers"])
def test_json_list_under_a_key(key: str) -> None:
    data = json.dumps({"meta": {"count": 1}, key: [{"Full Name": "Ada"}]})
    assert [r.full_name for r in parse_people(data.encode(), fmt="json").records] == ["Ada"]


def test_json_sessionize_style_speakers() -> None:
    result = parse_people((FIXTURES / "speakers_sessionize.json").read_bytes(), fmt="json")
    priya, lukas = result.records
    assert priya.full_name == "Priya Raman"
    assert priya.title == "ML Platform Lead at Example Widgets"
    assert priya.linkedin_url == "https://www.linkedin.com/in/priya-raman-123"
    assert (lukas.full_name, lukas.bio, lukas.title) == ("Lukas Schäfer", None, None)
    (error,) = result.errors
    assert (error.row, error.message) == (3, "expected an object, found a string")


def test_json_europython_speakers_excerpt() -> None:
    data = (FIXTURES / "europython2024_speakers_excerpt.json").read_bytes()
    result = parse_people(data, fmt="json")
    jakub, violetta, ben = result.records
    assert (jakub.full_name, jakub.organisation, jakub.linkedin_url) == (
        "Jakub Beránek",
        "Rust Project",
        "https://www.linkedin.com/in/jakub-beranek",
    )
    assert jakub.bio is not None
    assert jakub.bio.startswith("I'm currently trying to finish a PhD")
    # The real page links the company, not the person: kept, without a LinkedIn URL.
    assert (violetta.organisation, violetta.linkedin_url) == ("dltHub", None)
    assert [(e.row, e.field) for e in result.errors] == [(2, "linkedin_url")]
    assert ben.organisation is None


def test_json_nested_value_is_ignored_with_a_note() -> None:
    data = json.dumps([{"name": "Ada", "company": {"id": 7, "name": "Example"}}])
    result = parse_people(data.encode(), fmt="json")
    assert [(r.full_name, r.organisation) for r in result.records] == [("Ada", None)]
    (error,) = result.errors
    assert (error.row, error.field) == (1, "organisation")


def test_json_mapping() -> None:
    data = json.dumps([{"who": "Ada", "org": "Example"}])
    mapping = {"full_name": "who", "organisation": "org"}
    (record,) = parse_people(data.encode(), fmt="json", mapping=mapping).records
    assert (record.full_name, record.organisation) == ("Ada", "Example")


def test_json_empty_list() -> None:
    result = parse_people(b"[]", fmt="json")
    assert (result.records, result.errors) == ([], [])


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(ImportFileError, match=r"^not valid JSON at line 3 column 5: "):
        parse_people(b'[\n  {"name": "Ada"},\n    oops\n]', fmt="json")


def test_json_without_a_list_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="expected a JSON list of people"):
        parse_people(b'{"name": "Ada"}', fmt="json")


def test_deeply_nested_json_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="not valid JSON"):
        parse_people(b"[" * 100_000 + b"]" * 100_000, fmt="json")


# --- robustness -------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), fmt=st.sampled_from(["csv", "json"]))
def test_arbitrary_bytes_raise_nothing_but_import_file_error(data: bytes, fmt: str) -> None:
    try:
        result = parse_people(data, fmt=fmt)  # type: ignore[arg-type]
    except ImportFileError:
        return
    assert all(record.full_name for record in result.records)


_CELL = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_CELL, min_size=1, max_size=5), max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_csv_like_text_raises_nothing_but_import_file_error(
    rows: list[list[str]], delimiter: str
) -> None:
    text = "Name,Email,Company\n" + "\n".join(delimiter.join(row) for row in rows)
    try:
        result = parse_people(text.encode("utf-8", "surrogatepass"), fmt="csv")
    except ImportFileError:
        return
    assert all(record.full_name for record in result.records)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["name", "email", "company", "links", "x"]), children)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(document=_JSON)
def test_any_json_document_raises_nothing_but_import_file_error(document: object) -> None:
    with contextlib.suppress(ImportFileError):
        parse_people(json.dumps(document).encode(), fmt="json")
