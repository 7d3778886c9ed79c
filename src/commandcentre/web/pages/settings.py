"""Workspace settings: members and API tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from commandcentre.errors import InvalidInput
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.templating import render
from commandcentre.workspaces import services as ws

router = APIRouter(include_in_schema=False)


def _page(
    request: Request, caller: PageCaller, session: PageSession, **extra: object
) -> HTMLResponse:
    workspace_id = caller.principal.workspace.id
    return render(
        request,
        "settings.html",
        caller,
        status_code=int(str(extra.pop("status_code", 200))),
        members=ws.list_members(session=session, workspace_id=workspace_id),
        tokens=ws.list_api_tokens(session=session, workspace_id=workspace_id),
        **extra,
    )


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, caller: PageCaller, session: PageSession) -> HTMLResponse:
    return _page(request, caller, session)


@router.post("/settings/tokens", dependencies=[CsrfChecked], response_class=HTMLResponse)
def create_token(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    name: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        raw, _ = ws.create_api_token(
            session=session,
            user=caller.principal.user,
            workspace=caller.principal.workspace,
            name=name,
        )
    except InvalidInput as exc:
        return _page(request, caller, session, token_error=exc.message, status_code=422)
    return _page(request, caller, session, new_token=raw)


@router.post("/settings/tokens/{token_id}/revoke", dependencies=[CsrfChecked])
def revoke_token(
    token_id: uuid.UUID, caller: PageCaller, session: PageSession, ctx: Ctx
) -> Response:
    ws.revoke_api_token(
        session=session,
        clock=ctx.clock,
        workspace_id=caller.principal.workspace.id,
        token_id=token_id,
    )
    return RedirectResponse("/settings", status_code=303)
