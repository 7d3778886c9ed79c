"""Creating workspaces with their agents, and the demo workspace."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents.config import validate_config
from commandcentre.agents.models import Agent
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.workspaces import services as ws
from commandcentre.workspaces.models import Workspace

DEFAULT_AGENTS: tuple[tuple[str, str], ...] = (
    ("planning", "Planning"),
    ("outreach", "Outreach"),
    ("followup", "Follow-up"),
    ("research", "Research"),
)


def ensure_agents(*, session: Session, workspace: Workspace) -> None:
    """Every workspace has one agent of each type."""
    existing = set(
        session.scalars(select(Agent.agent_type).where(Agent.workspace_id == workspace.id))
    )
    for agent_type, name in DEFAULT_AGENTS:
        if agent_type not in existing:
            session.add(
                Agent(
                    workspace_id=workspace.id,
                    agent_type=agent_type,
                    name=name,
                    config=validate_config(agent_type, {}),
                )
            )
    session.flush()


def ensure_workspace_with_agents(
    *, session: Session, slug: str, name: str | None = None
) -> Workspace:
    workspace = ws.get_workspace_by_slug(session=session, slug=slug)
    if workspace is None:
        workspace = ws.create_workspace(session=session, slug=slug, name=name)
    ensure_agents(session=session, workspace=workspace)
    return workspace


def ensure_demo(ctx: AppContext, *, reset: bool = False) -> bool:
    """Create the demo workspace with generated data; return False if it already existed."""
    from commandcentre.demo.load import load_demo_data

    settings = ctx.settings
    with system_session(ctx.session_factory) as session:
        workspace = ws.get_workspace_by_slug(session=session, slug=settings.demo_workspace)
        if workspace is not None and reset:
            session.delete(workspace)
            session.flush()
            workspace = None
        if workspace is not None:
            return False
        workspace = ensure_workspace_with_agents(
            session=session, slug=settings.demo_workspace, name="Demo workspace"
        )
        user = ws.get_user_by_email(session=session, email=settings.demo_email)
        if user is None:
            user = ws.create_user(
                session=session,
                email=settings.demo_email,
                password=settings.demo_password,
                display_name="Demo user",
            )
        ws.add_member(session=session, workspace=workspace, user=user, role="owner")
        workspace_id = workspace.id
    with workspace_session(ctx.session_factory, workspace_id) as session:
        load_demo_data(session=session, clock=ctx.clock)
    return True
