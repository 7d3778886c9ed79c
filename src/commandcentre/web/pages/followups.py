"""Pages: the follow-up schedule by day, and cancelling, skipping or moving a follow-up.

Every action is a plain form POST that redirects back to the same filtered list, or
re-renders it with the message next to the follow-up it concerns (and what was typed), so
the page works without JavaScript. Each action runs in a savepoint: a refused action
leaves nothing half-written. Times are shown and typed in the workspace's time zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from commandcentre.errors import Conflict, InvalidInput
from commandcentre.followups import manage
from commandcentre.followups.models import FOLLOWUP_STATUSES, FOLLOWUP_TYPES
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.forms import attempt
from commandcentre.web.pages.events import page_number, require_uuid
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)

LIST = "/followups"
# Empty form values read as missing, so "every status" needs a word of its own.
ALL = "all"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
DONE = {
    "cancelled": "Cancelled: your reason is kept with the follow-up.",
    "skipped": "Skipped: the rest of the sequence goes ahead as planned.",
    "rescheduled": "Moved: the follow-up goes out at the new time.",
}


def _status(value: str | None) -> str:
    """The status filter: a status, or "all"; anything else shows what is still to come."""
    if value == ALL or value in FOLLOWUP_STATUSES:
        return value
    return "scheduled"


def _type(value: str) -> str:
    return value if value in FOLLOWUP_TYPES else ""


def _query(status: str, followup_type: str, page: int) -> str:
    params = {"status": status, "followup_type": followup_type}
    if page > 1:
        params["page"] = str(page)
    return urlencode(params)


def parse_local(value: str, zone: str) -> datetime:
    """A ``datetime-local`` value, read as wall time in ``zone``."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("Enter a date and time.", field="scheduled_at") from None
    if parsed.tzinfo is not None:
        raise InvalidInput("Enter the time without a time zone.", field="scheduled_at")
    if not 2000 <= parsed.year <= 9000:
        # Far-off years are typos, and the edges of the calendar overflow in time zones.
        raise InvalidInput("Enter a date within a year from now.", field="scheduled_at")
    return parsed.replace(tzinfo=ZoneInfo(zone))


def _list_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    *,
    status: str,
    followup_type: str,
    page: int = 1,
    status_code: int = 200,
    errors: dict[uuid.UUID, str] | None = None,
    times: dict[uuid.UUID, str] | None = None,
    flashes: list[str] | None = None,
) -> HTMLResponse:
    zone = manage.workspace_zone(session)
    found, days = manage.list_by_day(
        session,
        zone=zone,
        status=None if status == ALL else status,
        followup_type=followup_type or None,
        page=page,
        limit=ctx.settings.page_size,
    )
    shown = {row.followup.id for day in days for row in day.rows}
    tz = ZoneInfo(zone)
    now_local = ctx.clock.now().astimezone(tz)
    # Each move box starts at the planned time, or at what was typed (or suggested).
    values = {
        row.followup.id: row.followup.scheduled_at.astimezone(tz).strftime(LOCAL_FORMAT)
        for day in days
        for row in day.rows
        if row.followup.status == "scheduled"
    }
    values.update(times or {})
    return render(
        request,
        "followups/list.html",
        caller,
        status_code=status_code,
        page=found,
        days=days,
        zone=zone,
        today_local=now_local.date(),
        now_local=now_local.strftime(LOCAL_FORMAT),
        status=status,
        followup_type=followup_type,
        statuses=[(s, manage.STATUS_TEXT[s]) for s in FOLLOWUP_STATUSES] + [(ALL, "Every status")],
        types=[(t, manage.TYPE_TEXT[t]) for t in FOLLOWUP_TYPES],
        back=_query(status, followup_type, page),
        errors=errors or {},
        # Messages about follow-ups this page does not show go at the top: never silent.
        page_errors=[m for k, m in (errors or {}).items() if k not in shown],
        times=values,
        flashes=flashes or [],
    )


@router.get("/followups", response_class=HTMLResponse)
def followups_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    status: str | None = None,
    followup_type: str = "",
    page: str = "1",
    done: str = "",
) -> HTMLResponse:
    return _list_page(
        request,
        caller,
        session,
        ctx,
        status=_status(status),
        followup_type=_type(followup_type),
        page=page_number(page),
        flashes=[DONE[done]] if done in DONE else [],
    )


