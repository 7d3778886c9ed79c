from __future__ import annotations

from pathlib import Path

import pytest

from commandcentre.intel.importers.hubspot import parse_hubspot_contacts
from commandcentre.intel.importers.linkedin import parse_linkedin_connections
from commandcentre.intel.importers.reading import ImportFileError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
CRM = SHARED / "crm_formats"

LINKEDIN_HEADER = "First Name,Last Name,URL,Email Address,Company,Position,Connected On"


# --- LinkedIn ---------------------------------------------------------------------------


def test_linkedin_connections_example() -> None:
    result = parse_linkedin_connections((FIXTURES / "linkedin_connections.csv").read_bytes())
    assert result.format == "linkedin"
    ada, bert = result.records
    assert (ada.full_name, ada.first_name, ada.last_name) == ("Ada Example", "Ada", "Example")
    assert ada.title == "Head of Partnerships, EMEA"
    assert ada.organisation == "Example Widgets Ltd"
    assert ada.linkedin_url == "https://www.linkedin.com/in/ada-example-0a1b2c3"
    assert ada.email is None
    assert ada.row == 5  # after "Notes:", the notice and a blank line, and the header
    assert (bert.email, bert.organisation, bert.title) == (
        "bert@example.com",
        "Sample & Sons, Inc.",
        "CTO",
    )
    # The third connection has only a URL: LinkedIn hides the name.
    (error,) = result.errors
    assert (error.row, error.field) == (7, "full_name")


@pytest.mark.parametrize(
    "preamble",
    [
        '"Notes:"\r\n"When exporting your connection data, you may notice that some of the email '
        "addresses are missing. You will only see email addresses for connections who have allowed "
        'their connections to see or download their email address."\r\n\r\n',
        "",
    ],
)
def test_linkedin_preamble_variants(preamble: str) -> None:
    data = (
        preamble
        + LINKEDIN_HEADER
        + "\r\nAda,Example,https://www.linkedin.com/in/ada/,,Example Ltd,CTO,15 Aug 2021\r\n"
    )
    (ada,) = parse_linkedin_connections(data.encode()).records
    assert (ada.full_name, ada.linkedin_url) == ("Ada Example", "https://www.linkedin.com/in/ada")


def test_linkedin_older_export_without_url_column() -> None:
    result = parse_linkedin_connections((FIXTURES / "linkedin_connections_no_url.csv").read_bytes())
    assert [(r.full_name, r.email, r.linkedin_url, r.row) for r in result.records] == [
        ("Ada Example", None, None, 2),
        ("Bert Sample", "bert@example.com", None, 3),
    ]


def test_linkedin_rejects_other_csv() -> None:
    with pytest.raises(ImportFileError, match="not a LinkedIn Connections export"):
        parse_linkedin_connections(b"First Name,Last Name,Email\nAda,Example,a@example.com\n")


@pytest.mark.skipif(not CRM.exists(), reason="shared data folder ../shared/data is missing")
def test_linkedin_shared_example() -> None:
    data = (CRM / "linkedin_Connections_format_example.csv").read_bytes()
    result = parse_linkedin_connections(data)
    assert [r.full_name for r in result.records] == ["Ada Example", "Bert Sample"]
    assert len(result.errors) == 1


# --- HubSpot ----------------------------------------------------------------------------


def test_hubspot_contacts_example() -> None:
    result = parse_hubspot_contacts((FIXTURES / "hubspot_contacts.csv").read_bytes())
    assert result.format == "hubspot"
    assert [(r.full_name, r.email, r.organisation, r.row) for r in result.records] == [
        ("Ada Example", "ada@example.com", "Example Widgets Ltd", 2),
        ("Bert Sample", "bert@example.org", None, 3),
    ]
    assert result.errors == []


def test_hubspot_all_properties_export() -> None:
    result = parse_hubspot_contacts((FIXTURES / "hubspot_all_properties.csv").read_bytes())
    carla, dmitri = result.records
    # "Associated Company" (the linked record) wins over the contact's "Company Name".
    assert carla.organisation == "Example Widgets Ltd"
    assert (carla.title, carla.timezone) == ("Head of Data", "Europe/Paris")
    assert carla.linkedin_url == "https://www.linkedin.com/in/carla-example"
    # Without an associated company, the contact's own company name is used.
    assert dmitri.organisation == "Sample Logistics GmbH"
    assert dmitri.email is None
    assert [(e.row, e.field) for e in result.errors] == [(3, "email"), (4, "full_name")]


def test_hubspot_requires_record_id_first() -> None:
    with pytest.raises(ImportFileError, match="first column is 'First Name', expected 'Record ID'"):
        parse_hubspot_contacts(b'"First Name","Last Name","Record ID"\n"Ada","Example","1"\n')


@pytest.mark.skipif(not CRM.exists(), reason="shared data folder ../shared/data is missing")
def test_hubspot_shared_example() -> None:
    data = (CRM / "hubspot_contacts_export_format_example.csv").read_bytes()
    assert len(parse_hubspot_contacts(data).records) == 2
