"""Agent tasks: assignment, decisions, and the claim → process → outcome cycle."""

from __future__ import annotations

import logging
import traceback
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import activity, approvals, claims, states, wakeup
from commandcentre.agents.base import AgentContext, ClaimedTask, Preparation, TaskResult
from commandcentre.agents.bus import Bus
from commandcentre.agents.config import CONFIG_MODELS
from commandcentre.agents.models import TASK_PRIORITIES, Agent, AgentTask
from commandcentre.agents.registry import agent_for
from commandcentre.clock import Clock
from commandcentre.db.scoping import SYSTEM_KEY, bind_workspace
from commandcentre.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
DEFAULT_LEASE = timedelta(minutes=2)


# --- assignment and reads ---------------------------------------------------------------


def get(*, session: Session, task_id: uuid.UUID) -> AgentTask | None:
    return session.get(AgentTask, task_id)


def get_or_404(*, session: Session, task_id: uuid.UUID) -> AgentTask:
    task = get(session=session, task_id=task_id)
    if task is None:
        raise NotFound("task not found")
    return task


def assign(
    *,
    session: Session,
    clock: Clock,
    agent: Agent,
    task_type: str,
    priority: str = "medium",
    input_data: dict[str, Any] | None = None,
    created_by: uuid.UUID | None = None,
    max_attempts: int = 5,
) -> AgentTask:
    if priority not in TASK_PRIORITIES:
        raise InvalidInput(
            f"priority must be one of {', '.join(TASK_PRIORITIES)}", field="priority"
        )
    handler = agent_for(agent.agent_type)
    model = handler.task_inputs.get(task_type)
    if model is None:
        known = ", ".join(sorted(handler.task_inputs))
        raise InvalidInput(
            f"the {agent.agent_type} agent has no task type '{task_type}' (known: {known})",
            field="taskType",
        )
    try:
        validated = model.model_validate(input_data or {}).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "inputData"
        raise InvalidInput(
            f"inputData.{where}: {first['msg']}", field=f"inputData.{where}"
        ) from None
    now = clock.now()
    task = AgentTask(
        agent_id=agent.id,
        task_type=task_type,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        status="pending",
        input_data=validated,
        created_by=created_by,
        max_attempts=max_attempts,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    activity.record(
        session=session,
        clock=clock,
        agent_id=agent.id,
        activity_type="task_assigned",
        description=f"New {priority} task: {_label(task_type)}",
        details={"taskType": task_type, "priority": priority},
        task_id=task.id,
    )
    wakeup.after_commit(session, "tasks")
    return task


def list_for_agent(
    *,
    session: Session,
    agent_id: uuid.UUID,
    statuses: tuple[str, ...] | None = None,
    limit: int = 50,
) -> list[AgentTask]:
    stmt = select(AgentTask).where(AgentTask.agent_id == agent_id)
    if statuses:
        stmt = stmt.where(AgentTask.status.in_(statuses))
    stmt = stmt.order_by(AgentTask.created_at.desc()).limit(limit)
    return list(session.scalars(stmt))


def cancel(
    *,
    session: Session,
    clock: Clock,
    task_id: uuid.UUID,
    reason: str | None = None,
    user_id: uuid.UUID | None = None,
) -> AgentTask:
    task = get_or_404(session=session, task_id=task_id)
    _move(
        session=session,
        clock=clock,
        task=task,
        target="cancelled",
        error=f"cancelled: {reason}" if reason else "cancelled by the user",
    )
    approvals.close_for_task(
        session=session,
        clock=clock,
        task_id=task.id,
        status="cancelled",
        user_id=user_id,
        reason=reason,
    )
    activity.record(
        session=session,
        clock=clock,
        agent_id=task.agent_id,
        activity_type="task_cancelled",
        description=f"Task {_label(task.task_type)} cancelled" + (f": {reason}" if reason else ""),
        task_id=task.id,
    )
    return task


def approve(
    *,
    session: Session,
    clock: Clock,
    task_id: uuid.UUID,
    user_id: uuid.UUID | None,
    choice: str = "approve",
) -> AgentTask:
    task = get_or_404(session=session, task_id=task_id)
    _require_waiting(task, "approved")
    offered = approvals.choices_for_task(session=session, task_id=task.id)
    if offered and choice not in offered:
        raise InvalidInput(f"choice must be one of: {', '.join(offered)}", field="choice")
    approvals.close_for_task(
        session=session,
        clock=clock,
        task_id=task.id,
        status="approved",
        user_id=user_id,
        decision=choice,
    )
    task.input_data = {
        **task.input_data,
        "_decision": {"choice": choice, "by": str(user_id), "at": clock.now().isoformat()},
    }
    _move(session=session, clock=clock, task=task, target="pending")
    task.next_attempt_at = clock.now()
    activity.record(
        session=session,
        clock=clock,
        agent_id=task.agent_id,
        activity_type="task_approved",
        description=f"Approved: {_label(task.task_type)}",
        task_id=task.id,
        details={"choice": choice},
    )
    wakeup.after_commit(session, "tasks")
    return task


def reject(
    *, session: Session, clock: Clock, task_id: uuid.UUID, user_id: uuid.UUID | None, reason: str
) -> AgentTask:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("say why you reject it", field="reason")
    task = get_or_404(session=session, task_id=task_id)
    _require_waiting(task, "rejected")
    approvals.close_for_task(
        session=session,
        clock=clock,
        task_id=task.id,
        status="rejected",
        user_id=user_id,
        reason=reason,
    )
    _move(session=session, clock=clock, task=task, target="cancelled", error=f"rejected: {reason}")
    activity.record(
        session=session,
        clock=clock,
        agent_id=task.agent_id,
        activity_type="task_rejected",
        description=f"Rejected: {_label(task.task_type)} ({reason})",
        task_id=task.id,
        details={"reason": reason},
    )
    return task


def _label(task_type: str) -> str:
    """How a task type reads in the activity log: analyze_opportunity → analyze opportunity."""
    return task_type.replace("_", " ")


def _require_waiting(task: AgentTask, verb: str) -> None:
    if task.status != "waiting_approval":
        state = task.status.replace("_", " ")
        raise Conflict(
            f"only a task waiting for approval can be {verb}; this one is {state}",
            field="status",
        )


def _move(
    *, session: Session, clock: Clock, task: AgentTask, target: str, error: str | None = None
) -> None:
    states.check_transition(task.status, target)
    task.status = target
    task.updated_at = clock.now()
    if target in states.TERMINAL:
        task.completed_at = clock.now()
        task.claimed_by = None
        task.lease_expires_at = None
    if error:
        task.error_message = error


# --- the worker side ---------------------------------------------------------------------


def claim_due(
    *,
    factory: sessionmaker[Session],
    clock: Clock,
    worker: str,
    limit: int = 10,
    lease: timedelta = DEFAULT_LEASE,
) -> list[uuid.UUID]:
    """Claim up to `limit` due tasks of running agents: most urgent first, then oldest."""
    now = clock.now()
    active_agents = select(Agent.id).where(Agent.paused_at.is_(None))
    candidates = (
        select(AgentTask.id)
        .where(
            AgentTask.status == "pending",
            or_(AgentTask.next_attempt_at.is_(None), AgentTask.next_attempt_at <= now),
            AgentTask.agent_id.in_(active_agents),
        )
        .order_by(AgentTask.priority_rank, AgentTask.created_at)
        .limit(limit)
    )
    with claims.system_transaction(factory) as session:
        return claims.claim(
            session,
            AgentTask,
            candidates,
            values={
                "status": "in_progress",
                "claimed_by": worker,
                "lease_expires_at": now + lease,
                "attempts": AgentTask.attempts + 1,
                "started_at": now,
                "updated_at": now,
            },
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    task_id: uuid.UUID
    status: str


def prepare_batch(
    *,
    factory: sessionmaker[Session],
    clock: Clock,
    task_ids: list[uuid.UUID],
    worker: str,
    lease: timedelta = DEFAULT_LEASE,
) -> dict[uuid.UUID, object]:
    """Let each agent class that prepares its tasks (``PreparesTasks``) do so for its
    claimed tasks of the batch, outside the batch's transaction. Preparing is a head start,
    never required: an agent that fails at it is logged and its handlers do all the work."""
    with factory() as session:
        session.info[SYSTEM_KEY] = True
        rows = session.execute(
            select(
                AgentTask.id,
                AgentTask.workspace_id,
                AgentTask.agent_id,
                AgentTask.task_type,
                AgentTask.input_data,
                Agent.agent_type,
            )
            .join(Agent, Agent.id == AgentTask.agent_id)
            .where(
                AgentTask.id.in_(task_ids),
                AgentTask.status == "in_progress",
                AgentTask.claimed_by == worker,
            )
        ).all()
    by_type: dict[str, list[ClaimedTask]] = {}
    for task_id, workspace_id, agent_id, task_type, input_data, agent_type in rows:
        by_type.setdefault(agent_type, []).append(
            ClaimedTask(task_id, workspace_id, agent_id, task_type, dict(input_data or {}))
        )
    prep = Preparation(factory=factory, clock=clock, worker=worker, lease=lease)
    prepared: dict[uuid.UUID, object] = {}
    for agent_type, claimed in by_type.items():
        prepare = getattr(agent_for(agent_type), "prepare_tasks", None)
        if prepare is None:
            continue
        try:
            prepared.update(prepare(prep, claimed))
        except Exception:
            log.exception(
                "preparing %d %s tasks failed; their handlers do it", len(claimed), agent_type
            )
    return prepared


def process(
    *, factory: sessionmaker[Session], clock: Clock, task_id: uuid.UUID, worker: str
) -> Outcome | None:
    """Run one claimed task; see process_batch."""
    return process_batch(factory=factory, clock=clock, task_ids=[task_id], worker=worker)[0]


def process_batch(
    *,
    factory: sessionmaker[Session],
    clock: Clock,
    task_ids: list[uuid.UUID],
    worker: str,
    prepared: dict[uuid.UUID, object] | None = None,
) -> list[Outcome | None]:
    """Run claimed tasks in one transaction, each inside its own savepoint.

    A task's effects and its outcome commit together, and a crash anywhere leaves nothing
    half-done: the transaction rolls back, the leases expire and the tasks are tried
    again. A failing handler only rolls back its own savepoint. Sharing the commit is
    what makes small tasks cheap. None marks a task whose claim was lost. ``prepared``:
    what ``prepare_batch`` did for some of the tasks, handed to their handlers.
    """
    ahead = prepared or {}

    def run() -> list[Outcome | None]:
        with (
            claims.worker_session(factory) as session,
            session.begin(),
            activity.deferred_metrics(session, clock),
        ):
            held = _hold_all(session=session, task_ids=task_ids, worker=worker)
            ran = [
                _run_one(
                    session=session,
                    clock=clock,
                    task=task,
                    agent=agent,
                    prepared=ahead.get(task.id),
                )
                for task, agent in (held[t] for t in task_ids if t in held)
            ]
            done = _record_all(session=session, clock=clock, ran=ran)
            # Every task's rows are flushed; what is left (counters) spans workspaces.
            claims.as_system(session)
        return [done.get(task_id) for task_id in task_ids]

    return claims.retrying_deadlocks(run, what="task batch")


def _hold_all(
    *, session: Session, task_ids: list[uuid.UUID], worker: str
) -> dict[uuid.UUID, tuple[AgentTask, Agent]]:
    """Lock the batch's tasks that this worker still owns, and load them and their agents.

    Locking first, before any side effect, is how a worker whose lease was taken over
    finds out now rather than after it acted.
    """
    claims.as_system(session)
    loaded = claims.hold_all(
        session,
        AgentTask,
        task_ids,
        conditions=[AgentTask.status == "in_progress", AgentTask.claimed_by == worker],
    )
    agent_ids = {task.agent_id for task in loaded}
    agents = {a.id: a for a in session.scalars(select(Agent).where(Agent.id.in_(agent_ids)))}
    return {task.id: (task, agents[task.agent_id]) for task in loaded}


@dataclass(slots=True)
class _Ran:
    """A task whose handler has run (its effects flushed in its savepoint), and how it ended."""

    task: AgentTask
    result: TaskResult | None = None
    error: Exception | None = None
    trace: str = ""


def _run_one(
    *, session: Session, clock: Clock, task: AgentTask, agent: Agent, prepared: object | None
) -> _Ran:
    claims.bind_to(session, task.workspace_id)
    before = activity.snapshot_metrics(session)
    try:
        with session.begin_nested():
            result = _run_handler(
                session=session, clock=clock, agent=agent, task=task, prepared=prepared
            )
    except Exception as exc:
        log.warning("task %s failed: %s", task.id, exc)
        activity.restore_metrics(session, before)
        return _Ran(task, error=exc, trace=traceback.format_exc()[-2000:])
    return _Ran(task, result=result)


def _record_all(*, session: Session, clock: Clock, ran: list[_Ran]) -> dict[uuid.UUID, Outcome]:
    """The outcomes of the batch, written together: a workspace's task updates and log
    entries go out in one flush (a statement each for the lot) instead of one per task,
    which the savepoint each handler runs in would otherwise force."""
    done: dict[uuid.UUID, Outcome] = {}
    by_workspace: dict[uuid.UUID, list[_Ran]] = {}
    for item in ran:
        by_workspace.setdefault(item.task.workspace_id, []).append(item)
    for workspace_id, items in by_workspace.items():
        claims.bind_to(session, workspace_id)
        for item in items:
            if item.result is not None:
                outcome = _record_result(
                    session=session, clock=clock, task=item.task, result=item.result
                )
            else:
                assert item.error is not None
                outcome = _record_failure(
                    session=session, clock=clock, task=item.task, error=item.error, trace=item.trace
                )
            done[item.task.id] = outcome
        # Written now, while the session is still bound to this workspace.
        session.flush()
    return done


def _run_handler(
    *,
    session: Session,
    clock: Clock,
    agent: Agent,
    task: AgentTask,
    prepared: object | None = None,
) -> TaskResult:
    """The agent decides; no 'started' entry is logged because the task's whole run
    commits at once: readers see the claim (in progress) and then the outcome."""
    handler = agent_for(agent.agent_type)
    config = CONFIG_MODELS[agent.agent_type].model_validate(agent.config)
    bus = Bus(session=session, clock=clock, sender=agent, task_id=task.id)
    ctx = AgentContext(
        workspace_id=task.workspace_id,
        session=session,
        clock=clock,
        agent=agent,
        config=config,
        bus=bus,
        prepared=prepared,
    )
    return handler.handle_task(ctx, task)


def _record_result(
    *, session: Session, clock: Clock, task: AgentTask, result: TaskResult
) -> Outcome:
    task.output_data = {**result.output, "summary": result.summary}
    if result.reasoning:
        task.output_data["reasoning"] = result.reasoning
    if result.status == "waiting_approval":
        assert result.approval is not None, "waiting_approval needs an approval request"
        _move(session=session, clock=clock, task=task, target="waiting_approval")
        task.claimed_by = None
        task.lease_expires_at = None
        approvals.open_for_task(session=session, clock=clock, task=task, request=result.approval)
        kind, metric = "task_waiting_approval", None
    elif result.status == "completed":
        _move(session=session, clock=clock, task=task, target="completed")
        kind, metric = "task_completed", "tasks_completed"
    else:
        _move(session=session, clock=clock, task=task, target="failed", error=result.summary)
        kind, metric = "task_failed", "tasks_failed"
    metrics: dict[str, float] = {metric: 1} if metric else {}
    if metric == "tasks_completed" and task.started_at:
        metrics["total_response_seconds"] = (clock.now() - task.created_at).total_seconds()
        metrics["response_count"] = 1
    activity.record(
        session=session,
        clock=clock,
        agent_id=task.agent_id,
        activity_type=kind,
        description=result.summary,
        task_id=task.id,
        details={"reasoning": result.reasoning} if result.reasoning else {},
        metrics=metrics,
    )
    return Outcome(task.id, task.status)


def _record_failure(
    *, session: Session, clock: Clock, task: AgentTask, error: Exception, trace: str
) -> Outcome:
    message = f"{type(error).__name__}: {error}"
    task.last_error = message[:4000]
    if task.attempts >= task.max_attempts:
        _move(session=session, clock=clock, task=task, target="dead", error=message[:4000])
        activity.record(
            session=session,
            clock=clock,
            agent_id=task.agent_id,
            activity_type="task_dead",
            description=f"Gave up on {_label(task.task_type)} after "
            f"{task.attempts} attempts: {message[:200]}",
            task_id=task.id,
            details={"error": message, "trace": trace},
            metrics={"tasks_failed": 1},
        )
    else:
        _move(session=session, clock=clock, task=task, target="pending")
        task.claimed_by = None
        task.lease_expires_at = None
        task.next_attempt_at = clock.now() + claims.backoff(task.attempts)
        activity.record(
            session=session,
            clock=clock,
            agent_id=task.agent_id,
            activity_type="task_retry",
            description=f"Attempt {task.attempts} of {_label(task.task_type)} failed; "
            f"will retry: {message[:200]}",
            task_id=task.id,
            details={"error": message},
        )
    return Outcome(task.id, task.status)


def sweep_expired(*, factory: sessionmaker[Session], clock: Clock, limit: int = 500) -> int:
    """Return tasks whose worker vanished to the queue (or to dead after max attempts)."""
    now = clock.now()
    expired = (
        select(AgentTask.id)
        .where(AgentTask.status == "in_progress", AgentTask.lease_expires_at < now)
        .limit(limit)
    )
    with claims.system_transaction(factory) as session:
        retry = claims.claim(
            session,
            AgentTask,
            expired.where(AgentTask.attempts < AgentTask.max_attempts),
            values={
                "status": "pending",
                "claimed_by": None,
                "lease_expires_at": None,
                "next_attempt_at": now,
                "updated_at": now,
                "last_error": "worker lease expired",
            },
        )
        dead = claims.claim(
            session,
            AgentTask,
            expired.where(AgentTask.attempts >= AgentTask.max_attempts),
            values={
                "status": "dead",
                "claimed_by": None,
                "lease_expires_at": None,
                "completed_at": now,
                "updated_at": now,
                "error_message": "worker lease expired on the last attempt",
            },
        )
    if dead:
        _log_lease_deaths(factory=factory, clock=clock, task_ids=dead)
    return len(retry) + len(dead)


def _log_lease_deaths(
    *, factory: sessionmaker[Session], clock: Clock, task_ids: list[uuid.UUID]
) -> None:
    """A task that died with its worker gets the same trace as one whose handler failed."""
    with claims.worker_session(factory) as session:
        session.info[SYSTEM_KEY] = True
        rows = session.execute(
            select(
                AgentTask.id, AgentTask.workspace_id, AgentTask.agent_id, AgentTask.task_type
            ).where(AgentTask.id.in_(task_ids))
        ).all()
    for task_id, workspace_id, agent_id, task_type in rows:
        with claims.worker_session(factory) as session:
            bind_workspace(session, workspace_id)
            with session.begin():
                activity.record(
                    session=session,
                    clock=clock,
                    agent_id=agent_id,
                    activity_type="task_dead",
                    description=f"Gave up on {_label(task_type)}: its worker stopped "
                    "responding on the last attempt",
                    task_id=task_id,
                    metrics={"tasks_failed": 1},
                )


def release_claims(*, factory: sessionmaker[Session], clock: Clock, worker: str) -> int:
    """On graceful shutdown: give back claimed tasks not started, without using an attempt."""
    now = clock.now()
    with claims.system_transaction(factory) as session:
        result = session.execute(
            update(AgentTask)
            .where(AgentTask.status == "in_progress", AgentTask.claimed_by == worker)
            .values(
                status="pending",
                claimed_by=None,
                lease_expires_at=None,
                attempts=AgentTask.attempts - 1,
                next_attempt_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
