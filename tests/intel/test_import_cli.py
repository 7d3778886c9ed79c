"""`commandcentre import ...` in-process (CliRunner) and once as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cctest.databases import Database
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.cli import app
from commandcentre.db.scoping import system_session
from commandcentre.intel.models import Appearance, Contact, Event, ImportRun
from commandcentre.settings import get_settings

DATA = Path("/work/shared/data")
PYCONUK_ICS = DATA / "pyconuk2015" / "schedule.ics"
CONFERENCES_JSON = DATA / "conferences" / "2025" / "python.json"
LINKEDIN_CSV = DATA / "crm_formats" / "linkedin_Connections_format_example.csv"
COMMANDCENTRE = Path(sys.executable).with_name("commandcentre")
SUMMARY_KEYS = {"kind", "format", "file", "created", "updated", "skipped", "errors"}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    # Settings are cached per process; tests change them through the environment.
    monkeypatch.delenv("COMMANDCENTRE_IMPORT_MAX_BYTES", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def add_workspace(database: Database, slug: str) -> None:
    with system_session(database.session_factory) as session:
        ensure_workspace_with_agents(session=session, slug=slug)


def count(database: Database, model: Any) -> int:
    with system_session(database.session_factory) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def invoke(runner: CliRunner, database: Database, *args: str) -> Any:
    return runner.invoke(app, ["import", *args, "--database-url", database.url])


def test_events_import_prints_one_json_summary_and_is_idempotent(
    runner: CliRunner, database: Database
) -> None:
    add_workspace(database, "acme")
    args = ("events", str(PYCONUK_ICS), "--event", "PyCon UK 2015", "--json")
    first = invoke(runner, database, *args)
    second = invoke(runner, database, *args)

    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary.keys() >= SUMMARY_KEYS
    assert (summary["kind"], summary["format"], summary["file"]) == (
        "events",
        "ics",
        "schedule.ics",
    )
    assert summary["created"] == 1
    assert summary["counts"]["sessions"]["created"] > 100
    for error in summary["errors"]:
        assert set(error) == {"row", "field", "message"}
        assert isinstance(error["row"], int)
    again = json.loads(second.stdout)
    assert (again["created"], again["updated"]) == (0, 0)
    assert count(database, Event) == 1


def test_speakers_are_attached_to_the_event_named(runner: CliRunner, database: Database) -> None:
    add_workspace(database, "acme")
    result = invoke(runner, database, "speakers", str(LINKEDIN_CSV), "--event", "Data Days 2026")

    assert result.exit_code == 0, result.output
    assert "Imported speakers from linkedin_Connections_format_example.csv" in result.stdout
    assert "created 2" in result.stdout
    assert "row errors 1" in result.stdout  # the row without a name, listed with its number
    assert "│   7 │" in result.stdout
    with system_session(database.session_factory) as session:
        event = session.scalar(select(Event).where(Event.name == "Data Days 2026"))
        assert event is not None
        speakers = session.scalar(
            select(func.count()).select_from(Appearance).where(Appearance.event_id == event.id)
        )
        assert speakers == 2


def test_row_errors_do_not_fail_the_command(
    runner: CliRunner, database: Database, tmp_path: Path
) -> None:
    add_workspace(database, "acme")
    path = tmp_path / "people.csv"
    path.write_text("Name,Email,Job Title\nAda Example,ada@example.com,CTO\n,,orphan\n")
    result = invoke(runner, database, "contacts", str(path), "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert summary["created"] == 1
    assert [(e["row"], e["field"]) for e in summary["errors"]] == [(3, "full_name")]


def test_column_mapping_option(runner: CliRunner, database: Database, tmp_path: Path) -> None:
    add_workspace(database, "acme")
    path = tmp_path / "odd.csv"
    path.write_text("Wer,Post\nAda Example,ada@example.com\n")
    result = invoke(
        runner, database, "contacts", str(path), "--map", "full_name=Wer", "--map", "email=Post"
    )
    assert result.exit_code == 0, result.output
    with system_session(database.session_factory) as session:
        assert session.scalar(select(Contact.email)) == "ada@example.com"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("contacts", "/no/such/file.csv"), "no such file: /no/such/file.csv"),
        (("contacts", "/tmp"), "/tmp is not a file"),
        (("contacts", str(LINKEDIN_CSV), "--map", "email"), "should look like field=column"),
        (("contacts", str(LINKEDIN_CSV), "--map", "shoe=Size"), "unknown field 'shoe'"),
        (("contacts", str(LINKEDIN_CSV), "--format", "excel"), "unknown people format 'excel'"),
        (("events", str(LINKEDIN_CSV)), "cannot tell the format"),
        (("speakers", str(LINKEDIN_CSV)), "--event NAME"),
        (("accounts", str(CONFERENCES_JSON)), "cannot tell the format"),
        (("contacts", str(LINKEDIN_CSV), "--workspace", "nope"), "no workspace 'nope'"),
    ],
)
def test_files_that_cannot_be_imported_exit_2_with_a_clear_error(
    runner: CliRunner, database: Database, args: tuple[str, ...], message: str
) -> None:
    add_workspace(database, "acme")
    result = invoke(runner, database, *args, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert message in " ".join(result.stderr.split())
    assert count(database, Contact) == count(database, Event) == 0


def test_too_big_file_is_refused_before_reading(
    runner: CliRunner, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_workspace(database, "acme")
    monkeypatch.setenv("COMMANDCENTRE_IMPORT_MAX_BYTES", "100")
    get_settings.cache_clear()
    result = invoke(runner, database, "contacts", str(LINKEDIN_CSV))
    assert result.exit_code == 2
    assert "the limit is 100 bytes" in result.stderr
    assert count(database, Contact) == 0


def test_failed_imports_are_recorded(runner: CliRunner, database: Database, tmp_path: Path) -> None:
    add_workspace(database, "acme")
    path = tmp_path / "broken.json"
    path.write_text('[{"name": "PyCon", "startDate": "2025-01-01"')
    result = invoke(runner, database, "events", str(path), "--format", "conferences-json")
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr
    with system_session(database.session_factory) as session:
        run = session.scalar(select(ImportRun))
        assert run is not None
        assert (run.status, run.filename) == ("failed", "broken.json")
    assert count(database, Event) == 0


def test_workspace_choice(runner: CliRunner, database: Database) -> None:
    none_yet = invoke(runner, database, "contacts", str(LINKEDIN_CSV))
    assert none_yet.exit_code == 2
    assert "none yet" in none_yet.stderr

    add_workspace(database, "acme")
    add_workspace(database, "rival")
    ambiguous = invoke(runner, database, "contacts", str(LINKEDIN_CSV))
    assert ambiguous.exit_code == 2
    assert "choose a workspace with --workspace; workspaces: acme, rival" in ambiguous.stderr

    add_workspace(database, get_settings().demo_workspace)
    demo = invoke(runner, database, "contacts", str(LINKEDIN_CSV))
    assert demo.exit_code == 0, demo.output
    assert "into workspace 'demo'" in demo.stdout

    named = invoke(runner, database, "contacts", str(LINKEDIN_CSV), "--workspace", "rival")
    assert "into workspace 'rival'" in named.stdout


def test_the_installed_command_exit_codes(database: Database) -> None:
    add_workspace(database, "acme")
    database_option = ("--database-url", database.url)
    ok = subprocess.run(
        [str(COMMANDCENTRE), "import", "events", str(CONFERENCES_JSON), "--json", *database_option],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["format"] == "conferences-json"
    assert summary["created"] == len(json.loads(CONFERENCES_JSON.read_text()))

    missing = subprocess.run(
        [str(COMMANDCENTRE), "import", "speakers", "missing.csv", "--event", "X", *database_option],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr.strip() == "Error: no such file: missing.csv"
