"""HubSpot contacts export (Contacts > Export, CSV).

The first column is always "Record ID"; the others are property labels of the exported
view, so the generic people synonyms apply. The company comes from "Associated Company"
(the linked company record) and, when that is empty, from the contact's own "Company
Name" property. Domain and ID columns are ignored.
"""

from __future__ import annotations

from dataclasses import replace

from commandcentre.intel.importers.people import PEOPLE_SCHEMA, PEOPLE_SYNONYMS, people_from_table
from commandcentre.intel.importers.reading import (
    ImportFileError,
    decode,
    header_key,
    read_csv_table,
)
from commandcentre.intel.importers.records import ParseResult, PersonRecord

HUBSPOT_SCHEMA = replace(
    PEOPLE_SCHEMA,
    synonyms={
        **PEOPLE_SYNONYMS,
        "organisation": ("associated company", "company name", "company"),
    },
    mappable=(),
)


def parse_hubspot_contacts(data: bytes) -> ParseResult[PersonRecord]:
    table = read_csv_table(decode(data), HUBSPOT_SCHEMA)
    first = table.labels[0] if table.labels else ""
    if header_key(first) != "recordid":
        raise ImportFileError(
            f"not a HubSpot contacts export: the first column is '{first}', expected 'Record ID'"
        )
    return people_from_table(table, "hubspot", HUBSPOT_SCHEMA)
