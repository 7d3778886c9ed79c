"""Behaviour of company-name normalisation and organisation -> account matching."""

from __future__ import annotations

import csv
import random
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from rapidfuzz import process

from commandcentre.intel.matching import (
    AccountKey,
    AccountMatch,
    AccountMatcher,
    domain_of,
    normalise_company,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "matching"

LEGAL_SUFFIXES = [
    "Inc.",
    "Inc",
    "Ltd",
    "Limited",
    "LLC",
    "LLP",
    "PLC",
    "Corp",
    "Corporation",
    "Co.",
    "Company",
    "Holdings",
    "Group",
    "GmbH",
    "GmbH & Co. KG",
    "AG",
    "KG",
    "SE",
    "S.A.",
    "SAS",
    "SARL",
    "SpA",
    "Srl",
    "B.V.",
    "NV",
    "AB",
    "AS",
    "ASA",
    "A/S",
    "ApS",
    "Oy",
    "Oyj",
    "Pty Ltd",
    "KK",
    "s.r.o.",
    "sp. z o.o.",
]


# ----------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme Corporation, Inc.", "acme"),
        ("Acme Inc", "acme"),
        ("ACME LTD.", "acme"),
        ("Acme Limited", "acme"),
        ("Acme LLC", "acme"),
        ("Acme Holdings plc", "acme"),
        ("Acme Group", "acme"),
        ("Python Academy GmbH & Co. KG", "python academy"),
        ("Siemens AG", "siemens"),
        ("Société Générale S.A.", "societe generale"),
        ("Legrand SAS", "legrand"),
        ("Ferrari S.p.A.", "ferrari"),
        ("Ferrari SpA", "ferrari"),
        ("Philips N.V.", "philips"),
        ("Optiver Holding B.V.", "optiver"),
        ("Spotify AB", "spotify"),
        ("Sixty North AS", "sixty north"),
        ("Novo Nordisk A/S", "novo nordisk"),
        ("Nokia Oyj", "nokia"),
        ("Atlassian Pty Ltd", "atlassian"),
        ("Red Hat Czech s.r.o.", "red hat czech"),
        ("Grupa Azoty Sp. z o.o.", "grupa azoty"),
        ("Bloomberg L.P.", "bloomberg"),
        ("Bloomberg LP", "bloomberg"),
        ("Georg-August-Universität Göttingen", "georg august universitat gottingen"),
        ("Ørsted A/S", "orsted"),
        ("Straße GmbH", "strasse"),
        ("Procter & Gamble", "procter and gamble"),
        ("Procter and Gamble Co.", "procter and gamble"),
        ("The Boring Company", "boring"),
        ("the  Guardian ", "guardian"),
        ("  Acme   Widgets  ", "acme widgets"),
        ("McDonald's", "mcdonalds"),
        ("J.P. Morgan Chase & Co.", "jp morgan chase"),
        ("Acme (Berlin office)", "acme"),
        ("Kiwi.com", "kiwi com"),
        ("Esri R&D", "esri r and d"),
    ],
)
def test_normalise_company(raw: str, expected: str) -> None:
    assert normalise_company(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("AG", "ag"), ("The Company", "the"), ("The", "the"), ("Inc.", "inc"), ("(Acme)", "acme")],
)
def test_normalise_never_strips_a_name_to_nothing(raw: str, expected: str) -> None:
    assert normalise_company(raw) == expected


def test_normalise_empty_and_punctuation_only() -> None:
    assert normalise_company("") == ""
    assert normalise_company(" ,.- ") == ""


@given(st.text())
def test_normalise_is_idempotent(text: str) -> None:
    once = normalise_company(text)
    assert normalise_company(once) == once


_NAME_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéñ", min_size=2, max_size=10)


@given(
    st.lists(_NAME_WORD, min_size=1, max_size=4).map(lambda ws: " ".join(ws).title()),
    st.sampled_from(LEGAL_SUFFIXES),
)
def test_legal_suffix_does_not_change_name_or_match(name: str, suffix: str) -> None:
    # Names whose own words are legal forms or "the" ("Acme Co") are a different case.
    assume(len(normalise_company(name).split()) == len(name.split()))
    assert normalise_company(f"{name} {suffix}") == normalise_company(name)
    matcher = AccountMatcher([AccountKey("x", name)])
    found = matcher.match(f"{name} {suffix}")
    assert found is not None
    assert found.account_id == "x"
    assert found.method == "name"


