"""A session bound to one workspace can neither see nor write another's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cctest.databases import Database
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.db.scoping import ScopeViolation, system_session, workspace_session
from commandcentre.intel.models import Account


def _two_workspaces(db: Database) -> tuple[object, object]:
    with system_session(db.session_factory) as session:
        a = ensure_workspace_with_agents(session=session, slug="alpha").id
        b = ensure_workspace_with_agents(session=session, slug="beta").id
    return a, b


def test_scoped_session_sees_only_its_rows(database: Database) -> None:
    a, b = _two_workspaces(database)
    with workspace_session(database.session_factory, a) as s:  # type: ignore[arg-type]
        s.add(Account(name="Alpha Target", normalised_name="alpha target"))
    with workspace_session(database.session_factory, b) as s:  # type: ignore[arg-type]
        s.add(Account(name="Beta Target", normalised_name="beta target"))

    with workspace_session(database.session_factory, a) as s:  # type: ignore[arg-type]
        names = s.scalars(select(Account.name)).all()
        assert names == ["Alpha Target"]
        beta_id = None
    with workspace_session(database.session_factory, b) as s:  # type: ignore[arg-type]
        beta_id = s.scalars(select(Account.id)).one()
    with workspace_session(database.session_factory, a) as s:  # type: ignore[arg-type]
        assert s.get(Account, beta_id) is None


def test_writing_into_another_workspace_is_refused(database: Database) -> None:
    a, b = _two_workspaces(database)
    with pytest.raises(ScopeViolation):  # noqa: SIM117
        with workspace_session(database.session_factory, a) as s:  # type: ignore[arg-type]
            s.add(Account(name="Sneaky", normalised_name="sneaky", workspace_id=b))


def test_unbound_session_refuses_tenant_queries(database: Database) -> None:
    _two_workspaces(database)
    with database.session_factory() as s, pytest.raises(ScopeViolation):
        s.scalars(select(Account)).all()
