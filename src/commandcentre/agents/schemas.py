"""API shapes for agents, their tasks, messages, approvals and activity.

JSON keys are the seed's camelCase. Inputs are strict and validate exactly what their JSON
schema promises; free-form JSON objects (config, task input, payloads) are checked only for
what the database cannot store, and then by the service that knows their meaning.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel
from typing_extensions import TypeAliasType

from commandcentre.agents.models import (
    AGENT_STATUSES,
    AGENT_TYPES,
    APPROVAL_KINDS,
    MESSAGE_STATUSES,
    MESSAGE_TYPES,
    TASK_PRIORITIES,
    TASK_STATUSES,
)
from commandcentre.pagination import PaginationOut

AgentType = Literal["outreach", "followup", "planning", "research"]
AgentStatus = Literal["idle", "active", "waiting_approval", "paused", "error"]
TaskPriority = Literal["low", "medium", "high", "urgent"]
TaskStatus = Literal[
    "pending", "in_progress", "waiting_approval", "completed", "failed", "cancelled", "dead"
]
MessageType = Literal["request", "response", "notification", "escalation"]
MessageStatus = Literal["pending", "delivered", "failed", "dead"]
ApprovalKind = Literal["task", "escalation"]


def _check_same(literal: Any, values: tuple[str, ...]) -> None:
    # The literals are spelt out for the type checker; the tables' CHECK lists are the truth.
    if tuple(get_args(literal)) != values:
        raise RuntimeError(f"{literal} is out of step with {values}")


for _literal, _values in (
    (AgentType, AGENT_TYPES),
    (AgentStatus, AGENT_STATUSES),
    (TaskPriority, TASK_PRIORITIES),
    (TaskStatus, TASK_STATUSES),
    (MessageType, MESSAGE_TYPES),
    (MessageStatus, MESSAGE_STATUSES),
    (ApprovalKind, APPROVAL_KINDS),
):
    _check_same(_literal, _values)

# --------------------------------------------------------------------------- field types

NO_NUL = r"^[^\x00]*$"
VISIBLE = r"^[^\x00]*[^\x00\s][^\x00]*$"

# Free-form JSON (config, task input, payloads) as a recursive schema: PostgreSQL JSONB
# refuses "\u0000" anywhere in a document, so the schema forbids it at every depth and
# a client generated from it never sends what the database would refuse.
JsonText = Annotated[StrictStr, Field(pattern=NO_NUL)]
# Keys outside `patternProperties` would otherwise be allowed by the schema.
_KEYS_CHECKED = Field(json_schema_extra={"additionalProperties": False})
JsonValue = TypeAliasType(
    "JsonValue",
    "JsonText | int | float | bool | list[JsonValue] | JsonObject | None",
)
JsonObject = TypeAliasType("JsonObject", Annotated[dict[JsonText, JsonValue], _KEYS_CHECKED])


def _one_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # The union reports one error per JSON type it tried, deep in the value; a single
    # message naming the field says more.
    try:
        return handler(value)
    except ValidationError:
        raise ValueError(
            "must be a JSON object whose text is valid Unicode without NUL characters"
        ) from None


FreeJson = Annotated[JsonObject, WrapValidator(_one_error)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=VISIBLE)]
Subject = Annotated[StrictStr, Field(max_length=300, pattern=NO_NUL)]
Reason = Annotated[StrictStr, Field(min_length=1, max_length=2000, pattern=VISIBLE)]
OptionalReason = Annotated[StrictStr, Field(max_length=2000, pattern=NO_NUL)]
Choice = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=VISIBLE)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable(**constraints: Any) -> Any:
    """A field that may be left out but not sent as null."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)


class _In(BaseModel):
    # Only the camelCase names are accepted, so the schema and the validator agree.
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)


