"""The agent runtime under failure: killed workers, lost wake-ups, expired leases, poison.

The rows are the record and Huey is only a doorbell, so whatever happens to a worker
process every task must end completed exactly once (or dead, visibly, with its error).
Side effects are counted where they land, in the same transaction as the outcome: one
`task_completed` activity row per task and the daily `tasks_completed` counters.

The process tests run the real `commandcentre worker` command in subprocesses, each with
its own data directory (and so its own SQLite job queue unless a shared one is set).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cctest import databases
from cctest.workers import LEASE_SECONDS, TICK_SECONDS, WorkerProcess, wait_for
from commandcentre.agents import tasks, wakeup
from commandcentre.agents.models import ActivityEntry, Agent, AgentMetrics, AgentTask
from commandcentre.agents.pumps import Pumps
from commandcentre.agents.worker import Worker, make_queue
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.clock import Clock, ManualClock, SystemClock
from commandcentre.context import AppContext
from commandcentre.db.engine import make_engine, make_session_factory
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.models import Event, Opportunity
from commandcentre.planning.models import PlanningRecommendation
from commandcentre.settings import Settings

AGENT_TYPES = ("planning", "outreach", "followup", "research")
# Killed workers leave claims that come back only through lease expiry; a task can be
# caught by several kills in a row, so crash tests give it room to survive them all.
CRASH_MAX_ATTEMPTS = 100


# --- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    workspace_id: uuid.UUID
    agents: dict[str, uuid.UUID]


def seed_workspace(factory: sessionmaker[Session], slug: str = "reliability") -> Seeded:
    with system_session(factory) as session:
        workspace = ensure_workspace_with_agents(session=session, slug=slug)
        agents = {
            a.agent_type: a.id
            for a in session.scalars(select(Agent).where(Agent.workspace_id == workspace.id))
        }
        return Seeded(workspace.id, agents)


def assign_pings(
    factory: sessionmaker[Session],
    clock: Clock,
    seeded: Seeded,
    count: int,
    *,
    max_attempts: int = CRASH_MAX_ATTEMPTS,
    priority: str = "medium",
) -> list[uuid.UUID]:
    """`count` ping tasks in one transaction, spread over the workspace's four agents."""
    with workspace_session(factory, seeded.workspace_id) as session:
        agents = [session.get(Agent, seeded.agents[t]) for t in AGENT_TYPES]
        ids = []
        for i in range(count):
            agent = agents[i % len(agents)]
            assert agent is not None
            task = tasks.assign(
                session=session,
                clock=clock,
                agent=agent,
                task_type="ping",
                priority=priority,
                input_data={"note": f"ping {i}"},
                max_attempts=max_attempts,
            )
            ids.append(task.id)
        return ids


def status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(AgentTask.status, func.count()).group_by(AgentTask.status))
        return {status: int(n) for status, n in rows}


def task_row(engine: Engine, task_id: uuid.UUID) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(AgentTask.__table__).where(AgentTask.id == task_id)).one()


def activity_count(engine: Engine, kind: str, task_id: uuid.UUID | None = None) -> int:
    stmt = select(func.count()).where(ActivityEntry.activity_type == kind)
    if task_id is not None:
        stmt = stmt.where(ActivityEntry.task_id == task_id)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


@dataclass(frozen=True)
class SideEffects:
    completed_tasks: int
    completed_entries: int
    tasks_with_completed_entry: int
    metric_completed: int
    metric_failed: int


def side_effects(engine: Engine) -> SideEffects:
    with engine.connect() as conn:

        def scalar(stmt: Any) -> int:
            return int(conn.execute(stmt).scalar_one() or 0)

        completed = ActivityEntry.activity_type == "task_completed"
        return SideEffects(
            completed_tasks=scalar(select(func.count()).where(AgentTask.status == "completed")),
            completed_entries=scalar(select(func.count()).where(completed)),
            tasks_with_completed_entry=scalar(
                select(func.count(ActivityEntry.task_id.distinct())).where(completed)
            ),
            metric_completed=scalar(select(func.sum(AgentMetrics.tasks_completed))),
            metric_failed=scalar(select(func.sum(AgentMetrics.tasks_failed))),
        )


