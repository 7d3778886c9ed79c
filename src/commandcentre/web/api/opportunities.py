"""API routes: opportunities (read side and status changes; discovery creates them)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from commandcentre.errors import NotFound
from commandcentre.intel import opportunities as svc
from commandcentre.intel.models import Opportunity
from commandcentre.intel.schemas import (
    LIST_ERRORS,
    READ_ERRORS,
    EventOut,
    EventRef,
    OpportunityAccountOut,
    OpportunityDetailOut,
    OpportunityList,
    OpportunityOut,
    OpportunityPersonOut,
    OpportunityStatus,
    OpportunityStatusIn,
    ScoreExplanationOut,
    ScoreFactorOut,
    error_responses,
)
from commandcentre.pagination import PaginationOut
from commandcentre.web.api.events import Limit, PageNo
from commandcentre.web.deps import ApiSession, Ctx

router = APIRouter(tags=["opportunities"])


def _out(opportunity: Opportunity, today: date) -> OpportunityOut:
    return OpportunityOut(
        id=opportunity.id,
        event_id=opportunity.event_id,
        event=EventRef.model_validate(opportunity.event),
        status=opportunity.status,
        signal_score=opportunity.signal_score,
        priority_score=opportunity.priority_score,
        account_count=opportunity.account_count,
        contact_count=opportunity.contact_count,
        days_until=svc.days_until(opportunity.event, today),
        first_seen_at=opportunity.first_seen_at,
        last_discovered_at=opportunity.last_discovered_at,
    )


@router.get("/opportunities", response_model=OpportunityList, responses=LIST_ERRORS)
def list_opportunities(
    session: ApiSession,
    ctx: Ctx,
    status: OpportunityStatus | None = None,
    new: Annotated[bool, Query(description="Only opportunities not looked at yet.")] = False,
    min_score: Annotated[float | None, Query(ge=0, le=1_000_000, allow_inf_nan=False)] = None,
    upcoming: Annotated[bool, Query(description="Only events starting today or later.")] = False,
    page: PageNo = 1,
    limit: Limit = 25,
) -> OpportunityList:
    """Strongest signal first, then the soonest event."""
    today = ctx.clock.now().date()
    found = svc.list_(
        session=session,
        today=today,
        status=status,
        new=new,
        min_score=min_score,
        upcoming=upcoming,
        page=page,
        limit=limit,
    )
    return OpportunityList(
        items=[_out(o, today) for o in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.get(
    "/opportunities/{opportunity_id}", response_model=OpportunityDetailOut, responses=READ_ERRORS
)
def get_opportunity(
    opportunity_id: uuid.UUID, session: ApiSession, ctx: Ctx
) -> OpportunityDetailOut:
    """The event, the score with its explanation, and the target accounts' people there."""
    detail = svc.get_detail(session=session, opportunity_id=opportunity_id)
    if detail is None:
        raise NotFound("no such opportunity")
    base = _out(detail.opportunity, ctx.clock.now().date()).model_dump(exclude={"event"})
    return OpportunityDetailOut(
        **base,
        event=EventOut.model_validate(detail.event),
        score_explanation=ScoreExplanationOut(
            summary=detail.explanation.summary,
            factors=[
                ScoreFactorOut(name=f.name, points=f.points, detail=f.detail)
                for f in detail.explanation.factors
            ],
        ),
        accounts=[
            OpportunityAccountOut(
                id=group.account.id,
                name=group.account.name,
                tier=group.account.tier,
                domain=group.account.domain,
                contacts=[
                    OpportunityPersonOut(
                        contact_id=p.contact.id,
                        full_name=p.contact.full_name,
                        title=p.contact.title,
                        organisation=p.contact.organisation,
                        email=p.contact.email,
                        outreach_status=p.contact.outreach_status,
                        role=p.role,
                        talk_titles=p.talk_titles,
                    )
                    for p in group.people
                ],
            )
            for group in detail.accounts
        ],
    )


@router.patch(
    "/opportunities/{opportunity_id}",
    response_model=OpportunityOut,
    responses=error_responses(400, 401, 403, 404, 422),
)
def update_opportunity(
    opportunity_id: uuid.UUID, body: OpportunityStatusIn, session: ApiSession, ctx: Ctx
) -> OpportunityOut:
    """Change the status (e.g. `reviewing`, `dismissed`)."""
    opportunity = svc.update(session=session, opportunity_id=opportunity_id, status=body.status)
    return _out(opportunity, ctx.clock.now().date())
