"""API routes: agents, their tasks, approvals, messages and activity (the seed's paths).

Routes with a literal second segment (`/agents/tasks/...`, `/agents/approvals/...`) are
declared before `/agents/{agent_id}`, so that segment is never read as an agent id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents import activity, approvals, services, tasks
from commandcentre.agents.models import ActivityEntry, Agent, AgentTask, Approval
from commandcentre.agents.schemas import (
    ActivityList,
    ActivityOut,
    AgentCreate,
    AgentList,
    AgentOut,
    AgentStatusOut,
    AgentSummary,
    AgentUpdate,
    ApprovalOut,
    ApproveIn,
    CancelIn,
    CurrentTask,
    DecideIn,
    MessageList,
    MessageOut,
    MessageSend,
    PendingApproval,
    PendingList,
    PerformanceOut,
    RejectIn,
    TaskAssign,
    TaskList,
    TaskOut,
    TaskStatus,
)
from commandcentre.clock import Clock
from commandcentre.errors import Conflict, InvalidInput
from commandcentre.pagination import MAX_LIMIT, Page, PaginationOut
from commandcentre.web.api.responses import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    error_responses,
)
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["agents"])

PageNo = Annotated[int, Query(ge=1, le=100_000, description="1-based page number.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
CREATE_ERRORS = error_responses(400, 401, 403, 409, 422)


# --------------------------------------------------------------------------- decisions
# Shared with the approval pages: one place says which task may be decided, and how.


def _pending_approval(session: Session, task_id: uuid.UUID) -> Approval | None:
    return session.scalar(
        select(Approval).where(Approval.task_id == task_id, Approval.status == "pending")
    )


def _require_waiting(task: AgentTask, action: str) -> None:
    if task.status != "waiting_approval":
        status = task.status.replace("_", " ")
        raise Conflict(
            f"only a task waiting for approval can be {action}; this one is {status}",
            field="status",
        )


def approve_task(
    *, session: Session, clock: Clock, task_id: uuid.UUID, user_id: uuid.UUID, choice: str
) -> AgentTask:
    task = tasks.get_or_404(session=session, task_id=task_id)
    _require_waiting(task, "approved")
    if choice == "reject":
        raise InvalidInput("to reject a task, use reject and say why", field="choice")
    approval = _pending_approval(session, task.id)
    if approval is not None and approval.choices and choice not in approval.choices:
        allowed = ", ".join(c for c in approval.choices if c != "reject")
        raise InvalidInput(f"choice must be one of: {allowed}", field="choice")
    return tasks.approve(
        session=session, clock=clock, task_id=task.id, user_id=user_id, choice=choice
    )


def reject_task(
    *, session: Session, clock: Clock, task_id: uuid.UUID, user_id: uuid.UUID, reason: str
) -> AgentTask:
    if not reason.strip():
        raise InvalidInput("say why you reject it", field="reason")
    task = tasks.get_or_404(session=session, task_id=task_id)
    _require_waiting(task, "rejected")
    return tasks.reject(
        session=session, clock=clock, task_id=task.id, user_id=user_id, reason=reason
    )


# --------------------------------------------------------------------------- shaping


def _pending_out(approval: Approval, agent_types: dict[uuid.UUID, str]) -> PendingApproval:
    fields = {name: getattr(approval, name, None) for name in PendingApproval.model_fields}
    fields["agent_type"] = agent_types.get(approval.agent_id) if approval.agent_id else None
    return PendingApproval.model_validate(fields)


def _agent_out(session: Session, agent: Agent) -> AgentOut:
    # Derived from the agent's work as it stands now, so a pause shows in the answer to it.
    status = activity.derive_status(session=session, agent=agent)
    return AgentOut.model_validate(agent).model_copy(update={"status": status})


def _activity_list(page: Page[ActivityEntry]) -> ActivityList:
    return ActivityList(
        activities=[ActivityOut.model_validate(a) for a in page.items],
        pagination=PaginationOut(page=page.page, limit=page.limit, total=page.total),
    )


def _status_out(status: services.Status) -> AgentStatusOut:
    perf = status.performance
    return AgentStatusOut(
        status=status.agent.status,
        current_tasks=[CurrentTask.model_validate(t) for t in status.current_tasks],
        performance=PerformanceOut(
            tasks_completed=perf.tasks_completed,
            tasks_failed=perf.tasks_failed,
            success_rate=perf.success_rate,
            average_response_time=perf.average_response_time,
        ),
        message_queue=status.message_queue,
        pending_approvals=status.pending_approvals,
    )


# --------------------------------------------------------------------------- agents


@router.post("/agents/create", response_model=AgentOut, status_code=201, responses=CREATE_ERRORS)
def create_agent(body: AgentCreate, session: ApiSession, ctx: Ctx) -> AgentOut:
    """One agent of each type per workspace; `config` is validated for that type."""
    agent = services.create(
        session=session,
        clock=ctx.clock,
        agent_type=body.agent_type,
        name=body.name,
        config=body.config,
    )
    return _agent_out(session, agent)


@router.get("/agents", response_model=AgentList, responses=error_responses(401))
def list_agents(session: ApiSession) -> AgentList:
    return AgentList(
        agents=[AgentSummary.model_validate(a) for a in services.list_(session=session)]
    )


# --------------------------------------------------------------------------- tasks by id


@router.get("/agents/tasks/pending", response_model=PendingList, responses=LIST_ERRORS)
def pending_approvals(session: ApiSession) -> PendingList:
    """Every decision waiting for the user, across agents: task approvals and escalations."""
    agent_types = {a.id: a.agent_type for a in services.list_(session=session)}
    return PendingList(
        pending=[_pending_out(a, agent_types) for a in approvals.list_pending(session=session)]
    )


@router.get("/agents/tasks/{task_id}", response_model=TaskOut, responses=READ_ERRORS)
def get_task(task_id: uuid.UUID, session: ApiSession) -> TaskOut:
    return TaskOut.model_validate(tasks.get_or_404(session=session, task_id=task_id))


@router.post("/agents/tasks/{task_id}/approve", response_model=TaskOut, responses=WRITE_ERRORS)
def approve(
    task_id: uuid.UUID,
    caller: ApiCaller,
    session: ApiSession,
    ctx: Ctx,
    body: Annotated[ApproveIn | None, Body()] = None,
) -> TaskOut:
    """Let a task waiting for approval go ahead (with one of its choices, if it offers some)."""
    task = approve_task(
        session=session,
        clock=ctx.clock,
        task_id=task_id,
        user_id=caller.principal.user.id,
        choice=(body or ApproveIn()).choice,
    )
    return TaskOut.model_validate(task)


@router.post("/agents/tasks/{task_id}/reject", response_model=TaskOut, responses=WRITE_ERRORS)
def reject(
    task_id: uuid.UUID, body: RejectIn, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> TaskOut:
    """Refuse a task waiting for approval; the reason is kept with the task."""
    task = reject_task(
        session=session,
        clock=ctx.clock,
        task_id=task_id,
        user_id=caller.principal.user.id,
        reason=body.reason,
    )
    return TaskOut.model_validate(task)


@router.post("/agents/tasks/{task_id}/cancel", response_model=TaskOut, responses=WRITE_ERRORS)
def cancel(
    task_id: uuid.UUID,
    caller: ApiCaller,
    session: ApiSession,
    ctx: Ctx,
    body: Annotated[CancelIn | None, Body()] = None,
) -> TaskOut:
    """Stop a task that has not finished (pending, running or waiting for approval)."""
    reason = (body.reason if body else None) or None
    task = tasks.cancel(
        session=session,
        clock=ctx.clock,
        task_id=task_id,
        reason=reason.strip() if reason else None,
        user_id=caller.principal.user.id,
    )
    return TaskOut.model_validate(task)


@router.post(
    "/agents/approvals/{approval_id}/decide",
    response_model=ApprovalOut,
    responses=WRITE_ERRORS,
)
def decide(
    approval_id: uuid.UUID, body: DecideIn, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> ApprovalOut:
    """Answer an escalation with one of its choices."""
    approval = approvals.decide_escalation(
        session=session,
        clock=ctx.clock,
        approval_id=approval_id,
        user_id=caller.principal.user.id,
        choice=body.choice,
        reason=body.reason.strip() if body.reason else None,
    )
    return ApprovalOut.model_validate(approval)


# --------------------------------------------------------------------------- one agent


@router.get("/agents/{agent_id}", response_model=AgentOut, responses=READ_ERRORS)
def get_agent(agent_id: uuid.UUID, session: ApiSession) -> AgentOut:
    return _agent_out(session, services.get(session=session, agent_id=agent_id))


@router.patch("/agents/{agent_id}", response_model=AgentOut, responses=WRITE_ERRORS)
def update_agent(agent_id: uuid.UUID, body: AgentUpdate, session: ApiSession, ctx: Ctx) -> AgentOut:
    """Rename the agent and/or change some settings; the rest of its config is kept."""
    agent = services.update_config(
        session=session,
        clock=ctx.clock,
        agent_id=agent_id,
        changes=body.config or {},
        name=body.name,
    )
    return _agent_out(session, agent)


@router.post("/agents/{agent_id}/pause", response_model=AgentOut, responses=WRITE_ERRORS)
def pause(agent_id: uuid.UUID, session: ApiSession, ctx: Ctx) -> AgentOut:
    """A paused agent claims no tasks and receives no messages; its work waits."""
    return _agent_out(session, services.pause(session=session, clock=ctx.clock, agent_id=agent_id))


@router.post("/agents/{agent_id}/resume", response_model=AgentOut, responses=WRITE_ERRORS)
def resume(agent_id: uuid.UUID, session: ApiSession, ctx: Ctx) -> AgentOut:
    return _agent_out(session, services.resume(session=session, clock=ctx.clock, agent_id=agent_id))


@router.get("/agents/{agent_id}/status", response_model=AgentStatusOut, responses=READ_ERRORS)
def agent_status(agent_id: uuid.UUID, session: ApiSession) -> AgentStatusOut:
    """What the agent is doing now, how well it does it, and what waits for it."""
    return _status_out(services.status(session=session, agent_id=agent_id))


@router.post(
    "/agents/{agent_id}/tasks/assign",
    response_model=TaskOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def assign_task(
    agent_id: uuid.UUID, body: TaskAssign, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> TaskOut:
    """Queue work for the agent; `inputData` is validated for the task type."""
    agent = services.get(session=session, agent_id=agent_id)
    task = tasks.assign(
        session=session,
        clock=ctx.clock,
        agent=agent,
        task_type=body.task_type,
        priority=body.priority,
        input_data=body.input_data,
        created_by=caller.principal.user.id,
    )
    return TaskOut.model_validate(task)


@router.get("/agents/{agent_id}/tasks", response_model=TaskList, responses=READ_ERRORS)
def list_tasks(
    agent_id: uuid.UUID,
    session: ApiSession,
    status: TaskStatus | None = None,
    limit: Limit = 50,
) -> TaskList:
    """Newest first."""
    services.get(session=session, agent_id=agent_id)
    found = tasks.list_for_agent(
        session=session,
        agent_id=agent_id,
        statuses=(status,) if status else None,
        limit=limit,
    )
    return TaskList(tasks=[TaskOut.model_validate(t) for t in found])


@router.post(
    "/agents/{agent_id}/messages/send",
    response_model=MessageOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def send_message(
    agent_id: uuid.UUID, body: MessageSend, session: ApiSession, ctx: Ctx
) -> MessageOut:
    """Send a message as this agent; an escalation goes to the user's approval queue."""
    message = services.send_message(
        session=session,
        clock=ctx.clock,
        from_agent_id=agent_id,
        to_agent_type=body.to_agent_type,
        to_agent_id=body.to_agent_id,
        message_type=body.message_type,
        subject=body.subject,
        payload=body.payload,
        requires_response=body.requires_response,
        response_to_id=body.response_to_id,
    )
    return MessageOut.model_validate(message)


