"""Pages: opportunities, the events where target accounts speak or attend."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from commandcentre.errors import NotFound
from commandcentre.intel import opportunities as svc
from commandcentre.intel.models import OPPORTUNITY_STATUSES
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.pages.events import flag, page_number, require_uuid
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


@router.get("/opportunities/{opportunity_id}", response_class=HTMLResponse)
def opportunity_page(
    request: Request,
    opportunity_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    updated: str = "",
) -> HTMLResponse:
    detail = svc.get_detail(
        session=session, opportunity_id=require_uuid(opportunity_id, "opportunity")
    )
    if detail is None:
        raise NotFound("There is no such opportunity.")
    return render(
        request,
        "opportunities/detail.html",
        caller,
        detail=detail,
        opportunity=detail.opportunity,
        event=detail.event,
        days=svc.days_until(detail.event, ctx.clock.now().date()),
        statuses=STATUSES,
        flashes=["Status updated."] if updated else [],
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
