"""Drafting ahead of the task transaction: the model is called while no transaction is
open, and drafts commit in small groups as the answers arrive.

A model call takes hundreds of milliseconds. Made inside the task pump's transaction, that
wait would hold the transaction open (on SQLite, the database's only write lock), so
approvals and sends would queue behind drafting, and the drafting tasks of one batch could
not share the model's concurrency. Here the batch's ``draft_outreach`` tasks are planned
in short reads, all their requests go to one pool, and each group of finished answers is
written in one short transaction that first renews the leases of its tasks: a worker that
lost a task writes nothing more for it. The guard's ledger and cache rows go out with the
same commits (``DeferredWrites``).

The drafts show up in the approval queue while the rest are still being written. A crash
leaves the drafts already committed, which the retried task skips; the handler then records
the outcome, drafting itself whatever was not done here.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity, claims
from commandcentre.agents.base import ClaimedTask, Preparation
from commandcentre.agents.config import OutreachConfig
from commandcentre.agents.models import Agent, AgentTask
from commandcentre.intel.models import Event, Opportunity
from commandcentre.llm.guard import DeferredWrites
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.retry import StopWork
from commandcentre.llm.types import DraftResult, Writer
from commandcentre.llm.window import CallWindow, model_of, shared_window
from commandcentre.llm.writer import draft_with_grounding
from commandcentre.outreach import drafts
from commandcentre.outreach.models import OutreachDraft
from commandcentre.settings import settings_of
from commandcentre.workspaces.models import Workspace

log = logging.getLogger(__name__)

# Answers are written together, up to this many, once the first of them has waited
# COMMIT_WINDOW seconds for company: fewer commits for a fast model, drafts in the queue
# within a blink for a slow one.
COMMIT_EVERY = 50
COMMIT_WINDOW = 0.05


@dataclass
class Ahead:
    """What drafting ahead did for one task, for its handler."""

    drafted: list[tuple[uuid.UUID, str]] = field(default_factory=list)  # (draft id, status)
    stop_reason: str | None = None
    not_drafted: int = 0
    # Every planned contact got its draft or was stopped by a budget: nothing is left.
    complete: bool = False


@dataclass
class _Job:
    task: ClaimedTask
    agent: Agent
    config: OutreachConfig
    opportunity: Opportunity
    event: Event | None
    planned: list[drafts.Planned]
    writer: Writer
    stopped: threading.Event
    ahead: Ahead = field(default_factory=Ahead)
    open_requests: int = 0
    lost: bool = False


Answer = DraftResult | StopWork | Exception


def draft_ahead(prep: Preparation, claimed: Sequence[ClaimedTask]) -> dict[uuid.UUID, Ahead]:
    """Draft for the claimed ``draft_outreach`` tasks, one workspace at a time."""
    by_workspace: dict[uuid.UUID, list[ClaimedTask]] = {}
    for task in claimed:
        if task.task_type == "draft_outreach":
            by_workspace.setdefault(task.workspace_id, []).append(task)
    done: dict[uuid.UUID, Ahead] = {}
    for workspace_id, tasks in by_workspace.items():
        done.update(_WorkspaceRun(prep, workspace_id, tasks).run())
    return done


class _WorkspaceRun:
    def __init__(
        self, prep: Preparation, workspace_id: uuid.UUID, tasks: list[ClaimedTask]
    ) -> None:
        self.prep = prep
        self.workspace_id = workspace_id
        self.tasks = tasks
        # Guards the session: model-call threads read the cache through it.
        self.lock = threading.RLock()
        self.deferred = DeferredWrites()
        self.default_tz = "UTC"

    def run(self) -> dict[uuid.UUID, Ahead]:
        with self.prep.factory() as session:
            claims.bind_to(session, self.workspace_id)
            # Nothing may write before a commit window: the ledger rows wait in the session.
            session.autoflush = False
            # The planned rows are used after each commit; reloading them would cost a query
            # each, and the plan is meant to be a snapshot anyway.
            session.expire_on_commit = False
            settings = settings_of(session)
            calls = _Calls(max(1, settings.llm_concurrency), model_of(settings))
            jobs: list[_Job] = []
            try:
                for job in self._plan(session):
                    if isinstance(job.writer, OfflineWriter):
                        # Quick CPU work with nothing to wait on (and every writer of the
                        # process is offline): the handlers draft it in place.
                        return {}
                    jobs.append(job)
                    # A task's requests go out as soon as it is planned, while the next
                    # one is being planned.
                    calls.add(job)
                self._collect(session, calls)
            finally:
                calls.close()
            for job in jobs:
                job.ahead.complete = not job.lost and job.open_requests == 0
                if job.ahead.not_drafted and job.ahead.stop_reason is None:
                    job.ahead.stop_reason = "the budget was already spent"
        return {job.task.id: job.ahead for job in jobs if not job.lost}

    # ------------------------------------------------------------------ planning

    def _plan(self, session: Session) -> Iterator[_Job]:
        """Each task's job in turn, planned in a short read that commits at once: no read
        transaction stays open while the model works."""
        workspace = session.get(Workspace, self.workspace_id)
        session.commit()
        company = workspace.name.strip() if workspace and workspace.name.strip() else "our team"
        self.default_tz = workspace.timezone if workspace else "UTC"
        stops: dict[uuid.UUID, threading.Event] = {}
        planned: set[tuple[uuid.UUID, uuid.UUID]] = set()
        for task in self.tasks:
            # The requests already sent use the session (cache lookups) under this lock.
            with self.lock:
                job = self._job(session, task, company, stops)
                session.commit()
            if job is None:
                continue
            # Two tasks of the batch for one opportunity: each person is written to once.
            job.planned = [
                p for p in job.planned if (job.opportunity.id, p.contact.id) not in planned
            ]
            planned.update((job.opportunity.id, p.contact.id) for p in job.planned)
            job.open_requests = len(job.planned)
            yield job

    def _job(
        self,
        session: Session,
        task: ClaimedTask,
        company: str,
        stops: dict[uuid.UUID, threading.Event],
    ) -> _Job | None:
        from commandcentre.outreach.agent import DraftOutreachInput  # the agent imports us

        try:
            data = DraftOutreachInput.model_validate(task.input_data)
        except ValidationError:
            return None  # the handler reports it
        agent = session.get(Agent, task.agent_id)
        opportunity = session.get(Opportunity, data.opportunityId)
        if agent is None or opportunity is None:
            return None
        config = OutreachConfig.model_validate(agent.config or {})
        planned = drafts.plan_requests(
            session,
            opportunity,
            data.contactIds,
            tone=config.tone,
            sender_name=f"The {company} team",
            sender_company=company,
        )
        writer = drafts.writer_for(
            session,
            self.prep.clock,
            agent,
            task_id=task.id,
            lock=self.lock,
            deferred=self.deferred,
        )
        prefetch = getattr(writer, "prefetch", None)
        if prefetch is not None:
            prefetch([plan.request for plan in planned])
        return _Job(
            task=task,
            agent=agent,
            config=config,
            opportunity=opportunity,
            event=session.get(Event, opportunity.event_id),
            planned=planned,
            writer=writer,
            # One budget per agent: once it is spent, none of its tasks starts another call.
            stopped=stops.setdefault(agent.id, threading.Event()),
        )

    # ------------------------------------------------------------------ writing

    def _collect(self, session: Session, calls: _Calls) -> None:
        """Commit the answers as they come, in groups (COMMIT_EVERY, COMMIT_WINDOW)."""
        ready: list[tuple[_Job, drafts.Planned, Answer]] = []
        since = 0.0
        while calls.pending or ready:
            if calls.pending:
                timeout = max(0.0, since + COMMIT_WINDOW - time.monotonic()) if ready else None
                answer = calls.next_answer(timeout)
                if answer is not None:
                    if not ready:
                        since = time.monotonic()
                    ready.append(answer)
            full = not calls.pending or len(ready) >= COMMIT_EVERY
            if ready and (full or time.monotonic() - since >= COMMIT_WINDOW):
                self._commit(session, ready)
                ready = []

    def _commit(self, session: Session, answers: list[tuple[_Job, drafts.Planned, Answer]]) -> None:
        """One short transaction for a group of answers, in this process's turn to write."""
        # The turn to write first: the model-call threads need the lock for their lookups.
        with claims.writer_turn(self.prep.factory), self.lock:
            try:
                with activity.deferred_rows(session):
                    self._write_answers(session, answers)
                self.deferred.write(session)
                session.commit()
            except Exception:
                session.rollback()
                raise

    def _write_answers(
        self, session: Session, answers: list[tuple[_Job, drafts.Planned, Answer]]
    ) -> None:
        held = self._renew(session, {job.task.id for job, _, _ in answers})
        drafted = _drafted_among(session, [(job, plan) for job, plan, _ in answers])
        now = self.prep.clock.now()
        for job, plan, answer in answers:
            if job.task.id not in held:
                job.lost = True
            elif (job.opportunity.id, plan.contact.id) in drafted:
                job.open_requests -= 1  # written by an earlier run of the task
            else:
                self._take(session, job, plan, answer, now)

    def _renew(self, session: Session, task_ids: set[uuid.UUID]) -> set[uuid.UUID]:
        """Lock the tasks still ours and push their leases on; the rest were lost."""
        until = self.prep.clock.now() + self.prep.lease
        params = {"task_ids": list(task_ids), "worker": self.prep.worker, "until": until}
        return set(session.scalars(_RENEW, params))

    def _take(
        self, session: Session, job: _Job, plan: drafts.Planned, answer: Answer, now: datetime
    ) -> None:
        if isinstance(answer, StopWork):
            job.open_requests -= 1
            job.ahead.not_drafted += 1
            if not isinstance(answer, drafts.NotStarted):
                job.ahead.stop_reason = job.ahead.stop_reason or answer.reason
            return
        if isinstance(answer, Exception):
            return  # left open: the handler drafts it in its own transaction
        job.open_requests -= 1
        store = drafts.DraftStore(
            session=session,
            clock=self.prep.clock,
            agent=job.agent,
            config=job.config,
            opportunity=job.opportunity,
            event=job.event,
            now=now,
            default_tz=self.default_tz,
            task_id=job.task.id,
        )
        job.ahead.drafted.append(store.add_row(plan, answer))


