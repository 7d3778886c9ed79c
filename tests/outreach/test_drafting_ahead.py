"""Drafting ahead of the task's transaction: drafts reach the queue while the model is still
writing the rest, the database stays writable meanwhile, and a task taken away from the
worker gets nothing more from it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, insert, select, text, update

from cctest.model_server import (
    ModelServer,
    assign_drafting,
    grounded,
    model_context,
    reachable_opportunity,
)
from cctest.runtime import Seeded, pumps, run_until_idle
from commandcentre.agents import tasks
from commandcentre.agents.models import AgentTask
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.llm.models import LlmUsage
from commandcentre.llm.window import WARM_UP, model_of, shared_window
from commandcentre.outreach.models import OutreachDraft, Suppression

WAIT = 10.0


def _drafts(ctx: AppContext, seeded: Seeded) -> list[OutreachDraft]:
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        return list(s.scalars(select(OutreachDraft)))


def _task(ctx: AppContext, task_id: uuid.UUID) -> AgentTask:
    with system_session(ctx.session_factory) as s:
        task = s.get(AgentTask, task_id)
        assert task is not None
        s.expunge(task)
        return task


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@contextmanager
def _in_background(work: Callable[[], Any]) -> Iterator[list[Any]]:
    """Run ``work`` on a thread; its result (or exception) is in the list after the block."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield outcome
    finally:
        thread.join(WAIT)
        assert not thread.is_alive()


@contextmanager
def _impatient(ctx: AppContext) -> Iterator[Any]:
    """A connection that gives up on a locked SQLite database after 50 ms, not 10 s."""
    with ctx.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.execute(text("PRAGMA busy_timeout=50"))
        try:
            yield conn
        finally:
            if sqlite:
                conn.rollback()
                conn.execute(text("PRAGMA busy_timeout=10000"))


def test_drafts_reach_the_queue_while_the_model_writes_the_rest(ctx: AppContext) -> None:
    with ModelServer(grounded(delay=0.4)) as server:
        mctx = model_context(ctx, server, llm_concurrency=2)
        seeded = reachable_opportunity(mctx, people=6)
        task_id = assign_drafting(mctx, seeded)
        with _in_background(lambda: run_until_idle(mctx)) as outcome:
            _until(lambda: bool(_drafts(mctx, seeded)), "the first drafts")
            # Written and visible before the task is done with the others...
            assert _task(mctx, task_id).status == "in_progress"
            assert len(_drafts(mctx, seeded)) < 6
            # ...and no transaction is held open across the model's answers: another writer
            # gets the database at once (on SQLite it would fail after 50 ms otherwise).
            with _impatient(mctx) as conn:
                conn.execute(
                    insert(Suppression).values(
                        id=uuid.uuid4(),
                        workspace_id=seeded.workspace_id,
                        kind="email",
                        value="someone@else.example",
                        reason="manual",
                        created_at=mctx.clock.now(),
                        updated_at=mctx.clock.now(),
                    )
                )
                conn.commit()
    assert not [o for o in outcome if isinstance(o, BaseException)]
    made = _drafts(mctx, seeded)
    assert len(made) == 6
    assert len({d.contact_id for d in made}) == 6
    task = _task(mctx, task_id)
    assert task.status == "completed"
    assert task.output_data is not None
    assert sorted(task.output_data["draftIds"]) == sorted(str(d.id) for d in made)
    with workspace_session(mctx.session_factory, seeded.workspace_id) as s:
        calls = s.scalar(select(func.count(LlmUsage.id)).where(LlmUsage.task_id == task_id))
    assert calls == len(server.requests) == 6


