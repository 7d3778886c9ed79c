"""Pages: contacts (speaker profiles) and where they appear."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from commandcentre.errors import NotFound
from commandcentre.followups import manage as followups
from commandcentre.inbound.process import mark_replied
from commandcentre.intel import accounts as accounts_svc
from commandcentre.intel import contacts as svc
from commandcentre.intel import events as events_svc
from commandcentre.intel import timeline
from commandcentre.intel.models import OUTREACH_STATUSES
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
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


SENTIMENTS = (("positive", "Positive"), ("neutral", "Neutral"), ("negative", "Negative"))
MAX_NOTE = 5000


def _contact_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    contact_id: uuid.UUID,
    *,
    status_code: int = 200,
    reply_error: str | None = None,
    reply_form: dict[str, str] | None = None,
    flashes: list[str] | None = None,
) -> HTMLResponse:
    detail = svc.get_detail(session=session, contact_id=contact_id)
    if detail is None:
        raise NotFound("There is no such contact.")
    return render(
        request,
        "contacts/detail.html",
        caller,
        status_code=status_code,
        detail=detail,
        contact=detail.contact,
        timeline=timeline.for_contact(session, detail.contact.id),
        zone=followups.workspace_zone(session),
        sentiments=SENTIMENTS,
        reply_error=reply_error,
        reply_form=reply_form or {"sentiment": "neutral", "note": ""},
        flashes=flashes or [],
    )


@router.get("/contacts/{contact_id}", response_class=HTMLResponse)
def contact_page(
    request: Request, contact_id: str, caller: PageCaller, session: PageSession, done: str = ""
) -> HTMLResponse:
    flashes = []
    if done == "replied":
        flashes.append("Marked as replied: pending follow-ups for this contact are stopped.")
    return _contact_page(
        request, caller, session, require_uuid(contact_id, "contact"), flashes=flashes
    )


@router.post(
    "/contacts/{contact_id}/mark-replied", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def mark_replied_form(
    request: Request,
    contact_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    sentiment: Annotated[str, Form()] = "neutral",
    note: Annotated[str, Form()] = "",
) -> Response:
    """The contact answered outside the mailbox (a call, the booth, LinkedIn)."""
    wanted = require_uuid(contact_id, "contact")
    if svc.get(session=session, contact_id=wanted) is None:
        raise NotFound("There is no such contact.")
    clean_note = note.replace("\x00", "").strip()
    if sentiment not in dict(SENTIMENTS) or len(clean_note) > MAX_NOTE:
        error = (
            "Choose positive, neutral or negative."
            if sentiment not in dict(SENTIMENTS)
            else f"Keep the note under {MAX_NOTE} characters."
        )
        return _contact_page(
            request,
            caller,
            session,
            wanted,
            status_code=422,
            reply_error=error,
            reply_form={"sentiment": "neutral", "note": clean_note[:MAX_NOTE]},
        )
    with session.begin_nested():
        mark_replied(
            session, ctx.clock, wanted, caller.principal.user.id, sentiment, clean_note or None
        )
    return RedirectResponse(f"/contacts/{wanted}?done=replied#timeline", status_code=303)
