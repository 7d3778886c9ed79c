"""Pages: the agent team (cards, detail, settings), their activity, approvals, live updates.

Every action is a plain form POST that redirects (or re-renders with errors), so the pages
work without JavaScript; `static/live.js` only keeps the dashboard panel current from the
`/live/dashboard` event stream.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any, Literal, cast, get_args, get_origin

import anyio
import anyio.to_thread
from annotated_types import Ge, Le
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commandcentre.agents import approvals, services, tasks
from commandcentre.agents.config import CONFIG_MODELS, AgentConfig, validate_config
from commandcentre.agents.live import feed
from commandcentre.agents.models import (
    ActivityEntry,
    Agent,
    AgentMessage,
    AgentMetrics,
    AgentTask,
    Approval,
)
from commandcentre.agents.states import TERMINAL
from commandcentre.context import AppContext
from commandcentre.db.scoping import bind_workspace
from commandcentre.errors import InvalidInput, NotFound
from commandcentre.outreach import queue
from commandcentre.web.api.agents import approve_task, reject_task
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.pages.events import page_number, parse_uuid, require_uuid
from commandcentre.web.templating import render, templates

router = APIRouter(include_in_schema=False)

RECENT_ACTIVITY = 15
# How often a live stream looks at the database, for writes made by other processes.
POLL_SECONDS = 1.0
# How often it checks this process's wake-up counter in between (cheap, no thread held).
WAKE_CHECK_SECONDS = 0.1
RECONNECT_MS = 5000


# --------------------------------------------------------------------------- panel data
# One source for the dashboard cards, the agents page and the live stream, so the page as
# rendered and the page as updated never disagree.


# Headline numbers cover a rolling week (today and the six days before, by UTC day), so a
# Monday morning does not read as zero; the cards say so.
HEADLINE_DAYS = 7
HEADLINE_WINDOW = "last 7 days"


@dataclass(frozen=True, slots=True)
class Headline:
    key: str
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class AgentCard:
    agent: Agent
    status: str
    current: AgentTask | None
    done_today: int
    performance: services.Performance
    queue: int
    approvals: int
    headline: tuple[Headline, ...] = ()

    @property
    def headline_window(self) -> str:
        return HEADLINE_WINDOW

    @property
    def current_text(self) -> str:
        if self.current is None:
            return "Nothing queued"
        what = self.current.task_type.replace("_", " ")
        return f"{what} ({self.current.status.replace('_', ' ')}, {self.current.priority})"

    @property
    def success_text(self) -> str:
        perf = self.performance
        if not perf.tasks_completed and not perf.tasks_failed:
            return "—"
        return f"{perf.success_rate * 100:.0f}%"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.agent.id),
            "name": self.agent.name,
            "agentType": self.agent.agent_type,
            "status": self.status,
            "statusLabel": self.status.replace("_", " "),
            "current": self.current_text,
            "doneToday": self.done_today,
            "tasksCompleted": self.performance.tasks_completed,
            "successRate": self.success_text,
            "queue": self.queue,
            "approvals": self.approvals,
            "headline": [{"key": h.key, "label": h.label, "value": h.value} for h in self.headline],
        }


@dataclass(frozen=True, slots=True)
class Panel:
    cards: list[AgentCard]
    pending_approvals: int
    activity: list[ActivityEntry]
    names: dict[uuid.UUID, str]

    def as_json(self) -> dict[str, Any]:
        fmt = templates.env.filters["datetime"]
        return {
            "agents": [card.as_json() for card in self.cards],
            "pendingApprovals": self.pending_approvals,
            "activity": [
                {
                    "id": str(entry.id),
                    "agentId": str(entry.agent_id) if entry.agent_id else None,
                    "agent": self.names.get(entry.agent_id, "") if entry.agent_id else "",
                    "activityType": entry.activity_type,
                    "description": entry.description,
                    "createdAt": entry.created_at.isoformat(),
                    "when": fmt(entry.created_at),
                }
                for entry in self.activity
            ],
        }


def _done_today(session: Session, today: date) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(AgentMetrics.agent_id, AgentMetrics.tasks_completed).where(
            AgentMetrics.metric_date == today
        )
    ).all()
    return {agent_id: int(done) for agent_id, done in rows}


def _week_totals(session: Session, today: date) -> dict[uuid.UUID, dict[str, int]]:
    """Each agent's counters summed over the headline window."""
    fields = (
        "outreach_sent",
        "responses_received",
        "followups_scheduled",
        "followups_completed",
        "opportunities_identified",
    )
    rows = session.execute(
        select(
            AgentMetrics.agent_id,
            *(func.coalesce(func.sum(getattr(AgentMetrics, f)), 0) for f in fields),
        )
        .where(AgentMetrics.metric_date > today - timedelta(days=HEADLINE_DAYS))
        .group_by(AgentMetrics.agent_id)
    ).all()
    return {row[0]: dict(zip(fields, (int(v) for v in row[1:]), strict=True)) for row in rows}


