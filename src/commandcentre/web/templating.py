"""Jinja2 templates with the helpers every page uses."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from commandcentre.web.deps import Caller

TEMPLATES_DIR = Path(__file__).with_name("templates")
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def _fmt_date(value: date | datetime | None, fmt: str = "%d %b %Y") -> str:
    return value.strftime(fmt) if value else "—"


def _fmt_datetime(value: datetime | None, tz: str = "UTC") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime("%d %b %Y %H:%M")


templates.env.filters["date"] = _fmt_date
templates.env.filters["datetime"] = _fmt_datetime


def render(
    request: Request,
    name: str,
    caller: Caller | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    base: dict[str, Any] = {
        "caller": caller,
        "user": caller.principal.user if caller else None,
        "workspace": caller.principal.workspace if caller else None,
        "csrf_token": caller.csrf_token if caller else context.pop("anon_csrf", ""),
        "today": request.app.state.ctx.clock.now().date(),
    }
    base.update(context)
    return templates.TemplateResponse(request, name, base, status_code=status_code)
