"""Pumps: each claims a batch of due rows, processes each in its own transaction, and says
how many it did. Workers run them on wake-ups and on every tick; tests step them by hand."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import delivery, tasks
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.scoping import SYSTEM_KEY, bind_workspace
from commandcentre.followups.execute import FollowupRunner
from commandcentre.outreach.dispatch import Sender
from commandcentre.planning import recommendations

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pumps:
    factory: sessionmaker[Session]
    clock: Clock
    worker: str
    # The worker's configured lease; without it tick-driven claims got the 2-minute default.
    lease: timedelta = tasks.DEFAULT_LEASE
    # Set when the worker is shutting down: claim nothing more, finish only what is held.
    stop: threading.Event = field(default_factory=threading.Event)
    # Outgoing email; None where nothing may be sent (tests of other parts, the CLI).
    sends: Sender | None = None
    # Tasks claimed and committed together: a larger batch shares the claim, the commit
    # and the counter updates among more tasks (settings.task_batch).
    task_batch: int = 10
    # Messages claimed and delivered in one transaction (settings.message_batch): the claim,
    # the handlers' look-ups and the commit cost about as much for one message as for a
    # hundred, while handling one message is cheap.
    message_batch: int = 100

    def process_followups(self, limit: int = 50) -> int:
        if self.stop.is_set():
            return 0
        runner = FollowupRunner(self.factory, self.clock, self.worker, self.lease)
        return runner.process(limit)

    def process_sends(self, limit: int | None = None) -> int:
        if self.stop.is_set() or self.sends is None:
            return 0
        batch = limit or self.sends.transport.batch
        return self.sends.process(batch) + self.sends.reconcile(batch)

    def process_tasks(self, limit: int | None = None) -> int:
        if self.stop.is_set():
            return 0
        claimed = tasks.claim_due(
            factory=self.factory,
            clock=self.clock,
            worker=self.worker,
            limit=limit or self.task_batch,
            lease=self.lease,
        )
        if not claimed:
            return 0
        prepared = tasks.prepare_batch(
            factory=self.factory,
            clock=self.clock,
            task_ids=claimed,
            worker=self.worker,
            lease=self.lease,
        )
        outcomes = tasks.process_batch(
            factory=self.factory,
            clock=self.clock,
            task_ids=claimed,
            worker=self.worker,
            prepared=prepared,
        )
        return sum(1 for outcome in outcomes if outcome is not None)

    def process_messages(self, limit: int | None = None) -> int:
        """Deliver a batch of due messages in one transaction (see delivery.deliver_batch)."""
        if self.stop.is_set():
            return 0
        claimed = delivery.claim_due(
            factory=self.factory,
            clock=self.clock,
            worker=self.worker,
            limit=limit or self.message_batch,
            lease=self.lease,
        )
        if not claimed or self.stop.is_set():
            # Unclaimed by their leases running out; delivery is idempotent.
            return 0
        statuses = delivery.deliver_batch(
            factory=self.factory, clock=self.clock, message_ids=claimed, worker=self.worker
        )
        return sum(1 for status in statuses if status)

    def sweep(self) -> int:
        """Recover expired leases and overdue requests."""
        swept = tasks.sweep_expired(factory=self.factory, clock=self.clock) + delivery.sweep(
            factory=self.factory, clock=self.clock
        )
        if self.sends is not None:
            swept += self.sends.sweep()
        return swept

    def queue_planning(self) -> int:
        """Ask each running Planning agent to analyse its workspace's new opportunities."""
        with self.factory() as session:
            session.info[SYSTEM_KEY] = True
            planners = list(
                session.execute(
                    select(Agent.id, Agent.workspace_id, Agent.config).where(
                        Agent.agent_type == "planning", Agent.paused_at.is_(None)
                    )
                ).all()
            )
        queued = 0
        for agent_id, workspace_id, config in planners:
            if not config.get("sweepNewOpportunities", True):
                continue
            with self.factory() as session:
                bind_workspace(session, workspace_id)
                with session.begin():
                    agent = session.get(Agent, agent_id)
                    if agent is not None:
                        queued += recommendations.queue_new_opportunities(
                            session=session, clock=self.clock, agent=agent
                        )
        return queued

    def tick(self) -> dict[str, int]:
        """The periodic work: recover, plan, then drain what is due."""
        result = {"swept": self.sweep(), "queued": self.queue_planning()}
        result["messages"] = self.drain(self.process_messages)
        result["tasks"] = self.drain(self.process_tasks)
        result["messages"] += self.drain(self.process_messages)
        result["followups"] = self.drain(self.process_followups)
        result["sends"] = self.drain(self.process_sends)
        return result

    def drain(self, pump: Callable[[], int], rounds: int = 50) -> int:
        total = 0
        for _ in range(rounds):
            if self.stop.is_set():
                break
            done = pump()
            total += done
            if not done:
                break
        return total
