"""API shapes for the follow-up schedule and contact timelines (camelCase JSON)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pydantic.alias_generators import to_camel

from commandcentre.followups.models import FOLLOWUP_STATUSES, FOLLOWUP_TYPES
from commandcentre.intel.schemas import NO_NUL, VISIBLE, IsoDateTime
from commandcentre.pagination import PaginationOut

FollowUpStatus = Literal["scheduled", "executed", "cancelled", "skipped"]
FollowUpType = Literal[
    "reminder", "value_add", "check_in", "post_event", "meeting_note", "escalation"
]
Sentiment = Literal["positive", "neutral", "negative"]
# The literals are spelt out for the type checker; the table's CHECK lists are the truth.
if get_args(FollowUpStatus) != FOLLOWUP_STATUSES or get_args(FollowUpType) != FOLLOWUP_TYPES:
    raise RuntimeError("follow-up schema literals are out of step with the model")

Reason = Annotated[StrictStr, Field(min_length=1, max_length=2000, pattern=VISIBLE)]
Note = Annotated[StrictStr, Field(max_length=5000, pattern=NO_NUL)]


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


class FollowUpOut(_Out):
    id: uuid.UUID
    contact_id: uuid.UUID
    contact_name: str | None = None
    agent_id: uuid.UUID | None
    original_outreach_id: uuid.UUID | None
    original_subject: str | None = Field(
        default=None, description="Subject of the first message this follow-up answers."
    )
    draft_id: uuid.UUID | None = Field(description="The follow-up message, once written.")
    followup_number: int
    followup_type: FollowUpType
    status: FollowUpStatus
    scheduled_at: datetime
    executed_at: datetime | None
    cancel_reason: str | None = Field(description="Why it was cancelled or skipped.")
    waiting_reason: str | None = Field(
        default=None, description="Why the follow-up pump moved it (a rule, an absence)."
    )
    created_at: datetime
    updated_at: datetime


class FollowUpList(_Out):
    follow_ups: list[FollowUpOut]
    pagination: PaginationOut


class FollowUpCancelIn(_In):
    reason: Reason
    whole_sequence: StrictBool = Field(
        default=False, description="Also cancel the later follow-ups of the same sequence."
    )


class FollowUpCancelOut(_Out):
    cancelled: list[FollowUpOut]


class FollowUpRescheduleIn(_In):
    scheduled_at: IsoDateTime = Field(
        description="The new time, with its offset; in the future and allowed by the rules."
    )


class TimelineItemOut(_Out):
    at: datetime
    kind: Literal["draft", "send", "followup", "inbound", "activity"]
    event: str = Field(description="What happened: created, approved, sent, scheduled, ...")
    title: str
    detail: str | None
    status: str | None
    channel: str | None
    sentiment: str | None
    classification: str | None
    ref_id: uuid.UUID = Field(description="The draft, send, follow-up, message or entry.")


class TimelineOut(_Out):
    contact_id: uuid.UUID
    items: list[TimelineItemOut]


class MarkRepliedIn(_In):
    sentiment: Sentiment = "neutral"
    note: Note | None = None


class MarkRepliedOut(_Out):
    inbound_id: uuid.UUID
    cancelled_followups: int = Field(description="Scheduled follow-ups stopped by the reply.")