# ----------------------------------------------------------------------------- domains


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane@Acme.com", "acme.com"),
        ("Jane Doe <jane@eng.acme.co.uk>", "eng.acme.co.uk"),
        ("mailto:jane@acme.io", "acme.io"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("http://user:pw@acme.com:8080/", "acme.com"),
        ("www.acme.de", "acme.de"),
        ("acme.de", "acme.de"),
        ("aka.ms/python", "aka.ms"),
        ("  ACME.COM.  ", "acme.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
    ],
)
def test_domain_of_extracts_host(value: str, expected: str) -> None:
    assert domain_of(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "someone@gmail.com",
        "someone@googlemail.com",
        "someone@outlook.com",
        "someone@hotmail.co.uk",
        "someone@yahoo.com",
        "someone@yahoo.co.jp",
        "someone@icloud.com",
        "someone@proton.me",
        "someone@protonmail.com",
        "someone@gmx.de",
        "someone@gmx.net",
        "someone@web.de",
        "someone@aol.com",
        "https://mail.yahoo.com/",
    ],
)
def test_domain_of_ignores_free_mail(value: str) -> None:
    assert domain_of(value) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "acme",
        "localhost",
        "10.0.0.1",
        "jane@",
        "acme corp.com",
        "http://[::1",
        "a.b",
    ],
)
def test_domain_of_rejects_garbage(value: str | None) -> None:
    assert domain_of(value) is None


def test_domain_of_keeps_company_hosts_that_look_like_mail_hosts() -> None:
    assert domain_of("jane@mail.google.com") == "mail.google.com"
    assert domain_of("jane@livenation.com") == "livenation.com"


@given(st.text())
def test_domain_of_never_raises_and_is_lower_case(value: str) -> None:
    host = domain_of(value)
    if host is not None:
        assert host == host.lower()
        assert not host.startswith("www.")
        assert "." in host


# ----------------------------------------------------------------------------- match methods


@pytest.fixture
def matcher() -> AccountMatcher:
    return AccountMatcher(
        [
            AccountKey("acme", "Acme Corporation", "acme.com", ("ACME Widgets",)),
            AccountKey("redhat", "Red Hat, Inc.", "redhat.com"),
            AccountKey("sentry", "Functional Software, Inc.", "sentry.io", ("Sentry",)),
            AccountKey("nanopore", "Oxford Nanopore Technologies plc", "nanoporetech.com"),
            AccountKey("oracle", "Oracle Corporation", "oracle.com"),
            AccountKey("bloomberg", "Bloomberg L.P.", "bloomberg.com"),
            AccountKey("bloomberg-phil", "Bloomberg Philanthropies", "bloomberg.org"),
            AccountKey("psf", "Python Software Foundation", "python.org"),
            AccountKey("openmined", "OpenMined"),
            AccountKey("kraken-tech", "Kraken Technologies Limited", "kraken.tech"),
            AccountKey("payward", "Payward, Inc.", "kraken.com", ("Kraken",)),
            AccountKey("goettingen", "Georg-August-Universität Göttingen", "uni-goettingen.de"),
        ]
    )


def _match(matcher: AccountMatcher, organisation: str | None, email: str | None = None) -> str:
    found = matcher.match(organisation, email)
    return found.account_id if found else ""


def test_email_domain_matches_with_full_score(matcher: AccountMatcher) -> None:
    assert matcher.match(None, "jane@acme.com") == AccountMatch("acme", "domain", 100.0, "acme.com")


def test_subdomain_of_account_domain_matches(matcher: AccountMatcher) -> None:
    found = matcher.match("Someone Else Ltd", "jane@emea.corp.acme.com")
    assert found == AccountMatch("acme", "domain", 100.0, "acme.com")


def test_email_domain_beats_organisation_text(matcher: AccountMatcher) -> None:
    assert _match(matcher, "Oracle", "jane@redhat.com") == "redhat"


def test_free_mail_falls_back_to_organisation(matcher: AccountMatcher) -> None:
    found = matcher.match("Red Hat", "jane@gmail.com")
    assert found is not None
    assert (found.account_id, found.method) == ("redhat", "name")


