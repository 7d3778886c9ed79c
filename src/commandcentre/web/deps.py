"""Request dependencies: who is calling, in which workspace, with a scoped DB session.

`api_principal` and `page_principal` authenticate; `ws_session` gives a session bound
to the caller's workspace, so every query a route makes is filtered by construction.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from commandcentre.context import AppContext
from commandcentre.db.scoping import bind_workspace, system_session
from commandcentre.errors import Forbidden, Unauthorized
from commandcentre.workspaces import services as ws
from commandcentre.workspaces.models import UserSession

SESSION_COOKIE = "cc_session"
ANON_CSRF_COOKIE = "cc_csrf"


class LoginRequired(Exception):
    """A page needs a signed-in user; the handler redirects to the sign-in page."""


def app_context(request: Request) -> AppContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


Ctx = Annotated[AppContext, Depends(app_context)]


@dataclass(frozen=True, slots=True)
class Caller:
    principal: ws.Principal
    user_session: UserSession | None  # set for browser sessions, None for API tokens

    @property
    def csrf_token(self) -> str:
        return self.user_session.csrf_token if self.user_session else ""


def _from_cookie(request: Request, ctx: AppContext) -> Caller | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    with system_session(ctx.session_factory) as session:
        found = ws.resolve_session(session=session, clock=ctx.clock, raw_token=raw)
    if found:
        return Caller(principal=found[1], user_session=found[0])
    return None


def _from_bearer(request: Request, ctx: AppContext) -> Caller | None:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    with system_session(ctx.session_factory) as session:
        principal = ws.resolve_api_token(session=session, clock=ctx.clock, raw_token=raw.strip())
    if principal:
        return Caller(principal=principal, user_session=None)
    return None


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def api_caller(request: Request, ctx: Ctx) -> Caller:
    """Bearer token, or the browser session (then unsafe methods need X-CSRF-Token)."""
    caller = _from_bearer(request, ctx)
    if caller:
        return caller
    caller = _from_cookie(request, ctx)
    if caller is None:
        raise Unauthorized("Sign in or send 'Authorization: Bearer <API token>'.")
    if request.method in UNSAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, caller.csrf_token):
            raise Forbidden("missing or wrong X-CSRF-Token header for a cookie-authenticated call")
    return caller


def page_caller(request: Request, ctx: Ctx) -> Caller:
    caller = _from_cookie(request, ctx)
    if caller is None:
        raise LoginRequired()
    return caller


async def verify_csrf(request: Request, caller: Annotated[Caller, Depends(page_caller)]) -> None:
    """Every form POST of a signed-in page carries the session's CSRF token."""
    form = await request.form()
    sent = str(form.get("csrf_token", ""))
    if not caller.user_session or not hmac.compare_digest(sent, caller.csrf_token):
        raise Forbidden("This form has expired. Reload the page and try again.")


def _scoped(ctx: AppContext, caller: Caller) -> Iterator[Session]:
    with ctx.session_factory() as session:
        bind_workspace(session, caller.principal.workspace.id)
        with session.begin():
            yield session


def api_session(ctx: Ctx, caller: Annotated[Caller, Depends(api_caller)]) -> Iterator[Session]:
    yield from _scoped(ctx, caller)


def page_session(ctx: Ctx, caller: Annotated[Caller, Depends(page_caller)]) -> Iterator[Session]:
    yield from _scoped(ctx, caller)


ApiCaller = Annotated[Caller, Depends(api_caller)]
PageCaller = Annotated[Caller, Depends(page_caller)]
# scope="function": the transaction commits before the response is sent, so a failed
# commit becomes an error response instead of a success for work that was lost.
ApiSession = Annotated[Session, Depends(api_session, scope="function")]
PageSession = Annotated[Session, Depends(page_session, scope="function")]
CsrfChecked = Depends(verify_csrf)