def headline(agent_type: str, totals: dict[str, int]) -> tuple[Headline, ...]:
    """The numbers that say how an agent's work is going, by what the agent does."""
    n = totals.get
    if agent_type == "outreach":
        sent, answered = n("outreach_sent", 0), n("responses_received", 0)
        # Replies this week may answer messages sent before it: never show more than 100%.
        rate = f"{min(1.0, answered / sent) * 100:.0f}%" if sent else "—"
        return (
            Headline("sent", "Messages sent", str(sent)),
            Headline("responses", "Responses", str(answered)),
            Headline("response-rate", "Response rate", rate),
        )
    if agent_type == "followup":
        return (
            Headline(
                "followups-scheduled", "Follow-ups scheduled", str(n("followups_scheduled", 0))
            ),
            Headline("followups-completed", "Follow-ups done", str(n("followups_completed", 0))),
        )
    if agent_type == "planning":
        found = str(n("opportunities_identified", 0))
        return (Headline("opportunities", "Opportunities identified", found),)
    return ()


def _pending_count(session: Session) -> int:
    return int(
        session.scalar(select(func.count(Approval.id)).where(Approval.status == "pending")) or 0
    )


def agent_cards(session: Session, today: date) -> list[AgentCard]:
    done = _done_today(session, today)
    week = _week_totals(session, today)
    cards = []
    for agent in services.list_(session=session):
        status = services.status(session=session, agent_id=agent.id)
        cards.append(
            AgentCard(
                agent=agent,
                status=status.agent.status,
                current=status.current_tasks[0] if status.current_tasks else None,
                done_today=done.get(agent.id, 0),
                performance=status.performance,
                queue=status.message_queue,
                approvals=status.pending_approvals,
                headline=headline(agent.agent_type, week.get(agent.id, {})),
            )
        )
    return cards


def agent_panel(session: Session, today: date) -> Panel:
    cards = agent_cards(session, today)
    recent = services.list_activity(session=session, agent_id=None, page=1, limit=RECENT_ACTIVITY)
    return Panel(
        cards=cards,
        pending_approvals=_pending_count(session),
        activity=recent.items,
        names={c.agent.id: c.agent.name for c in cards},
    )


def _names(session: Session) -> dict[uuid.UUID, str]:
    return {a.id: a.name for a in services.list_(session=session)}


# --------------------------------------------------------------------------- conversations


@dataclass(slots=True)
class Thread:
    """A message and every answer to it, oldest first."""

    messages: list[AgentMessage] = field(default_factory=list)


