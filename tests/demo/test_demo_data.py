from __future__ import annotations

import dataclasses
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import urlparse

import pytest
from faker import Faker

from commandcentre.demo.data import LEGAL_SUFFIXES, DemoData, generate_demo_data
from commandcentre.intel.importers.records import AccountRecord, EventRecord, PersonRecord

TODAY = date(2026, 5, 11)
# A Wednesday, a year end and a Sunday, with different seeds, to catch date edge cases.
SCENARIOS = [(TODAY, 7), (date(2026, 12, 30), 1), (date(2027, 3, 7), 2024)]
ZONES = {
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Stockholm",
}
INTEL_CATEGORIES = {
    "funding",
    "hiring",
    "product_launch",
    "leadership_change",
    "partnership",
    "earnings",
}
WELL_KNOWN_BRANDS = {
    "google", "microsoft", "amazon", "apple", "meta", "ibm", "oracle", "sap", "salesforce",
    "stripe", "siemens", "netflix", "spotify", "adyen", "klarna", "databricks", "snowflake",
}  # fmt: skip


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda s: f"{s[0]}-seed{s[1]}")
def scenario(request: pytest.FixtureRequest) -> tuple[date, DemoData]:
    today, seed = request.param
    return today, generate_demo_data(today=today, seed=seed)


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_demo_data(today=TODAY)


def _speakers(data: DemoData) -> Iterator[tuple[EventRecord, PersonRecord]]:
    for event in data.events:
        for session in event.sessions:
            for person in session.speakers:
                yield event, person


def _people_by_email(data: DemoData) -> dict[str, PersonRecord]:
    people: dict[str, PersonRecord] = {}
    for person in [p for _, p in _speakers(data)] + data.contacts:
        assert person.email is not None
        people.setdefault(person.email, person)
    return people


