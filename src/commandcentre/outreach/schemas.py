"""API shapes for outreach drafts (camelCase JSON, like the agents API)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pydantic.alias_generators import to_camel

from commandcentre.outreach.models import CHANNELS, DRAFT_STATUSES, SEND_STATUSES
from commandcentre.pagination import PaginationOut

DraftStatus = Literal["draft", "pending_approval", "approved", "sent", "rejected"]
DraftChannel = Literal["email", "linkedin"]

# The literals are spelt out for the type checker; the tables' CHECK lists are the truth.
if get_args(DraftStatus) != DRAFT_STATUSES or get_args(DraftChannel) != CHANNELS:
    raise RuntimeError("outreach schema literals are out of step with the model")

SubjectLine = Annotated[StrictStr, Field(max_length=500, pattern=r"^[^\x00\r\n]*$")]
Body = Annotated[StrictStr, Field(min_length=1, max_length=20_000, pattern=r"^[^\x00]*\S[^\x00]*$")]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*\S[^\x00]*$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)


class _Out(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class ClaimOut(_Out):
    text: str
    source_field: str = Field(description="The stored field the statement came from.")


class DraftOut(_Out):
    id: uuid.UUID
    contact_id: uuid.UUID
    opportunity_id: uuid.UUID | None
    channel: DraftChannel
    recipient: str
    subject: str
    message_body: str
    status: DraftStatus
    flags: list[str]
    claims: list[ClaimOut]
    suggested_send_at: datetime | None
    personalization_context: dict[str, Any]
    created_at: datetime


class DraftList(BaseModel):
    drafts: list[DraftOut]
    pagination: PaginationOut


class DraftApproveIn(_In):
    """Optional edits, applied before the approval is fingerprinted."""

    subject: SubjectLine | None = None
    message_body: Body | None = None


class DraftRejectIn(_In):
    reason: Reason


class DraftRegenerateIn(_In):
    instruction: Annotated[
        StrictStr,
        Field(min_length=1, max_length=500, pattern=r"^[^\x00]*\S[^\x00]*$"),
    ] = Field(description="What should change, e.g. 'shorter, mention the keynote'.")


class BulkApproveIn(_In):
    draft_ids: list[uuid.UUID] = Field(min_length=1, max_length=200)


class BulkApproveResult(_Out):
    draft_id: uuid.UUID
    approved: bool
    error: str | None = Field(default=None, description="Why this draft was not approved.")


class BulkApproveOut(_Out):
    results: list[BulkApproveResult]
    approved: int = Field(description="How many of the drafts were approved.")


SendStatus = Literal[
    "queued",
    "claimed",
    "in_flight",
    "sent",
    "retry_wait",
    "failed",
    "unknown",
    "needs_review",
    "cancelled",
    "dead",
    "manual",
]
if get_args(SendStatus) != SEND_STATUSES:
    raise RuntimeError("send status literal is out of step with the model")


class SendOut(_Out):
    id: uuid.UUID
    draft_id: uuid.UUID
    contact_id: uuid.UUID | None
    channel: DraftChannel
    recipient: str
    subject: str
    status: SendStatus
    not_before: datetime = Field(description="Not sent before this instant (undo delay, timing).")
    started_at: datetime | None
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    created_at: datetime


class SendList(BaseModel):
    sends: list[SendOut]
    pagination: PaginationOut


class SendResolveIn(_In):
    outcome: Literal["sent", "resend", "cancel"] = Field(
        description="sent: it did arrive; resend: queue it again; cancel: do not send."
    )
