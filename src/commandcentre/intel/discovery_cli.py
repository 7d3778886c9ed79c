"""`commandcentre discover`: run discovery for one workspace from the command line."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.errors import DomainError, InvalidInput
from commandcentre.intel.discovery import DiscoveredOpportunity, DiscoveryResult, discover
from commandcentre.workspaces.models import Workspace


def resolve_workspace(*, session: Session, slug: str | None, demo_slug: str) -> uuid.UUID:
    """The named workspace; else the only one; else the demo workspace; else an error."""
    rows = session.execute(select(Workspace.slug, Workspace.id).order_by(Workspace.slug))
    workspaces = dict(rows.all())
    choices = ", ".join(workspaces) or "none yet (run `commandcentre demo` first)"
    if slug is not None:
        if slug not in workspaces:
            raise InvalidInput(f"no workspace '{slug}'; workspaces: {choices}", field="workspace")
        return workspaces[slug]
    if len(workspaces) == 1:
        return next(iter(workspaces.values()))
    if demo_slug in workspaces:
        return workspaces[demo_slug]
    hint = "pass --workspace SLUG" if workspaces else "no workspaces"
    raise InvalidInput(f"{hint}; workspaces: {choices}", field="workspace")


def _accounts_cell(opportunity: DiscoveredOpportunity) -> str:
    return ", ".join(f"{a.name} ({len(a.contacts)})" for a in opportunity.accounts)


def print_table(result: DiscoveryResult, console: Console) -> None:
    table = Table("Event", "Date", "Score", "Accounts (people)", "", show_lines=False)
    for opportunity in result.opportunities:
        table.add_row(
            opportunity.event_name,
            opportunity.start_date.isoformat() if opportunity.start_date else "-",
            f"{opportunity.signal_score:.1f}",
            _accounts_cell(opportunity),
            "new" if opportunity.is_new else "",
        )
    if result.opportunities:
        console.print(table)
    else:
        console.print("No events with target-account people found.")
    console.print(f"{result.new_count} new, {result.updated_count} updated")


def discover_command(
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            metavar="SLUG",
            help="Workspace slug. Default: the only workspace, else the demo workspace.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of a table.")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Overrides COMMANDCENTRE_DATABASE_URL.", show_default=False
        ),
    ] = None,
) -> None:
    """Match contacts to target accounts and find opportunities (events where they appear)."""
    # Imported here: the command module registers this function at import time.
    from commandcentre.cli import fail, load_settings

    settings = load_settings(database_url)
    ctx = AppContext.from_settings(settings)
    try:
        with system_session(ctx.session_factory) as session:
            workspace_id = resolve_workspace(
                session=session, slug=workspace, demo_slug=settings.demo_workspace
            )
        with workspace_session(ctx.session_factory, workspace_id) as session:
            result = discover(session=session, clock=ctx.clock)
    except DomainError as exc:
        raise fail(exc.message) from None
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print_table(result, Console())