def threads(messages: list[AgentMessage]) -> list[Thread]:
    """Group messages into request → response threads by `response_to_id`, newest first."""
    by_id = {m.id: m for m in messages}
    answers: dict[uuid.UUID, list[AgentMessage]] = {}
    roots = []
    for message in sorted(messages, key=lambda m: (m.created_at, str(m.id))):
        parent = message.response_to_id
        if parent is not None and parent in by_id:
            answers.setdefault(parent, []).append(message)
        else:
            roots.append(message)
    found = []
    for root in roots:
        thread = Thread()
        pending = [root]
        while pending:
            message = pending.pop(0)
            thread.messages.append(message)
            pending.extend(answers.get(message.id, []))
        found.append(thread)
    found.reverse()
    return found


# --------------------------------------------------------------------------- config form


@dataclass(frozen=True, slots=True)
class ConfigField:
    name: str
    label: str
    kind: Literal["checkbox", "number", "select", "text"]
    help: str
    step: str = ""
    minimum: float | None = None
    maximum: float | None = None
    options: tuple[str, ...] = ()
    # An empty box means "no value" (None), e.g. an unlimited budget.
    optional: bool = False


def _optional_number(annotation: object) -> type | None:
    """int or float when the annotation is ``int | None`` / ``float | None``."""
    args = set(get_args(annotation))
    if type(None) in args and len(args) == 2:
        (inner,) = args - {type(None)}
        if inner in (int, float):
            return inner  # type: ignore[no-any-return]
    return None


def _label(name: str) -> str:
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in name).strip()
    return words[:1].upper() + words[1:]


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low = high = None
    for rule in info.metadata:
        if isinstance(rule, Ge):
            low = cast(float, rule.ge)
        elif isinstance(rule, Le):
            high = cast(float, rule.le)
    return low, high


def config_fields(model: type[AgentConfig]) -> list[ConfigField]:
    """The form for an agent type, generated from its settings model."""
    found = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        label, help_text = _label(name), info.description or ""
        if annotation is bool:
            found.append(ConfigField(name, label, "checkbox", help_text))
        elif annotation in (int, float) or _optional_number(annotation) is not None:
            number = annotation if annotation in (int, float) else _optional_number(annotation)
            low, high = _bounds(info)
            step = "1" if number is int else "any"
            optional = number is not annotation
            found.append(
                ConfigField(name, label, "number", help_text, step, low, high, optional=optional)
            )
        elif get_origin(annotation) is Literal:
            options = tuple(str(o) for o in get_args(annotation))
            found.append(ConfigField(name, label, "select", help_text, options=options))
        else:
            found.append(ConfigField(name, label, "text", help_text))
    return found


def _number(raw: str, whole: bool) -> int | float:
    value = float(raw.strip())
    if not math.isfinite(value):
        raise ValueError
    if whole:
        if not value.is_integer():
            raise ValueError
        return int(value)
    return value


def parse_config(
    model: type[AgentConfig], form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Form strings → typed settings, with a message per field that is wrong."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in config_fields(model):
        raw = form.get(spec.name, "")
        if spec.kind == "checkbox":
            values[spec.name] = spec.name in form
            continue
        if spec.kind != "number":
            values[spec.name] = raw
            continue
        whole = spec.step == "1"
        if spec.optional and not raw.strip():
            values[spec.name] = None
            continue
        try:
            values[spec.name] = _number(raw, whole)
        except ValueError:
            errors[spec.name] = "Enter a whole number." if whole else "Enter a number."
    # Fields that did not parse are left out (their defaults validate), so every other
    # field's problem is still reported in the same round.
    try:
        model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "config"
            errors.setdefault(key, err["msg"])
    return values, errors


async def _form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


# --------------------------------------------------------------------------- agents


@router.get("/agents", response_class=HTMLResponse)
def agents_page(
    request: Request, caller: PageCaller, session: PageSession, ctx: Ctx
) -> HTMLResponse:
    panel = agent_panel(session, ctx.clock.now().date())
    return render(request, "agents/index.html", caller, panel=panel)


def _effective(agent: Agent) -> dict[str, Any]:
    """The settings the agent runs with: stored values plus defaults for the rest."""
    try:
        return validate_config(agent.agent_type, agent.config)
    except InvalidInput:
        # Stored before a rule tightened; show it as stored so the user can fix it.
        return dict(agent.config)


def _agent_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    agent_id: uuid.UUID,
    *,
    page: int = 1,
    page_size: int = 25,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    flashes: list[str] | None = None,
) -> HTMLResponse:
    status = services.status(session=session, agent_id=agent_id)
    agent = status.agent
    return render(
        request,
        "agents/detail.html",
        caller,
        status_code=status_code,
        agent=agent,
        status=status,
        fields=config_fields(CONFIG_MODELS[agent.agent_type]),
        values=form if form is not None else {**_effective(agent), "name": agent.name},
        errors=errors or {},
        recent_tasks=tasks.list_for_agent(session=session, agent_id=agent.id, limit=20),
        terminal=TERMINAL,
        activity=services.list_activity(
            session=session, agent_id=agent.id, page=page, limit=page_size
        ),
        threads=threads(services.list_messages(session=session, agent_id=agent.id)),
        names=_names(session),
        flashes=flashes or [],
    )