def test_lookalike_domain_does_not_match(matcher: AccountMatcher) -> None:
    assert matcher.match(None, "jane@notacme.com") is None
    assert matcher.match(None, "jane@acme.com.evil.io") is None


def test_domain_written_in_organisation(matcher: AccountMatcher) -> None:
    found = matcher.match("Sentry (https://sentry.io)")
    assert found == AccountMatch("sentry", "domain", 100.0, "sentry.io")
    assert _match(matcher, "nanoporetech.com") == "nanopore"


def test_alias_match(matcher: AccountMatcher) -> None:
    assert matcher.match("SENTRY") == AccountMatch("sentry", "alias", 100.0, "Sentry")
    assert matcher.match("Acme Widgets GmbH") == AccountMatch(
        "acme", "alias", 100.0, "ACME Widgets"
    )


def test_name_match_ignores_legal_form_case_and_spacing(matcher: AccountMatcher) -> None:
    assert matcher.match("red hat") == AccountMatch("redhat", "name", 100.0, "Red Hat, Inc.")
    assert _match(matcher, "Bloomberg LP") == "bloomberg"
    assert _match(matcher, "Open Mined") == "openmined"
    assert _match(matcher, "Kraken Tech") == "kraken-tech"


def test_generic_extra_words_still_match(matcher: AccountMatcher) -> None:
    # The organisation carries words the account lacks, or the other way round.
    assert matcher.match("Oracle Labs") == AccountMatch(
        "oracle", "name", 95.0, "Oracle Corporation"
    )
    assert _match(matcher, "Red Hat Czech s.r.o.") == "redhat"
    assert _match(matcher, "Red Hat Czech Republic") == "redhat"
    assert _match(matcher, "Oxford Nanopore") == "nanopore"
    assert _match(matcher, "Acme Corporation Germany") == "acme"


@pytest.mark.parametrize(
    ("account", "organisation", "matches"),
    [
        # Extra trailing words that only qualify the firm: unit, descriptor, country.
        ("Acme", "Acme Labs", True),
        ("Acme", "Acme Technologies", True),
        ("Acme", "Acme Tech", True),
        ("Acme", "Acme Software GmbH", True),
        ("Acme", "Acme R&D", True),
        ("Acme", "Acme Poland Sp. z o.o.", True),
        ("Acme", "Acme Labs Germany", True),
        ("Acme Technologies Ltd", "Acme", True),
        ("Acme Systems", "ACME Systems Europe", True),
        # Extra words that name something else.
        ("Acme", "Acme Widgets", False),
        ("Acme", "Acme Labs Berlin", False),
        ("Acme", "Acme Ventures", False),
        ("Bank of America", "Bank of Ireland", False),
        ("Acme Software", "Acme Solutions", False),
    ],
)
def test_generic_word_rule(account: str, organisation: str, matches: bool) -> None:
    found = AccountMatcher([AccountKey("a", account)]).match(organisation)
    assert (found is not None) is matches


def test_fuzzy_match_for_typos(matcher: AccountMatcher) -> None:
    found = matcher.match("Georg August University Göttingen")
    assert found is not None
    assert (found.account_id, found.method) == ("goettingen", "fuzzy")
    assert 90.0 <= found.score < 100.0
    assert _match(matcher, "Oxford Nanopore Technolgies") == "nanopore"


def test_fuzzy_cutoff_is_configurable() -> None:
    accounts = [AccountKey("schmidt", "Schmidt GmbH")]
    # One substituted letter in a seven-letter name: a different family, not a typo...
    assert AccountMatcher(accounts).match("Schmitt GmbH") is None
    # ...unless the caller accepts looser matches.
    loose = AccountMatcher(accounts, fuzzy_cutoff=85.0).match("Schmitt GmbH")
    assert loose is not None
    assert loose.method == "fuzzy"
    assert loose.score == pytest.approx(85.7, abs=0.1)


@pytest.mark.parametrize("cutoff", [0.0, -5.0, 100.5])
def test_fuzzy_cutoff_must_be_a_percentage(cutoff: float) -> None:
    with pytest.raises(ValueError, match="fuzzy_cutoff"):
        AccountMatcher([], fuzzy_cutoff=cutoff)


