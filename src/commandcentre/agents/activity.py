"""The one way agent activity is written: log entry, daily counters, agent status, live feed."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value

from commandcentre.agents.live import feed
from commandcentre.agents.models import ActivityEntry, Agent, AgentMetrics, AgentTask
from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace

METRIC_FIELDS = frozenset(
    {
        "tasks_completed",
        "tasks_failed",
        "messages_sent",
        "messages_received",
        "outreach_sent",
        "responses_received",
        "followups_scheduled",
        "followups_completed",
        "opportunities_identified",
    }
)


def record(
    *,
    session: Session,
    clock: Clock,
    agent_id: uuid.UUID | None,
    activity_type: str,
    description: str,
    details: dict[str, Any] | None = None,
    task_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    entity_type: str | None = None,
    entity_id: uuid.UUID | None = None,
    metrics: dict[str, float] | None = None,
) -> ActivityEntry | None:
    """Log it (and count it); the entry, or None when a batch writes its rows later
    (see deferred_rows)."""
    workspace_id = current_workspace(session)
    values: dict[str, Any] = {
        "id": new_id(),
        # Stamped now: a batch may write it after moving on to another workspace's rows.
        "workspace_id": workspace_id,
        "agent_id": agent_id,
        "activity_type": activity_type,
        "description": description,
        "details": details or {},
        "task_id": task_id,
        "message_id": message_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "created_at": clock.now(),
    }
    entry: ActivityEntry | None = None
    if rows_deferred(session):
        add_rows(session, ActivityEntry, [values])
    else:
        entry = ActivityEntry(**values)
        session.add(entry)
    # The agent's status is derived from its work when read (see derive_statuses), not
    # written here: every task would otherwise update the same agent row, which
    # serialises workers on PostgreSQL and doubles the statements per task.
    if agent_id is not None and metrics:
        bump_metrics(session=session, clock=clock, agent_id=agent_id, counts=metrics)
    # Wake local streams only once the change is visible to them.
    session.info.setdefault("after_commit_publish", set()).add(workspace_id)
    return entry


ROWS_KEY = "deferred_rows"


@dataclass(slots=True)
class _Rows:
    """New rows held back to be inserted together, in the order they were added."""

    added: list[tuple[type[Any], dict[str, Any]]] = field(default_factory=list)
    written: int = 0  # how many of `added` are in the database (in this transaction)
    live: set[uuid.UUID] = field(default_factory=set)


@contextmanager
def deferred_rows(session: Session) -> Iterator[None]:
    """Collect new rows (add_rows, and log entries) as plain dicts and insert each table's
    with one statement: many small handlers' rows then skip the unit of work.

    Written before any ORM query runs (like autoflush) and by write_rows, which a
    savepoint's owner calls before releasing it; rows_mark and rows_rollback forget what a
    rolled-back savepoint added, so nothing outlives the savepoint it belongs to. Inside
    another deferral, the outer one keeps and writes the rows.
    """
    if ROWS_KEY in session.info:
        yield
        return
    session.info[ROWS_KEY] = _Rows()
    try:
        yield
        write_rows(session)
    finally:
        session.info.pop(ROWS_KEY, None)


def add_rows(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (each with its id and workspace_id): later, when rows are deferred."""
    store: _Rows | None = session.info.get(ROWS_KEY)
    if store is None:
        session.flush()
        session.connection().execute(model.__table__.insert(), list(rows))
        return
    store.added.extend((model, row) for row in rows)
    store.live.update(row["id"] for row in rows)


def row_is_live(session: Session, row_id: uuid.UUID) -> bool:
    """Whether a row added in this transaction still stands (False when rows are not
    deferred)."""
    store: _Rows | None = session.info.get(ROWS_KEY)
    return store is not None and row_id in store.live


def rows_deferred(session: Session) -> bool:
    return ROWS_KEY in session.info


def rows_mark(session: Session) -> int:
    """Where a savepoint about to begin starts; the rows before it are written first, so
    that rolling it back cannot take them along."""
    store: _Rows | None = session.info.get(ROWS_KEY)
    if store is None:
        return 0
    write_rows(session)
    return len(store.added)


def rows_rollback(session: Session, mark: int) -> None:
    """Forget the rows added since the mark; their savepoint was rolled back."""
    store: _Rows | None = session.info.get(ROWS_KEY)
    if store is None:
        return
    for _model, row in store.added[mark:]:
        store.live.discard(row["id"])
    del store.added[mark:]
    store.written = min(store.written, mark)


def write_rows(session: Session) -> None:
    store: _Rows | None = session.info.get(ROWS_KEY)
    if store is None or store.written == len(store.added):
        return
    pending = store.added[store.written :]
    store.written = len(store.added)
    # The rows they refer to (messages, tasks) are written first.
    session.flush()
    by_model: dict[type[Any], list[dict[str, Any]]] = {}
    for model, row in pending:
        by_model.setdefault(model, []).append(row)
    connection = session.connection()
    # Tables that others refer to first (messages before the log entries naming them),
    # whatever order the rows were added in.
    for model in sorted(by_model, key=_insert_order):
        connection.execute(model.__table__.insert(), _same_keys(by_model[model]))


def _insert_order(model: type[Any]) -> int:
    return _table_order(model.metadata).get(model.__table__.name, 0)


@functools.cache
def _table_order(metadata: Any) -> dict[str, int]:
    return {table.name: i for i, table in enumerate(metadata.sorted_tables)}


