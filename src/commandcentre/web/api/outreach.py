"""API routes: the Outreach agent's drafts, the human decision on each, and their sends.

Paths sit under `/agents/outreach/...`; this router is registered before the agents router
so `outreach` is never read as an agent id.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from commandcentre.outreach import drafts, queue, review, sending
from commandcentre.outreach.schemas import (
    BulkApproveIn,
    BulkApproveOut,
    BulkApproveResult,
    DraftApproveIn,
    DraftList,
    DraftOut,
    DraftRegenerateIn,
    DraftRejectIn,
    DraftStatus,
    SendList,
    SendOut,
    SendResolveIn,
    SendStatus,
)
from commandcentre.pagination import MAX_LIMIT, Page, PaginationOut
from commandcentre.web.api.responses import LIST_ERRORS, WRITE_ERRORS, error_responses
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["outreach"])

PageNo = Annotated[int, Query(ge=1, le=100_000, description="1-based page number.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]


def _pagination(found: Page[Any]) -> PaginationOut:
    """Where a list answer sits among all the rows, the same for every list."""
    return PaginationOut(page=found.page, limit=found.limit, total=found.total)


@router.get("/agents/outreach/drafts", response_model=DraftList, responses=LIST_ERRORS)
def list_drafts(
    session: ApiSession,
    status: DraftStatus | None = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> DraftList:
    """Newest first; `status=pending_approval` is the review queue."""
    found = review.list_(session, status=status, page=page, limit=limit)
    return DraftList(
        drafts=[DraftOut.model_validate(d) for d in found.items], pagination=_pagination(found)
    )


@router.post(
    "/agents/outreach/drafts/bulk-approve",
    response_model=BulkApproveOut,
    responses=error_responses(400, 401, 403, 422),
)
def bulk_approve_drafts(
    body: BulkApproveIn, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> BulkApproveOut:
    """Approve several drafts; each succeeds or fails on its own (see `results`)."""
    outcomes = review.bulk_approve(session, ctx.clock, body.draft_ids, caller.principal.user.id)
    results = [
        BulkApproveResult(draft_id=o.draft_id, approved=o.ok, error=o.error) for o in outcomes
    ]
    return BulkApproveOut(results=results, approved=sum(1 for o in outcomes if o.ok))


@router.post(
    "/agents/outreach/drafts/{draft_id}/approve", response_model=DraftOut, responses=WRITE_ERRORS
)
def approve_draft(
    draft_id: uuid.UUID,
    caller: ApiCaller,
    session: ApiSession,
    ctx: Ctx,
    body: Annotated[DraftApproveIn | None, Body()] = None,
) -> DraftOut:
    """Approve a draft pending approval, with optional edits to its subject and message."""
    edits = body or DraftApproveIn()
    draft = review.approve(
        session,
        ctx.clock,
        draft_id,
        caller.principal.user.id,
        subject=edits.subject,
        body=edits.message_body,
    )
    return DraftOut.model_validate(draft)


@router.post(
    "/agents/outreach/drafts/{draft_id}/reject", response_model=DraftOut, responses=WRITE_ERRORS
)
def reject_draft(
    draft_id: uuid.UUID, body: DraftRejectIn, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> DraftOut:
    """Refuse a draft pending approval; the reason is kept with it."""
    draft = review.reject(session, ctx.clock, draft_id, caller.principal.user.id, body.reason)
    return DraftOut.model_validate(draft)


@router.post(
    "/agents/outreach/drafts/{draft_id}/undo", response_model=DraftOut, responses=WRITE_ERRORS
)
def undo_approval(
    draft_id: uuid.UUID, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> DraftOut:
    """Take an approval back while its send has not started; the draft is pending again."""
    draft = review.undo_approval(session, ctx.clock, draft_id, caller.principal.user.id)
    return DraftOut.model_validate(draft)


@router.post(
    "/agents/outreach/drafts/{draft_id}/regenerate",
    response_model=DraftOut,
    responses=WRITE_ERRORS,
)
def regenerate_draft(
    draft_id: uuid.UUID, body: DraftRegenerateIn, session: ApiSession, ctx: Ctx
) -> DraftOut:
    """Write a pending draft again following the instruction; it stays pending."""
    draft = drafts.regenerate(session, ctx.clock, draft_id, body.instruction)
    return DraftOut.model_validate(draft)


@router.post(
    "/agents/outreach/drafts/{draft_id}/mark-sent", response_model=SendOut, responses=WRITE_ERRORS
)
def mark_sent(draft_id: uuid.UUID, caller: ApiCaller, session: ApiSession, ctx: Ctx) -> SendOut:
    """Record that an approved LinkedIn message was sent by hand."""
    send = sending.mark_manual_sent(session, ctx.clock, draft_id, caller.principal.user.id)
    return SendOut.model_validate(send)


@router.get("/outreach/sends", response_model=SendList, responses=LIST_ERRORS)
def list_sends(
    session: ApiSession,
    status: SendStatus | None = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> SendList:
    """Every approved message's way out, newest first; `status=needs_review` needs you."""
    found = queue.list_sends(session, status=status, page=page, limit=limit)
    return SendList(
        sends=[SendOut.model_validate(s) for s in found.items], pagination=_pagination(found)
    )


@router.post("/outreach/sends/{send_id}/resolve", response_model=SendOut, responses=WRITE_ERRORS)
def resolve_send(
    send_id: uuid.UUID, body: SendResolveIn, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> SendOut:
    """Settle a send that needs review: it was sent, send it again, or cancel it."""
    send = sending.resolve(session, ctx.clock, send_id, body.outcome, caller.principal.user.id)
    return SendOut.model_validate(send)