# Built once: it runs at every commit, and building it costs more than running it.
_RENEW = (
    update(AgentTask)
    .where(
        AgentTask.id.in_(bindparam("task_ids", expanding=True)),
        AgentTask.status == "in_progress",
        AgentTask.claimed_by == bindparam("worker"),
    )
    .values(lease_expires_at=bindparam("until"))
    .returning(AgentTask.id)
    .execution_options(synchronize_session=False)
)


class _Calls:
    """A batch's model calls: the planned requests go to the process's pool only as many at
    once as the model's speed calls for (``llm.window``), and each answer reports itself on
    one queue (waiting on the whole set of futures would walk all of them at every answer)."""

    def __init__(self, concurrency: int, model: str) -> None:
        self.pool = drafts.shared_pool(concurrency)
        self.window = shared_window(concurrency, model)
        self.fallback = OfflineWriter()
        self.backlog: deque[tuple[_Job, drafts.Planned]] = deque()
        self.futures: list[Future[Answer]] = []
        self.done: queue.SimpleQueue[tuple[_Job, drafts.Planned, Future[Answer]]] = (
            queue.SimpleQueue()
        )
        self.in_flight = 0
        self.pending = 0  # planned, answer not taken yet

    def add(self, job: _Job) -> None:
        self.backlog.extend((job, plan) for plan in job.planned)
        self.pending += len(job.planned)
        self._feed()

    def next_answer(self, timeout: float | None) -> tuple[_Job, drafts.Planned, Answer] | None:
        """The next answer to come, or None after ``timeout`` seconds (None: wait)."""
        try:
            job, plan, future = self.done.get(timeout=timeout)
        except queue.Empty:
            return None
        self.pending -= 1
        self.in_flight -= 1
        self._feed()
        return job, plan, future.result()

    def close(self) -> None:
        """Requests never handed to the pool are left to the handlers; nothing may still be
        using the session once this returns."""
        self.backlog.clear()
        for future in self.futures:
            future.cancel()
        wait(self.futures)

    def _feed(self) -> None:
        size = self.window.size()
        while self.backlog and self.in_flight < size:
            job, plan = self.backlog.popleft()
            future = self.pool.submit(_answer, job, plan, self.fallback, self.window)
            future.add_done_callback(functools.partial(_report, self.done, job, plan))
            self.futures.append(future)
            self.in_flight += 1


