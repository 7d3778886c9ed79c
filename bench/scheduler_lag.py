"""How late due follow-ups are picked up: 50,000 scheduled, 2,000 due in the same minute.

Per database (SQLite file; PostgreSQL scratch database, dropped afterwards) and per tick
interval, with the real clock:

* seeding (SQLAlchemy Core bulk inserts, not timed): one workspace with its agents, an event
  and an opportunity, 25,000 contacts each with a first message that went out five days ago
  (a draft with status ``sent`` and its ``sent`` send), and two follow-ups per contact. The
  first follow-ups of 2,000 contacts fall due spread evenly over one minute that starts a few
  seconds after seeding; the other 48,000 rows are spread over the following six weeks.
* the worker's follow-up pump, as the worker runs it: every tick (``tick_seconds``, default
  5 s) it drains ``FollowupRunner``: claim a batch of 50 due rows (``claim_due``), then the
  real ``run_one`` on each (stop checks, rules, writing the follow-up draft, activity), until
  a claim comes back empty. Wake-ups do not help here: nothing commits when a row falls due,
  so only the tick finds it. The other pumps of a tick have nothing to do in this data set
  and are not run.
* the same with a minimal stand-in for the processing (``--minimal-ticks``, default a 1 s
  tick): each claimed batch is marked executed with one UPDATE, so the lag is that of the
  claim path alone, without the backlog slow processing builds up.
* lag = when the claim that took the row committed minus its ``scheduled_at``;
  done = when its ``run_one`` committed minus ``scheduled_at``. Goal: p99 lag under 2 s.
* the plan of the claim (the exact UPDATE ``claim_due`` sends, captured from the driver while
  nothing is due yet): ``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` after ``ANALYZE`` on
  PostgreSQL. Both should search ``ix_agent_followup_schedule_due``.

Run: .venv/bin/python bench/scheduler_lag.py [--ticks 5,1] [--minimal-ticks 1] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.engine import make_url

import commandcentre.db.models  # noqa: F401  (every table mapped before the first flush)
from commandcentre.agents import claims
from commandcentre.agents.models import Agent
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.clock import SystemClock
from commandcentre.context import AppContext
from commandcentre.db import migrate
from commandcentre.db.scoping import system_session
from commandcentre.followups.execute import FollowupRunner
from commandcentre.followups.models import FollowUp
from commandcentre.intel.models import Contact, Event, Opportunity
from commandcentre.outreach.compose import approval_hash
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scheduler_lag.json"
PG_ADMIN_URL = os.environ.get(
    "COMMANDCENTRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PG_DATABASE = "cc_bench_scheduler_lag"
TOTAL = 50_000
DUE = 2_000
PER_CONTACT = 2
BATCH = 50  # Pumps.process_followups' claim size
ROUNDS = 50  # Pumps.drain's rounds per tick
LEAD = timedelta(seconds=5)  # from the end of seeding to the start of the due minute
GOAL_P99_S = 2.0


@dataclass
class Run:
    backend: str
    handling: str  # run_one | minimal
    tick_seconds: float
    seed_seconds: float
    due: int
    claimed: int
    outcomes: dict[str, int]
    ticks: int
    lag_p50_s: float
    lag_p99_s: float
    lag_max_s: float
    done_p50_s: float
    done_p99_s: float
    claim_ms_p50: float
    run_one_ms_p50: float
    plan: list[str] = field(default_factory=list)

    @property
    def within_goal(self) -> bool:
        return self.claimed == self.due and self.lag_p99_s < GOAL_P99_S


# --------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _batches(
    rows: Sequence[dict[str, Any]], size: int = 5_000
) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def make_context(url: str, data_dir: Path) -> AppContext:
    settings = Settings(
        database_url=url, data_dir=data_dir, secret_key="bench-secret", _env_file=None
    )
    return AppContext.from_settings(settings, clock=SystemClock())


# --------------------------------------------------------------------------- seeding


def seed(ctx: AppContext) -> tuple[float, datetime]:
    """Bulk-insert the data set; returns seconds taken and the start of the due minute.

    The due rows go in last, in one short insert, so their minute starts LEAD after it."""
    started = time.perf_counter()
    with system_session(ctx.session_factory) as session:
        workspace = ensure_workspace_with_agents(session=session, slug="scheduler-lag")
        workspace_id = workspace.id
        agents = {a.agent_type: a for a in session.scalars(select(Agent))}
        # Send at any hour: the rules would otherwise move rows due after business hours.
        outreach = agents["outreach"]
        outreach.config = {**outreach.config, "businessHoursOnly": False}
        agent_ids = {kind: agent.id for kind, agent in agents.items()}
    now = datetime.now(UTC)
    sent_at = now - timedelta(days=5)
    contacts = TOTAL // PER_CONTACT
    event_id, opportunity_id = uuid.uuid4(), uuid.uuid4()
    rows_contacts: list[dict[str, Any]] = []
    rows_drafts: list[dict[str, Any]] = []
    rows_sends: list[dict[str, Any]] = []
    rows_followups: list[dict[str, Any]] = []
    step = timedelta(minutes=1) / DUE
    horizon = timedelta(weeks=6)
    later = now + timedelta(minutes=10)  # the six weeks start after the due minute
    due_rows: list[dict[str, Any]] = []
    body = "Hello,\n\nWould you be open to a short meeting at Data Summit?\n\nThe Acme team"
    for i in range(contacts):
        contact_id, draft_id = uuid.uuid4(), uuid.uuid4()
        email = f"person{i}@example.com"
        subject = f"Data Summit, person {i}"
        rows_contacts.append(
            {
                "id": contact_id,
                "workspace_id": workspace_id,
                "full_name": f"Person {i}",
                "first_name": f"Person{i}",
                "name_key": f"person {i}|helix",
                "organisation": "Helix",
                "email": email,
                "outreach_status": "contacted",
            }
        )
        rows_drafts.append(
            {
                "id": draft_id,
                "workspace_id": workspace_id,
                "agent_id": agent_ids["outreach"],
                "contact_id": contact_id,
                "opportunity_id": opportunity_id,
                "recipient": email,
                "subject": subject,
                "message_body": body,
                "status": "sent",
                "writer": "templates",
                "approval_hash": approval_hash(email, subject, body),
                "approved_at": sent_at,
            }
        )
        rows_sends.append(
            {
                "workspace_id": workspace_id,
                "draft_id": draft_id,
                "agent_id": agent_ids["outreach"],
                "contact_id": contact_id,
                "recipient": email,
                "subject": subject,
                "message_id": f"<{uuid.uuid4().hex}@example.com>",
                "approval_hash": approval_hash(email, subject, body),
                "status": "sent",
                "not_before": sent_at,
                "started_at": sent_at,
                "sent_at": sent_at,
            }
        )
        for number in range(1, PER_CONTACT + 1):
            # The rest: evenly over the six weeks after the due minute.
            slot = (i * PER_CONTACT + number) / (contacts * PER_CONTACT)
            (due_rows if number == 1 and i < DUE else rows_followups).append(
                {
                    "workspace_id": workspace_id,
                    "agent_id": agent_ids["followup"],
                    "contact_id": contact_id,
                    "original_outreach_id": draft_id,
                    "followup_number": number,
                    "followup_type": "reminder" if number == 1 else "value_add",
                    "scheduled_at": later + horizon * slot,
                    "status": "scheduled",
                }
            )
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(Event),
            [
                {
                    "id": event_id,
                    "workspace_id": workspace_id,
                    "name": "Data Summit",
                    "start_date": (now + timedelta(days=60)).date(),
                    "end_date": (now + timedelta(days=61)).date(),
                    "dedupe_key": "data summit|bench",
                }
            ],
        )
        conn.execute(
            insert(Opportunity),
            [
                {
                    "id": opportunity_id,
                    "workspace_id": workspace_id,
                    "event_id": event_id,
                    "signal_score": 82.0,
                    "contact_count": contacts,
                    "first_seen_at": now,
                    "last_discovered_at": now,
                }
            ],
        )
        for model, rows in (
            (Contact, rows_contacts),
            (OutreachDraft, rows_drafts),
            (Send, rows_sends),
            (FollowUp, rows_followups),
        ):
            for batch in _batches(rows):
                conn.execute(insert(model), batch)
    due_start = datetime.now(UTC) + LEAD
    for i, row in enumerate(due_rows):
        row["scheduled_at"] = due_start + step * i
    with ctx.engine.begin() as conn:
        conn.execute(insert(FollowUp), due_rows)
    return time.perf_counter() - started, due_start


# --------------------------------------------------------------------------- plans


@contextmanager
def captured_sql(engine: Engine, needle: str) -> Iterator[list[tuple[str, Any]]]:
    """Statements (with their driver parameters) containing ``needle`` sent meanwhile."""
    seen: list[tuple[str, Any]] = []

    def listen(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if needle in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def claim_plan(ctx: AppContext) -> tuple[str, list[str]]:
    """The plan of the claim exactly as ``claim_due`` sends it (nothing is due yet)."""
    runner = FollowupRunner(ctx.session_factory, ctx.clock, "plan-probe")
    with captured_sql(ctx.engine, "UPDATE agent_followup_schedule") as seen:
        claimed = runner.claim_due(BATCH)
    assert not claimed, "nothing may be due while the plan is taken"
    statement, parameters = seen[0]
    sqlite = ctx.engine.dialect.name == "sqlite"
    with ctx.engine.begin() as conn:
        if not sqlite:
            conn.exec_driver_sql("ANALYZE")
        prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        rows = conn.exec_driver_sql(prefix + statement, parameters).all()
    if sqlite:
        # (id, parent, notused, detail): indent by depth as the sqlite3 shell does.
        depth: dict[int, int] = {0: -1}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + str(detail))
        return statement, lines
    return statement, [str(row[0]) for row in rows]


# --------------------------------------------------------------------------- the pump


@dataclass
class Observed:
    claimed_at: dict[uuid.UUID, float] = field(default_factory=dict)
    done_at: dict[uuid.UUID, float] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    claim_ms: list[float] = field(default_factory=list)
    run_ms: list[float] = field(default_factory=list)
    ticks: int = 0


def finish_minimal(ctx: AppContext, worker: str, ids: list[uuid.UUID]) -> None:
    """The least a pump could do with a claimed batch: mark it executed, release it."""
    with claims.system_transaction(ctx.session_factory) as session:
        session.execute(
            update(FollowUp)
            .where(FollowUp.id.in_(ids), FollowUp.claimed_by == worker)
            .values(
                status="executed",
                executed_at=ctx.clock.now(),
                claimed_by=None,
                lease_expires_at=None,
            )
            .execution_options(synchronize_session=False)
        )


def drain_followups(ctx: AppContext, runner: FollowupRunner, seen: Observed, handling: str) -> int:
    """``Pumps.drain(Pumps.process_followups)`` with time stamps."""
    total = 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        ids = runner.claim_due(BATCH)
        claimed_at = time.time()
        seen.claim_ms.append((time.perf_counter() - started) * 1000)
        for followup_id in ids:
            seen.claimed_at.setdefault(followup_id, claimed_at)
        if handling == "minimal":
            if ids:
                started = time.perf_counter()
                finish_minimal(ctx, runner.worker, ids)
                seen.run_ms.append((time.perf_counter() - started) * 1000 / len(ids))
                finished = time.time()
                for followup_id in ids:
                    seen.done_at[followup_id] = finished
                seen.outcomes["executed"] = seen.outcomes.get("executed", 0) + len(ids)
            total += len(ids)
            if not ids:
                break
            continue
        done = 0
        for followup_id in ids:
            started = time.perf_counter()
            outcome = runner.run_one(followup_id)
            seen.run_ms.append((time.perf_counter() - started) * 1000)
            seen.done_at[followup_id] = time.time()
            key = outcome or "lost"
            seen.outcomes[key] = seen.outcomes.get(key, 0) + 1
            if outcome not in (None, "waiting"):
                done += 1
        total += done
        if not done:
            break
    return total


def run_pump(ctx: AppContext, tick: float, until: datetime, handling: str) -> Observed:
    """Tick every ``tick`` seconds (a tick that overruns is followed at once) until ``until``
    is past and a tick found nothing."""
    runner = FollowupRunner(ctx.session_factory, ctx.clock, "bench-worker")
    seen = Observed()
    next_tick = time.monotonic()
    while True:
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_tick = max(next_tick + tick, time.monotonic())
        seen.ticks += 1
        done = drain_followups(ctx, runner, seen, handling)
        if not done and datetime.now(UTC) > until:
            return seen


def due_rows(ctx: AppContext, start: datetime, end: datetime) -> dict[uuid.UUID, datetime]:
    with system_session(ctx.session_factory) as session:
        rows = session.execute(
            select(FollowUp.id, FollowUp.scheduled_at).where(
                FollowUp.scheduled_at >= start, FollowUp.scheduled_at < end
            )
        ).all()
    return {row.id: _aware(row.scheduled_at) for row in rows}


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def bench(backend: str, url: str, tick: float, handling: str, data_dir: Path) -> tuple[Run, str]:
    migrate.upgrade(url)
    ctx = make_context(url, data_dir)
    try:
        seed_seconds, due_start = seed(ctx)
        statement, plan = claim_plan(ctx)
        due_end = due_start + timedelta(minutes=1)
        due = due_rows(ctx, due_start, due_end)
        print(
            f"[{backend}, {handling}, tick {tick:g} s] seeded {TOTAL:,} follow-ups in "
            f"{seed_seconds:.1f} s; "
            f"{len(due):,} fall due from {due_start:%H:%M:%S} to {due_end:%H:%M:%S}"
        )
        seen = run_pump(ctx, tick, due_end, handling)
        lags = [seen.claimed_at[i] - due[i].timestamp() for i in due if i in seen.claimed_at]
        dones = [seen.done_at[i] - due[i].timestamp() for i in due if i in seen.done_at]
        run = Run(
            backend=backend,
            handling=handling,
            tick_seconds=tick,
            seed_seconds=round(seed_seconds, 2),
            due=len(due),
            claimed=len(lags),
            outcomes=dict(sorted(seen.outcomes.items())),
            ticks=seen.ticks,
            lag_p50_s=round(percentile(lags, 50), 3),
            lag_p99_s=round(percentile(lags, 99), 3),
            lag_max_s=round(max(lags, default=float("nan")), 3),
            done_p50_s=round(percentile(dones, 50), 3),
            done_p99_s=round(percentile(dones, 99), 3),
            claim_ms_p50=round(percentile(seen.claim_ms, 50), 2),
            run_one_ms_p50=round(percentile(seen.run_ms, 50), 2),
            plan=plan,
        )
        return run, statement
    finally:
        ctx.close()


# --------------------------------------------------------------------------- backends


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextmanager
def scratch_postgres() -> Iterator[str]:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=PG_DATABASE).render_as_string(False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')


def bench_backend(backend: str, tick: float, handling: str) -> tuple[Run, str]:
    directory = Path(tempfile.mkdtemp(prefix="cc-bench-lag-"))
    try:
        if backend == "sqlite":
            url = f"sqlite:///{directory / 'bench.sqlite'}"
            return bench(backend, url, tick, handling, directory)
        with scratch_postgres() as url:
            return bench(backend, url, tick, handling, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --------------------------------------------------------------------------- report


def print_table(runs: Sequence[Run]) -> None:
    header = (
        f"{'database':<10} {'handling':<8} {'tick s':>6} {'due':>6} {'claimed':>7} {'lag p50':>8} "
        f"{'lag p99':>8} {'lag max':>8} {'done p99':>8} {'claim ms':>8} {'run_one ms':>10}  "
        "outcomes"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        outcomes = ", ".join(f"{k} {v}" for k, v in r.outcomes.items())
        print(
            f"{r.backend:<10} {r.handling:<8} {r.tick_seconds:>6g} {r.due:>6,} {r.claimed:>7,} "
            f"{r.lag_p50_s:>7.2f}s {r.lag_p99_s:>7.2f}s {r.lag_max_s:>7.2f}s "
            f"{r.done_p99_s:>7.2f}s {r.claim_ms_p50:>8.1f} {r.run_one_ms_p50:>10.1f}  {outcomes}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--ticks",
        default="5,1",
        help="Tick intervals to try, in seconds (5 is the default tick_seconds).",
    )
    parser.add_argument(
        "--minimal-ticks",
        default="1",
        help="Tick intervals for runs whose processing is a minimal stand-in ('' = none).",
    )
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only.")
    args = parser.parse_args(argv)
    ticks = [float(t) for t in args.ticks.split(",") if t.strip()]
    minimal_ticks = [float(t) for t in args.minimal_ticks.split(",") if t.strip()]
    load_average = [round(value, 2) for value in os.getloadavg()]
    backends = ["sqlite"]
    if not args.no_postgres and postgres_reachable():
        backends.append("postgresql")
    elif not args.no_postgres:
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}; SQLite only.")

    runs: list[Run] = []
    statements: dict[str, str] = {}
    for backend in backends:
        runs_of = [("run_one", tick) for tick in ticks]
        runs_of += [("minimal", tick) for tick in minimal_ticks]
        for handling, tick in runs_of:
            run, statement = bench_backend(backend, tick, handling)
            runs.append(run)
            statements[backend] = statement
    print()
    print_table(runs)
    for backend in backends:
        plan = next(r.plan for r in runs if r.backend == backend)
        label = "EXPLAIN QUERY PLAN" if backend == "sqlite" else "EXPLAIN (after ANALYZE)"
        print(f"\n{backend} {label} of the claim:")
        for line in plan:
            print(f"  {line}")
    uses_index = {
        backend: any(
            "ix_agent_followup_schedule_due" in line
            for line in next(r.plan for r in runs if r.backend == backend)
        )
        for backend in backends
    }
    print(f"\nThe claim searches ix_agent_followup_schedule_due: {uses_index}")
    print(
        "Handling: run_one = the real FollowupRunner.run_one on every claimed row; minimal = "
        "one UPDATE per claimed batch marking it executed (the claim path alone). "
        f"Two shared CPU cores; load average at start {load_average}."
    )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "rows": TOTAL,
        "due_in_one_minute": DUE,
        "claim_batch": BATCH,
        "goal_lag_p99_seconds": GOAL_P99_S,
        "handling": {
            "run_one": "the real FollowupRunner.run_one on every claimed row",
            "minimal": "one UPDATE per claimed batch marking it executed",
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "note": "two CPU cores shared with other work",
        },
        "load_average_at_start": load_average,
        "runs": [{**asdict(r), "within_goal": r.within_goal} for r in runs],
        "claim_statement": statements,
        "uses_due_index": uses_index,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
