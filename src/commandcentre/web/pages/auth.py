"""Sign-in and sign-out pages."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from commandcentre.db.scoping import system_session
from commandcentre.errors import TooManyAttempts, Unauthorized
from commandcentre.web.deps import ANON_CSRF_COOKIE, SESSION_COOKIE, Ctx
from commandcentre.web.templating import render
from commandcentre.workspaces import services as ws
from commandcentre.workspaces.tokens import new_secret

router = APIRouter()


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: an open redirect after sign-in is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _login_page(
    request: Request, *, next_url: str, email: str = "", error: str = "", status: int = 200
) -> Response:
    token = request.cookies.get(ANON_CSRF_COOKIE) or new_secret(24)
    response = render(
        request,
        "login.html",
        status_code=status,
        anon_csrf=token,
        next_url=next_url,
        email=email,
        error=error,
    )
    response.set_cookie(ANON_CSRF_COOKIE, token, httponly=True, samesite="lax")
    return response


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, next_url=_safe_next(next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    ctx: Ctx,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    next_url = _safe_next(next)
    cookie = request.cookies.get(ANON_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            error="The sign-in form expired. Please try again.",
            status=403,
        )
    if not email.strip() or not password:
        return _login_page(
            request,
            next_url=next_url,
            email=email,
            error="Enter your email and password.",
            status=422,
        )
    remote = request.client.host if request.client else "unknown"
    raw = ""
    error: tuple[str, int] | None = None
    # Failures are caught inside the transaction so the failed attempt is committed
    # (that is what throttling counts).
    with system_session(ctx.session_factory) as session:
        try:
            user = ws.authenticate(
                session=session,
                clock=ctx.clock,
                email=email,
                password=password,
                remote_addr=remote,
                max_failures=ctx.settings.login_max_failures,
                window=ctx.settings_lockout_window(),
            )
            workspace = ws.default_workspace(session=session, user=user)
            raw, _ = ws.start_session(
                session=session,
                clock=ctx.clock,
                user=user,
                workspace=workspace,
                days=ctx.settings.session_days,
            )
        except TooManyAttempts as exc:
            error = (exc.message, 429)
        except Unauthorized as exc:
            error = (exc.message, 401)
    if error:
        return _login_page(request, next_url=next_url, email=email, error=error[0], status=error[1])
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        max_age=ctx.settings.session_days * 86400,
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        with system_session(ctx.session_factory) as session:
            found = ws.resolve_session(session=session, clock=ctx.clock, raw_token=raw)
            if found and hmac.compare_digest(found[0].csrf_token, csrf_token):
                ws.end_session(session=session, raw_token=raw)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
