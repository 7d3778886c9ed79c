"""Long-running commands refuse a database whose schema is missing or behind, with the fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url
from typer.testing import CliRunner

from cctest.databases import Database
from cctest.services import PG_ADMIN_URL, postgres_available, require
from commandcentre.cli import app
from commandcentre.db import migrate
from commandcentre.db.engine import make_engine
from commandcentre.settings import get_settings

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    require("postgres", postgres_available())
    name = f"cc_empty_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_schema_is_current_only_after_upgrade(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert not migrate.is_current(engine)
        migrate.upgrade(empty_url)
        assert migrate.is_current(engine)
        migrate.downgrade(empty_url, "-1")
        assert not migrate.is_current(engine)  # one migration behind
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_serve_and_worker_stop_with_the_fix_on_an_unmigrated_database(
    runner: CliRunner, empty_url: str, command: list[str]
) -> None:
    result = runner.invoke(app, [*command, "--database-url", empty_url])
    assert result.exit_code == 1
    assert "run `commandcentre db upgrade`" in result.output


def test_a_migrated_database_passes_the_check(database: Database) -> None:
    assert migrate.is_current(database.engine)
