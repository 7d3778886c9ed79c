"""API routes: events, their sessions, and who speaks at or attends them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from commandcentre.errors import NotFound
from commandcentre.intel import events as svc
from commandcentre.intel.models import Event
from commandcentre.intel.schemas import (
    LIST_ERRORS,
    NO_NUL,
    READ_ERRORS,
    WRITE_ERRORS,
    AppearanceOut,
    ContactLinkIn,
    ContactRef,
    EventCreate,
    EventDetailOut,
    EventList,
    EventOut,
    EventUpdate,
    IsoDate,
    ParticipantOut,
    SessionCreate,
    SessionList,
    SessionOut,
    error_responses,
)
from commandcentre.pagination import MAX_LIMIT, PaginationOut
from commandcentre.web.deps import ApiSession, Ctx

router = APIRouter(tags=["events"])

PageNo = Annotated[int, Query(ge=1, le=100_000, description="1-based page number.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows per page.")]
SearchText = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]
DELETE_ERRORS = error_responses(401, 403, 404, 422)


def session_out(detail: svc.SessionDetail) -> SessionOut:
    return SessionOut.model_validate(detail.session).model_copy(
        update={"speakers": [ContactRef.model_validate(c) for c in detail.speakers]}
    )


def _detail_out(event_id: uuid.UUID, session: ApiSession) -> EventDetailOut:
    detail = svc.get_detail(session=session, event_id=event_id)
    if detail is None:
        raise NotFound("no such event")
    return EventDetailOut(
        **EventOut.model_validate(detail.event).model_dump(),
        sessions=[session_out(s) for s in detail.sessions],
        participants=[
            ParticipantOut(role=p.role, contact=ContactRef.model_validate(p.contact))
            for p in detail.participants
        ],
        opportunity_id=detail.opportunity_id,
    )


def _out(event: Event) -> EventOut:
    return EventOut.model_validate(event)


@router.get("/events", response_model=EventList, responses=LIST_ERRORS)
def list_events(
    session: ApiSession,
    ctx: Ctx,
    q: SearchText = None,
    upcoming: Annotated[bool, Query(description="Only events starting today or later.")] = False,
    date_from: Annotated[
        IsoDate | None, Query(alias="from", description="Starting on or after.")
    ] = (None),
    date_to: Annotated[
        IsoDate | None, Query(alias="to", description="Starting on or before.")
    ] = None,
    topic: SearchText = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> EventList:
    """Events by start date; `q` searches name, city and country."""
    found = svc.list_(
        session=session,
        today=ctx.clock.now().date(),
        q=q,
        upcoming=upcoming,
        date_from=date_from,
        date_to=date_to,
        topic=topic,
        page=page,
        limit=limit,
    )
    return EventList(
        items=[_out(e) for e in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.post("/events", response_model=EventOut, status_code=201, responses=WRITE_ERRORS)
def create_event(body: EventCreate, session: ApiSession) -> EventOut:
    """Add an event; the same name and start date (or external id) twice is a 409."""
    return _out(svc.create(session=session, data=body, source="api"))


@router.get("/events/{event_id}", response_model=EventDetailOut, responses=READ_ERRORS)
def get_event(event_id: uuid.UUID, session: ApiSession) -> EventDetailOut:
    """An event with its sessions (by time, with speakers) and other participants."""
    return _detail_out(event_id, session)


@router.patch("/events/{event_id}", response_model=EventOut, responses=WRITE_ERRORS)
def update_event(event_id: uuid.UUID, body: EventUpdate, session: ApiSession) -> EventOut:
    return _out(svc.update(session=session, event_id=event_id, data=body))


@router.delete(
    "/events/{event_id}", status_code=204, response_class=Response, responses=DELETE_ERRORS
)
def delete_event(event_id: uuid.UUID, session: ApiSession) -> Response:
    """Delete an event with its sessions, appearances and opportunity."""
    svc.delete(session=session, event_id=event_id)
    return Response(status_code=204)


@router.get("/events/{event_id}/sessions", response_model=SessionList, responses=READ_ERRORS)
def list_sessions(
    event_id: uuid.UUID, session: ApiSession, page: PageNo = 1, limit: Limit = 25
) -> SessionList:
    found = svc.list_sessions(session=session, event_id=event_id, page=page, limit=limit)
    return SessionList(
        items=[session_out(s) for s in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.post(
    "/events/{event_id}/sessions",
    response_model=SessionOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def add_session(event_id: uuid.UUID, body: SessionCreate, session: ApiSession) -> SessionOut:
    created = svc.add_session(session=session, event_id=event_id, data=body)
    return session_out(svc.SessionDetail(session=created, speakers=[]))


@router.post(
    "/events/{event_id}/sessions/{session_id}/speakers",
    response_model=AppearanceOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def add_speaker(
    event_id: uuid.UUID, session_id: uuid.UUID, body: ContactLinkIn, session: ApiSession
) -> AppearanceOut:
    """Make a contact a speaker of the session; 409 when they already are."""
    appearance = svc.add_speaker(
        session=session, event_id=event_id, session_id=session_id, contact_id=body.contact_id
    )
    return AppearanceOut.model_validate(appearance)


@router.post(
    "/events/{event_id}/attendees",
    response_model=AppearanceOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def add_attendee(event_id: uuid.UUID, body: ContactLinkIn, session: ApiSession) -> AppearanceOut:
    """Record that a contact attends the event; 409 when already recorded."""
    appearance = svc.add_attendee(session=session, event_id=event_id, contact_id=body.contact_id)
    return AppearanceOut.model_validate(appearance)
