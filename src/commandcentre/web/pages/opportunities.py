"""Pages: opportunities, the events where target accounts speak or attend, and delegating
one to the Outreach agent."""

from __future__ import annotations

import math
import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents.models import AgentTask
from commandcentre.errors import InvalidInput, NotFound
from commandcentre.intel import opportunities as svc
from commandcentre.intel.models import OPPORTUNITY_STATUSES
from commandcentre.outreach import delegation
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.pages.events import flag, page_number, parse_uuid, require_uuid
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)

STATUSES = [(s, s.replace("_", " ")) for s in OPPORTUNITY_STATUSES]


def _score(value: str) -> float | None:
    try:
        score = float(value.strip())
    except ValueError:
        return None
    return score if math.isfinite(score) and score >= 0 else None


@router.get("/opportunities", response_class=HTMLResponse)
def opportunities_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    status: str = "",
    new: str = "",
    min_score: str = "",
    upcoming: str = "",
    discovered: str = "",
    page: str = "1",
) -> HTMLResponse:
    today = ctx.clock.now().date()
    wanted_status = status if status in OPPORTUNITY_STATUSES else ""
    found = svc.list_(
        session=session,
        today=today,
        status=wanted_status or None,
        new=flag(new),
        min_score=_score(min_score),
        upcoming=flag(upcoming),
        page=page_number(page),
        limit=ctx.settings.page_size,
    )
    flashes = []
    if discovered.strip().isdigit():
        n = int(discovered)
        flashes.append(f"Discovery finished: {n} new opportunit{'y' if n == 1 else 'ies'}.")
    return render(
        request,
        "opportunities/list.html",
        caller,
        page=found,
        days={o.id: svc.days_until(o.event, today) for o in found.items},
        statuses=STATUSES,
        status=wanted_status,
        new=flag(new),
        min_score=min_score.strip() if _score(min_score) is not None else "",
        upcoming=flag(upcoming),
        flashes=flashes,
    )


def _opportunity_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    opportunity_id: uuid.UUID,
    *,
    status_code: int = 200,
    flashes: list[str] | None = None,
    delegated: AgentTask | None = None,
    delegate_error: str = "",
    chosen: set[uuid.UUID] | None = None,
) -> HTMLResponse:
    detail = svc.get_detail(session=session, opportunity_id=opportunity_id)
    if detail is None:
        raise NotFound("There is no such opportunity.")
    preview = delegation.preview(session=session, clock=ctx.clock, opportunity_id=opportunity_id)
    return render(
        request,
        "opportunities/detail.html",
        caller,
        status_code=status_code,
        detail=detail,
        opportunity=detail.opportunity,
        event=detail.event,
        days=svc.days_until(detail.event, ctx.clock.now().date()),
        statuses=STATUSES,
        flashes=flashes or [],
        delegation=preview,
        delegated=delegated,
        delegate_error=delegate_error,
        # Everyone reachable is ticked unless the user's own choice is being shown again.
        chosen=chosen if chosen is not None else {p.contact.id for p in preview.planned},
    )


@router.get("/opportunities/{opportunity_id}", response_class=HTMLResponse)
def opportunity_page(
    request: Request,
    opportunity_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    updated: str = "",
    delegated: str = "",
) -> HTMLResponse:
    task_id = parse_uuid(delegated)
    task = (
        session.scalars(select(AgentTask).where(AgentTask.id == task_id)).first()
        if task_id
        else None
    )
    return _opportunity_page(
        request,
        caller,
        session,
        ctx,
        require_uuid(opportunity_id, "opportunity"),
        flashes=["Status updated."] if updated else [],
        delegated=task if task is not None and task.task_type == "draft_outreach" else None,
    )


@router.post(
    "/opportunities/{opportunity_id}/delegate",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
def delegate(
    request: Request,
    opportunity_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    contact_ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    wanted = require_uuid(opportunity_id, "opportunity")
    chosen = [parsed for raw in contact_ids[:500] if (parsed := parse_uuid(raw))]
    try:
        with session.begin_nested():
            task = delegation.delegate(
                session=session,
                clock=ctx.clock,
                opportunity_id=wanted,
                contact_ids=chosen,
                user_id=caller.principal.user.id,
            )
    except InvalidInput as exc:
        return _opportunity_page(
            request,
            caller,
            session,
            ctx,
            wanted,
            status_code=422,
            delegate_error=exc.message,
            chosen=set(chosen),
        )
    return RedirectResponse(
        f"/opportunities/{wanted}?delegated={task.id}#delegation", status_code=303
    )


@router.post("/opportunities/{opportunity_id}/status", dependencies=[CsrfChecked])
def set_status(
    opportunity_id: str,
    caller: PageCaller,
    session: PageSession,
    status: Annotated[str, Form()] = "",
) -> Response:
    wanted = require_uuid(opportunity_id, "opportunity")
    svc.update(session=session, opportunity_id=wanted, status=status)
    return RedirectResponse(f"/opportunities/{wanted}?updated=1", status_code=303)
