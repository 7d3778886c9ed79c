"""Inbound mail by webhook: a mail provider (or a local MTA pipe) posts each raw message.

No user session: the shared secret `inbound_webhook_token` is the authorisation, and the
route answers 404 while that setting is empty, so it exists only where it is configured.

Which workspace: the same rules as IMAP polling (`inbound.poller.route`), so a message that
arrives both ways lands in one workspace and is stored once. A reply or bounce naming one of
our sends goes to that send's workspace whatever the caller says (it cannot be pointed at
another team's thread). Otherwise the optional `workspace` query parameter (a slug) decides,
for providers that give each workspace its own inbound address and URL; without it, a
recipient address used by exactly one workspace, or the only workspace, decides. A message
that still has no owner is refused with 422 rather than guessed.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.errors import DomainError, InvalidInput, NotFound, Unauthorized
from commandcentre.inbound import process
from commandcentre.inbound.poller import route
from commandcentre.inbound.store import Ingest, parse_fields
from commandcentre.web.api.responses import ErrorDetail, error_responses
from commandcentre.web.deps import Ctx
from commandcentre.workspaces.models import Workspace

router = APIRouter(tags=["inbound"])

MAX_BODY_BYTES = 10_000_000
ACCEPTED_TYPES = ("message/rfc822", "application/octet-stream")


class PayloadTooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    status_code = 415


class InboundAccepted(BaseModel):
    id: uuid.UUID
    duplicate: bool


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **error_responses(401, 404, 413, 422),
    415: {"model": ErrorDetail, "description": "The body is not message/rfc822"},
}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "One raw MIME message, exactly as received.",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ACCEPTED_TYPES},
    }
}


def _token_ok(request: Request, expected: str) -> bool:
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    offered = [request.headers.get("x-inbound-token", "")]
    if scheme.lower() == "bearer":
        offered.append(bearer.strip())
    wanted = expected.encode("utf-8")
    # Every offered value is compared, in constant time, so timing says nothing about which.
    matches = [hmac.compare_digest(value.encode("utf-8"), wanted) for value in offered if value]
    return any(matches)


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"a message may be at most {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    # Counted while streaming: a chunked upload has no Content-Length to check up front.
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"a message may be at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _record(
    ctx: AppContext, raw: bytes, slug: str | None, ingest: Ingest = process.ingest_raw
) -> InboundAccepted:
    fields = parse_fields(raw)
    with system_session(ctx.session_factory) as session:
        named = None
        if slug is not None:
            named = session.scalars(select(Workspace.id).where(Workspace.slug == slug)).first()
            if named is None:
                raise InvalidInput("no workspace has this slug", field="workspace")
        destination = route(session, fields, raw, named)
    if destination is None:
        raise InvalidInput(
            "cannot tell which workspace this message belongs to; name it with ?workspace=<slug>",
            field="workspace",
        )
    with workspace_session(ctx.session_factory, destination.workspace_id) as session:
        row, created = ingest(session, ctx.clock, raw, "webhook", destination.mailbox_id)
    return InboundAccepted(id=row.id, duplicate=not created)


@router.post(
    "/inbound/mime",
    status_code=202,
    response_model=InboundAccepted,
    responses=_RESPONSES,
    openapi_extra=_BODY_DOC,
)
async def receive_mime(
    request: Request,
    ctx: Ctx,
    workspace: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="Slug of the workspace for messages that answer none of our sends.",
        ),
    ] = None,
) -> InboundAccepted:
    """Store one raw message for classification; a message already stored is not stored again.

    Authenticate with `Authorization: Bearer <inbound_webhook_token>` or `X-Inbound-Token`.
    """
    expected = ctx.settings.inbound_webhook_token.get_secret_value()
    if not expected:
        raise NotFound("Not Found")
    if not _token_ok(request, expected):
        raise Unauthorized("missing or wrong inbound webhook token")
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise UnsupportedMediaType(f"send the message as {' or '.join(ACCEPTED_TYPES)}")
    raw = await _read_body(request)
    if not raw.strip():
        raise InvalidInput("the message is empty", field="body")
    # The database work is blocking; keep it off the event loop.
    return await run_in_threadpool(_record, ctx, raw, workspace)
