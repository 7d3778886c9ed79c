"""Pages: contacts (speaker profiles) and where they appear."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from commandcentre.errors import NotFound
from commandcentre.intel import accounts as accounts_svc
from commandcentre.intel import contacts as svc
from commandcentre.intel import events as events_svc
from commandcentre.intel.models import OUTREACH_STATUSES
from commandcentre.web.deps import Ctx, PageCaller, PageSession
from commandcentre.web.pages.events import page_number, parse_uuid, require_uuid, text
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/contacts", response_class=HTMLResponse)
def contacts_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    q: str = "",
    outreach_status: str = "",
    account_id: str = "",
    event_id: str = "",
    page: str = "1",
) -> HTMLResponse:
    status = outreach_status if outreach_status in OUTREACH_STATUSES else ""
    # Filters named by id show what they filter by; an unknown id filters by nothing.
    wanted_account, wanted_event = parse_uuid(account_id), parse_uuid(event_id)
    account = (
        accounts_svc.get(session=session, account_id=wanted_account) if wanted_account else None
    )
    event = events_svc.get(session=session, event_id=wanted_event) if wanted_event else None
    found = svc.list_(
        session=session,
        q=text(q),
        outreach_status=status or None,
        account_id=account.id if account else None,
        event_id=event.id if event else None,
        page=page_number(page),
        limit=ctx.settings.page_size,
    )
    return render(
        request,
        "contacts/list.html",
        caller,
        page=found,
        q=text(q),
        outreach_status=status,
        statuses=[(s, s.replace("_", " ")) for s in OUTREACH_STATUSES],
        account=account,
        event=event,
    )


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_page(
    request: Request, contact_id: str, caller: PageCaller, session: PageSession
) -> HTMLResponse:
    detail = svc.get_detail(session=session, contact_id=require_uuid(contact_id, "contact"))
    if detail is None:
        raise NotFound("There is no such contact.")
    return render(request, "contacts/detail.html", caller, detail=detail, contact=detail.contact)
