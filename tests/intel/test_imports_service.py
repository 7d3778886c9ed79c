"""Storing imports: idempotency, matching people, updates, row errors, all-or-nothing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cctest.databases import Database
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.clock import ManualClock
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel import imports
from commandcentre.intel.importers.records import AccountRecord, IntelRecord, PersonRecord
from commandcentre.intel.models import (
    Account,
    AccountIntel,
    Appearance,
    Contact,
    Event,
    EventSession,
    ImportRun,
)

DATA = Path("/work/shared/data")
PYCONUK_ICS = DATA / "pyconuk2015" / "schedule.ics"
CONFERENCES_JSON = DATA / "conferences" / "2025" / "python.json"
CRM = DATA / "crm_formats"
EUROPYTHON = DATA / "europython2024"
MAX_BYTES = 20_000_000
MAX_FIELD = 10_000
COUNTED = (Event, EventSession, Contact, Appearance, Account, AccountIntel, ImportRun)


@pytest.fixture
def workspace_id(database: Database) -> uuid.UUID:
    return make_workspace(database, "acme")


def make_workspace(database: Database, slug: str) -> uuid.UUID:
    with system_session(database.session_factory) as session:
        return ensure_workspace_with_agents(session=session, slug=slug).id


def run(
    database: Database,
    workspace_id: uuid.UUID,
    clock: ManualClock,
    kind: imports.ImportKind,
    data: bytes,
    filename: str = "file.csv",
    **options: Any,
) -> imports.ImportSummary:
    options.setdefault("max_bytes", MAX_BYTES)
    options.setdefault("max_field_chars", MAX_FIELD)
    return imports.import_into_workspace(
        factory=database.session_factory,
        workspace_id=workspace_id,
        clock=clock,
        kind=kind,
        filename=filename,
        data=data,
        **options,
    )


def counts(database: Database, workspace_id: uuid.UUID) -> dict[str, int]:
    with workspace_session(database.session_factory, workspace_id) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in COUNTED
        }


@pytest.fixture
def scoped(database: Database, workspace_id: uuid.UUID) -> Iterator[Session]:
    with workspace_session(database.session_factory, workspace_id) as session:
        yield session


def contacts(database: Database, workspace_id: uuid.UUID) -> list[Contact]:
    with workspace_session(database.session_factory, workspace_id) as session:
        return list(session.scalars(select(Contact).order_by(Contact.full_name)))


def csv_bytes(rows: Sequence[Mapping[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    _, head, body = path.read_text(encoding="utf-8").split("---\n", 2)
    return yaml.safe_load(head), body.strip()


def europython_speakers_csv() -> bytes:
    """One row per speaker and talk, built from the EuroPython 2024 website's pages."""
    titles = {}
    for path in sorted((EUROPYTHON / "sessions").glob("*.mdx")):
        meta, _ = front_matter(path)
        titles[meta["slug"]] = meta["title"]
    rows = []
    for path in sorted((EUROPYTHON / "speakers").glob("*.mdx")):
        meta, bio = front_matter(path)
        for slug in meta.get("submissions") or [None]:
            rows.append(
                {
                    "Name": meta["name"],
                    "Company": meta.get("affiliation") or "",
                    "LinkedIn": meta.get("linkedin_url") or "",
                    "Bio": bio,
                    "Talk Title": titles.get(slug, "") if slug else "",
                }
            )
    return csv_bytes(rows)


# --------------------------------------------------------------------------- events


