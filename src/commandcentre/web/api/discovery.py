"""API routes: discovery."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from commandcentre.intel.discovery import discover
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx

router = APIRouter(tags=["discovery"])


class DiscoveredContact(BaseModel):
    name: str
    title: str | None
    organisation: str | None


class DiscoveredAccount(BaseModel):
    name: str
    contacts: list[DiscoveredContact] = Field(description="Sorted by name.")


class DiscoveredEvent(BaseModel):
    name: str
    start_date: date | None


class DiscoveredOpportunity(BaseModel):
    id: uuid.UUID
    event: DiscoveredEvent
    is_new: bool = Field(description="Created by this run (false: an existing one refreshed).")
    signal_score: float = Field(ge=0, le=100)
    accounts: list[DiscoveredAccount] = Field(description="Sorted by tier, then name.")


class DiscoveryRun(BaseModel):
    opportunities: list[DiscoveredOpportunity] = Field(description="Best signal score first.")
    new: int = Field(description="Opportunities created by this run.")
    updated: int = Field(description="Existing opportunities refreshed by this run.")


class ErrorOut(BaseModel):
    detail: str


@router.post(
    "/discovery/run",
    response_model=DiscoveryRun,
    summary="Run discovery",
    responses={
        401: {"model": ErrorOut, "description": "No valid API token or session."},
        403: {"model": ErrorOut, "description": "Session call without X-CSRF-Token."},
    },
)
def run_discovery(caller: ApiCaller, session: ApiSession, ctx: Ctx) -> dict[str, Any]:
    """Match contacts to watchlist accounts, then create or refresh opportunities.

    Safe to repeat: a second run creates nothing new and reports the same opportunities
    with `is_new: false`. Only events that have not ended get new opportunities.
    """
    return discover(session=session, clock=ctx.clock).to_json()
