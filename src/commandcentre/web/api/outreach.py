"""API routes: the Outreach agent's drafts, and the human decision on each.

Paths sit under `/agents/outreach/...`; this router is registered before the agents router
so `outreach` is never read as an agent id.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from commandcentre.outreach import review
from commandcentre.outreach.schemas import (
    DraftApproveIn,
    DraftList,
    DraftOut,
    DraftRejectIn,
    DraftStatus,
)
from commandcentre.pagination import MAX_LIMIT, PaginationOut
from commandcentre.web.api.responses import LIST_ERRORS, WRITE_ERRORS
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["outreach"])

PageNo = Annotated[int, Query(ge=1, le=100_000, description="1-based page number.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]


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
        drafts=[DraftOut.model_validate(d) for d in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


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
