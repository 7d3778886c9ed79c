"""`commandcentre import ...`: events, speakers, contacts and target accounts from files.

Exit status: 0 when the import ran (row errors are part of its summary), 2 when the file
could not be imported at all (missing, unreadable, too big, unknown format, bad --map,
no such workspace), with an `Error: ...` line on stderr. `--json` prints one JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.intel.importers import detect
from commandcentre.intel.importers.reading import format_size
from commandcentre.intel.imports import (
    ImportFileError,
    ImportKind,
    ImportSummary,
    ProgressCallback,
    import_into_workspace,
    parse_mapping,
)
from commandcentre.workspaces.models import Workspace

import_app = typer.Typer(
    help="Import events, speakers, contacts and target accounts from files.",
    no_args_is_help=True,
)

FATAL = 2
# Below this size an import takes well under a second: a progress bar would only flicker.
PROGRESS_MIN_BYTES = 200_000
SHOWN_ERRORS = 50

PathArg = Annotated[
    Path, typer.Argument(help="The file to import.", show_default=False, dir_okay=True)
]
EventOpt = Annotated[
    str | None,
    typer.Option(
        "--event",
        help="Speakers: the event they speak at (created if missing). Events: the name of "
        "the one event an .ics schedule describes. Contacts: an event they attend.",
        show_default=False,
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Which column holds a field, as field=column (repeatable), e.g. "
        "--map email='E-Mail Adresse'. Speakers and contacts only.",
        show_default=False,
    ),
]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        help="Workspace slug. Default: the only workspace, else the demo workspace.",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")
]
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Overrides COMMANDCENTRE_DATABASE_URL.", show_default=False
    ),
]


def _format_option(kind: ImportKind) -> Any:
    formats = {"events": detect.EVENT_FORMATS, "accounts": detect.ACCOUNT_FORMATS}.get(
        kind, detect.PEOPLE_FORMATS
    )
    return typer.Option(
        "--format", help=f"File format: auto (detect), {', '.join(formats)}.", show_default=True
    )


@import_app.command("events")
def import_events(
    path: PathArg,
    event: EventOpt = None,
    fmt: Annotated[str, _format_option("events")] = "auto",
    mapping: MapOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Events from tech-conferences JSON, an iCalendar (.ics) or a frab/pretalx XML schedule."""
    _run("events", path, fmt, event, mapping, workspace, as_json, database_url)


