"""End-to-end throughput and wake-up latency of the agent runtime, next to raw Huey.

One run per queue storage, each in the deployment it belongs to:

* SQLite queue (file in the data directory) with rows in a SQLite file: the embedded default;
* Redis queue (database 15, flushed before and after) with rows in PostgreSQL: scale-out;
* PostgreSQL queue with rows in the same PostgreSQL database: PostgreSQL-only scale-out.

Each PostgreSQL run gets its own scratch database, dropped afterwards.

For each storage, with a `commandcentre worker` subprocess running (4 consumer threads,
default tick and lease) and this process playing the web app (its commits enqueue wake-ups on
the same queue), over ping tasks spread across a workspace's four agents:

* live throughput: N tasks assigned one per transaction, each commit enqueueing a wake-up.
  Timed from the first assignment until every task is `completed` in the database (polled).
  This includes the producer's own cost (`assign` s in the table).
* drain throughput: N tasks assigned in one transaction while the agents are paused (not
  timed); then, timed, the agents are resumed and N/task_batch wake-ups enqueued (a pump
  claims task_batch tasks), until every task is completed. This is the worker's processing capacity.
* raw Huey on the same storage: a consumer subprocess with the same thread count and polling
  settings runs a task returning `i`; timed from the first of N enqueues until N results are
  stored. Ratios are runtime tasks/s over raw tasks/s; the goal is at least 1/3.
* wake-up latency, idle worker: tasks assigned one at a time at a steady rate; latency is the
  claim time stamped on the row (`started_at`, when processing starts) minus the wall-clock
  time right after the assignment committed. Raw Huey's figure is enqueue → task start.

Run: .venv/bin/python bench/runtime_throughput.py [--tasks 600] [--no-postgres] [--no-redis]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis
from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

import commandcentre.db.models  # noqa: F401  (every table mapped before the first flush)
from commandcentre.agents import services, tasks, wakeup
from commandcentre.agents.models import Agent, AgentTask
from commandcentre.agents.worker import make_queue
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.context import AppContext
from commandcentre.db import migrate
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "runtime_throughput.json"
PG_ADMIN_URL = os.environ.get(
    "COMMANDCENTRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("COMMANDCENTRE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
THREADS = 4
GOAL_RATIO = 1 / 3
RAW_QUEUE = "bench_raw"
# The runtime Worker's consumer settings, so raw Huey polls its storage the same way.
CONSUMER_OPTIONS: dict[str, Any] = {
    "workers": THREADS,
    "worker_type": "thread",
    "periodic": False,
    "initial_delay": 0.02,
    "backoff": 1.3,
    "max_delay": 0.25,
    "check_worker_health": True,
}
AGENT_TYPES = ("planning", "outreach", "followup", "research")


@dataclass(frozen=True)
class Storage:
    name: str  # sqlite | redis | postgres
    queue_url: str  # the runtime's COMMANDCENTRE_QUEUE_URL ("" = SQLite file)
    raw_target: str  # where raw Huey keeps its queue: a file path or a URL
    database_url: str
    database: str  # how the rows are stored, for the table


@dataclass
class Runtime:
    live_seconds: float
    assign_seconds: float
    drain_seconds: float
    latencies: list[float]


@dataclass
class Result:
    storage: str
    database: str
    tasks: int
    threads: int
    live_seconds: float
    live_tasks_per_s: float
    assign_seconds: float
    drain_seconds: float
    drain_tasks_per_s: float
    raw_seconds: float
    raw_tasks_per_s: float
    live_ratio: float
    drain_ratio: float
    latency_samples: int
    latency_rate_per_s: float
    runtime_latency_p50_ms: float
    runtime_latency_p99_ms: float
    raw_latency_p50_ms: float
    raw_latency_p99_ms: float


# --------------------------------------------------------------------------- helpers


def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(interval)


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    # Nearest rank: with 200 samples p99 is the second largest, not an interpolation.
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def paced(count: int, rate: float) -> Iterator[int]:
    """Yield 0..count-1 at a steady rate, on a fixed schedule (no drift)."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield i


