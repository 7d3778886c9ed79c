"""`commandcentre worker`: run agent work (tasks, messages, the periodic sweep) until stopped."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from commandcentre.context import AppContext


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Huey logs every wake-up it executes; at hundreds per second that buries our own lines.
    logging.getLogger("huey").setLevel(logging.WARNING)


def worker_command(
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            max=64,
            help="Consumer threads. Overrides COMMANDCENTRE_WORKER_THREADS.",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Overrides COMMANDCENTRE_DATABASE_URL.", show_default=False
        ),
    ] = None,
) -> None:
    """Process agent tasks and messages until SIGTERM or Ctrl-C (claimed work is handed back)."""
    # Imported here: the command module registers this function at import time.
    # Every model must be mapped before the first flush resolves foreign keys across
    # modules (activity rows point at workspaces), whatever else this process imported.
    import commandcentre.db.models  # noqa: F401
    from commandcentre.agents import heap
    from commandcentre.agents.worker import Worker
    from commandcentre.cli import load_settings, require_current_schema

    configure_logging()
    settings = load_settings(database_url)
    if threads is not None:
        settings = settings.model_copy(update={"worker_threads": threads})
    ctx = AppContext.from_settings(settings)
    require_current_schema(ctx)
    heap.settle(settings.llm_provider)
    try:
        Worker(ctx).run_until_signalled()
    finally:
        ctx.close()
