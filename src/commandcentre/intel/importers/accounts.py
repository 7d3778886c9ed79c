"""Target accounts from CSV: name, domain, aliases, tier, industry, notes.

* The domain may be given as a bare domain or as any URL; it is reduced to the host
  without "www." ("https://www.Example.com/about" -> "example.com"). A value that is not a
  domain is reported as a `RowError` on "domain" and the account is kept without it.
* Aliases are separated by "|" or ";" (not commas, which company names contain).
* Tier: 1/2/3, "Tier 1", "T1", A/B/C and high/medium/low map to 1/2/3; empty means 2;
  anything else is a `RowError` and the row is not imported, because a wrong tier would
  silently change who gets attention.
"""

from __future__ import annotations

import re

from commandcentre.intel.importers.reading import (
    RowProblem,
    Schema,
    TableRow,
    collect_table,
    decode,
    read_csv_table,
    require_columns,
    shorten,
    url_host,
)
from commandcentre.intel.importers.records import AccountRecord, ParseResult

ACCOUNT_FIELDS = ("name", "domain", "aliases", "tier", "industry", "notes")

ACCOUNT_SCHEMA = Schema(
    synonyms={
        "name": (
            "name",
            "account name",
            "account",
            "company name",
            "company",
            "organisation",
            "organization",
        ),
        "domain": ("domain", "company domain name", "website", "web site", "url", "homepage"),
        "aliases": ("aliases", "alias", "aka", "also known as", "other names"),
        "tier": ("tier", "account tier", "priority"),
        "industry": ("industry", "sector", "vertical"),
        "notes": ("notes", "note", "comments", "comment", "description"),
    },
    mappable=ACCOUNT_FIELDS,
    anchors=frozenset(("name", "domain")),
    required=("name",),
    required_label="'name' (or 'account' / 'company')",
)

_TIER_WORDS = {
    "a": 1,
    "b": 2,
    "c": 3,
    "high": 1,
    "medium": 2,
    "med": 2,
    "mid": 2,
    "low": 3,
}
_TIER_NUMBER = re.compile(r"^(?:tier|t)?\s*[-_ ]?\s*([123])(?:\.0+)?$", re.IGNORECASE)
_ALIAS_SEPARATORS = re.compile(r"[|;]")


def parse_accounts_csv(data: bytes) -> ParseResult[AccountRecord]:
    table = read_csv_table(decode(data), ACCOUNT_SCHEMA)
    require_columns(table, ACCOUNT_SCHEMA)
    return collect_table(ParseResult[AccountRecord](format="csv"), table, _account)


def parse_tier(value: str | None) -> int | None:
    """1, 2 or 3 from the spellings account lists use, None when not given; raises
    `RowProblem` otherwise."""
    if value is None:
        return None
    text = value.strip()
    number = _TIER_NUMBER.match(text)
    if number:
        return int(number.group(1))
    tier = _TIER_WORDS.get(text.casefold())
    if tier is None:
        raise RowProblem(
            f"tier '{shorten(text)}' is not one of 1, 2, 3 (or Tier 1, A/B/C, high/medium/low)",
            "tier",
        )
    return tier


def _account(row: TableRow) -> AccountRecord:
    name = row.line("name")
    if name is None:
        raise RowProblem("no account name", "name")
    return AccountRecord(
        name=name,
        domain=_domain(row),
        aliases=_aliases(row.line("aliases"), name),
        tier=parse_tier(row.line("tier")),
        industry=row.line("industry"),
        notes=row.text("notes"),
        row=row.number,
    )


def _domain(row: TableRow) -> str | None:
    value = row.line("domain")
    if value is None:
        return None
    host = url_host(value)
    if host is None:
        row.note(
            f"'{shorten(value)}' is not a domain or URL; the account is kept without it", "domain"
        )
    return host


def _aliases(value: str | None, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    seen = {name.casefold()}
    aliases: list[str] = []
    for part in _ALIAS_SEPARATORS.split(value):
        alias = part.strip()
        if alias and alias.casefold() not in seen:
            seen.add(alias.casefold())
            aliases.append(alias)
    return tuple(aliases)
