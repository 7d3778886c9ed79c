"""Pages: the approval queue for outreach drafts, and what happens to them after approval.

Every action is a plain form POST that redirects, or re-renders the page with the message
next to the draft it concerns, so the queue works without JavaScript. `static/approvals.js`
only adds keyboard shortcuts and a copy button. Each action runs in a savepoint: a refused
action leaves nothing half-written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from commandcentre.errors import Conflict, DomainError, InvalidInput
from commandcentre.outreach import drafts, queue, review, sending
from commandcentre.outreach.models import SEND_STATUSES
from commandcentre.web.deps import CsrfChecked, Ctx, PageCaller, PageSession
from commandcentre.web.forms import attempt
from commandcentre.web.pages.events import page_number, parse_uuid, require_uuid
from commandcentre.web.templating import render

router = APIRouter(include_in_schema=False)

QUEUE = "/outreach/queue"
SENDS = "/outreach/sends"
Back = Literal["queue", "sends"]

DONE = {
    "approved": "Approved. It waits out the undo delay before it goes; you can still take it back.",
    "rejected": "Rejected: your reason is kept with the draft.",
    "regenerated": "Written again as you asked. Read it before approving.",
    "undone": "Taken back: the draft is waiting for your decision again.",
    "marked": "Marked as sent.",
    "resolved": "Done: the send is settled.",
}
RESOLVE_OUTCOMES = frozenset({"sent", "resend", "cancel"})


def _clean(value: str, max_len: int) -> str:
    # PostgreSQL refuses NUL characters; nobody types one on purpose.
    return value.replace("\x00", "")[:max_len]


def _back(value: str) -> Back:
    return "sends" if value == "sends" else "queue"


def _unplaced(errors: dict[uuid.UUID, str] | None, shown: set[uuid.UUID]) -> list[str]:
    """Messages about rows the page does not show (say, a draft decided meanwhile): they
    go at the top, so a refusal is never silent."""
    return [message for key, message in (errors or {}).items() if key not in shown]


def _queue_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    *,
    page: int = 1,
    status_code: int = 200,
    errors: dict[uuid.UUID, str] | None = None,
    edits: dict[uuid.UUID, dict[str, str]] | None = None,
    flashes: list[str] | None = None,
) -> HTMLResponse:
    now = ctx.clock.now()
    pending = queue.pending(session, now, page=page, limit=ctx.settings.page_size)
    on_their_way = queue.on_their_way(session, now)
    shown = {v.draft.id for v in pending.items} | {v.draft.id for v in on_their_way}
    return render(
        request,
        "outreach/queue.html",
        caller,
        status_code=status_code,
        pending=pending,
        on_their_way=on_their_way,
        errors=errors or {},
        page_errors=_unplaced(errors, shown),
        edits=edits or {},
        flashes=flashes or [],
        now=now,
    )


def _sends_page(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    *,
    status: str = "",
    page: int = 1,
    status_code: int = 200,
    errors: dict[uuid.UUID, str] | None = None,
    flashes: list[str] | None = None,
) -> HTMLResponse:
    now = ctx.clock.now()
    wanted = status if status in SEND_STATUSES else ""
    found = queue.list_sends(
        session, status=wanted or None, page=page, limit=ctx.settings.page_size
    )
    rows = queue.send_rows(session, found.items, now)
    shown = {r.send.send.id for r in rows} | {r.send.send.draft_id for r in rows}
    return render(
        request,
        "outreach/sends.html",
        caller,
        status_code=status_code,
        page=found,
        rows=rows,
        page_errors=_unplaced(errors, shown),
        statuses=[(s, queue.SEND_STATUS_TEXT[s]) for s in SEND_STATUSES],
        status=wanted,
        errors=errors or {},
        flashes=flashes or [],
    )


def _refused(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    back: Back,
    key: uuid.UUID,
    exc: DomainError,
    edits: dict[uuid.UUID, dict[str, str]] | None = None,
) -> HTMLResponse:
    """The page the form came from, with the reason next to the row it concerns."""
    code = 409 if isinstance(exc, Conflict) else 422
    if back == "sends":
        return _sends_page(
            request, caller, session, ctx, status_code=code, errors={key: exc.message}
        )
    return _queue_page(
        request, caller, session, ctx, status_code=code, errors={key: exc.message}, edits=edits
    )


def _done(back: Back, what: str, anchor: uuid.UUID | None = None) -> Response:
    where = SENDS if back == "sends" else QUEUE
    fragment = f"#draft-{anchor}" if anchor and back == "queue" else ""
    return RedirectResponse(f"{where}?done={what}{fragment}", status_code=303)


def _act(
    request: Request,
    caller: PageCaller,
    session: Session,
    ctx: Ctx,
    action: Callable[[], object],
    *,
    back: Back,
    key: uuid.UUID,
    done: str,
    anchor: uuid.UUID | None = None,
    edits: dict[uuid.UUID, dict[str, str]] | None = None,
) -> Response:
    """Run one decision: on to the page it came from when it went through, or that page
    again with the refusal next to ``key`` (and the user's ``edits`` kept)."""
    refusal = attempt(session, action)
    if refusal is not None:
        return _refused(request, caller, session, ctx, back, key, refusal, edits)
    return _done(back, done, anchor)


# --------------------------------------------------------------------------- pages


@router.get("/outreach/queue", response_class=HTMLResponse)
def queue_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    page: str = "1",
    done: str = "",
    approved: str = "",
) -> HTMLResponse:
    flashes = [DONE[done]] if done in DONE else []
    if approved.strip().isdigit():
        n = int(approved)
        flashes.append(f"Approved {n} draft{'s' if n != 1 else ''}.")
    return _queue_page(request, caller, session, ctx, page=page_number(page), flashes=flashes)


