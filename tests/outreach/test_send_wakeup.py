"""A send that is due the moment it is approved wakes a worker at once, instead of waiting
for the worker's next look for due sends."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cctest import databases
from cctest.outreach import OPEN_WINDOW, seed_drafts
from cctest.workers import wait_for
from commandcentre.agents import wakeup
from commandcentre.agents.worker import Worker
from commandcentre.clock import SystemClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.outreach import review, sending
from commandcentre.outreach.models import Send
from commandcentre.outreach.transport import outbox_dir
from commandcentre.settings import Settings


@pytest.fixture
def rung() -> Iterator[list[str]]:
    seen: list[str] = []
    wakeup.install(seen.append)
    yield seen
    wakeup.install(None)


def _approve(ctx: AppContext, config: dict[str, Any]) -> None:
    drafted = seed_drafts(ctx, 2, config={"businessHoursOnly": False, **config})
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        review.bulk_approve(session, ctx.clock, drafted.draft_ids, None)


def test_an_approval_due_at_once_rings_for_sends_after_commit(
    ctx: AppContext, rung: list[str]
) -> None:
    _approve(ctx, {"undoDelaySeconds": 0})
    assert rung.count("sends") == 1  # once per transaction, not per send


def test_an_approval_with_an_undo_delay_does_not_ring(ctx: AppContext, rung: list[str]) -> None:
    _approve(ctx, {"undoDelaySeconds": 60})
    assert "sends" not in rung  # the worker's look for due sends finds it after the delay


def test_a_send_queued_again_by_hand_rings(ctx: AppContext, rung: list[str]) -> None:
    drafted = seed_drafts(ctx, 1, config=OPEN_WINDOW, approve=True)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        send = session.scalars(select(Send)).one()
        send.status = "needs_review"
        send_id = send.id
    rung.clear()
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        sending.resolve(session, ctx.clock, send_id, "resend", None)
    assert rung == ["sends"]


@pytest.mark.slow
def test_a_running_worker_sends_at_once_what_is_due_at_approval(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = databases.sqlite_database(sqlite_template, tmp_path)
    # Looks for due work far apart: only the wake-up can explain a prompt send.
    settings = Settings(
        database_url=db.url,
        data_dir=tmp_path / "var",
        tick_seconds=60,
        due_seconds=60,
        secret_key="test-secret",
        _env_file=None,
    )
    ctx = AppContext(settings, db.engine, db.session_factory, SystemClock())
    worker = Worker(ctx)
    worker.start()
    try:
        time.sleep(0.3)  # past the worker's first look at start-up
        _approve(ctx, {"undoDelaySeconds": 0})
        approved = time.monotonic()
        outbox = outbox_dir(settings)
        sent = wait_for(
            lambda: outbox.exists() and len(list(outbox.glob("*.eml"))) == 2, timeout=10
        )
        elapsed = time.monotonic() - approved
    finally:
        worker.stop()
        db.dispose()
    assert sent
    assert elapsed < 5, f"took {elapsed:.2f}s"
