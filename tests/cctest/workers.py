"""Real `commandcentre worker` processes for crash tests, and databases they can reach.

Each worker runs with its own data directory (and so its own SQLite job queue unless a
shared one is set) and logs to a file the test can show on failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from cctest import databases
from cctest.services import PG_ADMIN_URL, postgres_available, require
from commandcentre.db import migrate

LEASE_SECONDS = 2.0
TICK_SECONDS = 0.5


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def _pg_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_template() -> Iterator[str | None]:
    """One migrated database per module; each test gets a copy of it (much faster)."""
    if not postgres_available():
        yield None
        return
    name = f"cc_rel_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate.upgrade(_pg_url(name))
        yield name
    finally:
        _drop_pg(name)


@pytest.fixture
def pg_scratch(pg_template: str | None) -> Iterator[str]:
    """A private PostgreSQL database, so worker processes never touch the shared test DB."""
    require("postgres", pg_template is not None)
    name = f"cc_rel_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _pg_url(name)
    finally:
        _drop_pg(name)


@pytest.fixture
def scratch_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> Iterator[str]:
    """A migrated database on the backend named by the test's `backend` parameter."""
    if request.param == "sqlite":
        db = databases.sqlite_database(sqlite_template, tmp_path)
        db.dispose()
        yield db.url
    else:
        yield request.getfixturevalue("pg_scratch")


def worker_command(database_url: str) -> list[str]:
    script = Path(sys.executable).with_name("commandcentre")
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "commandcentre.cli"]
    return [*prefix, "worker", "--database-url", database_url]


class WorkerProcess:
    """`commandcentre worker` in a subprocess, logging to a file we can show on failure."""

    def __init__(
        self,
        database_url: str,
        home: Path,
        *,
        queue_url: str = "",
        threads: int = 4,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("COMMANDCENTRE_")
        }
        env.update(
            COMMANDCENTRE_DATA_DIR=str(home / "var"),
            COMMANDCENTRE_QUEUE_URL=queue_url,
            COMMANDCENTRE_LEASE_SECONDS=str(LEASE_SECONDS),
            COMMANDCENTRE_TICK_SECONDS=str(TICK_SECONDS),
            COMMANDCENTRE_WORKER_THREADS=str(threads),
            # Small batches, so that kills land between commits often enough.
            COMMANDCENTRE_TASK_BATCH="10",
            COMMANDCENTRE_SECRET_KEY="test-secret",
        )
        env.update(extra_env or {})
        with self.log_path.open("wb") as log:
            # cwd: a directory without a .env file, so only this environment counts.
            self.proc = subprocess.Popen(
                worker_command(database_url),
                cwd=home,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; returns the exit code and how long the worker took to stop."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def ensure_dead(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def spawned() -> Iterator[list[WorkerProcess]]:
    """Every worker a test starts, killed at the end whatever happened."""
    procs: list[WorkerProcess] = []
    yield procs
    for proc in procs:
        proc.ensure_dead()
