"""LinkedIn "Connections.csv" from "Get a copy of your data".

The export starts with a "Notes:" preamble (a sentence about hidden email addresses and a
blank line) before the header `First Name,Last Name,URL,Email Address,Company,Position,
Connected On`; older exports have no URL column. The generic table reader skips the
preamble while looking for the header, so row numbers still match the file.
"""

from __future__ import annotations

from commandcentre.intel.importers.people import people_from_table
from commandcentre.intel.importers.reading import (
    ImportFileError,
    Schema,
    decode,
    read_csv_table,
)
from commandcentre.intel.importers.records import ParseResult, PersonRecord

LINKEDIN_SCHEMA = Schema(
    synonyms={
        "first_name": ("first name",),
        "last_name": ("last name",),
        "linkedin_url": ("url", "profile url"),
        "email": ("email address", "email"),
        "organisation": ("company",),
        "title": ("position",),
    },
    mappable=(),
    anchors=frozenset(("first_name", "last_name")),
    required=("first_name", "last_name"),
    required_label="'First Name' / 'Last Name'",
)

_EXPECTED = ("first_name", "last_name", "organisation", "title")
_HEADER = "First Name,Last Name,URL,Email Address,Company,Position,Connected On"


def parse_linkedin_connections(data: bytes) -> ParseResult[PersonRecord]:
    table = read_csv_table(decode(data), LINKEDIN_SCHEMA)
    missing = [field for field in _EXPECTED if field not in table.columns]
    if missing:
        found = ", ".join(f"'{label}'" for label in table.labels)
        raise ImportFileError(
            f"not a LinkedIn Connections export: expected the header '{_HEADER}' (found: {found})"
        )
    return people_from_table(table, "linkedin", LINKEDIN_SCHEMA)
