"""API routes: the follow-up schedule, and a person's changes to it (cancel, skip, move)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from commandcentre.followups import manage
from commandcentre.followups.models import FollowUp
from commandcentre.followups.schemas import (
    FollowUpCancelIn,
    FollowUpCancelOut,
    FollowUpList,
    FollowUpOut,
    FollowUpRescheduleIn,
    FollowUpStatus,
    FollowUpType,
)
from commandcentre.pagination import MAX_LIMIT, PaginationOut
from commandcentre.web.api.responses import LIST_ERRORS, WRITE_ERRORS, error_responses
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["followups"])

PageNo = Annotated[int, Query(ge=1, le=100_000, description="1-based page number.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
# No body: skip is one decision, nothing to say with it.
SKIP_ERRORS = error_responses(401, 403, 404, 409, 422)


def out(row: manage.FollowUpRow) -> FollowUpOut:
    f = row.followup
    return FollowUpOut(
        id=f.id,
        contact_id=f.contact_id,
        contact_name=row.contact_name,
        agent_id=f.agent_id,
        original_outreach_id=f.original_outreach_id,
        original_subject=row.subject,
        draft_id=f.draft_id,
        followup_number=f.followup_number,
        followup_type=f.followup_type,
        status=f.status,
        scheduled_at=f.scheduled_at,
        executed_at=f.executed_at,
        cancel_reason=f.cancel_reason,
        waiting_reason=f.last_error if f.status == "scheduled" else None,
        created_at=f.created_at,
        updated_at=f.updated_at,
    )


def _outs(session: Session, rows: list[FollowUp]) -> list[FollowUpOut]:
    return [out(r) for r in manage.rows_for(session, rows)]


@router.get("/followups", response_model=FollowUpList, responses=LIST_ERRORS)
def list_followups(
    session: ApiSession,
    status: FollowUpStatus | None = None,
    followup_type: FollowUpType | None = None,
    contact_id: uuid.UUID | None = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> FollowUpList:
    """Follow-ups in calendar order (their planned time), optionally filtered."""
    found = manage.list_(
        session,
        status=status,
        followup_type=followup_type,
        contact_id=contact_id,
        page=page,
        limit=limit,
    )
    return FollowUpList(
        follow_ups=_outs(session, found.items),
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.post(
    "/followups/{followup_id}/cancel", response_model=FollowUpCancelOut, responses=WRITE_ERRORS
)
def cancel_followup(
    followup_id: uuid.UUID,
    body: FollowUpCancelIn,
    caller: ApiCaller,
    session: ApiSession,
    ctx: Ctx,
) -> FollowUpCancelOut:
    """Cancel a scheduled follow-up (409 once it ran or was stopped); the reason is kept.
    `wholeSequence` also cancels the later follow-ups of the same first message."""
    rows = manage.cancel(
        session,
        ctx.clock,
        followup_id,
        caller.principal.user.id,
        body.reason,
        whole_sequence=body.whole_sequence,
    )
    return FollowUpCancelOut(cancelled=_outs(session, rows))


@router.post("/followups/{followup_id}/skip", response_model=FollowUpOut, responses=SKIP_ERRORS)
def skip_followup(
    followup_id: uuid.UUID, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> FollowUpOut:
    """Pass over one scheduled follow-up; the rest of its sequence stays as planned."""
    row = manage.skip(session, ctx.clock, followup_id, caller.principal.user.id)
    return _outs(session, [row])[0]


@router.post(
    "/followups/{followup_id}/reschedule", response_model=FollowUpOut, responses=WRITE_ERRORS
)
def reschedule_followup(
    followup_id: uuid.UUID,
    body: FollowUpRescheduleIn,
    caller: ApiCaller,
    session: ApiSession,
    ctx: Ctx,
) -> FollowUpOut:
    """Move a scheduled follow-up. 422 when the time is past or the follow-up rules forbid
    it (business hours in the recipient's zone, the quiet period around the event); the
    message then names the rule and the next allowed time."""
    row = manage.reschedule(
        session, ctx.clock, followup_id, caller.principal.user.id, body.scheduled_at
    )
    return _outs(session, [row])[0]
