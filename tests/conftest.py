"""Fixtures shared by every test: databases on SQLite and PostgreSQL, app, personas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cctest import databases, dovecot
from cctest.personas import World, make_world
from cctest.services import PG_ADMIN_URL, postgres_available, require
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.llm import limits, window
from commandcentre.settings import Settings
from commandcentre.web.app import create_app
from commandcentre.workspaces import passwords

# Worker-process fixtures (scratch databases, spawned workers) for every crash test.
pytest_plugins = ["cctest.workers"]

BACKENDS = ["sqlite", "postgres"]

# Production cost is ~0.1 s per hash; tests create hundreds of users.
passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.make_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str | None]:
    if not postgres_available():
        yield None
        return
    url = databases.create_pg_database(PG_ADMIN_URL)
    yield url
    databases.drop_pg_database(PG_ADMIN_URL, url)


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path: Path,
    pg_url: str | None,
) -> Iterator[databases.Database]:
    if request.param == "sqlite":
        db = databases.sqlite_database(sqlite_template, tmp_path)
    else:
        require("postgres", pg_url is not None)
        assert pg_url is not None
        db = databases.pg_database(pg_url)
    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def _fresh_token_blocks() -> Iterator[None]:
    """Unspent rate-limit tokens and the learnt model-call window live in the process; each
    test starts as a new worker would (every test's manual clock starts at the same instant,
    so a block would still look live)."""
    limits.forget_blocks()
    window.forget_windows()
    yield
    limits.forget_blocks()
    window.forget_windows()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def ctx(database: databases.Database, clock: ManualClock, tmp_path: Path) -> AppContext:
    settings = Settings(
        database_url=database.url,
        data_dir=tmp_path / "var",
        secret_key="test-secret",
        _env_file=None,
    )
    return AppContext(
        settings=settings,
        engine=database.engine,
        session_factory=database.session_factory,
        clock=clock,
    )


@pytest.fixture
def app(ctx: AppContext) -> FastAPI:
    return create_app(ctx)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def world(ctx: AppContext) -> World:
    return make_world(ctx)


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[dovecot.DovecotServer]:
    """A private Dovecot IMAP server, started once per session (per xdist worker)."""
    require("dovecot", dovecot.dovecot_available())
    with dovecot.running_dovecot() as server:
        yield server


@pytest.fixture
def mail_user(dovecot_server: dovecot.DovecotServer) -> dovecot.MailUser:
    """A fresh IMAP account (empty INBOX and Sent) on the test Dovecot."""
    return dovecot_server.add_user()