@import_app.command("speakers")
def import_speakers(
    path: PathArg,
    event: EventOpt = None,
    fmt: Annotated[str, _format_option("speakers")] = "auto",
    mapping: MapOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Speakers of an event (--event is required) from CSV, JSON, LinkedIn or HubSpot files."""
    _run("speakers", path, fmt, event, mapping, workspace, as_json, database_url)


@import_app.command("contacts")
def import_contacts(
    path: PathArg,
    event: EventOpt = None,
    fmt: Annotated[str, _format_option("contacts")] = "auto",
    mapping: MapOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Contacts from CSV, JSON, a LinkedIn Connections export or a HubSpot export."""
    _run("contacts", path, fmt, event, mapping, workspace, as_json, database_url)


@import_app.command("accounts")
def import_accounts(
    path: PathArg,
    event: EventOpt = None,
    fmt: Annotated[str, _format_option("accounts")] = "auto",
    mapping: MapOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Target accounts for the watchlist from a CSV file (name, domain, aliases, tier, ...)."""
    _run("accounts", path, fmt, event, mapping, workspace, as_json, database_url)


def _run(
    kind: ImportKind,
    path: Path,
    fmt: str,
    event: str | None,
    mapping_lines: list[str] | None,
    workspace: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    # Imported here: cli.py registers this app, so a top-level import would be circular.
    from commandcentre.cli import fail, load_settings

    settings = load_settings(database_url)
    if kind == "speakers" and not (event and event.strip()):
        raise fail("speakers are imported into an event: name it with --event NAME", FATAL)
    try:
        mapping = parse_mapping(mapping_lines or [])
        data = read_file(path, settings.import_max_bytes)
    except ImportFileError as exc:
        raise fail(str(exc), FATAL) from None
    ctx = AppContext.from_settings(settings)
    try:
        workspace_row = resolve_workspace(ctx, workspace, settings.demo_workspace)
        with _progress(len(data), quiet=as_json) as on_progress:
            summary = import_into_workspace(
                factory=ctx.session_factory,
                workspace_id=workspace_row.id,
                clock=ctx.clock,
                kind=kind,
                filename=path.name,
                data=data,
                fmt=fmt,
                event_name=event,
                mapping=mapping or None,
                max_bytes=settings.import_max_bytes,
                max_field_chars=settings.import_max_field_chars,
                on_progress=on_progress,
            )
    except ImportFileError as exc:
        raise fail(f"{path.name}: {exc}", FATAL) from None
    except SQLAlchemyError as exc:
        reason = str(exc).split("\n", 1)[0]
        raise fail(
            f"database error (is it migrated? try `commandcentre db upgrade`): {reason}"
        ) from None
    finally:
        ctx.close()
    if as_json:
        typer.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    else:
        print_summary(summary, workspace_row.slug)


def read_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; `ImportFileError` when it is missing, not a file, or too big."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImportFileError(f"no such file: {path}") from None
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ImportFileError(f"{path} is not a file")
    # Checked before reading so that a huge file is refused without loading it.
    if size > max_bytes:
        raise ImportFileError(
            f"{path.name} is {format_size(size)}; the limit is {format_size(max_bytes)} "
            "(COMMANDCENTRE_IMPORT_MAX_BYTES)"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def resolve_workspace(ctx: AppContext, slug: str | None, demo_slug: str) -> Workspace:
    """The named workspace; else the only one; else the demo workspace; else an error."""
    with system_session(ctx.session_factory) as session:
        workspaces = list(session.scalars(select(Workspace).order_by(Workspace.slug)))
    by_slug = {workspace.slug: workspace for workspace in workspaces}
    choices = ", ".join(by_slug) or "none yet (create one with `commandcentre user create`)"
    if slug:
        if slug not in by_slug:
            raise ImportFileError(f"no workspace '{slug}'; workspaces: {choices}")
        return by_slug[slug]
    if len(workspaces) == 1:
        return workspaces[0]
    if demo_slug in by_slug:
        return by_slug[demo_slug]
    raise ImportFileError(f"choose a workspace with --workspace; workspaces: {choices}")


@contextmanager
def _progress(size: int, *, quiet: bool) -> Iterator[ProgressCallback | None]:
    console = Console(stderr=True)
    if quiet or size < PROGRESS_MIN_BYTES or not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("Storing rows"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task: list[TaskID] = []

        def update(done: int, total: int) -> None:
            if not task:
                task.append(progress.add_task("rows", total=total))
            progress.update(task[0], completed=done)

        yield update


def print_summary(summary: ImportSummary, workspace_slug: str) -> None:
    # soft_wrap: summary lines stay whole for grep and logs; the error table still fits.
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"Imported {summary.kind} from [bold]{summary.filename}[/bold] "
        f"({summary.format}) into workspace '{workspace_slug}'."
    )
    console.print(
        f"  created {summary.created}, updated {summary.updated}, "
        f"skipped {summary.skipped}, row errors {len(summary.errors)}"
    )
    for name, counts in summary.counts.items():
        console.print(
            f"  {name}: {counts.created} new, {counts.updated} updated, "
            f"{counts.unchanged} unchanged"
        )
    if summary.errors:
        console.print(_error_table(summary))


def _error_table(summary: ImportSummary) -> Table:
    table = Table(title="Rows not imported as they are", title_justify="left")
    table.add_column("Row", justify="right")
    table.add_column("Field")
    table.add_column("Problem", overflow="fold")
    for error in summary.errors[:SHOWN_ERRORS]:
        table.add_row(str(error.row), error.field or "", error.message)
    hidden = len(summary.errors) - SHOWN_ERRORS
    if hidden > 0:
        table.caption = f"... and {hidden} more (use --json for all)"
    return table
