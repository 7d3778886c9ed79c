"""Claiming rows for work: one conditional UPDATE, SKIP LOCKED on PostgreSQL.

A claimed row records who holds it and until when; a row whose lease ran out is found
again by the sweep. The same helper serves every kind of work row.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select

from commandcentre.db import engine
from commandcentre.db.scoping import SYSTEM_KEY, WORKSPACE_KEY, bind_workspace

log = logging.getLogger(__name__)
DEADLOCK_RETRIES = 3
T = TypeVar("T")
Row = TypeVar("Row")


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
    return bool(hold_all(session, model, [row_id], conditions=conditions))


def hold_all(
    session: Session,
    model: type[Row],
    row_ids: Sequence[uuid.UUID],
    *,
    conditions: Sequence[ColumnElement[bool]],
) -> list[Row]:
    """``hold`` for a batch: lock the rows still ours and load them, one UPDATE … RETURNING."""
    if not row_ids:
        return []
    return list(session.scalars(_hold(model, row_ids, conditions).returning(model)))


def hold_columns(
    session: Session,
    model: type[Any],
    row_ids: Sequence[uuid.UUID],
    *,
    conditions: Sequence[ColumnElement[bool]],
    columns: Sequence[Any],
) -> list[Any]:
    """``hold_all`` reading only ``columns`` of the rows (tuples, not loaded objects)."""
    if not row_ids:
        return []
    return list(session.execute(_hold(model, row_ids, conditions).returning(*columns)))


def _hold(
    model: type[Any], row_ids: Sequence[uuid.UUID], conditions: Sequence[ColumnElement[bool]]
) -> Any:
    table: Any = model
    return (
        update(table)
        .where(table.id.in_(row_ids), *conditions)
        # A no-op assignment: the point is the lock and the ownership check.
        .values(claimed_by=table.claimed_by)
        .execution_options(synchronize_session=False)
    )


def as_system(session: Session) -> None:
    """Unbind the session: what a batch does between workspaces (claims, counters)."""
    session.info.pop(WORKSPACE_KEY, None)
    session.info[SYSTEM_KEY] = True


def bind_to(session: Session, workspace_id: uuid.UUID) -> None:
    """Bind a worker's session to the workspace of the row it works on now."""
    session.info.pop(SYSTEM_KEY, None)
    bind_workspace(session, workspace_id)


def retrying_deadlocks(work: Callable[[], T], *, what: str) -> T:
    """Run a batch's transaction again when PostgreSQL chose it as a deadlock victim; nothing
    was committed and the claims are still ours, so running again is safe."""
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            return work()
        except OperationalError as exc:
            code = getattr(exc.orig, "sqlstate", None)
            # Deadlock detected, serialization failure.
            if attempt == DEADLOCK_RETRIES or code not in ("40P01", "40001"):
                raise
            log.info("%s deadlocked, retrying (%d)", what, attempt + 1)
    raise AssertionError("unreachable")


def backoff(
    attempts: int, *, base: float = 2.0, cap: float = 300.0, rng: random.Random | None = None
) -> timedelta:
    """Full-jitter exponential backoff: uniform(0, min(cap, base * 2**attempts)) seconds."""
    ceiling = min(cap, base * (2 ** max(0, attempts)))
    return timedelta(seconds=(rng or random).uniform(0, ceiling))


@contextmanager
def writer_turn(factory: sessionmaker[Session]) -> Iterator[None]:
    """This process's turn to write, on SQLite (``db.engine.writer_turn``)."""
    with engine.writer_turn(factory.kw.get("bind")):
        yield


@contextmanager
def worker_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for a worker's unit of work, used in this process's turn to write."""
    with writer_turn(factory), factory() as session:
        yield session


@contextmanager
def system_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A worker transaction that may touch every workspace's rows (claims, sweeps)."""
    with worker_session(factory) as session:
        session.info[SYSTEM_KEY] = True
        with session.begin():
            yield session


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
        bind_to(session, row.workspace_id)  # type: ignore[attr-defined]
        yield session, row