class _Out(BaseModel):
    # Built from ORM rows by attribute name, written out in camelCase.
    model_config = ConfigDict(
        from_attributes=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


# --------------------------------------------------------------------------- agents


class AgentCreate(_In):
    agent_type: AgentType
    name: Name
    config: FreeJson | None = Field(
        default=None, description="Settings for this agent type; missing keys get defaults."
    )


class AgentUpdate(_In):
    """Only what is sent changes; `config` is merged into the current settings."""

    name: Name = omittable()
    config: FreeJson = omittable()


class AgentSummary(_Out):
    id: uuid.UUID
    agent_type: AgentType
    name: str
    status: AgentStatus


class AgentOut(AgentSummary):
    config: dict[str, Any]
    paused_at: datetime | None
    last_active_at: datetime | None


class AgentList(BaseModel):
    agents: list[AgentSummary]


# --------------------------------------------------------------------------- tasks


class TaskAssign(_In):
    task_type: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=VISIBLE)]
    priority: TaskPriority = "medium"
    input_data: FreeJson = Field(default_factory=dict)


class TaskOut(_Out):
    id: uuid.UUID
    agent_id: uuid.UUID
    task_type: str
    priority: TaskPriority
    status: TaskStatus
    input_data: dict[str, Any]
    output_data: dict[str, Any] | None
    error_message: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


class TaskList(BaseModel):
    tasks: list[TaskOut]


class CurrentTask(_Out):
    id: uuid.UUID
    task_type: str
    priority: TaskPriority
    status: TaskStatus
    created_at: datetime


class PerformanceOut(_Out):
    tasks_completed: int
    tasks_failed: int
    success_rate: float = Field(description="Completed / (completed + failed), 0-1.")
    average_response_time: float = Field(description="Seconds from assignment to completion.")


class AgentStatusOut(_Out):
    status: AgentStatus
    current_tasks: list[CurrentTask]
    performance: PerformanceOut
    message_queue: int = Field(description="Messages waiting to be delivered to the agent.")
    pending_approvals: int


class ApproveIn(_In):
    choice: Choice = "approve"


class RejectIn(_In):
    reason: Reason


class CancelIn(_In):
    reason: OptionalReason | None = None


# --------------------------------------------------------------------------- approvals


class PendingApproval(_Out):
    id: uuid.UUID
    kind: ApprovalKind
    agent_id: uuid.UUID | None
    agent_type: AgentType | None
    task_id: uuid.UUID | None
    message_id: uuid.UUID | None
    title: str
    context: dict[str, Any]
    choices: list[str]
    created_at: datetime


class PendingList(BaseModel):
    pending: list[PendingApproval]


class DecideIn(_In):
    choice: Choice
    reason: OptionalReason | None = None


class ApprovalOut(_Out):
    id: uuid.UUID
    kind: ApprovalKind
    status: str
    decision: str | None
    reason: str | None
    decided_at: datetime | None


# --------------------------------------------------------------------------- messages


class MessageSend(_In):
    """Name the recipient by id or by type; escalations go to the user and need neither."""

    to_agent_id: uuid.UUID | None = None
    to_agent_type: AgentType | None = None
    message_type: MessageType
    subject: Subject
    payload: FreeJson = Field(default_factory=dict)
    requires_response: StrictBool = False
    response_to_id: uuid.UUID | None = None


class MessageOut(_Out):
    id: uuid.UUID
    from_agent_id: uuid.UUID | None
    to_agent_id: uuid.UUID | None
    message_type: MessageType
    subject: str
    payload: dict[str, Any]
    requires_response: bool
    response_to_id: uuid.UUID | None
    status: MessageStatus
    read_at: datetime | None
    responded_at: datetime | None
    created_at: datetime


class MessageList(BaseModel):
    messages: list[MessageOut]


# --------------------------------------------------------------------------- activity


class ActivityOut(_Out):
    id: uuid.UUID
    agent_id: uuid.UUID | None
    activity_type: str
    description: str
    details: dict[str, Any]
    task_id: uuid.UUID | None
    message_id: uuid.UUID | None
    created_at: datetime


class ActivityList(BaseModel):
    activities: list[ActivityOut]
    pagination: PaginationOut