def test_ics_schedule_import_twice_creates_nothing_the_second_time(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    data = PYCONUK_ICS.read_bytes()
    first = run(
        database, workspace_id, clock, "events", data, "schedule.ics", event_name="PyCon UK 2015"
    )
    after_first = counts(database, workspace_id)
    second = run(
        database, workspace_id, clock, "events", data, "schedule.ics", event_name="PyCon UK 2015"
    )

    assert first.format == "ics"
    assert first.created == 1
    assert first.counts["sessions"].created > 100
    assert first.counts["contacts"].created > 50
    assert first.counts["appearances"].created > 50
    assert second.created == second.updated == 0
    for entity in second.counts.values():
        assert entity.created == entity.updated == 0
    after_second = counts(database, workspace_id)
    assert after_second["import_runs"] == after_first["import_runs"] + 1
    assert {k: v for k, v in after_second.items() if k != "import_runs"} == {
        k: v for k, v in after_first.items() if k != "import_runs"
    }


def test_a_reused_calendar_uid_keeps_both_talks(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock, scoped: Session
) -> None:
    # PyCon UK 2015's calendar gives "Open Space" and "Power: Python in Astronomy" one UID.
    run(
        database,
        workspace_id,
        clock,
        "events",
        PYCONUK_ICS.read_bytes(),
        "s.ics",
        event_name="PyCon UK 2015",
    )
    titles = set(scoped.scalars(select(EventSession.title)))
    assert {"Open Space", "Power: Python in Astronomy"} <= titles
    speaker = scoped.scalar(select(Contact).where(Contact.full_name == "Tomas James"))
    assert speaker is not None
    link = scoped.scalar(select(Appearance).where(Appearance.contact_id == speaker.id))
    assert link is not None
    assert link.role == "speaker"
    assert link.session_id is not None


def test_conference_list_import_is_idempotent_and_fills_blanks(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock, scoped: Session
) -> None:
    data = CONFERENCES_JSON.read_bytes()
    first = run(database, workspace_id, clock, "events", data, "python.json")
    entries = json.loads(data)
    assert first.format == "conferences-json"
    assert first.created == len(entries)

    # A later edition of the file knows a city it did not know before, and nothing else.
    changed = [dict(entries[0], city="Berlin-Mitte", country=""), *entries[1:]]
    second = run(database, workspace_id, clock, "events", json.dumps(changed).encode(), "p.json")
    assert (second.created, second.updated, second.skipped) == (0, 1, len(entries) - 1)
    event = scoped.scalar(select(Event).where(Event.name == entries[0]["name"]))
    assert event is not None
    assert event.city == "Berlin-Mitte"
    assert event.country == entries[0]["country"]  # an empty value never blanks out data


# --------------------------------------------------------------------------- people


def test_europython_speakers_are_attached_to_the_named_event(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock, scoped: Session
) -> None:
    data = europython_speakers_csv()
    first = run(
        database, workspace_id, clock, "speakers", data, "ep.csv", event_name="EuroPython 2024"
    )
    people = len(list((EUROPYTHON / "speakers").glob("*.mdx")))

    # Only notes about company pages in the LinkedIn column; every person is kept.
    assert {error.field for error in first.errors} <= {"linkedin_url"}
    assert first.counts["contacts"].created == people
    assert first.counts["events"].created == 1
    event = scoped.scalar(select(Event).where(Event.name == "EuroPython 2024"))
    assert event is not None
    speakers = scoped.scalar(
        select(func.count(func.distinct(Appearance.contact_id))).where(
            Appearance.event_id == event.id, Appearance.role == "speaker"
        )
    )
    assert speakers == people
    talk = scoped.scalar(
        select(EventSession).where(
            EventSession.event_id == event.id,
            EventSession.title
            == "Writing Python like it's Rust - more robust code with type hints",
        )
    )
    assert talk is not None
    jakub = scoped.scalar(select(Contact).where(Contact.full_name == "Jakub Beránek"))
    assert jakub is not None
    assert jakub.organisation == "Rust Project"
    assert scoped.scalar(
        select(Appearance).where(
            Appearance.contact_id == jakub.id, Appearance.session_id == talk.id
        )
    )

    second = run(
        database, workspace_id, clock, "speakers", data, "ep.csv", event_name="EuroPython 2024"
    )
    assert second.created == second.updated == 0
    assert "events" not in second.counts  # found by name, not created again


def test_speakers_join_an_event_that_already_exists_by_name(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock, scoped: Session
) -> None:
    run(
        database,
        workspace_id,
        clock,
        "events",
        PYCONUK_ICS.read_bytes(),
        "s.ics",
        event_name="PyCon UK 2015",
    )
    rows = [{"Name": "Ada Example", "Email": "ada@example.com", "Talk Title": "Open Space"}]
    summary = run(
        database, workspace_id, clock, "speakers", csv_bytes(rows), event_name="pycon uk 2015"
    )
    assert "events" not in summary.counts
    assert scoped.scalar(select(func.count()).select_from(Event)) == 1
    # The talk already existed (from the schedule): the speaker is linked to it.
    assert summary.counts["sessions"].created == 0
    link = scoped.scalar(select(Appearance).join(Contact).where(Contact.email == "ada@example.com"))
    assert link is not None
    assert link.session is not None
    assert link.session.title == "Open Space"


def test_people_are_updated_only_with_non_empty_values(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    full = {"Name": "Ada Example", "Email": "ada@example.com", "Title": "CTO", "Company": "Acme"}
    run(database, workspace_id, clock, "contacts", csv_bytes([full]))

    sparse = {"Name": "Ada Example", "Email": "ada@example.com", "Title": "", "Company": "Globex"}
    changed = run(database, workspace_id, clock, "contacts", csv_bytes([sparse]))
    again = run(database, workspace_id, clock, "contacts", csv_bytes([sparse]))

    assert (changed.created, changed.updated, changed.skipped) == (0, 1, 0)
    assert (again.created, again.updated, again.skipped) == (0, 0, 1)
    [ada] = contacts(database, workspace_id)
    assert ada.title == "CTO"
    assert ada.organisation == "Globex"
    assert ada.name_key == imports.person_key("Ada Example", "Globex")


def test_people_are_matched_by_email_ignoring_case(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    rows = [
        {"Name": "Ada Example", "Email": "Ada@Example.COM", "Company": "Acme"},
        {"Name": "Ada E.", "Email": "ada@example.com", "Company": ""},
    ]
    summary = run(database, workspace_id, clock, "contacts", csv_bytes(rows))
    assert summary.counts["contacts"].created == 1
    [ada] = contacts(database, workspace_id)
    assert ada.email == "ada@example.com"
    assert ada.full_name == "Ada Example"  # within one file the first row wins


def test_people_without_email_are_matched_by_name_and_organisation(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    rows = [
        {"Name": "Jane Doe", "Company": "Acme Inc."},
        {"Name": "JANE  DOE", "Company": "ACME"},
        {"Name": "Jane Doe", "Company": "Globex Corporation"},
        {"Name": "Jane Doe", "Company": ""},  # two namesakes: not guessed
    ]
    summary = run(database, workspace_id, clock, "contacts", csv_bytes(rows))
    assert summary.counts["contacts"].created == 3
    assert [c.organisation for c in contacts(database, workspace_id)].count("Acme Inc.") == 1


def test_a_person_first_seen_without_organisation_is_found_again_once_it_is_known(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    byline = csv_bytes([{"Name": "Tim Barr"}])
    run(database, workspace_id, clock, "contacts", byline)
    crm = csv_bytes([{"Name": "Tim Barr", "Company": "Example Widgets Ltd", "Email": "tim@x.com"}])
    assert run(database, workspace_id, clock, "contacts", crm).updated == 1
    assert run(database, workspace_id, clock, "contacts", byline).skipped == 1
    [tim] = contacts(database, workspace_id)
    assert (tim.organisation, tim.email) == ("Example Widgets Ltd", "tim@x.com")


def test_two_addresses_mean_two_people(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    rows = [
        {"Name": "Sam Lee", "Company": "Acme", "Email": "sam@acme.example"},
        {"Name": "Sam Lee", "Company": "Acme", "Email": "sam.lee@acme.example"},
    ]
    assert run(database, workspace_id, clock, "contacts", csv_bytes(rows)).created == 2


def test_crm_exports_import_and_reimport(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    files = sorted(CRM.glob("*.csv"))
    first = [run(database, workspace_id, clock, "contacts", f.read_bytes(), f.name) for f in files]
    before = counts(database, workspace_id)
    second = [run(database, workspace_id, clock, "contacts", f.read_bytes(), f.name) for f in files]
    assert {s.format for s in first} >= {"linkedin", "hubspot", "csv"}
    assert sum(s.created for s in second) == 0
    assert sum(s.updated for s in second) == 0
    after = counts(database, workspace_id)
    assert after["saved_speaker_profiles"] == before["saved_speaker_profiles"]


def test_bad_rows_are_reported_with_row_numbers_and_the_rest_imports(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    rows = [
        {"Name": "Ada Example", "Job Title": "CTO", "Email": "ada@example.com"},
        {"Name": "Bert Sample", "Job Title": "x" * 400, "Email": "bert@example.com"},
        {"Name": "", "Job Title": "Nobody", "Email": ""},
        {"Name": "Cleo Test", "Job Title": "CEO", "Email": "not-an-email"},
    ]
    summary = run(database, workspace_id, clock, "contacts", csv_bytes(rows))
    by_row = {error.row: error for error in summary.errors}
    assert by_row[3].field == "title"
    assert "too long" in by_row[3].message
    assert "400" in by_row[3].message
    assert by_row[4].field == "full_name"
    assert by_row[5].field == "email"
    assert summary.created == 2
    names = [c.full_name for c in contacts(database, workspace_id)]
    assert names == ["Ada Example", "Cleo Test"]


def test_max_field_chars_limits_long_text(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    rows = [{"Name": "Ada Example", "Bio": "b" * 600}, {"Name": "Bert Sample", "Bio": "short"}]
    summary = run(database, workspace_id, clock, "contacts", csv_bytes(rows), max_field_chars=500)
    assert [(e.row, e.field) for e in summary.errors] == [(2, "bio")]
    assert summary.created == 1


# --------------------------------------------------------------------------- all or nothing


def test_a_file_that_cannot_be_read_changes_nothing_but_the_history(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    run(database, workspace_id, clock, "contacts", csv_bytes([{"Name": "Ada Example"}]))
    before = counts(database, workspace_id)
    with pytest.raises(imports.ImportFileError, match="not valid JSON"):
        run(
            database,
            workspace_id,
            clock,
            "speakers",
            b'[{"name": "x"',
            "s.json",
            event_name="New Conf",
        )
    after = counts(database, workspace_id)
    assert after == {**before, "import_runs": before["import_runs"] + 1}
    with workspace_session(database.session_factory, workspace_id) as session:
        failed = session.scalar(select(ImportRun).where(ImportRun.status == "failed"))
        assert failed is not None
        assert failed.kind == "speakers"
        assert failed.filename == "s.json"
        assert failed.message is not None
        assert "not valid JSON" in failed.message
        # The event named for the speakers was not created either.
        assert session.scalar(select(Event).where(Event.name == "New Conf")) is None


def test_an_oversized_file_is_refused_with_a_clear_message(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    before = counts(database, workspace_id)
    with pytest.raises(
        imports.FileTooLarge, match=r"the file is 2,\d{3} bytes; the limit is 1,000"
    ):
        run(database, workspace_id, clock, "contacts", b"Name\n" + b"Ada\n" * 600, max_bytes=1000)
    assert (
        counts(database, workspace_id)["saved_speaker_profiles"] == before["saved_speaker_profiles"]
    )


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("speakers", {}, "give the event's name"),
        ("accounts", {"event_name": "X"}, "does not apply"),
        ("events", {"mapping": {"email": "E"}}, "only to speakers and contacts"),
        ("contacts", {"fmt": "excel"}, "unknown people format 'excel'"),
        ("contacts", {"mapping": {"shoe_size": "Size"}}, "unknown field 'shoe_size'"),
    ],
)
def test_requests_that_cannot_run_are_refused(
    database: Database,
    workspace_id: uuid.UUID,
    clock: ManualClock,
    kind: imports.ImportKind,
    options: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(imports.ImportFileError, match=message):
        run(database, workspace_id, clock, kind, csv_bytes([{"Name": "Ada"}]), **options)


def test_parse_mapping() -> None:
    assert imports.parse_mapping(["email = E-Mail Adresse", "", " organisation=Firma "]) == {
        "email": "E-Mail Adresse",
        "organisation": "Firma",
    }
    for bad in (["email"], ["=Col"], ["email="], ["email=A", "email=B"]):
        with pytest.raises(imports.ImportFileError):
            imports.parse_mapping(bad)


def test_a_column_mapping_reads_unusual_headers(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    data = b"Wer,Post,Bei\nAda Example,ada@example.com,Acme\n"
    mapping = {"full_name": "Wer", "email": "Post", "organisation": "Bei"}
    summary = run(database, workspace_id, clock, "contacts", data, mapping=mapping)
    assert summary.created == 1
    [ada] = contacts(database, workspace_id)
    assert (ada.email, ada.organisation) == ("ada@example.com", "Acme")


# --------------------------------------------------------------------------- accounts, intel


def test_accounts_dedupe_by_normalised_name_and_keep_their_tier(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock, scoped: Session
) -> None:
    first = b"Name,Domain,Tier,Aliases\nAcme Inc.,acme.example,1,ACME\nGlobex,,3,\n"
    second = b"Name,Domain,Aliases\nACME,,Acme Corp\nGlobex Corporation,globex.example,\n"
    assert run(database, workspace_id, clock, "accounts", first).created == 2
    summary = run(database, workspace_id, clock, "accounts", second)
    assert (summary.created, summary.updated) == (0, 2)
    assert run(database, workspace_id, clock, "accounts", second).skipped == 2
    acme = scoped.scalar(select(Account).where(Account.normalised_name == "acme"))
    assert acme is not None
    assert (acme.name, acme.tier, acme.domain) == ("ACME", 1, "acme.example")
    assert acme.aliases == ["ACME", "Acme Corp"]


def test_an_account_can_be_moved_to_the_middle_tier_by_a_later_import(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock, scoped: Session
) -> None:
    run(database, workspace_id, clock, "accounts", b"Name,Tier\nInitech,1\nUmbrella,\n")
    run(database, workspace_id, clock, "accounts", b"Name,Tier\nInitech,2\n")
    tiers = dict(scoped.execute(select(Account.name, Account.tier)).all())
    assert tiers == {"Initech": 2, "Umbrella": 2}


def test_store_intel_is_idempotent_and_needs_a_known_account(
    scoped: Session, clock: ManualClock
) -> None:
    imports.store_accounts(session=scoped, records=[AccountRecord(name="Acme Inc")], clock=clock)
    notes = [
        IntelRecord("Acme", "Series B raised", noted_on=date(2026, 1, 5), category="funding"),
        IntelRecord("ACME Inc.", "New CTO", category="leadership_change"),
        IntelRecord("Nobody Ltd", "Something"),
    ]
    first = imports.store_intel(session=scoped, records=notes, clock=clock)
    second = imports.store_intel(session=scoped, records=notes, clock=clock)
    assert first.created == 2
    assert [(e.row, e.field) for e in first.errors] == [(3, "account_name")]
    assert (second.created, second.skipped) == (0, 2)
    categories = set(scoped.scalars(select(AccountIntel.category)))
    assert categories == {"funding", "leadership"}


# --------------------------------------------------------------------------- direct use


def test_store_people_in_code_counts_rows_and_entities(scoped: Session, clock: ManualClock) -> None:
    event, created = imports.get_or_create_event(session=scoped, name="  Data   Days ", clock=clock)
    assert created
    assert event.name == "Data Days"
    people = [
        PersonRecord("Ada Example", email="ada@example.com", talk_title="Keynote"),
        PersonRecord("Bert Sample", email="bert@example.com", talk_title="Keynote"),
        PersonRecord("Ada Example", email="ada@example.com", talk_title="Workshop"),
    ]
    summary = imports.store_people(
        session=scoped, records=people, source="code", clock=clock, event=event
    )
    assert (summary.created, summary.updated, summary.skipped) == (2, 1, 0)
    assert summary.counts["sessions"].created == 2
    assert summary.counts["appearances"].created == 3
    again, _ = imports.get_or_create_event(session=scoped, name="data days", clock=clock)
    assert again.id == event.id


def test_imports_never_match_rows_of_another_workspace(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    other = make_workspace(database, "rival")
    data = csv_bytes([{"Name": "Ada Example", "Email": "ada@example.com"}])
    assert run(database, workspace_id, clock, "contacts", data).created == 1
    assert run(database, other, clock, "contacts", data).created == 1
    assert len(contacts(database, workspace_id)) == len(contacts(database, other)) == 1


def test_summary_json_shape(
    database: Database, workspace_id: uuid.UUID, clock: ManualClock
) -> None:
    rows = [{"Name": "Ada Example", "Email": ""}, {"Name": "", "Email": "who@example.com"}]
    summary = run(database, workspace_id, clock, "contacts", csv_bytes(rows), "people.csv")
    out = summary.to_json()
    assert json.loads(json.dumps(out)) == out
    assert {"kind", "format", "file", "created", "updated", "skipped", "errors"} <= out.keys()
    assert (out["kind"], out["format"], out["file"], out["created"]) == (
        "contacts",
        "csv",
        "people.csv",
        1,
    )
    assert out["errors"] == [
        {"row": 3, "field": "full_name", "message": out["errors"][0]["message"]}
    ]
    with workspace_session(database.session_factory, workspace_id) as session:
        runs = imports.list_runs(session=session)
        assert runs.total == 1
        [recorded] = runs.items
        assert recorded.id == summary.run_id
        assert (recorded.status, recorded.created_count, recorded.error_count) == (
            "completed",
            1,
            1,
        )
        assert recorded.errors == out["errors"]