def _same_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NULLs sent as values: rows of every shape then go in one statement."""
    keys: set[str] = set().union(*rows)
    if all(len(row) == len(keys) for row in rows):
        return rows
    return [dict.fromkeys(keys) | row for row in rows]


@event.listens_for(Session, "do_orm_execute")
def _write_rows_before_queries(state: ORMExecuteState) -> None:
    """Queries see the deferred rows, as they see pending objects by autoflush."""
    store: _Rows | None = state.session.info.get(ROWS_KEY)
    if store is not None and store.written != len(store.added):
        write_rows(state.session)


DEFERRED_KEY = "deferred_metrics"
MetricKey = tuple[uuid.UUID, uuid.UUID, date]  # workspace, agent, day


def bump_metrics(
    *, session: Session, clock: Clock, agent_id: uuid.UUID, counts: dict[str, float]
) -> None:
    """Add to today's counters: at once, or at the end of a worker's batch (see defer)."""
    unknown = set(counts) - METRIC_FIELDS - {"total_response_seconds", "response_count"}
    if unknown:
        raise ValueError(f"unknown metrics: {sorted(unknown)}")
    key: MetricKey = (current_workspace(session), agent_id, clock.now().date())
    deferred: dict[MetricKey, dict[str, float]] | None = session.info.get(DEFERRED_KEY)
    if deferred is None:
        _upsert_metrics(session=session, clock=clock, key=key, counts=counts)
        return
    totals = deferred.setdefault(key, {})
    for name, value in counts.items():
        totals[name] = totals.get(name, 0) + value


@contextmanager
def deferred_metrics(session: Session, clock: Clock) -> Iterator[None]:
    """Collect counter changes and write them once, in one global order of agents.

    A worker's batch touches each agent's daily row once instead of once per task, and
    batches never hold one agent's row while waiting for another's.
    """
    session.info[DEFERRED_KEY] = {}
    try:
        yield
        pending: dict[MetricKey, dict[str, float]] = session.info[DEFERRED_KEY]
        for key in sorted(pending, key=lambda k: (str(k[1]), k[2])):
            _upsert_metrics(session=session, clock=clock, key=key, counts=pending[key])
    finally:
        session.info.pop(DEFERRED_KEY, None)


def snapshot_metrics(session: Session) -> dict[MetricKey, dict[str, float]] | None:
    deferred = session.info.get(DEFERRED_KEY)
    return None if deferred is None else {k: dict(v) for k, v in deferred.items()}


def restore_metrics(session: Session, snapshot: dict[MetricKey, dict[str, float]] | None) -> None:
    """Undo counter changes made inside a savepoint that was rolled back."""
    if snapshot is not None:
        session.info[DEFERRED_KEY] = snapshot


def _upsert_metrics(
    *, session: Session, clock: Clock, key: MetricKey, counts: dict[str, float]
) -> None:
    """One upsert, safe when workers write at once."""
    workspace_id, agent_id, day = key
    now = clock.now()
    values: dict[str, Any] = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "agent_id": agent_id,
        "metric_date": day,
        "created_at": now,
        "updated_at": now,
        **counts,
    }
    stmt = _upsert_statement(session.get_bind().dialect.name, tuple(sorted(counts)))
    # Core statement: not filtered by the session's workspace (the row carries its own).
    session.execute(stmt, values, execution_options={"include_all_workspaces": True})


@functools.cache
def _upsert_statement(dialect: str, names: tuple[str, ...]) -> Any:
    """Built once per dialect and set of counters: building an upsert costs far more than
    running it, and the same statement object lets SQLAlchemy reuse its compiled form."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(AgentMetrics)
    return stmt.on_conflict_do_update(
        index_elements=["agent_id", "metric_date"],
        set_={
            **{name: getattr(AgentMetrics, name) + stmt.excluded[name] for name in names},
            "updated_at": stmt.excluded.updated_at,
        },
    )


def derive_status(*, session: Session, agent: Agent) -> str:
    """idle | active | waiting_approval | paused | error, from the agent's work."""
    return derive_statuses(session=session, agents=[agent])[agent.id]


def derive_statuses(*, session: Session, agents: list[Agent]) -> dict[uuid.UUID, str]:
    """Statuses of several agents from one grouped query; also set on the loaded rows
    (as committed values: reading a status is not a write)."""
    ids = [agent.id for agent in agents]
    counts: dict[tuple[uuid.UUID, str], int] = {}
    if ids:
        rows = session.execute(
            select(AgentTask.agent_id, AgentTask.status, func.count())
            .where(
                AgentTask.agent_id.in_(ids),
                AgentTask.status.in_(("pending", "in_progress", "waiting_approval")),
            )
            .group_by(AgentTask.agent_id, AgentTask.status)
        ).all()
        counts = {(agent_id, status): n for agent_id, status, n in rows}
        last_active = dict(
            session.execute(
                select(ActivityEntry.agent_id, func.max(ActivityEntry.created_at))
                .where(ActivityEntry.agent_id.in_(ids))
                .group_by(ActivityEntry.agent_id)
            ).all()
        )
        for agent in agents:
            if agent.id in last_active:
                set_committed_value(agent, "last_active_at", last_active[agent.id])
    result: dict[uuid.UUID, str] = {}
    for agent in agents:
        if agent.paused_at is not None:
            status = "paused"
        elif counts.get((agent.id, "in_progress")) or counts.get((agent.id, "pending")):
            status = "active"
        elif counts.get((agent.id, "waiting_approval")):
            status = "waiting_approval"
        else:
            status = "idle"
        set_committed_value(agent, "status", status)
        result[agent.id] = status
    return result


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    for workspace_id in session.info.pop("after_commit_publish", ()):
        feed.publish(workspace_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("after_commit_publish", None)
