from __future__ import annotations

from pathlib import Path

import pytest

from commandcentre.intel.importers.accounts import parse_accounts_csv, parse_tier
from commandcentre.intel.importers.reading import ImportFileError, RowProblem
from commandcentre.intel.importers.records import AccountRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "importers"


def accounts(text: str) -> list[AccountRecord]:
    return parse_accounts_csv(text.encode()).records


def test_accounts_fixture() -> None:
    result = parse_accounts_csv((FIXTURES / "accounts.csv").read_bytes())
    assert result.format == "csv"
    example, sample, northwind = result.records
    assert example == AccountRecord(
        name="Example Widgets Ltd",
        domain="example-widgets.example",
        aliases=("EWL", "Example Widgets", "Widgets UK"),
        tier=1,
        industry="Manufacturing",
        notes="Met at PyCon UK.\nFollow up in Q3.",
        row=2,
    )
    assert (sample.name, sample.domain, sample.tier) == (
        "Sample & Sons, Inc.",
        "sample-sons.example",
        2,
    )
    # No tier given: None, so a re-import never overwrites a tier set by hand.
    assert (northwind.domain, northwind.tier, northwind.row) == (None, None, 5)
    assert [(e.row, e.field) for e in result.errors] == [(4, "tier"), (5, "domain"), (6, "name")]
    assert "urgent" in result.errors[0].message


@pytest.mark.parametrize(
    ("value", "tier"),
    [
        (None, None),
        ("1", 1),
        ("3", 3),
        ("2.0", 2),
        ("Tier 1", 1),
        ("tier-3", 3),
        ("T2", 2),
        ("A", 1),
        ("b", 2),
        ("C", 3),
        ("High", 1),
        ("medium", 2),
        ("LOW", 3),
    ],
)
def test_tier_spellings(value: str | None, tier: int | None) -> None:
    assert parse_tier(value) == tier


@pytest.mark.parametrize("value", ["0", "4", "Tier 5", "D", "urgent", "1st"])
def test_invalid_tier(value: str) -> None:
    with pytest.raises(RowProblem) as info:
        parse_tier(value)
    assert info.value.field == "tier"


@pytest.mark.parametrize(
    ("header", "value", "domain"),
    [
        ("Domain", "example.com", "example.com"),
        ("Website", "https://www.example.com/en/", "example.com"),
        ("URL", "http://WWW.Example.co.uk", "example.co.uk"),
        ("Company Domain Name", "shop.example.com", "shop.example.com"),
    ],
)
def test_domain_columns(header: str, value: str, domain: str) -> None:
    (record,) = accounts(f"Company,{header}\nExample,{value}\n")
    assert record.domain == domain


@pytest.mark.parametrize("header", ["Name", "Account", "Account Name", "Company", "Organisation"])
def test_name_synonyms(header: str) -> None:
    assert [a.name for a in accounts(f"{header},Industry\nExample Ltd,Retail\n")] == ["Example Ltd"]


def test_aliases_split_on_pipe_and_semicolon_without_duplicates() -> None:
    (record,) = accounts('Name,Aliases\nExample Ltd,"EWL|ewl; Example Ltd ;Widgets, Inc."\n')
    assert record.aliases == ("EWL", "Widgets, Inc.")


def test_semicolon_file_with_salesforce_footer() -> None:
    text = (
        "Account Name;Website;Tier\nExample Ltd;example.com;high\n\n"
        '"Confidential Information - Do Not Distribute"\n'
    )
    result = parse_accounts_csv(text.encode("cp1252"))
    assert [(a.name, a.tier) for a in result.records] == [("Example Ltd", 1)]
    assert result.skipped == 1


def test_missing_name_column_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match=r"missing required column 'name'.*'Domain', 'Tier'"):
        parse_accounts_csv(b"Domain,Tier\nexample.com,1\n")


def test_file_without_header_is_a_file_error() -> None:
    with pytest.raises(ImportFileError, match="no header row found"):
        parse_accounts_csv(b"Example Ltd,example.com,1\n")
