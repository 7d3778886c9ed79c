"""Public unsubscribe pages: the link in every email and its one-click POST target.

No sign-in and no CSRF check: RFC 8058 one-click posts arrive from mail providers without
cookies, and the signed token is the whole authorisation. GET never changes anything,
because mail scanners follow links.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.errors import InvalidInput
from commandcentre.intel.models import Contact
from commandcentre.outreach import suppression
from commandcentre.outreach.unsubscribe import UnsubscribeClaim, read_token
from commandcentre.secrets import secret_key
from commandcentre.web.deps import Ctx
from commandcentre.web.templating import render
from commandcentre.workspaces.models import Workspace

router = APIRouter(include_in_schema=False)


def _claim(ctx: Ctx, token: str) -> tuple[UnsubscribeClaim, uuid.UUID] | None:
    claim = read_token(secret_key(ctx.settings), token)
    if claim is None:
        return None
    try:
        workspace_id = uuid.UUID(claim.workspace_id)
    except ValueError:
        return None
    # A deleted workspace's links are dead links, on the confirmation page too.
    with system_session(ctx.session_factory) as session:
        if session.get(Workspace, workspace_id) is None:
            return None
    return claim, workspace_id


def _not_found(request: Request) -> HTMLResponse:
    # Says nothing about why: a prober learns no more from a forged token than from a typo.
    return render(
        request,
        "error.html",
        status_code=404,
        title="Link not recognised",
        message="This unsubscribe link is not valid.",
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def confirm_page(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    found = _claim(ctx, token)
    if found is None:
        return _not_found(request)
    return render(request, "unsubscribe.html", done=False, email=found[0].email, token=token)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    found = _claim(ctx, token)
    if found is None:
        return _not_found(request)
    claim, workspace_id = found
    with workspace_session(ctx.session_factory, workspace_id) as session:
        try:
            suppression.add(session, ctx.clock, "email", claim.email, "unsubscribe")
        except InvalidInput:
            return _not_found(request)
        try:
            contact_id: uuid.UUID | None = uuid.UUID(claim.contact_id)
        except ValueError:
            contact_id = None
        contact = session.get(Contact, contact_id) if contact_id else None
        if contact is not None and contact.outreach_status != "do_not_contact":
            contact.outreach_status = "do_not_contact"
            contact.updated_at = ctx.clock.now()
    return render(request, "unsubscribe.html", done=True, email=claim.email, token=token)