def assert_exactly_once(engine: Engine, total: int) -> None:
    effects = side_effects(engine)
    assert status_counts(engine) == {"completed": total}
    # Effects commit with the outcome, so a killed attempt leaves none behind.
    assert effects == SideEffects(
        completed_tasks=total,
        completed_entries=total,
        tasks_with_completed_entry=total,
        metric_completed=total,
        metric_failed=0,
    )


# --- crash tests with real processes -------------------------------------------------------

KILLS = 20
CRASH_TASKS = 500


@pytest.mark.slow
@pytest.mark.parametrize(
    "scratch_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_sigkill_at_random_points_loses_nothing_and_doubles_nothing(
    scratch_url: str, tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    engine = make_engine(scratch_url)
    factory = make_session_factory(engine)
    seeded = seed_workspace(factory)
    assign_pings(factory, SystemClock(), seeded, CRASH_TASKS)
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    interrupted = 0

    def completed() -> int:
        return status_counts(engine).get("completed", 0)

    def working(worker: WorkerProcess, target: int) -> Callable[[], bool]:
        return lambda: (
            completed() >= target
            or worker.proc.poll() is not None
            or status_counts(engine).keys() <= {"completed"}
        )

    for kill in range(KILLS):
        # One thread: a worker commits a batch of up to 10 tasks at a time, so with more
        # threads the 20 kills would not all fit inside the 500 tasks.
        worker = WorkerProcess(scratch_url, tmp_path / "worker", threads=1)
        spawned.append(worker)
        # A random point inside real processing: a few tasks after this worker got going
        # (so it is never killed while still importing), then a random extra delay short
        # enough that 20 kills fit inside the 500 tasks (a worker does ~1 task per ms).
        target = completed() + rng.randint(1, 5)
        progressed = wait_for(working(worker, target), timeout=60, interval=0.005)
        assert progressed, f"kill {kill}: the worker made no progress\n{worker.log()}"
        assert worker.proc.poll() is None, f"the worker exited by itself\n{worker.log()}"
        time.sleep(rng.uniform(0.0, 0.005))
        worker.kill()
        with engine.connect() as conn:
            held = conn.execute(
                select(AgentTask.started_at, AgentTask.lease_expires_at).where(
                    AgentTask.status == "in_progress"
                )
            ).all()
        interrupted += bool(held)
        for started_at, expires_at in held:
            # Claims must carry the configured lease, or dead workers' tasks wait for minutes.
            assert started_at is not None
            assert expires_at is not None
            assert expires_at - started_at <= timedelta(seconds=LEASE_SECONDS)

    assert status_counts(engine).get("completed", 0) < CRASH_TASKS, "kills came too late"
    survivor = WorkerProcess(scratch_url, tmp_path / "worker")
    spawned.append(survivor)
    finished = wait_for(lambda: completed() == CRASH_TASKS, timeout=120, interval=0.1)
    code, _ = survivor.terminate()
    assert finished, f"{status_counts(engine)} (seed {seed})\n{survivor.log()}"
    assert code == 0, survivor.log()
    assert_exactly_once(engine, CRASH_TASKS)
    assert interrupted > 0, f"no kill caught claimed work (seed {seed})"
    with engine.connect() as conn:
        retried = conn.execute(select(func.count()).where(AgentTask.attempts > 1)).scalar_one()
    assert retried > 0, "no task needed a second attempt: the kills missed every claim"
    engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_two_worker_processes_on_postgres_share_work_without_doubling(
    pg_scratch: str, tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    total = 300
    engine = make_engine(pg_scratch)
    factory = make_session_factory(engine)
    seeded = seed_workspace(factory)
    settings = Settings(
        database_url=pg_scratch, queue_url=pg_scratch, data_dir=tmp_path / "var", _env_file=None
    )
    # Creating the queue's tables here first: two workers creating them at once can race.
    producer = make_queue(AppContext(settings, engine, factory, SystemClock()))
    workers = [
        WorkerProcess(pg_scratch, tmp_path / f"worker-{i}", queue_url=pg_scratch) for i in range(2)
    ]
    spawned.extend(workers)
    # Both must be consuming before the work arrives, or one could drain it alone.
    assert wait_for(
        lambda: "started" in workers[0].log() and "started" in workers[1].log(), timeout=60
    ), workers[0].log() + workers[1].log()
    claimants: set[str] = set()

    def watch() -> bool:
        with engine.connect() as conn:
            claimants.update(
                conn.scalars(select(AgentTask.claimed_by).where(AgentTask.status == "in_progress"))
            )
        return status_counts(engine).get("completed", 0) == total

    # Small batches with their wake-ups through the shared queue: the two processes'
    # threads claim at the same moments, which is what SKIP LOCKED has to get right.
    wakeup.install(producer.wake)
    try:
        for _ in range(total // 10):
            assign_pings(factory, SystemClock(), seeded, 10)
            watch()
    finally:
        wakeup.install(None)
    finished = wait_for(watch, timeout=120)
    codes = [worker.terminate()[0] for worker in workers]
    assert finished, f"{status_counts(engine)}\n{workers[0].log()}\n{workers[1].log()}"
    assert codes == [0, 0], workers[0].log() + workers[1].log()
    assert_exactly_once(engine, total)
    assert {c.split(":")[1] for c in claimants} == {str(w.pid) for w in workers}
    producer.huey.storage.close()
    engine.dispose()


@pytest.mark.slow
def test_sigterm_stops_the_worker_cleanly_with_work_in_flight(
    sqlite_template: Path, tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    db = databases.sqlite_database(sqlite_template, tmp_path)
    total = 200
    seeded = seed_workspace(db.session_factory)
    assign_pings(db.session_factory, SystemClock(), seeded, total)
    worker = WorkerProcess(db.url, tmp_path / "worker")
    spawned.append(worker)

    def in_flight() -> bool:
        counts = status_counts(db.engine)
        return counts.get("in_progress", 0) > 0 and counts.get("completed", 0) > 0

    assert wait_for(in_flight, timeout=60), worker.log()
    code, took = worker.terminate()
    assert code == 0, worker.log()
    assert took < 10, f"stopping took {took:.1f}s"
    assert "stopping gracefully" in worker.log()
    counts = status_counts(db.engine)
    assert set(counts) <= {"pending", "completed"}, counts
    with db.engine.connect() as conn:
        leftover = conn.execute(
            select(func.count()).where(
                AgentTask.claimed_by.like(f"%:{worker.pid}:%")
                | (AgentTask.status == "pending") & (AgentTask.attempts != 0)
            )
        ).scalar_one()
    # Given-back claims keep no owner and cost no attempt.
    assert leftover == 0
    effects = side_effects(db.engine)
    assert effects.completed_entries == effects.metric_completed == counts["completed"]
    db.dispose()


@pytest.mark.slow
def test_after_sigterm_the_worker_claims_no_new_work(
    sqlite_template: Path, tmp_path: Path, spawned: list[WorkerProcess]
) -> None:
    db = databases.sqlite_database(sqlite_template, tmp_path)
    seeded = seed_workspace(db.session_factory)
    assign_pings(db.session_factory, SystemClock(), seeded, 300)
    worker = WorkerProcess(db.url, tmp_path / "worker")
    spawned.append(worker)
    assert wait_for(lambda: status_counts(db.engine).get("completed", 0) > 0, timeout=60)
    signalled = SystemClock().now()
    code, _ = worker.terminate()
    assert code == 0, worker.log()
    # The batch in hand may finish; anything claimed later is new work taken on while
    # stopping (the margin covers signal delivery).
    with db.engine.connect() as conn:
        late = conn.execute(
            select(func.count()).where(AgentTask.started_at > signalled + timedelta(seconds=0.2))
        ).scalar_one()
    assert late == 0
    db.dispose()


# --- lost wake-ups: the tick finds the work ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["no_waker", "queue_flushed"])
def test_lost_wakeups_cost_at_most_two_ticks(
    loss: str, sqlite_template: Path, tmp_path: Path
) -> None:
    db = databases.sqlite_database(sqlite_template, tmp_path)
    settings = Settings(
        database_url=db.url,
        data_dir=tmp_path / "var",
        tick_seconds=TICK_SECONDS,
        lease_seconds=LEASE_SECONDS,
        worker_threads=4,
        secret_key="test-secret",
        _env_file=None,
    )
    ctx = AppContext(settings, db.engine, db.session_factory, SystemClock())
    seeded = seed_workspace(ctx.session_factory)
    count = 12
    worker = Worker(ctx)
    worker.start()
    try:
        # Let the first tick pass so the work below is all that is left to find.
        time.sleep(TICK_SECONDS)
        if loss == "no_waker":
            wakeup.install(None)
        else:

            def wake_then_lose(kind: str) -> None:
                # The queue storage is wiped right after the wake-up went in (a restarted
                # Redis without persistence): the pump claims at most 10 even if it ran.
                worker.queue.wake(kind)
                worker.queue.huey.flush()

            wakeup.install(wake_then_lose)
        assign_pings(ctx.session_factory, ctx.clock, seeded, count)
        committed = time.monotonic()
        done = wait_for(
            lambda: status_counts(db.engine).get("completed", 0) == count,
            timeout=10,
            interval=0.01,
        )
        elapsed = time.monotonic() - committed
    finally:
        worker.stop()
    assert done, status_counts(db.engine)
    # One tick interval to the next tick, the rest for claiming and running the pings.
    assert elapsed <= 2 * TICK_SECONDS + 0.5, f"took {elapsed:.2f}s"
    assert_exactly_once(db.engine, count)
    db.dispose()


# --- stepped by hand with a ManualClock, on both backends ---------------------------------


def add_opportunity(ctx: AppContext, seeded: Seeded, explanation: Any) -> uuid.UUID:
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        event = Event(
            name="Robotics Expo",
            start_date=now.date() + timedelta(days=40),
            dedupe_key=f"robotics expo|{now.date()}",
        )
        session.add(event)
        session.flush()
        opportunity = Opportunity(
            event_id=event.id,
            signal_score=75.0,
            score_explanation=explanation,
            first_seen_at=now,
            last_discovered_at=now,
        )
        session.add(opportunity)
        session.flush()
        return opportunity.id


def test_a_poison_task_dies_after_its_attempts_while_other_work_completes(
    ctx: AppContext, clock: ManualClock
) -> None:
    seeded = seed_workspace(ctx.session_factory)
    # A corrupt row the Planning analysis cannot read: the explanation must be an object.
    opportunity_id = add_opportunity(ctx, seeded, ["not", "an", "object"])
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        planning = session.get(Agent, seeded.agents["planning"])
        assert planning is not None
        poison = tasks.assign(
            session=session,
            clock=clock,
            agent=planning,
            task_type="analyze_opportunity",
            priority="urgent",
            input_data={"opportunityId": str(opportunity_id)},
            max_attempts=3,
        ).id
    pings = assign_pings(ctx.session_factory, clock, seeded, 20, max_attempts=3)
    pumps = Pumps(ctx.session_factory, clock, "worker-a")
    statuses = []
    for _ in range(6):
        pumps.drain(pumps.process_tasks)
        statuses.append(task_row(ctx.engine, poison).status)
        # Past any backoff (capped at 300 s), so the next round may retry.
        clock.advance(timedelta(minutes=6))
    assert statuses[:3] == ["pending", "pending", "dead"]
    row = task_row(ctx.engine, poison)
    assert row.attempts == 3
    assert row.last_error.startswith("AttributeError")
    assert row.error_message == row.last_error
    assert row.claimed_by is None
    assert row.completed_at is not None
    assert activity_count(ctx.engine, "task_retry", poison) == 2
    assert activity_count(ctx.engine, "task_dead", poison) == 1
    with ctx.engine.connect() as conn:
        details = conn.execute(
            select(ActivityEntry.details).where(
                ActivityEntry.task_id == poison, ActivityEntry.activity_type == "task_dead"
            )
        ).scalar_one()
    # The trace of the failure itself, kept although outcomes are written after the batch ran.
    assert details["error"] == row.last_error
    assert "Traceback" in details["trace"]
    assert "AttributeError" in details["trace"]
    # Each failed attempt rolled back everything the handler wrote.
    assert activity_count(ctx.engine, "task_completed", poison) == 0
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count(PlanningRecommendation.id))).scalar_one() == 0
        failed = conn.execute(
            select(func.sum(AgentMetrics.tasks_failed)).where(
                AgentMetrics.agent_id == seeded.agents["planning"]
            )
        ).scalar_one()
    assert failed == 1
    assert {task_row(ctx.engine, t).status for t in pings} == {"completed"}
    effects = side_effects(ctx.engine)
    assert effects.completed_entries == effects.metric_completed == 20


def test_an_expired_lease_returns_the_task_and_another_worker_completes_it(
    ctx: AppContext, clock: ManualClock
) -> None:
    seeded = seed_workspace(ctx.session_factory)
    [task_id] = assign_pings(ctx.session_factory, clock, seeded, 1, max_attempts=3)
    lease = timedelta(seconds=30)
    claimed = tasks.claim_due(
        factory=ctx.session_factory, clock=clock, worker="doomed", lease=lease
    )
    assert claimed == [task_id]
    # The claimant dies here: it never processes what it claimed.
    survivor = Pumps(ctx.session_factory, clock, "survivor", lease=lease)
    assert survivor.process_tasks() == 0
    clock.advance(timedelta(seconds=29))
    assert survivor.sweep() == 0
    clock.advance(timedelta(seconds=2))
    assert survivor.sweep() == 1
    row = task_row(ctx.engine, task_id)
    assert (row.status, row.claimed_by, row.lease_expires_at) == ("pending", None, None)
    assert row.attempts == 1
    assert row.last_error == "worker lease expired"
    assert survivor.process_tasks() == 1
    row = task_row(ctx.engine, task_id)
    assert (row.status, row.attempts) == ("completed", 2)
    # The first claimant comes back to life: its claim is gone, so it does nothing.
    assert (
        tasks.process(factory=ctx.session_factory, clock=clock, task_id=task_id, worker="doomed")
        is None
    )
    assert_exactly_once(ctx.engine, 1)


def test_a_lease_that_expires_on_the_last_attempt_makes_the_task_dead(
    ctx: AppContext, clock: ManualClock
) -> None:
    seeded = seed_workspace(ctx.session_factory)
    [task_id] = assign_pings(ctx.session_factory, clock, seeded, 1, max_attempts=1)
    tasks.claim_due(
        factory=ctx.session_factory, clock=clock, worker="doomed", lease=timedelta(seconds=30)
    )
    clock.advance(timedelta(seconds=31))
    survivor = Pumps(ctx.session_factory, clock, "survivor")
    assert survivor.sweep() == 1
    row = task_row(ctx.engine, task_id)
    assert (row.status, row.claimed_by, row.attempts) == ("dead", None, 1)
    assert row.error_message == "worker lease expired on the last attempt"
    assert row.completed_at is not None
    assert survivor.process_tasks() == 0
    assert side_effects(ctx.engine).completed_entries == 0


def test_tasks_are_claimed_most_urgent_first_then_oldest(
    ctx: AppContext, clock: ManualClock
) -> None:
    seeded = seed_workspace(ctx.session_factory)
    order = ["low", "medium", "urgent", "high", "low", "urgent", "medium", "high"]
    ids = []
    for priority in order:
        ids += assign_pings(ctx.session_factory, clock, seeded, 1, priority=priority)
        clock.advance(timedelta(seconds=1))
    rank = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
    expected = [ids[i] for i in sorted(range(len(order)), key=lambda i: (rank[order[i]], i))]

    def claim(limit: int) -> list[uuid.UUID]:
        return tasks.claim_due(factory=ctx.session_factory, clock=clock, worker="w", limit=limit)

    # A batch takes the most urgent rows; one at a time shows the exact order.
    assert set(claim(3)) == set(expected[:3])
    claimed = [claim(1) for _ in expected[3:]]
    assert claimed == [[task_id] for task_id in expected[3:]]
    assert claim(1) == []