def _accounts_by_name(data: DemoData) -> dict[str, AccountRecord]:
    return {account.name: account for account in data.accounts}


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _strings(getattr(value, item.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _normalise_org(name: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", name).casefold().replace(".", "")
    suffixes = {
        re.sub(r"\([^)]*\)", "", s).casefold().replace(".", "").strip() for s in LEGAL_SUFFIXES
    }
    words = text.split()
    while words and words[-1] in suffixes:
        words.pop()
    return " ".join(words)


def test_same_inputs_give_identical_output() -> None:
    first = generate_demo_data(today=TODAY, seed=11)
    # Global random state must not leak in.
    random.seed(99)
    Faker.seed(12345)
    second = generate_demo_data(today=TODAY, seed=11)
    assert first == second
    assert [e.external_id for e in first.events] == [e.external_id for e in second.events]


def test_different_seed_or_day_changes_the_data() -> None:
    base = generate_demo_data(today=TODAY, seed=11)
    other_seed = generate_demo_data(today=TODAY, seed=12)
    later = generate_demo_data(today=TODAY + timedelta(days=1), seed=11)
    assert [e.name for e in base.events] != [e.name for e in other_seed.events]
    # Dates follow `today`, so demos never show stale events.
    assert [e.start_date for e in base.events] != [e.start_date for e in later.events]
    assert [n.noted_on for n in base.intel] != [n.noted_on for n in later.intel]


def test_generation_is_fast() -> None:
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        generate_demo_data(today=TODAY, seed=3)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 1.0


def test_counts_are_in_range(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    assert len(data.events) == 30
    assert len(data.accounts) == 40
    for event in data.events:
        assert 4 <= len(event.sessions) <= 15, event.name
        for session in event.sessions:
            assert 1 <= len(session.speakers) <= 2, session.title
    people = _people_by_email(data)
    assert 380 <= len(people) <= 420
    assert len(data.contacts) >= 50
    per_account = Counter(note.account_name for note in data.intel)
    assert set(per_account) == set(_accounts_by_name(data))
    assert all(2 <= count <= 4 for count in per_account.values())


def test_tiers_are_spread_like_a_real_watchlist(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    tiers = Counter(account.tier for account in data.accounts)
    assert 6 <= tiers[1] <= 10
    assert 15 <= tiers[2] <= 19
    assert 13 <= tiers[3] <= 17
    assert set(tiers) == {1, 2, 3}


def test_accounts_have_domains_and_some_aliases(demo: DemoData) -> None:
    domains = [account.domain for account in demo.accounts]
    assert all(domains)
    assert len(set(domains)) == len(domains)
    with_aliases = [account for account in demo.accounts if account.aliases]
    assert 5 <= len(with_aliases) < len(demo.accounts)
    assert len({account.name for account in demo.accounts}) == 40
    assert all(account.industry for account in demo.accounts)


def test_events_are_upcoming_and_well_formed(scenario: tuple[date, DemoData]) -> None:
    today, data = scenario
    assert len({event.name for event in data.events}) == len(data.events)
    for event in data.events:
        assert event.start_date is not None
        assert event.end_date is not None
        assert today + timedelta(days=5) <= event.start_date <= today + timedelta(days=150)
        assert event.start_date <= event.end_date <= event.start_date + timedelta(days=2)
        assert event.url is not None
        assert event.url.startswith("https://")
        assert 3 <= len(event.topics) <= 4
        assert event.description
        if event.online:
            assert event.city is None
        else:
            assert event.city
            assert event.country
    assert 3 <= sum(event.online for event in data.events) <= 8
    # Spread over the whole window rather than bunched up.
    starts = sorted(e.start_date for e in data.events if e.start_date)
    assert starts[0] <= today + timedelta(days=15)
    assert starts[-1] >= today + timedelta(days=130)


def test_external_ids_are_set_and_unique(demo: DemoData) -> None:
    event_ids = [event.external_id for event in demo.events]
    session_ids = [s.external_id for event in demo.events for s in event.sessions]
    assert all(event_ids)
    assert all(session_ids)
    assert len(set(event_ids)) == len(event_ids)
    assert len(set(session_ids)) == len(session_ids)


def test_sessions_fall_within_event_days(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    for event in data.events:
        assert event.start_date is not None
        assert event.end_date is not None
        for session in event.sessions:
            assert session.starts_at is not None
            assert session.ends_at is not None
            assert session.starts_at.utcoffset() == timedelta(0)
            assert session.starts_at < session.ends_at
            assert session.ends_at - session.starts_at <= timedelta(hours=1)
            assert event.start_date <= session.starts_at.date() <= event.end_date
            assert event.start_date <= session.ends_at.date() <= event.end_date
            assert session.room
            assert session.track
            assert session.abstract


def test_emails_are_unique_per_person(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    records: defaultdict[str, set[PersonRecord]] = defaultdict(set)
    for person in [p for _, p in _speakers(data)] + data.contacts:
        assert person.email is not None
        records[person.email].add(person)
    # One email, one person: a repeat speaker is the very same record everywhere.
    assert all(len(found) == 1 for found in records.values())
    contact_emails = [c.email for c in data.contacts]
    assert len(set(contact_emails)) == len(contact_emails)
    speaker_emails = {p.email for _, p in _speakers(data)}
    assert not speaker_emails & set(contact_emails)
    linkedin = [p.linkedin_url for p in _people_by_email(data).values()]
    assert len(set(linkedin)) == len(linkedin)


def test_people_look_like_real_profiles(demo: DemoData) -> None:
    people = list(_people_by_email(demo).values())
    for person in people:
        assert person.first_name
        assert person.last_name
        assert person.full_name == f"{person.first_name} {person.last_name}"
        assert re.fullmatch(r"[\w' -]+", person.full_name), person.full_name
        assert person.email is not None
        assert re.fullmatch(r"[a-z0-9._-]+@[a-z0-9-]+(\.[a-z0-9-]+)+", person.email), person.email
        assert person.linkedin_url is not None
        assert re.fullmatch(r"https://www\.linkedin\.com/in/[a-z0-9-]+", person.linkedin_url)
        assert person.timezone in ZONES
        assert person.title
        assert person.organisation
        assert person.bio is not None
        assert 2 <= person.bio.count(". ") + 1 <= 3, person.bio
        assert person.bio.endswith(".")
    assert {p.timezone for p in people} == ZONES
    titles = Counter(p.title for p in people)
    assert len(titles) >= 25
    assert any(t is not None and t.startswith("Chief") for t in titles)
    assert any(t is not None and t.startswith("VP") for t in titles)
    assert any(t is not None and t.startswith("Head of") for t in titles)
    assert "Developer Advocate" in titles


def test_target_share_and_email_domains(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    accounts = _accounts_by_name(data)
    account_domains = {a.domain for a in accounts.values()}
    people = _people_by_email(data)
    assert set(data.employers) == set(people)
    at_targets = [email for email, employer in data.employers.items() if employer in accounts]
    assert 0.55 <= len(at_targets) / len(people) <= 0.65
    for email, employer in data.employers.items():
        domain = email.split("@", 1)[1]
        if employer in accounts:
            assert domain == accounts[employer].domain, (email, employer)
        else:
            assert domain not in account_domains, (email, employer)
    others = {employer for employer in data.employers.values() if employer not in accounts}
    assert 50 <= len(others) <= 60


def test_target_people_spell_their_employer_in_recognisable_ways(demo: DemoData) -> None:
    accounts = _accounts_by_name(demo)
    people = _people_by_email(demo)
    spellings = 0
    for email, employer in demo.employers.items():
        if employer not in accounts:
            continue
        account = accounts[employer]
        organisation = people[email].organisation
        assert organisation is not None
        known = {_normalise_org(n) for n in (account.name, *account.aliases)}
        assert _normalise_org(organisation) in known, (organisation, account)
        spellings += organisation != account.name
    # Realistic messiness: a good share do not write the register name.
    assert spellings >= 60


def test_some_non_targets_look_like_targets(demo: DemoData) -> None:
    accounts = _accounts_by_name(demo)
    target_stems = {name.split()[0] for name in accounts}
    lookalikes = {
        employer
        for employer in demo.employers.values()
        if employer not in accounts and employer.split()[0] in target_stems
    }
    assert len(lookalikes) >= 5


def test_company_names_are_invented(demo: DemoData) -> None:
    names = set(demo.employers.values())
    for name in names:
        assert not {w.casefold() for w in re.findall(r"\w+", name)} & WELL_KNOWN_BRANDS, name


def test_most_events_have_target_account_speakers(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    accounts = _accounts_by_name(data)
    with_targets = {
        event.name
        for event, person in _speakers(data)
        if person.email and data.employers[person.email] in accounts
    }
    assert len(with_targets) >= 20
    # Some events without target speakers keep opportunity detection honest.
    assert len(with_targets) < len(data.events)


def test_some_people_speak_at_several_events(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    events_per_email: defaultdict[str | None, set[str]] = defaultdict(set)
    for event, person in _speakers(data):
        events_per_email[person.email].add(event.name)
    assert sum(len(names) >= 2 for names in events_per_email.values()) >= 5
    for event in data.events:
        emails = [p.email for s in event.sessions for p in s.speakers]
        assert len(emails) == len(set(emails)), f"someone speaks twice at {event.name}"


def test_quiet_events_cover_attend_only_and_no_opportunity(
    scenario: tuple[date, DemoData],
) -> None:
    _, data = scenario
    accounts = _accounts_by_name(data)
    target_speaking = {
        event.name
        for event, person in _speakers(data)
        if data.employers[person.email or ""] in accounts
    }
    quiet = [event.name for event in data.events if event.name not in target_speaking]
    attending = {
        name
        for name in quiet
        if any(data.employers[email] in accounts for email in data.attendees[name])
    }
    # An opportunity only through attendance, and events with no opportunity at all.
    assert attending
    assert set(quiet) - attending


def test_attendees_are_contacts_of_known_events(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    assert set(data.attendees) == {event.name for event in data.events}
    contact_emails = {c.email for c in data.contacts}
    for emails in data.attendees.values():
        assert 1 <= len(emails) <= 8
        assert len(set(emails)) == len(emails)
        assert set(emails) <= contact_emails


def test_intel_is_recent_and_sourced_from_the_account(scenario: tuple[date, DemoData]) -> None:
    today, data = scenario
    accounts = _accounts_by_name(data)
    for note in data.intel:
        account = accounts[note.account_name]
        assert note.category in INTEL_CATEGORIES
        assert note.noted_on is not None
        assert today - timedelta(days=180) <= note.noted_on < today
        assert note.source_url is not None
        host = urlparse(note.source_url).hostname or ""
        assert account.domain is not None
        assert host == account.domain or host.endswith(f".{account.domain}")
        assert note.source_name
        assert note.body
    assert {note.category for note in data.intel} == INTEL_CATEGORIES


def test_no_template_leaks_in_text(scenario: tuple[date, DemoData]) -> None:
    _, data = scenario
    texts = list(_strings(data))
    assert len(texts) > 5000
    for text in texts:
        assert "{" not in text
        assert "}" not in text
        assert "None" not in text
        assert "  " not in text
        assert text == text.strip()
        assert text
