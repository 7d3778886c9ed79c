"""Engine and session factory for the configured database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers and one writer work at once; the busy timeout makes writers queue
    # instead of failing when the web process and a worker write together.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername == "postgresql":
        # A bare postgresql:// URL means psycopg 3, the driver this project installs.
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


_SQLITE_WRITERS: dict[int, threading.Lock] = {}
_SQLITE_WRITERS_LOCK = threading.Lock()


@contextmanager
def writer_turn(bind: Engine | Connection | None) -> Iterator[None]:
    """This process's turn to write to a SQLite database; elsewhere at once.

    SQLite has one writer at a time and makes the others sleep in growing steps (up to
    100 ms) while they wait; queueing this process's threads on a lock instead hands the
    database over the moment it is free. Other databases lock rows: nothing to wait for.
    """
    if bind is None or bind.dialect.name != "sqlite":
        yield
        return
    engine = bind.engine if isinstance(bind, Connection) else bind
    with _SQLITE_WRITERS_LOCK:
        lock = _SQLITE_WRITERS.setdefault(id(engine), threading.Lock())
    with lock:
        yield