def stop_process(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- raw Huey


def raw_huey(storage: str, target: str) -> tuple[Huey, Any, Any]:
    """The raw Huey instance on `storage` with its two tasks (same names in both processes)."""
    options: dict[str, Any] = {"store_intermediate_errors": False}
    if storage == "sqlite":
        huey: Huey = SqliteHuey(RAW_QUEUE, filename=target, **options)
    elif storage == "redis":
        huey = RedisHuey(RAW_QUEUE, url=target, blocking=True, read_timeout=1, **options)
    else:
        huey = PostgresHuey(RAW_QUEUE, dsn=target, **options)

    def echo(i: int) -> int:
        return i

    def stamp(sent: float) -> float:
        return time.time() - sent

    return huey, huey.task(name="bench_echo")(echo), huey.task(name="bench_stamp")(stamp)


def run_raw_consumer(storage: str, target: str) -> None:
    """Entry point of the raw consumer subprocess."""
    huey, _, _ = raw_huey(storage, target)
    huey.create_consumer(**CONSUMER_OPTIONS).run()


def bench_raw(storage: Storage, count: int, samples: int, rate: float) -> tuple[float, list[float]]:
    huey, echo, stamp = raw_huey(storage.name, storage.raw_target)
    huey.flush()
    consumer = subprocess.Popen(
        [sys.executable, __file__, "--raw-consumer", storage.name, storage.raw_target],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        echo(0).get(blocking=True, timeout=60)
        latencies = [
            result.get(blocking=True, timeout=30)
            for result in [stamp(time.time()) for _ in paced(samples, rate)]
        ]
        assert huey.result_count() == 0
        started = time.perf_counter()
        for i in range(count):
            echo(i)
        wait_until(lambda: huey.result_count() >= count, timeout=300)
        seconds = time.perf_counter() - started
    finally:
        stop_process(consumer)
        huey.flush()
        huey.storage.close()
    return seconds, latencies


# --------------------------------------------------------------------------- runtime


def start_worker(storage: Storage, home: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).with_name("commandcentre")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "commandcentre.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMANDCENTRE_")}
    env.update(
        COMMANDCENTRE_DATA_DIR=str(home / "var"),
        COMMANDCENTRE_QUEUE_URL=storage.queue_url,
        COMMANDCENTRE_SECRET_KEY="bench",
    )
    with (home / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [
                *command,
                "worker",
                "--threads",
                str(THREADS),
                "--database-url",
                storage.database_url,
            ],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def as_epoch(value: datetime | None) -> float:
    assert value is not None, "a completed task has its claim time"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def bench_runtime(storage: Storage, home: Path, count: int, samples: int, rate: float) -> Runtime:
    settings = Settings(
        database_url=storage.database_url,
        queue_url=storage.queue_url,
        data_dir=home / "var",
        secret_key="bench",
        _env_file=None,
    )
    ctx = AppContext.from_settings(settings)
    with system_session(ctx.session_factory) as session:
        workspace_id = ensure_workspace_with_agents(session=session, slug="bench").id
    with workspace_session(ctx.session_factory, workspace_id) as session:
        agent_ids = [
            session.scalars(select(Agent.id).where(Agent.agent_type == t)).one()
            for t in AGENT_TYPES
        ]

    def assign(first: int, how_many: int = 1) -> uuid.UUID:
        with workspace_session(ctx.session_factory, workspace_id) as session:
            agents = [session.get(Agent, agent_id) for agent_id in agent_ids]
            for i in range(first, first + how_many):
                agent = agents[i % len(agents)]
                assert agent is not None
                task = tasks.assign(session=session, clock=ctx.clock, agent=agent, task_type="ping")
            return task.id

    def set_paused(paused: bool) -> None:
        change = services.pause if paused else services.resume
        with workspace_session(ctx.session_factory, workspace_id) as session:
            for agent_id in agent_ids:
                change(session=session, clock=ctx.clock, agent_id=agent_id)

    def completed() -> int:
        with ctx.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(AgentTask.status == "completed")
                ).scalar_one()
            )

    queue = make_queue(ctx)
    wakeup.install(queue.wake)
    worker = start_worker(storage, home)
    try:
        assign(0)
        wait_until(lambda: completed() == 1, timeout=60, interval=0.02)
        expected = 1

        committed: dict[uuid.UUID, float] = {}
        for i in paced(samples, rate):
            task_id = assign(i)
            committed[task_id] = time.time()
        expected += samples
        wait_until(lambda: completed() == expected, timeout=60)
        with ctx.engine.connect() as conn:
            rows = conn.execute(
                select(AgentTask.id, AgentTask.started_at).where(AgentTask.id.in_(list(committed)))
            ).all()
        started = dict(rows)
        latencies = [as_epoch(started[t]) - committed[t] for t in committed]

        begin = time.perf_counter()
        for i in range(count):
            assign(i)
        assign_seconds = time.perf_counter() - begin
        expected += count
        wait_until(lambda: completed() == expected, timeout=600)
        live_seconds = time.perf_counter() - begin

        set_paused(True)
        assign(0, count)
        begin = time.perf_counter()
        set_paused(False)
        for _ in range(-(-count // Settings().task_batch)):
            queue.wake("tasks")
        expected += count
        wait_until(lambda: completed() == expected, timeout=600)
        drain_seconds = time.perf_counter() - begin
    finally:
        wakeup.install(None)
        stop_process(worker)
        queue.huey.storage.close()
        ctx.close()
    return Runtime(live_seconds, assign_seconds, drain_seconds, latencies)


def bench_storage(storage: Storage, count: int, samples: int, rate: float) -> Result:
    home = Path(tempfile.mkdtemp(prefix=f"cc-bench-runtime-{storage.name}-"))
    try:
        print(f"[{storage.name}] runtime: {count} tasks, {THREADS} threads ...", flush=True)
        runtime = bench_runtime(storage, home, count, samples, rate)
        print(
            f"[{storage.name}] live {runtime.live_seconds:.1f} s, "
            f"drain {runtime.drain_seconds:.1f} s; raw Huey ...",
            flush=True,
        )
        raw_seconds, raw_latencies = bench_raw(storage, count, samples, rate)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return Result(
        storage=storage.name,
        database=storage.database,
        tasks=count,
        threads=THREADS,
        live_seconds=round(runtime.live_seconds, 3),
        live_tasks_per_s=round(count / runtime.live_seconds, 1),
        assign_seconds=round(runtime.assign_seconds, 3),
        drain_seconds=round(runtime.drain_seconds, 3),
        drain_tasks_per_s=round(count / runtime.drain_seconds, 1),
        raw_seconds=round(raw_seconds, 3),
        raw_tasks_per_s=round(count / raw_seconds, 1),
        # Same N everywhere, so a ratio of rates is the inverse ratio of times.
        live_ratio=round(raw_seconds / runtime.live_seconds, 3),
        drain_ratio=round(raw_seconds / runtime.drain_seconds, 3),
        latency_samples=samples,
        latency_rate_per_s=rate,
        runtime_latency_p50_ms=round(1000 * statistics.median(runtime.latencies), 1),
        runtime_latency_p99_ms=round(1000 * percentile(runtime.latencies, 99), 1),
        raw_latency_p50_ms=round(1000 * statistics.median(raw_latencies), 1),
        raw_latency_p99_ms=round(1000 * percentile(raw_latencies, 99), 1),
    )


# --------------------------------------------------------------------------- storages


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def redis_reachable() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def scratch_postgres(template: str | None = None) -> Iterator[tuple[str, str]]:
    """A scratch database (name, url): migrated, or copied from a migrated template."""
    name = f"cc_bench_runtime_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        if template is None:
            migrate.upgrade(url)
        yield name, url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_sqlite(count: int, samples: int, rate: float) -> Result:
    directory = Path(tempfile.mkdtemp(prefix="cc-bench-runtime-sqlite-db-"))
    try:
        url = f"sqlite:///{directory / 'bench.sqlite'}"
        migrate.upgrade(url)
        storage = Storage(
            name="sqlite",
            queue_url="",
            raw_target=str(directory / "raw-queue.db"),
            database_url=url,
            database="SQLite file",
        )
        return bench_storage(storage, count, samples, rate)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def flush_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


# --------------------------------------------------------------------------- report


def print_table(results: Sequence[Result]) -> None:
    header = (
        f"{'queue':<8} {'rows in':<11} {'live/s':>7} {'assign s':>8} {'drain/s':>7} "
        f"{'raw/s':>7} {'live÷raw':>8} {'drain÷raw':>9} {'wake p50/p99 ms':>16} "
        f"{'raw p50/p99 ms':>15}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        wake = f"{r.runtime_latency_p50_ms:.1f}/{r.runtime_latency_p99_ms:.1f}"
        raw = f"{r.raw_latency_p50_ms:.1f}/{r.raw_latency_p99_ms:.1f}"
        print(
            f"{r.storage:<8} {r.database:<11} {r.live_tasks_per_s:>7.1f} "
            f"{r.assign_seconds:>8.1f} {r.drain_tasks_per_s:>7.1f} {r.raw_tasks_per_s:>7.1f} "
            f"{r.live_ratio:>8.2f} {r.drain_ratio:>9.2f} {wake:>16} {raw:>15}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=600, help="Tasks per throughput run.")
    parser.add_argument("--samples", type=int, default=200, help="Latency samples per run.")
    parser.add_argument("--rate", type=float, default=40.0, help="Latency assignments/s.")
    parser.add_argument("--no-postgres", action="store_true", help="Skip the PostgreSQL runs.")
    parser.add_argument("--no-redis", action="store_true", help="Skip the Redis run.")
    parser.add_argument(
        "--raw-consumer", nargs=2, metavar=("STORAGE", "TARGET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.raw_consumer:
        run_raw_consumer(*args.raw_consumer)
        return 0
    # Other work on the machine inflates wall times; the load average says how much.
    load_average = [round(value, 2) for value in os.getloadavg()]
    started = time.perf_counter()
    n, samples, rate = args.tasks, args.samples, args.rate

    results = [bench_sqlite(n, samples, rate)]
    use_postgres = not args.no_postgres and postgres_reachable()
    if not args.no_postgres and not use_postgres:
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}; skipping its runs.")
    use_redis = not args.no_redis and redis_reachable()
    if not args.no_redis and not use_redis:
        print(f"Redis not reachable at {REDIS_URL}; skipping its run.")
    if use_postgres:
        with scratch_postgres() as (template, _):
            if use_redis:
                flush_redis()
                try:
                    with scratch_postgres(template) as (_, url):
                        storage = Storage("redis", REDIS_URL, REDIS_URL, url, "PostgreSQL")
                        results.append(bench_storage(storage, n, samples, rate))
                finally:
                    flush_redis()
            with scratch_postgres(template) as (_, url):
                storage = Storage("postgres", url, url, url, "PostgreSQL")
                results.append(bench_storage(storage, n, samples, rate))

    print()
    print_table(results)
    within_goal = all(r.live_ratio >= GOAL_RATIO for r in results)
    report = {
        "goal_ratio": round(GOAL_RATIO, 3),
        "within_goal": within_goal,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": load_average,
        "total_seconds": round(time.perf_counter() - started, 1),
        "results": [asdict(r) for r in results],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nLive runtime at least 1/3 of raw Huey everywhere: {within_goal}. Wrote {RESULTS}")
    return 0 if within_goal else 1


if __name__ == "__main__":
    raise SystemExit(main())
