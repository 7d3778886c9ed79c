"""Claiming rows for work: one conditional UPDATE, SKIP LOCKED on PostgreSQL.

A claimed row records who holds it and until when; a row whose lease ran out is found
again by the sweep. The same helper serves every kind of work row.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from commandcentre.db.scoping import SYSTEM_KEY, bind_workspace


def claim(
    session: Session,
    model: Any,
    candidates: Select[Any],
    *,
    values: dict[str, Any],
) -> list[uuid.UUID]:
    """Claim the rows `candidates` selects (ids, ordered, limited) and set `values`."""
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    stmt = (
        update(model)
        .where(model.id.in_(candidates.scalar_subquery()))
        .values(**values)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(stmt))


def hold(
    session: Session,
    model: Any,
    row_id: uuid.UUID,
    *,
    conditions: Sequence[ColumnElement[bool]],
) -> bool:
    """Lock a claimed row for this transaction if we still own it.

    The UPDATE takes the row lock on PostgreSQL (the write lock on SQLite) before any side
    effect, so a worker whose lease was taken over finds out now, not after it acted.
    """
    result = session.execute(
        update(model)
        .where(model.id == row_id, *conditions)
        # A no-op assignment: the point is the lock and the ownership check.
        .values(claimed_by=model.claimed_by)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def backoff(
    attempts: int, *, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None
) -> timedelta:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**attempts)) seconds."""
    ceiling = min(cap, base * (2 ** max(0, attempts)))
    return timedelta(seconds=(rng or random).uniform(0, ceiling))


_SQLITE_WRITERS: dict[int, threading.Lock] = {}


@contextmanager
def worker_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for a worker's unit of work.

    SQLite has one writer at a time and makes the others sleep in growing steps while they
    wait; queueing this process's worker threads on a lock instead keeps them busy. Other
    databases lock rows, so there the session is handed out as it is.
    """
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        with factory() as session:
            yield session
        return
    lock = _SQLITE_WRITERS.setdefault(id(bind), threading.Lock())
    with lock, factory() as session:
        yield session


@contextmanager
def system_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A worker transaction that may touch every workspace's rows (claims, sweeps)."""
    with worker_session(factory) as session:
        session.info[SYSTEM_KEY] = True
        with session.begin():
            yield session


Row = TypeVar("Row")


@contextmanager
def held_in_workspace(
    factory: sessionmaker[Session],
    model: type[Row],
    row_id: uuid.UUID,
    *,
    conditions: Sequence[ColumnElement[bool]],
) -> Iterator[tuple[Session, Row] | None]:
    """One transaction holding a claimed row, bound to the row's workspace; None when the
    claim was lost, so the caller does nothing."""
    with worker_session(factory) as session, session.begin():
        session.info[SYSTEM_KEY] = True
        if not hold(session, model, row_id, conditions=conditions):
            yield None
            return
        row = session.get(model, row_id)
        assert row is not None
        del session.info[SYSTEM_KEY]
        bind_workspace(session, row.workspace_id)  # type: ignore[attr-defined]
        yield session, row