def _report(
    done: queue.SimpleQueue[tuple[_Job, drafts.Planned, Future[Answer]]],
    job: _Job,
    plan: drafts.Planned,
    future: Future[Answer],
) -> None:
    done.put((job, plan, future))


def _answer(job: _Job, plan: drafts.Planned, fallback: Writer, window: CallWindow) -> Answer:
    if job.stopped.is_set():
        return drafts.NotStarted("not started: the budget was already spent")
    try:
        started, cpu = time.perf_counter(), time.thread_time()
        result = draft_with_grounding(job.writer, plan.request, fallback=fallback)
        if getattr(result, "usage", None) is not None:  # the model answered (not the cache)
            window.observe(time.perf_counter() - started, time.thread_time() - cpu)
        return result
    except StopWork as exc:
        job.stopped.set()
        return exc
    except Exception as exc:
        log.exception("drafting ahead for task %s failed", job.task.id)
        return exc


def _drafted_among(
    session: Session, pairs: list[tuple[_Job, drafts.Planned]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(opportunity, contact) pairs that already have a draft: an earlier run of the task,
    cut short by a crash, committed them."""
    contacts = {plan.contact.id for _, plan in pairs}
    opportunities = {job.opportunity.id for job, _ in pairs}
    rows = session.execute(
        select(OutreachDraft.opportunity_id, OutreachDraft.contact_id).where(
            OutreachDraft.opportunity_id.in_(opportunities),
            OutreachDraft.contact_id.in_(contacts),
        )
    ).all()
    return {(opportunity_id, contact_id) for opportunity_id, contact_id in rows if opportunity_id}