FLASHES = {
    "saved": "Settings saved.",
    "paused": "Paused: the agent takes no new work until you resume it.",
    "resumed": "Resumed: waiting work is picked up again.",
    "cancelled": "Task cancelled.",
}


@router.get("/agents/{agent_id}", response_class=HTMLResponse)
def agent_page(
    request: Request,
    agent_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    page: str = "1",
    done: str = "",
) -> HTMLResponse:
    return _agent_page(
        request,
        caller,
        session,
        require_uuid(agent_id, "agent"),
        page=page_number(page),
        page_size=ctx.settings.page_size,
        flashes=[FLASHES[done]] if done in FLASHES else [],
    )


@router.post("/agents/{agent_id}/config", dependencies=[CsrfChecked], response_class=HTMLResponse)
def save_config(
    request: Request,
    agent_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    form: FormFields,
) -> Response:
    agent = services.get(session=session, agent_id=require_uuid(agent_id, "agent"))
    values, errors = parse_config(CONFIG_MODELS[agent.agent_type], form)
    name = form.get("name", "").replace("\x00", "")
    if not errors:
        try:
            # A savepoint, so a refused change leaves the stored agent exactly as it was.
            with session.begin_nested():
                services.update_config(
                    session=session, clock=ctx.clock, agent_id=agent.id, changes=values, name=name
                )
        except InvalidInput as exc:
            errors[(exc.field or "config").removeprefix("config.")] = exc.message
    if errors:
        return _agent_page(
            request,
            caller,
            session,
            agent.id,
            status_code=422,
            form={**values, **form, "name": name},
            errors=errors,
            page_size=ctx.settings.page_size,
        )
    return RedirectResponse(f"/agents/{agent.id}?done=saved", status_code=303)


@router.post("/agents/{agent_id}/pause", dependencies=[CsrfChecked])
def pause_agent(agent_id: str, session: PageSession, ctx: Ctx) -> Response:
    agent = services.pause(
        session=session, clock=ctx.clock, agent_id=require_uuid(agent_id, "agent")
    )
    return RedirectResponse(f"/agents/{agent.id}?done=paused", status_code=303)


@router.post("/agents/{agent_id}/resume", dependencies=[CsrfChecked])
def resume_agent(agent_id: str, session: PageSession, ctx: Ctx) -> Response:
    agent = services.resume(
        session=session, clock=ctx.clock, agent_id=require_uuid(agent_id, "agent")
    )
    return RedirectResponse(f"/agents/{agent.id}?done=resumed", status_code=303)


