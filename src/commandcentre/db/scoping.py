"""Workspace isolation by construction.

A session bound to a workspace adds `workspace_id = :ws` to every ORM query on a
tenant table and stamps (or checks) the workspace on every row it flushes. A session
with no workspace refuses tenant queries unless it was opened as a system session
(migrations, workers, the CLI acting for a named workspace after it resolved it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from commandcentre.db.base import WorkspaceScoped

WORKSPACE_KEY = "workspace_id"
SYSTEM_KEY = "system"


class ScopeViolation(RuntimeError):
    """Raised when code tries to read or write tenant rows outside its workspace."""


def bind_workspace(session: Session, workspace_id: uuid.UUID) -> Session:
    session.info[WORKSPACE_KEY] = workspace_id
    return session


def current_workspace(session: Session) -> uuid.UUID:
    workspace_id = session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        raise ScopeViolation("this session is not bound to a workspace")
    return workspace_id  # type: ignore[no-any-return]


@event.listens_for(Session, "do_orm_execute")
def _filter_tenant_rows(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("include_all_workspaces"):
        return
    workspace_id = state.session.info.get(WORKSPACE_KEY)
    if workspace_id is None:
        if state.session.info.get(SYSTEM_KEY):
            return
        if _touches_tenant_table(state):
            raise ScopeViolation("tenant query on a session with no workspace")
        return
    state.statement = state.statement.options(
        with_loader_criteria(
            WorkspaceScoped,
            lambda cls: cls.workspace_id == workspace_id,
            include_aliases=True,
            track_closure_variables=True,
        )
    )


def _touches_tenant_table(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, WorkspaceScoped) for mapper in state.all_mappers)


@event.listens_for(Session, "before_flush")
def _stamp_tenant_rows(session: Session, _flush_context: Any, _instances: Any) -> None:
    workspace_id = session.info.get(WORKSPACE_KEY)
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, WorkspaceScoped):
            continue
        if workspace_id is None:
            if session.info.get(SYSTEM_KEY) and obj.workspace_id is not None:
                continue
            raise ScopeViolation(f"{type(obj).__name__} written without a workspace")
        if obj.workspace_id is None:
            obj.workspace_id = workspace_id
        elif obj.workspace_id != workspace_id:
            raise ScopeViolation(f"{type(obj).__name__} belongs to another workspace")


@contextmanager
def workspace_session(factory: sessionmaker[Session], workspace_id: uuid.UUID) -> Iterator[Session]:
    """A transaction bound to one workspace: commit on success, roll back on error."""
    with factory() as session:
        bind_workspace(session, workspace_id)
        with session.begin():
            yield session


@contextmanager
def system_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that may touch any workspace; for sign-in, workers and admin CLI."""
    with factory() as session:
        session.info[SYSTEM_KEY] = True
        with session.begin():
            yield session
