"""API routes: the workspace's suppression list (addresses and domains never emailed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from commandcentre.outreach import suppression
from commandcentre.outreach.models import SUPPRESSION_KINDS, SUPPRESSION_REASONS
from commandcentre.web.api.responses import error_responses
from commandcentre.web.deps import ApiSession, Ctx

router = APIRouter(tags=["suppressions"])

SuppressionKind = Literal["email", "domain"]
SuppressionReason = Literal["unsubscribe", "bounce", "manual", "complaint"]

# The literals are spelt out for the type checker; the table's CHECK lists are the truth.
if get_args(SuppressionKind) != SUPPRESSION_KINDS or (
    get_args(SuppressionReason) != SUPPRESSION_REASONS
):
    raise RuntimeError("suppression schema literals are out of step with the model")


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: SuppressionKind
    value: Annotated[StrictStr, Field(min_length=1, max_length=320)]
    reason: SuppressionReason = "manual"
    note: Annotated[StrictStr, Field(max_length=2000)] | None = None


class SuppressionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    value: str
    reason: str
    note: str | None
    created_at: datetime


@router.get("/suppressions", response_model=list[SuppressionOut], responses=error_responses(401))
def list_suppressions(session: ApiSession) -> list[SuppressionOut]:
    """Newest first."""
    return [SuppressionOut.model_validate(s) for s in suppression.list_(session)]


@router.post(
    "/suppressions",
    response_model=SuppressionOut,
    status_code=201,
    responses=error_responses(400, 401, 403, 422),
)
def add_suppression(body: SuppressionIn, session: ApiSession, ctx: Ctx) -> SuppressionOut:
    """Suppress an address or a whole domain; adding an existing entry returns it."""
    row = suppression.add(session, ctx.clock, body.kind, body.value, body.reason, body.note)
    return SuppressionOut.model_validate(row)


@router.delete(
    "/suppressions/{suppression_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
def delete_suppression(suppression_id: uuid.UUID, session: ApiSession) -> Response:
    """Lift a suppression; the address may be emailed again."""
    suppression.remove(session, suppression_id)
    return Response(status_code=204)
