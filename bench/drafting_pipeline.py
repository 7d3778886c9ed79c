"""Drafting throughput of the Outreach agent against a slow, rate-limited model provider.

One `draft_outreach` task for an opportunity with N reachable contacts (default 500) runs
through the real task pump, with the model writer pointed at a local server that speaks the
OpenAI wire format, answers every request after a fixed latency (default 300 ms) and enforces
its own rate limit (a token bucket of 20 requests/s, refusing the excess with 429 and
`Retry-After`). The writer is configured with the same limit (`llm_requests_per_second`) and
the default concurrency (`llm_concurrency`).

Nothing can beat max(N * latency / concurrency, N / rate): the first term if latency binds,
the second if the rate does. The goal is a wall time within 15% of that bound, with no 429s
(the shared limit keeps us under the provider's), every draft written by the model and one
usage-ledger row per call.

One run per database: a SQLite file (the embedded default, where limit updates ride in the
task's transaction), and PostgreSQL when reachable (a scratch database, dropped afterwards,
where each limit update is its own short transaction).

Run: .venv/bin/python bench/drafting_pipeline.py [--drafts 500] [--latency 0.3] [--rate 20]
     [--concurrency 8] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the local model server lives with the test helpers

import commandcentre.db.models  # noqa: E402, F401  (every table mapped before the first flush)
from cctest.model_server import Answer, ModelServer, Recorded, grounded  # noqa: E402
from commandcentre.agents import bus, tasks  # noqa: E402
from commandcentre.agents.models import AgentTask  # noqa: E402
from commandcentre.agents.pumps import Pumps  # noqa: E402
from commandcentre.bootstrap import ensure_workspace_with_agents  # noqa: E402
from commandcentre.context import AppContext  # noqa: E402
from commandcentre.db import migrate  # noqa: E402
from commandcentre.db.scoping import system_session, workspace_session  # noqa: E402
from commandcentre.intel.models import (  # noqa: E402
    Account,
    Contact,
    Event,
    Opportunity,
    OpportunityContact,
)
from commandcentre.llm.models import LlmUsage  # noqa: E402
from commandcentre.outreach.models import OutreachDraft  # noqa: E402
from commandcentre.settings import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "drafting_pipeline.json"
PG_ADMIN_URL = os.environ.get(
    "COMMANDCENTRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
GOAL = 1.15


class RateLimitedResponder:
    """The provider's own limit: a token bucket; the excess gets 429 with Retry-After."""

    def __init__(self, rate: float, latency: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()
        self.refused = 0
        self._lock = threading.Lock()
        self._answer = grounded(delay=latency)

    def __call__(self, recorded: Recorded) -> Answer:
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1.0:
                self.refused += 1
                return Answer(
                    status=429,
                    body={"error": {"message": "Rate limit reached", "type": "requests"}},
                    headers={"Retry-After": "1"},
                )
            self.tokens -= 1.0
        return self._answer(recorded)


@dataclass
class Run:
    database: str
    drafts: int
    latency_s: float
    rate_per_s: float
    concurrency: int
    bound_s: float
    wall_s: float
    ratio: float
    drafts_per_s: float
    model_drafts: int
    ledger_rows: int
    requests: int
    refused_429: int
    max_in_flight: int
    task_status: str


def seed(ctx: AppContext, people: int) -> tuple[uuid.UUID, uuid.UUID]:
    with system_session(ctx.session_factory) as session:
        workspace_id = ensure_workspace_with_agents(session=session, slug="bench-drafting").id
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, workspace_id) as session:
        event = Event(
            name="Data Summit",
            city="Berlin",
            start_date=now.date() + timedelta(days=30),
            dedupe_key="data summit|bench",
        )
        account = Account(name="Helix Robotics", normalised_name="helix robotics", tier=1)
        session.add_all([event, account])
        session.flush()
        opportunity = Opportunity(
            event_id=event.id,
            signal_score=80.0,
            account_count=1,
            contact_count=people,
            first_seen_at=now,
            last_discovered_at=now,
        )
        session.add(opportunity)
        session.flush()
        for i in range(people):
            contact = Contact(
                full_name=f"Person {i:04d}",
                first_name=f"Person{i:04d}",
                email=f"person{i}@helix.example",
                name_key=f"person {i}|helix",
                organisation="Helix",
                title="Director of Data",
                account_id=account.id,
            )
            session.add(contact)
            session.flush()
            session.add(
                OpportunityContact(
                    opportunity_id=opportunity.id, contact_id=contact.id, account_id=account.id
                )
            )
        agent = bus.agent_by_type(session=session, agent_type="outreach")
        # The bench measures the pipeline, not the budget: room for every call.
        agent.config = {**agent.config, "dailyModelCalls": None, "dailyModelTokens": None}
        agent.config = {**agent.config, "dailyModelCostUsd": None}
        task_id = tasks.assign(
            session=session,
            clock=ctx.clock,
            agent=agent,
            task_type="draft_outreach",
            input_data={"opportunityId": str(opportunity.id)},
        ).id
    return workspace_id, task_id


