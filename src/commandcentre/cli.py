"""The `commandcentre` command."""

from __future__ import annotations

from typing import Annotated

import typer

from commandcentre.agents.worker_cli import worker_command
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.errors import DomainError
from commandcentre.intel.commands import import_app
from commandcentre.intel.discovery_cli import discover_command
from commandcentre.settings import Settings, get_settings

app = typer.Typer(
    help="Command Centre: event intelligence turned into conversations.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="People who sign in.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(import_app, name="import")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Overrides COMMANDCENTRE_DATABASE_URL.", show_default=False
    ),
]


def load_settings(database_url: str | None) -> Settings:
    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def require_current_schema(ctx: AppContext) -> None:
    """Stop a long-running command at once, with the fix, on a database not yet migrated:
    otherwise its first query fails deep inside a request or a worker thread."""
    from commandcentre.db import migrate

    if not migrate.is_current(ctx.engine):
        ctx.close()
        raise fail(
            "the database schema is missing or out of date; run `commandcentre db upgrade` "
            "(or `commandcentre demo`, which also creates the demo workspace)"
        )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None) -> None:
    """Bring the database schema up to date."""
    from commandcentre.db import migrate

    settings = load_settings(database_url)
    migrate.upgrade(settings.database_url)
    typer.echo("Database is up to date.")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[str, typer.Option(help="At least 8 characters.")],
    workspace: Annotated[str, typer.Option(help="Workspace slug; created if missing.")],
    role: Annotated[str, typer.Option(help="owner or member.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user and add them to a workspace."""
    from commandcentre.bootstrap import ensure_workspace_with_agents
    from commandcentre.workspaces import services as ws

    ctx = AppContext.from_settings(load_settings(database_url))
    try:
        with system_session(ctx.session_factory) as session:
            ws_row = ws.get_workspace_by_slug(session=session, slug=workspace)
            created = ws_row is None
            if ws_row is None:
                ws_row = ensure_workspace_with_agents(session=session, slug=workspace)
            user = ws.create_user(session=session, email=email, password=password)
            ws.add_member(
                session=session,
                workspace=ws_row,
                user=user,
                role=role or ("owner" if created else "member"),
            )
    except DomainError as exc:
        raise fail(exc.message) from None
    finally:
        ctx.close()
    typer.echo(f"Created {user.email} in workspace '{workspace}'.")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="The user the token acts as.")],
    workspace: Annotated[str | None, typer.Option(help="Workspace slug.")] = None,
    name: Annotated[str, typer.Option(help="A label for the token.")] = "cli",
    database_url: DatabaseUrl = None,
) -> None:
    """Print a new API token (shown once)."""
    from commandcentre.workspaces import services as ws

    ctx = AppContext.from_settings(load_settings(database_url))
    try:
        with system_session(ctx.session_factory) as session:
            user = ws.get_user_by_email(session=session, email=email)
            if user is None:
                raise fail(f"no user with email {email}")
            if workspace:
                ws_row = ws.get_workspace_by_slug(session=session, slug=workspace)
                if ws_row is None:
                    raise fail(f"no workspace '{workspace}'")
            else:
                ws_row = ws.default_workspace(session=session, user=user)
            raw, _ = ws.create_api_token(session=session, user=user, workspace=ws_row, name=name)
    except DomainError as exc:
        raise fail(exc.message) from None
    finally:
        ctx.close()
    typer.echo(raw)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run the agent worker in this process (turn off when running "
            "`commandcentre worker` processes separately).",
        ),
    ] = True,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve the Command Centre (web pages and API)."""
    import uvicorn

    from commandcentre.agents import heap
    from commandcentre.web.app import create_app

    settings = load_settings(database_url)
    ctx = AppContext.from_settings(settings)
    require_current_schema(ctx)
    app = create_app(ctx, with_worker=worker)
    heap.settle(settings.llm_provider)
    # uvicorn handles SIGTERM/SIGINT and runs the app's shutdown, which stops the
    # in-process worker gracefully.
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        log_level="info",
    )


@app.command()
def demo(
    database_url: DatabaseUrl = None,
    reset: Annotated[bool, typer.Option(help="Delete and rebuild the demo workspace.")] = False,
) -> None:
    """Create the demo workspace (once) and print how to sign in."""
    from commandcentre.bootstrap import ensure_demo
    from commandcentre.db import migrate

    settings = load_settings(database_url)
    migrate.upgrade(settings.database_url)
    ctx = AppContext.from_settings(settings)
    try:
        created = ensure_demo(ctx, reset=reset)
    finally:
        ctx.close()
    state = "Created" if created else "Using existing"
    typer.echo(f"{state} demo workspace '{settings.demo_workspace}'.")
    typer.echo(f"Sign in at http://{settings.host}:{settings.port}/ with")
    typer.echo(f"  email:    {settings.demo_email}")
    typer.echo(f"  password: {settings.demo_password}")


app.command("discover")(discover_command)
app.command("worker")(worker_command)


if __name__ == "__main__":
    app()