@router.get("/agents/{agent_id}/messages", response_model=MessageList, responses=READ_ERRORS)
def list_messages(agent_id: uuid.UUID, session: ApiSession, limit: Limit = 50) -> MessageList:
    """Sent and received, newest first."""
    services.get(session=session, agent_id=agent_id)
    found = services.list_messages(session=session, agent_id=agent_id, limit=limit)
    return MessageList(messages=[MessageOut.model_validate(m) for m in found])


@router.get("/agents/{agent_id}/activity", response_model=ActivityList, responses=READ_ERRORS)
def agent_activity(
    agent_id: uuid.UUID, session: ApiSession, page: PageNo = 1, limit: Limit = 25
) -> ActivityList:
    """Everything the agent did, newest first."""
    services.get(session=session, agent_id=agent_id)
    return _activity_list(
        services.list_activity(session=session, agent_id=agent_id, page=page, limit=limit)
    )


# --------------------------------------------------------------------------- workspace


@router.get("/activity", response_model=ActivityList, responses=READ_ERRORS)
def workspace_activity(
    session: ApiSession,
    agent_id: Annotated[uuid.UUID | None, Query(alias="agentId")] = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> ActivityList:
    """Every agent's activity in the workspace, newest first; `agentId` narrows it to one."""
    if agent_id is not None:
        services.get(session=session, agent_id=agent_id)
    return _activity_list(
        services.list_activity(session=session, agent_id=agent_id, page=page, limit=limit)
    )
