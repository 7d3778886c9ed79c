"""Speed of discovery at the size of a busy workspace.

Builds 5,000 events, 50,000 contacts, 500 watchlist accounts and ~100,000 appearances in a
fresh, migrated database (SQLite file; PostgreSQL too when it is reachable), then times:

* matching alone: `match_contacts` on unmatched contacts (writes every match), and again
  when nothing changes;
* discovery, first run: matching plus creating every opportunity and its contact links;
* discovery, second run: the idempotent refresh (nothing new, every opportunity updated).

About 30 % of contacts work at watchlist accounts and spell them the way people do: other
legal forms, locations and units, lower case, typos, work or free-mail addresses.
Data is bulk-inserted with SQLAlchemy Core; building it is not timed. Goal: each discovery
run under 10 s.

Run: .venv/bin/python bench/discovery.py [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from faker import Faker
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.clock import ManualClock
from commandcentre.db import migrate
from commandcentre.db.engine import make_engine, make_session_factory
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.discovery import discover, match_contacts
from commandcentre.intel.matching import normalise_company
from commandcentre.intel.models import (
    Account,
    Appearance,
    Contact,
    Event,
    Opportunity,
    OpportunityContact,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "discovery.json"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "cc_bench_discovery"

EVENTS = 5_000
CONTACTS = 50_000
ACCOUNTS = 500
APPEARANCES = 100_000
TARGET_SHARE = 0.30
GOAL_SECONDS = 10.0
SEED = 20260302
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

LEGAL_FORMS = ["Inc.", "Ltd", "GmbH", "LLC", "S.A.", "B.V.", "AG", "plc", "SE", "Corp.", ""]
QUALIFIERS = [" Germany", " UK", " Labs", " (Berlin office)", " Technologies", " EMEA", ""]
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.co.uk", "gmx.de", "proton.me"]
TITLES = [
    "Software Engineer",
    "Senior Software Engineer",
    "Staff Engineer",
    "Principal Architect",
    "Engineering Manager",
    "Tech Lead",
    "Director of Engineering",
    "Head of Data",
    "VP Engineering",
    "Vice President, Sales",
    "CTO",
    "Co-Founder & CEO",
    "Product Manager",
    "Developer Advocate",
    "Data Scientist",
    "Geschäftsführer",
    "Directeur technique",
    "",
]
ROLES = [("speaker", 70), ("attendee", 25), ("sponsor", 3), ("organiser", 2)]
EVENT_KINDS = ["Summit", "Conf", "Days", "Expo", "Forum", "Meetup", "World", "Live"]

T = TypeVar("T")
Factory = sessionmaker[Session]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    domain: str


@dataclass(slots=True)
class Dataset:
    accounts: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    events: list[dict[str, Any]]
    appearances: list[dict[str, Any]]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", normalise_company(text)) or "company"


def _companies(fake: Faker, count: int, taken: set[str]) -> list[Company]:
    companies: list[Company] = []
    while len(companies) < count:
        name = fake.company()
        key = normalise_company(name)
        if key in taken:
            continue
        taken.add(key)
        companies.append(Company(name, f"{_slug(name)}.{random.choice(['com', 'io', 'de'])}"))
    return companies


def _variant(rng: random.Random, company: Company) -> str:
    """How a person at the company might write its name."""
    base = re.sub(r",? (Inc\.?|Ltd|LLC|PLC|plc|Group|and Sons|GmbH|AG)$", "", company.name)
    roll = rng.random()
    if roll < 0.3:
        return company.name
    if roll < 0.55:
        return f"{base} {rng.choice(LEGAL_FORMS)}".strip()
    if roll < 0.75:
        return base + rng.choice(QUALIFIERS)
    if roll < 0.9:
        return base.lower()
    if len(base) > 6:  # a typo: two neighbouring letters swapped
        i = rng.randrange(1, len(base) - 2)
        return base[:i] + base[i + 1] + base[i] + base[i + 2 :]
    return base


def _accounts(
    rng: random.Random, workspace_id: uuid.UUID, targets: list[Company]
) -> list[dict[str, Any]]:
    rows = []
    for company in targets:
        words = company.name.replace(",", "").split()
        aliases = ["".join(w[0] for w in words).upper()] if len(words) > 2 else []
        rows.append(
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "name": company.name,
                "normalised_name": normalise_company(company.name),
                "domain": company.domain if rng.random() < 0.8 else None,
                "aliases": aliases if rng.random() < 0.3 else [],
                "tier": rng.choices([1, 2, 3], weights=[10, 40, 50])[0],
            }
        )
    return rows


def _contacts(
    rng: random.Random,
    fake: Faker,
    workspace_id: uuid.UUID,
    targets: list[Company],
    others: list[Company],
) -> list[dict[str, Any]]:
    firsts = [fake.first_name() for _ in range(400)]
    lasts = [fake.last_name() for _ in range(800)]
    rows = []
    for i in range(CONTACTS):
        first, last = rng.choice(firsts), rng.choice(lasts)
        at_target = rng.random() < TARGET_SHARE
        company = rng.choice(targets if at_target else others)
        organisation = _variant(rng, company) if at_target else company.name
        mail_roll = rng.random()
        if mail_roll < 0.4:
            email: str | None = f"{first}.{last}.{i}@{company.domain}".lower()
        elif mail_roll < 0.6:
            email = f"{first}{last}{i}@{rng.choice(FREE_MAIL)}".lower()
        else:
            email = None
        name = f"{first} {last}"
        rows.append(
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "full_name": name,
                "first_name": first,
                "last_name": last,
                "email": email,
                "title": rng.choice(TITLES) or None,
                "organisation": organisation,
                "name_key": f"{name.lower()}|{organisation.lower()}|{i}",
            }
        )
    return rows


def _events(rng: random.Random, fake: Faker, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    today = NOW.date()
    rows = []
    for i in range(EVENTS):
        start = today + timedelta(days=rng.randint(-180, 365))
        name = f"{fake.catch_phrase().title()} {rng.choice(EVENT_KINDS)} {start.year}"
        rows.append(
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "name": name[:300],
                "start_date": start,
                "end_date": start + timedelta(days=rng.randint(0, 3)),
                "dedupe_key": f"bench-{i}",
                "city": fake.city(),
            }
        )
    return rows


def _appearances(
    rng: random.Random,
    workspace_id: uuid.UUID,
    events: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    roles, weights = zip(*ROLES, strict=True)
    per_event = APPEARANCES // len(events)
    contact_ids = [row["id"] for row in contacts]
    rows = []
    for event in events:
        size = max(1, int(rng.gauss(per_event, per_event / 3)))
        for contact_id in rng.sample(contact_ids, size):
            role = rng.choices(roles, weights=weights)[0]
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "workspace_id": workspace_id,
                    "contact_id": contact_id,
                    "event_id": event["id"],
                    "role": role,
                    "appearance_key": role,
                }
            )
    return rows


def build_dataset(workspace_id: uuid.UUID) -> Dataset:
    rng = random.Random(SEED)
    random.seed(SEED)
    Faker.seed(SEED)
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "nl_NL"])
    taken: set[str] = set()
    targets = _companies(fake, ACCOUNTS, taken)
    others = _companies(fake, 8_000, taken)
    contacts = _contacts(rng, fake, workspace_id, targets, others)
    events = _events(rng, fake, workspace_id)
    return Dataset(
        accounts=_accounts(rng, workspace_id, targets),
        contacts=contacts,
        events=events,
        appearances=_appearances(rng, workspace_id, events, contacts),
    )


def _batches(rows: Sequence[T], size: int = 10_000) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def load(engine: Engine, data: Dataset) -> None:
    tables = (
        (Account, data.accounts),
        (Contact, data.contacts),
        (Event, data.events),
        (Appearance, data.appearances),
    )
    with engine.begin() as conn:
        for model, rows in tables:
            for batch in _batches(rows):
                conn.execute(insert(model), batch)


# --------------------------------------------------------------------------- timing


@dataclass(slots=True)
class Timing:
    backend: str
    step: str
    seconds: float  # wall clock: what a user waits
    cpu_seconds: float  # this process only: steadier when other work shares the machine
    detail: str


@dataclass(slots=True)
class Clocked:
    wall: float = 0.0
    cpu: float = 0.0


def timed(step: Callable[[], T]) -> tuple[T, Clocked]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = step()
    return value, Clocked(time.perf_counter() - wall, time.process_time() - cpu)


def bench_database(backend: str, url: str) -> tuple[list[Timing], dict[str, int]]:
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    clock = ManualClock(NOW)
    try:
        with system_session(factory) as session:
            workspace_id = ensure_workspace_with_agents(session=session, slug="bench").id
        data, build_s = timed(lambda: build_dataset(workspace_id))
        _, load_s = timed(lambda: load(engine, data))
        print(f"[{backend}] generated in {build_s.wall:.1f} s, inserted in {load_s.wall:.1f} s")
        sizes = {
            "events": len(data.events),
            "contacts": len(data.contacts),
            "accounts": len(data.accounts),
            "appearances": len(data.appearances),
        }
        return _time_steps(backend, factory, workspace_id, clock), sizes
    finally:
        engine.dispose()


def _match(factory: Factory, workspace_id: uuid.UUID) -> int:
    with workspace_session(factory, workspace_id) as session:
        return match_contacts(session=session)


def _discover(factory: Factory, workspace_id: uuid.UUID, clock: ManualClock) -> tuple[int, int]:
    with workspace_session(factory, workspace_id) as session:
        result = discover(session=session, clock=clock)
        return result.new_count, result.updated_count


def _reset_matches(factory: Factory, workspace_id: uuid.UUID) -> None:
    with workspace_session(factory, workspace_id) as session:
        session.execute(
            update(Contact)
            .where(Contact.workspace_id == workspace_id)
            .values(account_id=None, match_method=None)
        )


def _links(factory: Factory, workspace_id: uuid.UUID) -> int:
    with workspace_session(factory, workspace_id) as session:
        return session.scalar(select(func.count(OpportunityContact.id))) or 0


def _opportunities(factory: Factory, workspace_id: uuid.UUID) -> int:
    with workspace_session(factory, workspace_id) as session:
        return session.scalar(select(func.count(Opportunity.id))) or 0


def _time_steps(
    backend: str, factory: Factory, workspace_id: uuid.UUID, clock: ManualClock
) -> list[Timing]:
    matched, match_s = timed(lambda: _match(factory, workspace_id))
    again, again_s = timed(lambda: _match(factory, workspace_id))
    _reset_matches(factory, workspace_id)
    (new, updated), first_s = timed(lambda: _discover(factory, workspace_id, clock))
    opportunities, links = _opportunities(factory, workspace_id), _links(factory, workspace_id)
    clock.advance(timedelta(hours=1))
    (new2, updated2), second_s = timed(lambda: _discover(factory, workspace_id, clock))
    assert new2 == 0
    assert updated2 == new + updated
    assert _opportunities(factory, workspace_id) == opportunities
    steps = [
        ("match contacts (all unmatched)", match_s, f"{matched} matched"),
        ("match contacts (no changes)", again_s, f"{again} changed"),
        ("discover, first run", first_s, f"{new} new, {updated} updated, {links} contact links"),
        ("discover, second run", second_s, f"{new2} new, {updated2} updated"),
    ]
    return [Timing(backend, step, t.wall, t.cpu, detail) for step, t, detail in steps]


# --------------------------------------------------------------------------- backends


def bench_sqlite() -> tuple[list[Timing], dict[str, int]]:
    directory = Path(tempfile.mkdtemp(prefix="cc-bench-discovery-"))
    try:
        return bench_database("sqlite", f"sqlite:///{directory / 'bench.sqlite'}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextmanager
def scratch_postgres() -> Iterator[str]:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=PG_DATABASE).render_as_string(False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def bench_postgres() -> list[Timing]:
    with scratch_postgres() as url:
        timings, _ = bench_database("postgresql", url)
        return timings


# --------------------------------------------------------------------------- report


def print_table(timings: Sequence[Timing]) -> None:
    header = f"{'backend':<11} {'step':<32} {'wall s':>7} {'cpu s':>6}  detail"
    print(header)
    print("-" * len(header))
    for t in timings:
        print(f"{t.backend:<11} {t.step:<32} {t.seconds:>7.2f} {t.cpu_seconds:>6.2f}  {t.detail}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only.")
    args = parser.parse_args(argv)
    # Other work on the machine inflates wall times; the load average says how much.
    load_average = [round(value, 2) for value in os.getloadavg()]

    timings, sizes = bench_sqlite()
    if not args.no_postgres and postgres_reachable():
        timings += bench_postgres()
    elif not args.no_postgres:
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}; SQLite only.")
    print()
    print_table(timings)

    runs = [t for t in timings if t.step.startswith("discover")]
    within_goal = all(t.seconds < GOAL_SECONDS for t in runs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "sizes": sizes,
        "goal_seconds": GOAL_SECONDS,
        "within_goal": within_goal,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "today": date.isoformat(NOW.date()),
        "load_average_at_start": load_average,
        "timings": [
            {**asdict(t), "seconds": round(t.seconds, 3), "cpu_seconds": round(t.cpu_seconds, 3)}
            for t in timings
        ],
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nEvery discovery run under {GOAL_SECONDS:.0f} s: {within_goal}. Wrote {RESULTS}")
    return 0 if within_goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