def test_a_task_taken_away_while_drafting_gets_nothing_more(ctx: AppContext) -> None:
    with ModelServer(grounded(delay=0.3)) as server:
        mctx = model_context(ctx, server, llm_concurrency=1)
        seeded = reachable_opportunity(mctx, people=4)
        task_id = assign_drafting(mctx, seeded)
        worker = pumps(mctx)
        with _in_background(worker.process_tasks) as outcome:
            _until(lambda: bool(_drafts(mctx, seeded)), "the first draft")
            # Another worker takes the task over (its lease ran out, say).
            with system_session(mctx.session_factory) as s:
                s.execute(
                    update(AgentTask)
                    .where(AgentTask.id == task_id)
                    .values(claimed_by="another-worker")
                )
            before = len(_drafts(mctx, seeded))
        assert outcome == [0]  # no outcome recorded for a task that was lost
        assert len(_drafts(mctx, seeded)) == before < 4
        # The new owner gives up too; the task runs again and writes only the rest.
        with system_session(mctx.session_factory) as s:
            s.execute(
                update(AgentTask)
                .where(AgentTask.id == task_id)
                .values(status="pending", claimed_by=None, lease_expires_at=None)
            )
        run_until_idle(mctx)
    made = _drafts(mctx, seeded)
    assert len(made) == 4
    assert len({d.contact_id for d in made}) == 4
    assert _task(mctx, task_id).status == "completed"


def test_two_tasks_for_one_opportunity_write_to_each_person_once(ctx: AppContext) -> None:
    with ModelServer(grounded(delay=0.05)) as server:
        mctx = model_context(ctx, server, llm_concurrency=4)
        seeded = reachable_opportunity(mctx, people=3)
        first = assign_drafting(mctx, seeded)
        second = assign_drafting(mctx, seeded)
        claimed = tasks.claim_due(
            factory=mctx.session_factory, clock=mctx.clock, worker="w", limit=10
        )
        assert set(claimed) == {first, second}
        prepared = tasks.prepare_batch(
            factory=mctx.session_factory, clock=mctx.clock, task_ids=claimed, worker="w"
        )
        tasks.process_batch(
            factory=mctx.session_factory,
            clock=mctx.clock,
            task_ids=claimed,
            worker="w",
            prepared=prepared,
        )
    made = _drafts(mctx, seeded)
    assert len(made) == 3
    assert len({d.contact_id for d in made}) == 3
    assert len(server.requests) == 3
    assert {_task(mctx, t).status for t in (first, second)} == {"completed"}


def _draft_twelve(
    ctx: AppContext, *, delay: float, concurrency: int, learnt: tuple[float, float]
) -> tuple[int, float]:
    """Twelve drafts from a model answering after ``delay`` s, once the process has learnt
    calls of ``learnt`` (wall, CPU) seconds; the most calls in flight and the time taken.
    The rate never binds: only the window can keep calls back."""
    with ModelServer(grounded(delay=delay)) as server:
        mctx = model_context(ctx, server, llm_concurrency=concurrency, llm_requests_per_second=1000)
        for _ in range(WARM_UP):
            shared_window(concurrency, model_of(mctx.settings)).observe(*learnt)
        seeded = reachable_opportunity(mctx, people=12)
        assign_drafting(mctx, seeded)
        started = time.monotonic()
        run_until_idle(mctx)
        took = time.monotonic() - started
    assert len(_drafts(mctx, seeded)) == 12
    return server.max_in_flight, took


def test_a_fast_model_gets_few_calls_at_once_once_its_speed_is_known(ctx: AppContext) -> None:
    # Calls of ~4 ms, ~2 ms of them ours, learnt earlier; the 50 ms answers here make calls
    # handed to the pool together overlap at the server.
    in_flight, _ = _draft_twelve(ctx, delay=0.05, concurrency=16, learnt=(0.004, 0.002))
    assert in_flight <= 2  # not 16 threads taking turns on the interpreter lock


def test_a_slow_model_gets_the_whole_concurrency(ctx: AppContext) -> None:
    in_flight, took = _draft_twelve(ctx, delay=0.2, concurrency=6, learnt=(0.2, 0.002))
    assert in_flight == 6
    assert took < 12 * 0.2  # calls overlapped: two waves of six, not twelve in a row