@router.post("/agents/{agent_id}/tasks/{task_id}/cancel", dependencies=[CsrfChecked])
def cancel_task(
    agent_id: str, task_id: str, caller: PageCaller, session: PageSession, ctx: Ctx
) -> Response:
    agent = services.get(session=session, agent_id=require_uuid(agent_id, "agent"))
    task = tasks.get_or_404(session=session, task_id=require_uuid(task_id, "task"))
    if task.agent_id != agent.id:
        raise NotFound("There is no such task.")
    tasks.cancel(
        session=session,
        clock=ctx.clock,
        task_id=task.id,
        reason=None,
        user_id=caller.principal.user.id,
    )
    return RedirectResponse(f"/agents/{agent.id}?done=cancelled", status_code=303)


# --------------------------------------------------------------------------- activity


@router.get("/activity", response_class=HTMLResponse)
def activity_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    agent: str = "",
    page: str = "1",
) -> HTMLResponse:
    names = _names(session)
    wanted = parse_uuid(agent)
    if wanted not in names:
        wanted = None
    return render(
        request,
        "agents/activity.html",
        caller,
        names=names,
        agent_id=wanted,
        activity=services.list_activity(
            session=session,
            agent_id=wanted,
            page=page_number(page),
            limit=ctx.settings.page_size,
        ),
        threads=threads(services.list_messages(session=session, agent_id=wanted)),
    )


# --------------------------------------------------------------------------- approvals


def _approvals_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    *,
    status_code: int = 200,
    errors: dict[uuid.UUID, str] | None = None,
    flashes: list[str] | None = None,
) -> HTMLResponse:
    pending = approvals.list_pending(session=session)
    task_ids = [a.task_id for a in pending if a.task_id]
    found = list(session.scalars(select(AgentTask).where(AgentTask.id.in_(task_ids))))
    return render(
        request,
        "agents/approvals.html",
        caller,
        status_code=status_code,
        pending=pending,
        tasks={t.id: t for t in found},
        names=_names(session),
        errors=errors or {},
        flashes=flashes or [],
        drafts_pending=queue.pending_count(session),
    )


DECIDED = {
    "approved": "Approved: the agent carries on.",
    "rejected": "Rejected: the task was stopped and your reason recorded.",
    "cancelled": "Task cancelled.",
    "decided": "Decision recorded.",
}


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(
    request: Request, caller: PageCaller, session: PageSession, done: str = ""
) -> HTMLResponse:
    return _approvals_page(
        request, caller, session, flashes=[DECIDED[done]] if done in DECIDED else []
    )


def _task_approval(session: Session, approval_id: str) -> Approval:
    approval = approvals.get_or_404(
        session=session, approval_id=require_uuid(approval_id, "approval")
    )
    if approval.kind != "task" or approval.task_id is None:
        raise NotFound("There is no such task approval.")
    return approval


def _done(what: str) -> Response:
    return RedirectResponse(f"/approvals?done={what}", status_code=303)