@router.get("/outreach/sends", response_class=HTMLResponse)
def sends_page(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    status: str = "",
    page: str = "1",
    done: str = "",
) -> HTMLResponse:
    flashes = [DONE[done]] if done in DONE else []
    return _sends_page(
        request, caller, session, ctx, status=status, page=page_number(page), flashes=flashes
    )


# --------------------------------------------------------------------------- decisions


@router.post(
    "/outreach/drafts/bulk-approve", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def bulk_approve(
    request: Request,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    draft_ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    chosen = [parsed for raw in draft_ids[: review.MAX_BULK] if (parsed := parse_uuid(raw))]
    if not chosen:
        flashes = ["Tick at least one draft to approve (or press x on it)."]
        return _queue_page(request, caller, session, ctx, status_code=422, flashes=flashes)
    outcomes = review.bulk_approve(session, ctx.clock, chosen, caller.principal.user.id)
    errors = {o.draft_id: o.error or "Not approved." for o in outcomes if not o.ok}
    approved = sum(1 for o in outcomes if o.ok)
    if errors:
        # The approvals that worked stand; the page says which did not and why.
        flash = (
            f"Approved {approved} draft{'s' if approved != 1 else ''}; {len(errors)} could not be."
        )
        return _queue_page(
            request, caller, session, ctx, status_code=409, errors=errors, flashes=[flash]
        )
    return RedirectResponse(f"{QUEUE}?approved={approved}", status_code=303)


@router.post(
    "/outreach/drafts/{draft_id}/approve", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def approve(
    request: Request,
    draft_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    subject: Annotated[str | None, Form()] = None,
    message_body: Annotated[str | None, Form()] = None,
) -> Response:
    wanted = require_uuid(draft_id, "draft")
    new_subject = _clean(subject, 500) if subject is not None else None
    new_body = _clean(message_body, 20_000) if message_body is not None else None
    # What was typed is shown again on a refusal; an approval without edits has none.
    edits = {wanted: {"subject": new_subject or "", "message_body": new_body or ""}}
    if subject is None and message_body is None:
        edits = {}
    return _act(
        request,
        caller,
        session,
        ctx,
        lambda: review.approve(
            session,
            ctx.clock,
            wanted,
            caller.principal.user.id,
            subject=new_subject,
            body=new_body,
        ),
        back="queue",
        key=wanted,
        done="approved",
        anchor=wanted,
        edits=edits,
    )


@router.post(
    "/outreach/drafts/{draft_id}/reject", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def reject(
    request: Request,
    draft_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    reason: Annotated[str, Form()] = "",
) -> Response:
    wanted = require_uuid(draft_id, "draft")
    return _act(
        request,
        caller,
        session,
        ctx,
        lambda: review.reject(
            session, ctx.clock, wanted, caller.principal.user.id, _clean(reason, 2000)
        ),
        back="queue",
        key=wanted,
        done="rejected",
    )


@router.post(
    "/outreach/drafts/{draft_id}/regenerate",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
def regenerate(
    request: Request,
    draft_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    instruction: Annotated[str, Form()] = "",
) -> Response:
    wanted = require_uuid(draft_id, "draft")
    return _act(
        request,
        caller,
        session,
        ctx,
        lambda: drafts.regenerate(session, ctx.clock, wanted, _clean(instruction, 2000)),
        back="queue",
        key=wanted,
        done="regenerated",
        anchor=wanted,
    )


@router.post(
    "/outreach/drafts/{draft_id}/undo", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def undo(
    request: Request,
    draft_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    back: Annotated[str, Form()] = "queue",
) -> Response:
    wanted = require_uuid(draft_id, "draft")
    return _act(
        request,
        caller,
        session,
        ctx,
        lambda: review.undo_approval(session, ctx.clock, wanted, caller.principal.user.id),
        back=_back(back),
        key=wanted,
        done="undone",
        anchor=wanted,
    )


@router.post(
    "/outreach/drafts/{draft_id}/mark-sent", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def mark_sent(
    request: Request,
    draft_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    back: Annotated[str, Form()] = "queue",
) -> Response:
    wanted = require_uuid(draft_id, "draft")
    return _act(
        request,
        caller,
        session,
        ctx,
        lambda: sending.mark_manual_sent(session, ctx.clock, wanted, caller.principal.user.id),
        back=_back(back),
        key=wanted,
        done="marked",
    )


@router.post(
    "/outreach/sends/{send_id}/resolve", dependencies=[CsrfChecked], response_class=HTMLResponse
)
def resolve(
    request: Request,
    send_id: str,
    caller: PageCaller,
    session: PageSession,
    ctx: Ctx,
    outcome: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "sends",
) -> Response:
    send = sending.get_send_or_404(session, require_uuid(send_id, "send"))
    where = _back(back)
    # Errors on the queue page sit with the draft, on the sends page with the send.
    key = send.draft_id if where == "queue" else send.id

    def settle() -> None:
        # An outcome the form does not offer is refused like any other, next to the row.
        if outcome not in RESOLVE_OUTCOMES:
            raise InvalidInput("choose: it was sent, send again, or cancel", field="outcome")
        sending.resolve(session, ctx.clock, send.id, outcome, caller.principal.user.id)

    return _act(
        request,
        caller,
        session,
        ctx,
        settle,
        back=where,
        key=key,
        done="resolved",
        anchor=send.draft_id,
    )
