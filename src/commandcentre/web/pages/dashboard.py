"""The Command Centre dashboard: intel at a glance and the agent team at work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from commandcentre.intel.overview import overview
from commandcentre.web.deps import Ctx, PageCaller, PageSession
from commandcentre.web.pages.agents import agent_panel
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, caller: PageCaller, session: PageSession, ctx: Ctx) -> HTMLResponse:
    today = ctx.clock.now().date()
    return render(
        request,
        "dashboard.html",
        caller,
        overview=overview(session=session, today=today),
        panel=agent_panel(session, today),
    )