@router.post(
    "/approvals/{approval_id}/approve", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def approve(
    request: Request,
    approval_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    choice: Annotated[str, Form()] = "approve",
) -> Response:
    approval = _task_approval(session, approval_id)
    assert approval.task_id is not None
    try:
        approve_task(
            session=session,
            clock=ctx.clock,
            task_id=approval.task_id,
            user_id=caller.principal.user.id,
            choice=choice.strip() or "approve",
        )
    except InvalidInput as exc:
        errors = {approval.id: exc.message}
        return _approvals_page(request, caller, session, status_code=422, errors=errors)
    return _done("approved")


@router.post(
    "/approvals/{approval_id}/reject", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def reject(
    request: Request,
    approval_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    reason: Annotated[str, Form()] = "",
) -> Response:
    approval = _task_approval(session, approval_id)
    assert approval.task_id is not None
    try:
        reject_task(
            session=session,
            clock=ctx.clock,
            task_id=approval.task_id,
            user_id=caller.principal.user.id,
            reason=reason.replace("\x00", "")[:2000],
        )
    except InvalidInput as exc:
        errors = {approval.id: exc.message}
        return _approvals_page(request, caller, session, status_code=422, errors=errors)
    return _done("rejected")


@router.post("/approvals/{approval_id}/cancel", dependencies=[CsrfChecked])
def cancel(approval_id: str, caller: PageCaller, session: PageSession, ctx: Ctx) -> Response:
    approval = _task_approval(session, approval_id)
    assert approval.task_id is not None
    tasks.cancel(
        session=session,
        clock=ctx.clock,
        task_id=approval.task_id,
        reason=None,
        user_id=caller.principal.user.id,
    )
    return _done("cancelled")


@router.post(
    "/approvals/{approval_id}/decide", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def decide(
    request: Request,
    approval_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    choice: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    wanted = require_uuid(approval_id, "approval")
    try:
        approvals.decide_escalation(
            session=session,
            clock=ctx.clock,
            approval_id=wanted,
            user_id=caller.principal.user.id,
            choice=choice.strip(),
            reason=reason.replace("\x00", "").strip()[:2000] or None,
        )
    except InvalidInput as exc:
        errors = {wanted: exc.message}
        return _approvals_page(request, caller, session, status_code=422, errors=errors)
    return _done("decided")


# --------------------------------------------------------------------------- live updates


def _marker(session: Session, workspace_id: uuid.UUID) -> tuple[Any, ...]:
    """Changes whenever anything the panel shows may have changed; cheap to compute.

    The newest activity time alone misses entries written in the same instant, so the
    number of entries at that instant is part of it (both served by one index).
    """
    mine = ActivityEntry.workspace_id == workspace_id
    newest = session.scalar(select(func.max(ActivityEntry.created_at)).where(mine))
    at_newest = session.scalar(
        select(func.count(ActivityEntry.id)).where(mine, ActivityEntry.created_at == newest)
    )
    queued = session.scalar(
        select(func.count(AgentMessage.id)).where(
            AgentMessage.workspace_id == workspace_id, AgentMessage.status == "pending"
        )
    )
    return newest, at_newest, _pending_count(session), queued


def _poll(
    ctx: AppContext, workspace_id: uuid.UUID, last: tuple[Any, ...] | None
) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """The current marker, and the panel's data when the marker moved.

    The session closes without a commit: reading the panel refreshes derived agent
    statuses in memory, and a stream must never write.
    """
    with ctx.session_factory() as session:
        bind_workspace(session, workspace_id)
        marker = _marker(session, workspace_id)
        if marker == last:
            return marker, None
        return marker, agent_panel(session, ctx.clock.now().date()).as_json()


async def _wait_for_news(workspace_id: uuid.UUID, seen: int, timeout: float) -> int:
    """Return early when this process records activity; otherwise after `timeout`.

    Polls the in-process counter instead of blocking in `feed.wait`, so an open dashboard
    does not hold one of the threads that serve every other request.
    """
    with anyio.move_on_after(timeout):
        while feed.version(workspace_id) <= seen:
            await anyio.sleep(WAKE_CHECK_SECONDS)
    return feed.version(workspace_id)


@router.get("/live/dashboard", response_class=EventSourceResponse)
async def live_dashboard(
    request: Request, caller: PageCaller, ctx: Ctx
) -> AsyncIterator[ServerSentEvent]:
    """The dashboard panel's data now, then again whenever the workspace's agents act."""
    workspace_id = caller.principal.workspace.id
    last: tuple[Any, ...] | None = None
    seen = feed.version(workspace_id)
    first = True
    while not await request.is_disconnected():
        last, data = await anyio.to_thread.run_sync(_poll, ctx, workspace_id, last)
        if data is not None:
            yield ServerSentEvent(
                data=data, event="dashboard", retry=RECONNECT_MS if first else None
            )
            first = False
        seen = await _wait_for_news(workspace_id, seen, POLL_SECONDS)