def _back_to(what: str, status: str, followup_type: str, page: int, anchor: uuid.UUID) -> Response:
    query = _query(_status(status), _type(followup_type), page)
    return RedirectResponse(f"{LIST}?{query}&done={what}#followup-{anchor}", status_code=303)


def _refused(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    key: uuid.UUID,
    exc: Conflict | InvalidInput,
    *,
    status: str,
    followup_type: str,
    page: int,
    typed: str | None = None,
) -> HTMLResponse:
    times = {key: typed} if typed is not None else {}
    if isinstance(exc, manage.ForbiddenTime) and exc.suggestion is not None:
        # Offer the next allowed time in the box: one click to accept it.
        zone = manage.workspace_zone(session)
        times[key] = exc.suggestion.astimezone(ZoneInfo(zone)).strftime(LOCAL_FORMAT)
    message = exc.message[:1].upper() + exc.message[1:]
    return _list_page(
        request,
        caller,
        session,
        ctx,
        status=_status(status),
        followup_type=_type(followup_type),
        page=page,
        status_code=409 if isinstance(exc, Conflict) else 422,
        errors={key: message},
        times=times,
    )


Filter = Annotated[str, Form()]


def _existing(session: Session, followup_id: str) -> uuid.UUID:
    """The follow-up's id, once it is known to exist (404 otherwise)."""
    wanted = require_uuid(followup_id, "follow-up")
    manage.get_or_404(session, wanted)
    return wanted


def _act(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    wanted: uuid.UUID,
    action: Callable[[], object],
    done: str,
    *,
    status: str,
    followup_type: str,
    page: str,
    typed: str | None = None,
) -> Response:
    """Run one action on a follow-up: back to the same filtered list when it went through,
    or that list again with the refusal (and what was typed) next to the follow-up."""
    shown = page_number(page)
    refusal = attempt(session, action)
    if refusal is not None:
        return _refused(
            request,
            caller,
            session,
            ctx,
            wanted,
            refusal,
            status=status,
            followup_type=followup_type,
            page=shown,
            typed=typed,
        )
    return _back_to(done, status, followup_type, shown, wanted)


@router.post(
    "/followups/{followup_id}/cancel", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def cancel(
    request: Request,
    followup_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    reason: Annotated[str, Form()] = "",
    whole_sequence: Annotated[str, Form()] = "",
    status: Filter = "scheduled",
    followup_type: Filter = "",
    page: Filter = "1",
) -> Response:
    wanted = _existing(session, followup_id)
    return _act(
        request,
        caller,
        session,
        ctx,
        wanted,
        lambda: manage.cancel(
            session,
            ctx.clock,
            wanted,
            caller.principal.user.id,
            reason,
            whole_sequence=bool(whole_sequence),
        ),
        "cancelled",
        status=status,
        followup_type=followup_type,
        page=page,
    )


@router.post(
    "/followups/{followup_id}/skip", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def skip(
    request: Request,
    followup_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    status: Filter = "scheduled",
    followup_type: Filter = "",
    page: Filter = "1",
) -> Response:
    wanted = _existing(session, followup_id)
    return _act(
        request,
        caller,
        session,
        ctx,
        wanted,
        lambda: manage.skip(session, ctx.clock, wanted, caller.principal.user.id),
        "skipped",
        status=status,
        followup_type=followup_type,
        page=page,
    )


@router.post(
    "/followups/{followup_id}/reschedule",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
def reschedule(
    request: Request,
    followup_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    scheduled_at: Annotated[str, Form()] = "",
    status: Filter = "scheduled",
    followup_type: Filter = "",
    page: Filter = "1",
) -> Response:
    wanted = _existing(session, followup_id)
    typed = scheduled_at.replace("\x00", "")[:40]

    def move() -> None:
        # A time that cannot be read is refused like any other, shown back as typed.
        at = parse_local(typed, manage.workspace_zone(session))
        manage.reschedule(session, ctx.clock, wanted, caller.principal.user.id, at)

    return _act(
        request,
        caller,
        session,
        ctx,
        wanted,
        move,
        "rescheduled",
        status=status,
        followup_type=followup_type,
        page=page,
        typed=typed,
    )
