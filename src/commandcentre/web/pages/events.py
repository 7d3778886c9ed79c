"""Pages: events, with their sessions and speakers.

Also holds the small parsers the intel pages share: query strings typed or edited by
hand get a lenient reading (a bad page number is page 1), never an error page.
"""

from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from commandcentre.errors import NotFound
from commandcentre.intel import events as svc
from commandcentre.web.deps import Ctx, PageCaller, PageSession
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)

TRUE_WORDS = frozenset({"1", "true", "on", "yes"})


def flag(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_WORDS


def text(value: str | None, max_len: int = 200) -> str:
    # PostgreSQL refuses NUL characters in text; a search box never needs one.
    return (value or "").replace("\x00", "").strip()[:max_len]


def page_number(value: str | None) -> int:
    try:
        number = int((value or "").strip())
    except ValueError:
        return 1
    return min(max(number, 1), 100_000)


def parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID((value or "").strip())
    except ValueError:
        return None


def parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


def require_uuid(value: str, what: str) -> uuid.UUID:
    """A path id; anything that is not one is a page that does not exist."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise NotFound(f"There is no such {what}.")
    return parsed


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    q: str = "",
    upcoming: str = "",
    topic: str = "",
    page: str = "1",
) -> HTMLResponse:
    found = svc.list_(
        session=session,
        today=ctx.clock.now().date(),
        q=text(q),
        upcoming=flag(upcoming),
        topic=text(topic),
        page=page_number(page),
        limit=ctx.settings.page_size,
    )
    return render(
        request,
        "events/list.html",
        caller,
        page=found,
        opportunities=svc.opportunity_ids(session=session, event_ids=[e.id for e in found.items]),
        q=text(q),
        upcoming=flag(upcoming),
        topic=text(topic),
    )


@router.get("/events/{event_id}", response_class=HTMLResponse)
def event_page(
    request: Request, event_id: str, caller: PageCaller, session: PageSession
) -> HTMLResponse:
    detail = svc.get_detail(session=session, event_id=require_uuid(event_id, "event"))
    if detail is None:
        raise NotFound("There is no such event.")
    return render(request, "events/detail.html", caller, detail=detail, event=detail.event)
