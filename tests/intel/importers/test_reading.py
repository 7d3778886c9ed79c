from __future__ import annotations

import codecs

import pytest

from commandcentre.intel.importers.reading import (
    FieldTooLong,
    ImportFileError,
    NotText,
    RowNotes,
    RowProblem,
    Schema,
    clean_line,
    clean_text,
    collect_rows,
    decode,
    header_key,
    normalise_email,
    normalise_linkedin_url,
    read_csv_table,
    split_name,
    url_host,
)
from commandcentre.intel.importers.records import ParseResult

GERMAN = "Name;Firma;Ort\nJürgen Müller;Café Größe GmbH;Köln\n"
# Curly quotes and the en dash are bytes 0x91-0x97 in cp1252, where Latin-1 has controls.
WESTERN = (
    "First Name,Last Name,Company\n"
    "José,Pérez,Société Générale\n"
    "Zoë,O\u2019Brien,Smörgås \u2013 \u201cNordic\u201d\n"
)


# --- decode ---------------------------------------------------------------------------


def test_decode_plain_utf8() -> None:
    assert decode("Zoë, 東京".encode()) == "Zoë, 東京"


def test_decode_strips_utf8_bom() -> None:
    assert decode(codecs.BOM_UTF8 + "name\nZoë\n".encode()) == "name\nZoë\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_decode_utf16_with_bom(codec: str) -> None:
    text = "First Name\tLast Name\nZoë\tŁukasiewicz\n"
    data = text.encode(codec)
    if codec != "utf-16":  # the generic codec writes its own BOM
        data = (codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE) + data
    assert decode(data) == text


def test_decode_utf16_without_bom() -> None:
    assert (
        decode("name,company\nAda,Example\n".encode("utf-16-le")) == "name,company\nAda,Example\n"
    )


@pytest.mark.parametrize("text", [GERMAN, WESTERN, "name\nRené\n"])
def test_decode_cp1252(text: str) -> None:
    assert decode(text.encode("cp1252")) == text


def test_decode_cyrillic_single_byte_is_not_read_as_cp1252() -> None:
    text = "Имя;Компания\nИван Петров;Яндекс\nМария Смирнова;Лаборатория Касперского\n"  # noqa: RUF001
    assert decode(text.encode("cp1251")) == text


def test_decode_normalises_line_endings() -> None:
    assert decode(b"a,b\r\nc,d\re,f\n") == "a,b\nc,d\ne,f\n"


def test_decode_oversized_file_names_size_and_limit() -> None:
    data = b"x" * 31_200_000
    with pytest.raises(ImportFileError, match=r"^file is 31\.2 MB; the limit is 20 MB$"):
        decode(data)


def test_decode_custom_limit() -> None:
    with pytest.raises(ImportFileError, match="file is 2,000 bytes; the limit is 1,000 bytes"):
        decode(b"x" * 2000, max_bytes=1000)


def test_decode_file_just_over_the_limit_shows_bytes() -> None:
    with pytest.raises(ImportFileError, match="file is 20,000,001 bytes; the limit is 20,000,000"):
        decode(b"x" * 20_000_001)


def test_decode_empty_file() -> None:
    with pytest.raises(ImportFileError, match="empty"):
        decode(b"")


def test_decode_broken_utf16_with_bom_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="UTF-16"):
        decode(codecs.BOM_UTF16_LE + b"a\x00\x00\xd8")


# --- clean_text / clean_line ------------------------------------------------------------


def test_clean_text_removes_control_characters_but_keeps_tabs_and_newlines() -> None:
    assert clean_text("  Jane\x00 \x07Doe\x1b\tand\r\nmore\x7f\x85 ") == "Jane Doe\tand\nmore"


@pytest.mark.parametrize("value", [None, "", "   ", "\x00\x01", "\u00a0\ufeff"])
def test_clean_text_empty_is_none(value: object) -> None:
    assert clean_text(value) is None


def test_clean_text_numbers_and_lists() -> None:
    assert clean_text(42) == "42"
    assert clean_text(["Python", "Rust"]) == "Python, Rust"


def test_clean_text_normalises_unicode_and_drops_lone_surrogates() -> None:
    decomposed = "Ren" + "e\u0301"
    assert clean_text(decomposed) == "René"
    assert clean_text("ab\ud800c") == "abc"


def test_clean_text_too_long_names_the_field() -> None:
    with pytest.raises(FieldTooLong) as info:
        clean_text("x" * 10_001, field="bio")
    assert info.value.field == "bio"
    assert info.value.message == "bio is too long: 10,001 characters; the limit is 10,000"
    assert clean_text("x" * 10_000, field="bio") == "x" * 10_000


def test_clean_text_rejects_objects() -> None:
    with pytest.raises(NotText, match="company should be text, not an object"):
        clean_text({"name": "Acme"}, field="company")


def test_clean_line_collapses_whitespace_and_has_its_own_limit() -> None:
    assert clean_line("  Jane \n  van der\tBerg ") == "Jane van der Berg"
    with pytest.raises(FieldTooLong, match="the limit is 1,000"):
        clean_line("y" * 1001, field="full_name")


