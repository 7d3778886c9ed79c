"""The caller and their workspace; API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from commandcentre.web.api.responses import error_responses
from commandcentre.web.deps import ApiCaller, ApiSession, Ctx
from commandcentre.workspaces import services as ws

router = APIRouter(tags=["workspace"])


class Me(BaseModel):
    email: str
    workspace: str
    workspace_name: str
    role: str


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="Shown once; store it now.")


@router.get("/me", response_model=Me, responses=error_responses(401))
def me(caller: ApiCaller) -> Me:
    p = caller.principal
    return Me(
        email=p.user.email, workspace=p.workspace.slug, workspace_name=p.workspace.name, role=p.role
    )


def _token_out(row: object) -> dict[str, object]:
    return {k: getattr(row, k) for k in TokenOut.model_fields}


@router.get("/tokens", response_model=list[TokenOut], responses=error_responses(401))
def list_tokens(caller: ApiCaller, session: ApiSession) -> list[dict[str, object]]:
    rows = ws.list_api_tokens(session=session, workspace_id=caller.principal.workspace.id)
    return [_token_out(r) for r in rows]


@router.post(
    "/tokens",
    response_model=NewToken,
    status_code=201,
    responses=error_responses(400, 401, 403, 422),
)
def create_token(body: TokenIn, caller: ApiCaller, session: ApiSession) -> dict[str, object]:
    raw, row = ws.create_api_token(
        session=session,
        user=caller.principal.user,
        workspace=caller.principal.workspace,
        name=body.name,
    )
    return {**_token_out(row), "token": raw}


@router.post(
    "/tokens/{token_id}/revoke",
    response_model=TokenOut,
    responses=error_responses(401, 403, 404, 422),
)
def revoke_token(
    token_id: uuid.UUID, caller: ApiCaller, session: ApiSession, ctx: Ctx
) -> dict[str, object]:
    row = ws.revoke_api_token(
        session=session,
        clock=ctx.clock,
        workspace_id=caller.principal.workspace.id,
        token_id=token_id,
    )
    return _token_out(row)
