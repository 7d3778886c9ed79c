"""API routes: target accounts (the watchlist) and account intelligence."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from commandcentre.errors import NotFound
from commandcentre.intel import accounts as svc
from commandcentre.intel.models import Account
from commandcentre.intel.schemas import (
    LIST_ERRORS,
    READ_ERRORS,
    WRITE_ERRORS,
    AccountCreate,
    AccountDetailOut,
    AccountList,
    AccountOut,
    AccountUpdate,
    ContactRef,
    IntelCreate,
    IntelList,
    IntelOut,
)
from commandcentre.pagination import PaginationOut
from commandcentre.web.api.events import DELETE_ERRORS, Limit, PageNo, SearchText
from commandcentre.web.deps import ApiSession, Ctx

router = APIRouter(tags=["accounts"])


def _out(account: Account) -> AccountOut:
    return AccountOut.model_validate(account)


@router.get("/accounts", response_model=AccountList, responses=LIST_ERRORS)
def list_accounts(
    session: ApiSession,
    q: SearchText = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    page: PageNo = 1,
    limit: Limit = 25,
) -> AccountList:
    """The watchlist by tier then name; `q` searches name, domain and aliases."""
    found = svc.list_(session=session, q=q, tier=tier, page=page, limit=limit)
    return AccountList(
        items=[_out(a) for a in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.post("/accounts", response_model=AccountOut, status_code=201, responses=WRITE_ERRORS)
def create_account(body: AccountCreate, session: ApiSession) -> AccountOut:
    """Add a target account; a name that normalises like an existing one is a 409."""
    return _out(svc.create(session=session, data=body))


@router.get("/accounts/{account_id}", response_model=AccountDetailOut, responses=READ_ERRORS)
def get_account(account_id: uuid.UUID, session: ApiSession) -> AccountDetailOut:
    """An account with its intelligence notes (newest first) and its contacts."""
    detail = svc.get_detail(session=session, account_id=account_id)
    if detail is None:
        raise NotFound("no such account")
    return AccountDetailOut(
        **_out(detail.account).model_dump(),
        intel=[IntelOut.model_validate(i) for i in detail.intel],
        contacts=[ContactRef.model_validate(c) for c in detail.contacts],
    )


@router.patch("/accounts/{account_id}", response_model=AccountOut, responses=WRITE_ERRORS)
def update_account(account_id: uuid.UUID, body: AccountUpdate, session: ApiSession) -> AccountOut:
    return _out(svc.update(session=session, account_id=account_id, data=body))


@router.delete(
    "/accounts/{account_id}", status_code=204, response_class=Response, responses=DELETE_ERRORS
)
def delete_account(account_id: uuid.UUID, session: ApiSession) -> Response:
    """Remove from the watchlist with its notes; its contacts stay, unmatched."""
    svc.delete(session=session, account_id=account_id)
    return Response(status_code=204)


@router.get("/accounts/{account_id}/intel", response_model=IntelList, responses=READ_ERRORS)
def list_intel(
    account_id: uuid.UUID, session: ApiSession, page: PageNo = 1, limit: Limit = 25
) -> IntelList:
    """An account's intelligence notes, newest first."""
    found = svc.list_intel(session=session, account_id=account_id, page=page, limit=limit)
    return IntelList(
        items=[IntelOut.model_validate(i) for i in found.items],
        pagination=PaginationOut(page=found.page, limit=found.limit, total=found.total),
    )


@router.post(
    "/accounts/{account_id}/intel",
    response_model=IntelOut,
    status_code=201,
    responses=WRITE_ERRORS,
)
def add_intel(account_id: uuid.UUID, body: IntelCreate, session: ApiSession, ctx: Ctx) -> IntelOut:
    """Add a note; the same title on the same day is a 409."""
    intel = svc.create_intel(
        session=session, account_id=account_id, data=body, today=ctx.clock.now().date()
    )
    return IntelOut.model_validate(intel)


@router.delete(
    "/accounts/{account_id}/intel/{intel_id}",
    status_code=204,
    response_class=Response,
    responses=DELETE_ERRORS,
)
def delete_intel(account_id: uuid.UUID, intel_id: uuid.UUID, session: ApiSession) -> Response:
    svc.delete_intel(session=session, account_id=account_id, intel_id=intel_id)
    return Response(status_code=204)
