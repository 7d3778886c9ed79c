"""Speaker and contact lists from CSV or JSON, with header auto-detection.

Column labels are compared without case, spaces, underscores or dashes, so "First Name",
"first_name" and "FIRSTNAME" are the same. The synonyms are in `PEOPLE_SCHEMA`.

Rules worth knowing:

* "Title" on its own is a job title, as in every CRM export. It is read as the talk title
  only in a talk list: a file with an abstract column but no talk-title/topic column and
  no other job-title column (Job Title, Position, Role). When a "Talk Title" or "Topic"
  column exists, "Title" stays the job title.
* An invalid email address does not cost the person: the row is kept without the email
  and a `RowError` with field "email" says so. Same for a LinkedIn column holding
  something that is not a LinkedIn profile URL.
* A row with no name at all (first, last and full name empty) is a `RowError`.
* A "URL" or "Website" column is used as the LinkedIn profile only for values that are
  LinkedIn profile URLs; other values are ignored without an error.
* Duplicate rows are kept; deduplication is the storing layer's job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from commandcentre.intel.importers.reading import (
    ImportFileError,
    RowProblem,
    Schema,
    Table,
    TableRow,
    check_mapping,
    collect_table,
    decode,
    find_record_list,
    header_key,
    json_table,
    load_json,
    normalise_email,
    normalise_linkedin_url,
    read_csv_table,
    require_columns,
    shorten,
    split_name,
)
from commandcentre.intel.importers.records import ParseResult, PersonRecord

PEOPLE_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "title",
    "organisation",
    "linkedin_url",
    "bio",
    "timezone",
    "talk_title",
    "talk_abstract",
)

# Columns that hold a LinkedIn profile only sometimes; never offered for explicit mapping.
WEB_FIELD = "web"

PEOPLE_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "first_name": ("first name", "given name", "forename", "vorname", "prénom"),
    "last_name": ("last name", "surname", "family name", "nachname"),
    "full_name": ("full name", "name", "speaker name", "speaker", "contact name", "display name"),
    "email": ("email", "email address", "e-mail address", "mail", "work email", "business email"),
    "talk_title": (
        "talk title",
        "topic",
        "talk",
        "session title",
        "session",
        "submission title",
        "proposal title",
    ),
    "talk_abstract": (
        "talk abstract",
        "abstract",
        "topic_summary",
        "description of talk",
        "talk description",
        "session abstract",
        "session description",
        "summary",
    ),
    "title": ("job title", "title", "position", "role", "job", "tagline"),
    "organisation": (
        "company",
        "organisation",
        "organization",
        "affiliation",
        "employer",
        "company name",
        "account name",
        "associated company",
        "firma",
        "unternehmen",
    ),
    "linkedin_url": (
        "linkedin url",
        "linkedin",
        "linkedin profile",
        "linkedin profile url",
        "profile url",
    ),
    "bio": ("bio", "biography", "about", "description", "speaker bio"),
    "timezone": ("timezone", "time zone", "tz"),
    WEB_FIELD: ("url", "website", "homepage", "links", "web"),
}

_NAME_FIELDS = ("full_name", "first_name", "last_name")

PEOPLE_SCHEMA = Schema(
    synonyms=PEOPLE_SYNONYMS,
    mappable=PEOPLE_FIELDS,
    anchors=frozenset((*_NAME_FIELDS, "email")),
    required=_NAME_FIELDS,
    required_label="'name' (or 'first name' / 'last name')",
)

_JSON_LIST_KEYS = ("speakers", "contacts", "people", "persons", "data", "items", "results")

PeopleFormat = Literal["csv", "json"]


def parse_people(
    data: bytes, *, fmt: PeopleFormat, mapping: Mapping[str, str] | None = None
) -> ParseResult[PersonRecord]:
    """People from a CSV file or a JSON list of objects.

    `mapping` ({field: column label}) overrides auto-detection for the fields it names;
    the others are still detected. An unknown field or a column that is not in the file
    is an `ImportFileError`.
    """
    if fmt not in ("csv", "json"):
        raise ImportFileError(f"unknown people format '{fmt}'; expected 'csv' or 'json'")
    if mapping:
        check_mapping(mapping, PEOPLE_SCHEMA)
    text = decode(data)
    if fmt == "csv":
        table = read_csv_table(text, PEOPLE_SCHEMA, mapping)
    else:
        items = find_record_list(load_json(text), _JSON_LIST_KEYS, "people")
        if not items:
            return ParseResult(format=fmt)
        table = json_table(items, PEOPLE_SCHEMA, mapping)
    if not mapping or "title" not in mapping:
        table = apply_title_rule(table)
    return people_from_table(table, fmt, PEOPLE_SCHEMA)


def apply_title_rule(table: Table) -> Table:
    """Read a lone "Title" column as the talk title in talk lists (see the module doc)."""
    columns = dict(table.columns)
    title_columns = columns.get("title", ())
    only_plain_title = bool(title_columns) and all(
        header_key(table.labels[index]) == "title" for index in title_columns
    )
    if only_plain_title and "talk_abstract" in columns and "talk_title" not in columns:
        columns["talk_title"] = columns.pop("title")
        return table.with_columns(columns)
    return table


def people_from_table(table: Table, fmt: str, schema: Schema) -> ParseResult[PersonRecord]:
    require_columns(table, schema)
    return collect_table(ParseResult[PersonRecord](format=fmt), table, build_person)


def build_person(row: TableRow) -> PersonRecord:
    first = row.line("first_name")
    last = row.line("last_name")
    full = row.line("full_name")
    if full is None:
        full = " ".join(part for part in (first, last) if part) or None
    if full is None:
        raise RowProblem("no name: the first, last and full name are all empty", "full_name")
    if first is None and last is None:
        first, last = split_name(full)
        if "," in full and first and last:
            full = f"{first} {last}"  # "Berg, Jane" is stored the way it is spoken
    return PersonRecord(
        full_name=full,
        first_name=first,
        last_name=last,
        email=_email(row),
        title=row.line("title"),
        organisation=row.line("organisation"),
        linkedin_url=_linkedin(row),
        bio=row.text("bio"),
        timezone=row.line("timezone"),
        talk_title=row.line("talk_title"),
        talk_abstract=row.text("talk_abstract"),
        row=row.number,
    )


def _email(row: TableRow) -> str | None:
    value = row.line("email")
    if value is None:
        return None
    email = normalise_email(value)
    if email is None:
        row.note(
            f"invalid email address '{shorten(value)}'; the person is kept without it", "email"
        )
    return email


def _linkedin(row: TableRow) -> str | None:
    value = row.line("linkedin_url")
    if value is not None:
        url = normalise_linkedin_url(value)
        if url is None:
            row.note(
                f"'{shorten(value)}' is not a LinkedIn profile URL; the person is kept without it",
                "linkedin_url",
            )
        return url
    for raw in row.raw_values(WEB_FIELD):
        for candidate in _strings_in(raw):
            url = normalise_linkedin_url(candidate)
            if url is not None:
                return url
    return None


def _strings_in(value: object, depth: int = 0) -> Iterator[str]:
    """Strings anywhere in a JSON value, e.g. the "url" of each entry in a "links" list."""
    if isinstance(value, str):
        yield value
    elif depth < 3 and isinstance(value, list):
        for item in value:
            yield from _strings_in(item, depth + 1)
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _strings_in(item, depth + 1)