def run_once(url: str, label: str, args: argparse.Namespace, data_dir: Path) -> Run:
    responder = RateLimitedResponder(args.rate, args.latency)
    with ModelServer(responder) as server:
        settings = Settings(
            database_url=url,
            data_dir=data_dir,
            secret_key="bench",
            llm_provider="openai",
            llm_api_key=SecretStr("sk-bench"),
            llm_base_url=server.url + "/v1",
            llm_model="gpt-4o-mini",
            llm_requests_per_second=args.rate,
            llm_concurrency=args.concurrency,
            llm_timeout_seconds=10.0,
            _env_file=None,
        )
        ctx = AppContext.from_settings(settings)
        try:
            workspace_id, task_id = seed(ctx, args.drafts)
            pumps = Pumps(
                factory=ctx.session_factory,
                clock=ctx.clock,
                worker="bench",
                lease=timedelta(minutes=10),
            )
            started = time.perf_counter()
            pumps.process_tasks()
            wall = time.perf_counter() - started
            with workspace_session(ctx.session_factory, workspace_id) as session:
                task = session.get(AgentTask, task_id)
                status = task.status if task else "missing"
                model_drafts = session.scalar(
                    select(func.count(OutreachDraft.id)).where(OutreachDraft.writer != "offline")
                )
                ledger = session.scalar(select(func.count(LlmUsage.id)))
        finally:
            ctx.close()
        bound = max(args.drafts * args.latency / args.concurrency, args.drafts / args.rate)
        return Run(
            database=label,
            drafts=args.drafts,
            latency_s=args.latency,
            rate_per_s=args.rate,
            concurrency=args.concurrency,
            bound_s=round(bound, 2),
            wall_s=round(wall, 2),
            ratio=round(wall / bound, 3),
            drafts_per_s=round(args.drafts / wall, 1),
            model_drafts=int(model_drafts or 0),
            ledger_rows=int(ledger or 0),
            requests=len(server.requests),
            refused_429=responder.refused,
            max_in_flight=server.max_in_flight,
            task_status=status,
        )


def _pg_admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@contextmanager
def scratch_pg() -> Iterator[str]:
    name = f"cc_bench_drafting_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drafts", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        runs.append(run_once(url, "SQLite", args, Path(tmp) / "var"))
        if not args.no_postgres:
            if pg_available():
                with scratch_pg() as pg_url:
                    runs.append(run_once(pg_url, "PostgreSQL", args, Path(tmp) / "var-pg"))
            else:
                print(f"PostgreSQL not reachable at {PG_ADMIN_URL}; skipping its run.")

    header = (
        f"{'database':<11} {'drafts':>6} {'bound s':>8} {'wall s':>7} {'ratio':>6} "
        f"{'drafts/s':>8} {'model':>6} {'ledger':>6} {'reqs':>5} {'429s':>5} {'in flight':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        print(
            f"{r.database:<11} {r.drafts:>6} {r.bound_s:>8.2f} {r.wall_s:>7.2f} {r.ratio:>6.3f} "
            f"{r.drafts_per_s:>8.1f} {r.model_drafts:>6} {r.ledger_rows:>6} {r.requests:>5} "
            f"{r.refused_429:>5} {r.max_in_flight:>9}"
        )
    ok = all(r.ratio <= GOAL and r.task_status == "completed" for r in runs)
    print(f"goal: wall time within {GOAL - 1:.0%} of the bound: {'met' if ok else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "goal_ratio": GOAL,
                "goal_met": ok,
                "runs": [asdict(r) for r in runs],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