def test_swapped_neighbouring_letters_are_a_typo() -> None:
    matcher = AccountMatcher(
        [AccountKey("insitro", "insitro, Inc."), AccountKey("ms", "Microsoft Corporation")]
    )
    found = matcher.match("instiro")
    assert found is not None
    assert (found.account_id, found.method) == ("insitro", "fuzzy")
    assert _match(matcher, "Micorsoft") == "ms"
    # Short names are left alone, and two swaps are not one.
    assert AccountMatcher([AccountKey("wise", "Wise plc")]).match("Wsie") is None
    assert matcher.match("nistiro") is None
    assert matcher.match("Mcirosfot") is None


def test_nothing_to_match(matcher: AccountMatcher) -> None:
    assert matcher.match(None) is None
    assert matcher.match("   ") is None
    assert matcher.match("Freelance") is None
    assert matcher.match("unemployed", "me@gmail.com") is None


# ----------------------------------------------------------------------------- negatives


@pytest.mark.parametrize(
    ("account", "organisation"),
    [
        ("Acme Widgets GmbH", "Acme Holdings Ltd"),
        ("Acme Holdings Ltd", "Acme Widgets GmbH"),
        ("Metabase", "Meta"),
        ("Meta Platforms, Inc.", "Metabase"),
        ("Databricks", "Data Co"),
        ("Snowplow", "Snowflake"),
        ("Snowflake Inc.", "Snowplow Analytics"),
        ("Apache Software Foundation", "Python Software Foundation"),
        ("Python Software Foundation", "Apache Software Foundation"),
        ("Tractable Ltd", "Tractive GmbH"),
        ("DeepSeek", "deepset"),
        ("Flatiron School", "Flatiron Health"),
        ("Deutsche Telekom AG", "Deutsche Bank"),
        ("Netherlands Forensic Institute", "The Netherlands Cancer Institute"),
        ("Charles Sturt University", "Charles University"),
        ("Sentra Inc.", "Sentry"),
        ("Wise plc", "WiseTech Global"),
        ("Intel Corporation", "Intelex Technologies"),
        ("Shift5", "Shift4"),
        ("Web3 Foundation", "Web2 Foundation"),
        ("Studio101 Media", "Studio102 Media"),
        ("Deutsche Bahn AG", "Deutsche Bank AG"),
        ("Pure Storage, Inc.", "Pure Store Ltd"),
        ("Stowarzyszenie Kraszkiewicz", "Stowarzyszenie Araszkiewicz"),
        ("Acme", "Acme Widgets"),
        ("Acme", "Acme Health"),
        ("Acme Software", "Acme Solutions"),
        ("Google LLC", "Google Developer Student Clubs"),
        ("Miller GmbH", "Lewis, Miller and Barnes"),
        ("Miller GmbH", "Lewis, Miller & Barnes LLP"),
    ],
)
def test_similar_names_of_different_firms_do_not_match(account: str, organisation: str) -> None:
    assert AccountMatcher([AccountKey("a", account)]).match(organisation) is None


def test_bloomberg_is_not_bloomberg_philanthropies(matcher: AccountMatcher) -> None:
    assert _match(matcher, "Bloomberg") == "bloomberg"
    assert _match(matcher, "Bloomberg Philanthropies") == "bloomberg-phil"


def test_same_evidence_for_two_accounts_is_no_match() -> None:
    matcher = AccountMatcher([AccountKey("a", "Acme Ltd"), AccountKey("b", "ACME GmbH")])
    assert matcher.match("Acme") is None
    shared = AccountMatcher(
        [AccountKey("a", "Alpha", "group.example"), AccountKey("b", "Beta", "group.example")]
    )
    assert shared.match("Beta", "x@group.example") == AccountMatch("b", "name", 100.0, "Beta")
    both_generic = AccountMatcher(
        [AccountKey("a", "Acme Software"), AccountKey("b", "Acme Solutions")]
    )
    assert both_generic.match("Acme") is None


def test_alias_wins_over_generic_word_rule(matcher: AccountMatcher) -> None:
    # "Kraken" is the crypto exchange's alias; "Kraken Tech" is Octopus Energy's platform.
    assert _match(matcher, "Kraken") == "payward"
    assert _match(matcher, "Kraken Technologies (Octopus Energy Group)") == "kraken-tech"


# ----------------------------------------------------------------------------- messy text