# --- names, emails, URLs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Dr. Jane van der Berg", ("Jane", "van der Berg")),
        ("Jane Doe", ("Jane", "Doe")),
        ("Berg, Jane", ("Jane", "Berg")),
        ("van der Berg, Jane", ("Jane", "van der Berg")),
        ("Zeth", ("Zeth", None)),
        ("David R. MacIver", ("David", "MacIver")),
        ("Francisco Fernández Castaño", ("Francisco", "Fernández Castaño")),
        ("Prof Dr Ada Lovelace PhD", ("Ada", "Lovelace")),
        ("Jane Doe, PhD", ("Jane", "Doe")),
        ("John Smith, Jr.", ("John", "Smith Jr.")),
        ("Van Lindberg", ("Van", "Lindberg")),
        ("Dr.", ("Dr.", None)),
        ("", (None, None)),
    ],
)
def test_split_name(full: str, expected: tuple[str | None, str | None]) -> None:
    assert split_name(full) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("  jane+events@sub.example.co.uk ", "jane+events@sub.example.co.uk"),
        ("mailto:jane@example.com", "jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ("jane@", None),
        ("jane@example", None),
        ("jane doe@example.com", None),
        ("jane..doe@example.com", None),
        ("jane(at)example.com", None),
        ("@example.com", None),
    ],
)
def test_normalise_email(value: str, expected: str | None) -> None:
    assert normalise_email(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.linkedin.com/in/jane-doe", "https://www.linkedin.com/in/jane-doe"),
        ("http://uk.linkedin.com/in/Jane-Doe/", "https://www.linkedin.com/in/jane-doe"),
        ("linkedin.com/in/jane-doe?trk=public_profile", "https://www.linkedin.com/in/jane-doe"),
        (
            "https://www.linkedin.com/in/jane-doe/details/experience/",
            "https://www.linkedin.com/in/jane-doe",
        ),
        ("https://de.linkedin.com/in/j%C3%BCrgen", "https://www.linkedin.com/in/j%C3%BCrgen"),
        (
            "https://www.linkedin.com/pub/jane-doe/1/2/3",
            "https://www.linkedin.com/pub/jane-doe/1/2/3",
        ),
        ("https://www.linkedin.com/company/dlthub/", None),
        ("https://twitter.com/jane", None),
        ("notlinkedin.com/in/jane", None),
        ("jane doe", None),
        ("http://[", None),
    ],
)
def test_normalise_linkedin_url(value: str, expected: str | None) -> None:
    assert normalise_linkedin_url(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Example.com/about?x=1", "example.com"),
        ("example.co.uk", "example.co.uk"),
        ("www.example.org/", "example.org"),
        ("http://shop.example.com:8080", "shop.example.com"),
        ("münchen.example", "münchen.example"),
        ("n/a", None),
        ("not a domain", None),
        ("localhost", None),
        ("", None),
    ],
)
def test_url_host(value: str, expected: str | None) -> None:
    assert url_host(value) == expected


def test_header_key_ignores_case_spaces_underscores_and_dashes() -> None:
    assert header_key("First Name") == header_key("first_name") == header_key("FIRST-NAME")
    assert header_key(" E-Mail ") == "email"


# --- rows and tables --------------------------------------------------------------------


def test_collect_rows_turns_problems_into_row_errors() -> None:
    def build(notes: RowNotes, value: str) -> str | None:
        if value == "skip":
            return None
        if value == "bad":
            raise RowProblem("bad value", "thing")
        if value == "odd":
            notes.add("odd but kept", "other")
        return value.upper()

    rows = enumerate(["a", "bad", "skip", "odd"], start=2)
    result = collect_rows(ParseResult[str](format="test"), rows, build)
    assert result.records == ["A", "ODD"]
    assert result.skipped == 1
    assert [(e.row, e.message, e.field) for e in result.errors] == [
        (3, "bad value", "thing"),
        (5, "odd but kept", "other"),
    ]


SCHEMA = Schema(
    synonyms={"name": ("name",), "email": ("email",), "company": ("company",)},
    mappable=("name", "email", "company"),
    anchors=frozenset(("name",)),
    required=("name",),
    required_label="'name'",
)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_read_csv_table_sniffs_delimiter(delimiter: str) -> None:
    text = delimiter.join(["Name", "Email", "Company"]) + "\n"
    text += delimiter.join(["Ada", "ada@example.com", "Example, Ltd" if delimiter != "," else "X"])
    table = read_csv_table(text + "\n", SCHEMA)
    assert table.columns == {"name": (0,), "email": (1,), "company": (2,)}
    assert len(table.rows) == 1


def test_read_csv_table_excel_separator_hint() -> None:
    table = read_csv_table("sep=;\nName;Company\nAda;Example, Ltd\n", SCHEMA)
    assert list(table.rows[0].cells) == ["Ada", "Example, Ltd"]
    assert table.rows[0].number == 3


def test_read_csv_table_counts_rows_as_records() -> None:
    text = 'Report title\n\nName,Company\n"Ada","multi\nline"\n\nBert,B\n'
    table = read_csv_table(text, SCHEMA)
    assert [row.number for row in table.rows] == [4, 6]


def test_read_csv_table_skips_report_footer() -> None:
    text = (
        "Name,Company\nAda,A\n\n"
        '"Grand Totals (1 records)"\n'
        '"Confidential Information - Do Not Distribute"\n'
        '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\n'
        '"Example Corp"\n'
    )
    table = read_csv_table(text, SCHEMA)
    assert len(table.rows) == 1
    assert table.skipped == 4


def test_read_csv_table_without_header_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="no header row found") as info:
        read_csv_table("Ada,ada@example.com\nBert,bert@example.com\n", SCHEMA)
    assert "Ada,ada@example.com" in str(info.value)


def test_read_csv_table_huge_cell_is_read() -> None:
    table = read_csv_table("Name,Company\nAda," + "x" * 200_000 + "\n", SCHEMA)
    assert len(str(table.rows[0].cells[1])) == 200_000
