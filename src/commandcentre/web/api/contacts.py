"""API routes: contacts (speaker profiles)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from commandcentre.errors import NotFound
from commandcentre.followups import manage as followups
from commandcentre.followups.schemas import (
    MarkRepliedIn,
    MarkRepliedOut,
    TimelineItemOut,
    TimelineOut,
)
from commandcentre.inbound.process import mark_replied
from commandcentre.intel import contacts as svc
from commandcentre.intel import timeline
from commandcentre.intel.models import Contact
from commandcentre.intel.schemas import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    AccountRef,
    ContactAppearanceOut,
    ContactCreate,
    ContactDetailOut,
    ContactList,
    ContactOut,
    ContactUpdate,
    EventRef,
    OutreachStatus,
)
from commandcentre.pagination import PaginationOut
from commandcentre.web.api.events import DELETE_ERRORS, Limit, PageNo, SearchText
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["contacts"])


def _out(contact: Contact) -> ContactOut:
    return ContactOut.model_validate(contact)


@router.get("/contacts", response_model=ContactList, responses=LIST_ERRORS)
def list_contacts(
    session: ApiSession,
    q: SearchText = None,
    account_id: uuid.UUID | None = None,
    outreach_status: OutreachStatus | None = None,
    event_id: Annotated[
        uuid.UUID | None, Query(description="Only people who speak at or attend this event.")
    ] = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> ContactList:
    """Contacts by name; `q` searches name, organisation, title and email."""
    found = svc.list_(
        session=session,
        q=q,
        account_id=account_id,
        outreach_status=outreach_status,
        event_id=event_id,
        page=page,
        limit=limit,
    )
    return ContactList(
        items=[_out(c) for c in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.post("/contacts", response_model=ContactOut, status_code=201, responses=WRITE_ERRORS)
def create_contact(body: ContactCreate, session: ApiSession) -> ContactOut:
    """Add a contact; an email another contact already has is a 409."""
    return _out(svc.create(session=session, data=body, source="api"))


@router.get("/contacts/{contact_id}", response_model=ContactDetailOut, responses=READ_ERRORS)
def get_contact(contact_id: uuid.UUID, session: ApiSession) -> ContactDetailOut:
    """A contact with the account they are matched to and where they appear."""
    detail = svc.get_detail(session=session, contact_id=contact_id)
    if detail is None:
        raise NotFound("no such contact")
    return ContactDetailOut(
        **_out(detail.contact).model_dump(),
        account=AccountRef.model_validate(detail.account) if detail.account else None,
        appearances=[
            ContactAppearanceOut(
                id=a.id,
                role=a.role,
                event=EventRef.model_validate(a.event),
                session_id=a.session_id,
                session_title=a.session.title if a.session else None,
            )
            for a in detail.appearances
        ],
    )


@router.patch("/contacts/{contact_id}", response_model=ContactOut, responses=WRITE_ERRORS)
def update_contact(contact_id: uuid.UUID, body: ContactUpdate, session: ApiSession) -> ContactOut:
    return _out(svc.update(session=session, contact_id=contact_id, data=body))


@router.delete(
    "/contacts/{contact_id}", status_code=204, response_class=Response, responses=DELETE_ERRORS
)
def delete_contact(contact_id: uuid.UUID, session: ApiSession) -> Response:
    svc.delete(session=session, contact_id=contact_id)
    return Response(status_code=204)


@router.get("/contacts/{contact_id}/timeline", response_model=TimelineOut, responses=READ_ERRORS)
def contact_timeline(contact_id: uuid.UUID, session: ApiSession) -> TimelineOut:
    """Every touch and reply with this contact, across agents and channels, oldest first:
    drafts, sends, follow-ups, inbound messages and the agents' notes about the contact."""
    items = timeline.for_contact(session, contact_id)
    return TimelineOut(
        contact_id=contact_id,
        items=[TimelineItemOut.model_validate(item) for item in items],
    )


@router.post(
    "/contacts/{contact_id}/mark-replied", response_model=MarkRepliedOut, responses=WRITE_ERRORS
)
def mark_contact_replied(
    contact_id: uuid.UUID,
    body: MarkRepliedIn,
    caller: ApiCaller,
    session: ApiSession,
    ctx: Ctx,
) -> MarkRepliedOut:
    """Record a reply that came another way (a call, the booth, LinkedIn): the contact's
    pending follow-ups stop, as they do for a reply by email."""
    before = followups.scheduled_count(session, contact_id)
    row = mark_replied(
        session, ctx.clock, contact_id, caller.principal.user.id, body.sentiment, body.note
    )
    after = followups.scheduled_count(session, contact_id)
    return MarkRepliedOut(inbound_id=row.id, cancelled_followups=before - after)