@pytest.mark.parametrize(
    ("organisation", "expected"),
    [
        ("Acme (Berlin office)", "acme"),
        ("Acme Corporation [Contractor]", "acme"),
        ("Senior Engineer at Acme Corporation", "acme"),
        ("Engineer @ Red Hat", "redhat"),
        ("ACME Corporation / Foo", "acme"),
        ("Foo | Red Hat", "redhat"),
        ("The PyPA | Ansible Core Team at Red Hat", "redhat"),
        ("Sentry - Vienna", "sentry"),
        ("Senior Engineer, Red Hat", "redhat"),
        ("Charles University and Red Hat", "redhat"),
        ("Nordcloud, an Oracle Company", "oracle"),
        ("Kraken Tech", "kraken-tech"),
    ],
)
def test_organisation_with_remarks_titles_and_lists(
    matcher: AccountMatcher, organisation: str, expected: str
) -> None:
    assert _match(matcher, organisation) == expected


def test_whole_name_beats_a_part_of_it() -> None:
    matcher = AccountMatcher(
        [
            AccountKey("joint", "Imperial College and Red Hat Research"),
            AccountKey("redhat", "Red Hat, Inc."),
        ]
    )
    assert _match(matcher, "Imperial Colege and Red Hat Research") == "joint"
    assert _match(matcher, "Imperial College London and Red Hat Research") == "redhat"


def test_first_named_organisation_wins() -> None:
    matcher = AccountMatcher([AccountKey("a", "Ordina"), AccountKey("b", "Sopra Steria")])
    assert _match(matcher, "Ordina/Sopra Steria") == "a"
    assert _match(matcher, "Sopra Steria / Ordina") == "b"


def test_results_are_cached_per_organisation(matcher: AccountMatcher) -> None:
    first = matcher.match("Oracle Labs")
    assert matcher.match("Oracle Labs") is first
    assert matcher.match("Oracle Labs ") is first


# ----------------------------------------------------------------------------- blocking


def test_fuzzy_comparisons_are_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """500 look-alike accounts, yet each organisation is scored against a handful of them."""
    rng = random.Random(19)
    words = sorted({"s" + "".join(rng.choices(string.ascii_lowercase, k=7)) for _ in range(500)})
    matcher = AccountMatcher(AccountKey(word, f"{word} Systems GmbH") for word in words)
    target = words[19]
    swapped = target[0] + target[2] + target[1] + target[3:]
    sizes: list[int] = []
    real_extract = process.extract

    def counting_extract(query: str, choices: list[str], **kwargs: Any) -> Any:
        sizes.append(len(choices))
        return real_extract(query, choices, **kwargs)

    # The matcher looks `process.extract` up on the module at call time.
    monkeypatch.setattr(process, "extract", counting_extract)
    for typo in [f"{swapped} Systems", f"{target} Sytsems AG", f"{target[:-1]} Systems"]:
        found = matcher.match(typo)
        assert found is not None
        assert (found.account_id, found.method) == (target, "fuzzy")
    assert matcher.match("Omega Systems") is None
    assert matcher.match("Sxyzxyzq Systems") is None
    assert sizes
    assert max(sizes) <= 5


# ----------------------------------------------------------------------------- labelled set


def _labelled_results() -> tuple[int, int, int]:
    with (FIXTURES / "watchlist.csv").open(newline="", encoding="utf-8") as handle:
        accounts = [
            AccountKey(
                row["id"],
                row["name"],
                row["domain"] or None,
                tuple(alias for alias in row["aliases"].split("|") if alias),
            )
            for row in csv.DictReader(handle)
        ]
    with (FIXTURES / "labels.csv").open(newline="", encoding="utf-8") as handle:
        labels = list(csv.DictReader(handle))
    assert len(labels) == 170
    assert {row["expected_account_id"] for row in labels} - {""} <= {a.id for a in accounts}
    matcher = AccountMatcher(accounts)
    tp = fp = fn = 0
    for row in labels:
        found = matcher.match(row["affiliation"] or None)
        predicted = found.account_id if found else ""
        expected = row["expected_account_id"]
        if predicted and predicted == expected:
            tp += 1
            continue
        fp += bool(predicted)
        fn += bool(expected)
    return tp, fp, fn


def test_labelled_speaker_affiliations_precision_and_recall() -> None:
    tp, fp, fn = _labelled_results()
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    assert precision >= 0.95, (tp, fp, fn)
    assert recall >= 0.9, (tp, fp, fn)
