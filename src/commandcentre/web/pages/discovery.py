"""Pages: the "Run discovery" button of the opportunities list."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from commandcentre.intel.discovery import discover
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession

router = APIRouter(include_in_schema=False)


@router.post("/opportunities/discover", dependencies=[CsrfChecked])
def run_discovery(caller: PageCaller, session: PageSession, ctx: Ctx) -> RedirectResponse:
    result = discover(session=session, clock=ctx.clock)
    # 303: the browser follows with a GET, so a reload does not run discovery again.
    return RedirectResponse(f"/opportunities?discovered={result.new_count}", status_code=303)
