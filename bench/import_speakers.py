"""Speed of importing a 10,000-row speakers CSV, first import and idempotent re-import.

The file is generated (seeded Faker, several locales) with the columns a real speakers
export has: first and last name, email for most people, company in loose spellings, job
title, LinkedIn URL for some, a bio and a talk title with abstract. Some people give two
talks, so the file has repeated people as real exports do.

Each backend gets a fresh, migrated database with one workspace; the file is imported
twice through `import_into_workspace` (parse + store + ImportRun, one transaction). The
first run creates everything, the second must create nothing.

Backends: SQLite (a file in a temporary directory) and PostgreSQL (a scratch database
`cc_bench_import`, created and dropped here; admin URL from COMMANDCENTRE_TEST_PG_URL or
postgresql://postgres@127.0.0.1:5432/test). PostgreSQL is skipped with a note if absent.

Run: .venv/bin/python bench/import_speakers.py
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import random
import sys
import tempfile
import time
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from faker import Faker
from sqlalchemy.engine import make_url

from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.clock import SystemClock
from commandcentre.db import migrate
from commandcentre.db.engine import make_engine, make_session_factory
from commandcentre.db.scoping import system_session
from commandcentre.intel.imports import ImportSummary, import_into_workspace

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "import_speakers.json"
PG_ADMIN_URL = os.environ.get(
    "COMMANDCENTRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PG_DATABASE = "cc_bench_import"
ROWS = 10_000
SEED = 20260302
EVENT = "EuroPython 2026"
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "nl_NL", "pl_PL", "es_ES", "sv_SE"]
LEGAL_FORMS = ["", " Inc.", " Ltd", " GmbH", " AG", " B.V.", " plc"]
HEADER = (
    *("First Name", "Last Name", "Email", "Company", "Job Title", "LinkedIn", "Bio"),
    *("Talk Title", "Abstract"),
)
TARGET_RATE = 1_000  # rows per second, first import, both backends


@dataclass(frozen=True, slots=True)
class Timing:
    backend: str
    run: str
    rows: int
    seconds: float
    cpu_seconds: float  # this process only; PostgreSQL's own work is not in it
    created: int
    updated: int
    skipped: int
    row_errors: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def generate_csv(rows: int = ROWS, seed: int = SEED) -> bytes:
    """A speakers export: `rows` data rows, about one person in twelve giving two talks."""
    rng = random.Random(seed)
    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    companies = [fake.company() for _ in range(rows // 8)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    people: list[list[str]] = []
    while len(people) < rows:
        person = _person(rng, fake, companies, len(people))
        people.append(person + _talk(fake))
        if rng.random() < 0.08 and len(people) < rows:
            people.append(person + _talk(fake))  # a second talk by the same person
    writer.writerows(people)
    return out.getvalue().encode("utf-8")


def _person(rng: random.Random, fake: Faker, companies: list[str], index: int) -> list[str]:
    first, last = fake.first_name(), fake.last_name()
    company = rng.choice(companies)
    # Loose spellings of the same employer, as people type it themselves.
    company = company.split(",")[0] + rng.choice(LEGAL_FORMS) if rng.random() < 0.3 else company
    slug = _ascii(f"{first}.{last}".lower().replace(" ", ""))
    email = f"{slug}.{index}@{fake.domain_name()}" if rng.random() < 0.85 else ""
    linkedin = f"https://www.linkedin.com/in/{slug}-{index}" if rng.random() < 0.5 else ""
    return [first, last, email, company, fake.job(), linkedin, fake.paragraph(nb_sentences=4)]


def _ascii(text: str) -> str:
    # Mailbox names in exports are ASCII ("stéphane" becomes "stephane").
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _talk(fake: Faker) -> list[str]:
    title = fake.sentence(nb_words=6).rstrip(".")
    return [title, fake.paragraph(nb_sentences=5)]


def prepare_database(url: str) -> uuid.UUID:
    migrate.upgrade(url)
    factory = make_session_factory(make_engine(url))
    with system_session(factory) as session:
        return ensure_workspace_with_agents(session=session, slug="bench").id


def time_imports(backend: str, url: str, data: bytes) -> list[Timing]:
    workspace_id = prepare_database(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    timings = []
    try:
        for run in ("first import", "re-import"):
            started, cpu_started = time.perf_counter(), time.process_time()
            summary = import_into_workspace(
                factory=factory,
                workspace_id=workspace_id,
                clock=SystemClock(),
                kind="speakers",
                filename="speakers.csv",
                data=data,
                event_name=EVENT,
                max_bytes=50_000_000,
                max_field_chars=10_000,
            )
            seconds = time.perf_counter() - started
            cpu_seconds = time.process_time() - cpu_started
            rows = summary.created + summary.updated + summary.skipped + len(_error_rows(summary))
            timings.append(
                Timing(
                    backend,
                    run,
                    rows,
                    seconds,
                    cpu_seconds,
                    summary.created,
                    summary.updated,
                    summary.skipped,
                    len(summary.errors),
                )
            )
    finally:
        engine.dispose()
    return timings


def _error_rows(summary: ImportSummary) -> set[int]:
    # Rows kept with a note (an invalid email) are counted once, as imported.
    return {error.row for error in summary.errors if error.field == "full_name"}


def sqlite_timings(data: bytes) -> list[Timing]:
    with tempfile.TemporaryDirectory() as directory:
        return time_imports("sqlite", f"sqlite:///{directory}/bench.sqlite", data)


def postgres_timings(data: bytes) -> list[Timing]:
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return []
    url = make_url(PG_ADMIN_URL).set(database=PG_DATABASE).render_as_string(hide_password=False)
    try:
        return time_imports("postgresql", url, data)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def print_table(timings: list[Timing]) -> None:
    print(
        f"{'backend':<12}{'run':<14}{'rows':>8}{'seconds':>10}{'rows/s':>10}{'cpu s':>8}  outcome"
    )
    for t in timings:
        outcome = f"{t.created} created, {t.updated} updated, {t.skipped} skipped"
        print(
            f"{t.backend:<12}{t.run:<14}{t.rows:>8}{t.seconds:>10.2f}"
            f"{t.rows_per_second:>10.0f}{t.cpu_seconds:>8.2f}  {outcome}"
        )


def main() -> int:
    data = generate_csv()
    print(f"Speakers CSV: {ROWS:,} rows, {len(data) / 1_000_000:.1f} MB (seed {SEED})")
    timings = sqlite_timings(data) + postgres_timings(data)
    print_table(timings)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "rows": ROWS,
        "bytes": len(data),
        "seed": SEED,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "runs": [asdict(t) | {"rows_per_second": round(t.rows_per_second)} for t in timings],
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nWrote {RESULTS.relative_to(ROOT)}")
    reimports_clean = all(t.created == 0 for t in timings if t.run == "re-import")
    fast_enough = all(t.rows_per_second >= TARGET_RATE for t in timings if t.run == "first import")
    if not reimports_clean:
        print("Re-import created rows: the import is not idempotent.", file=sys.stderr)
    return 0 if reimports_clean and fast_enough else 1


if __name__ == "__main__":
    sys.exit(main())
