"""What an agent is: a thin class that decides what to do; services do it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel
from sqlalchemy.orm import Session

from commandcentre.agents.config import AgentConfig
from commandcentre.agents.models import Agent, AgentMessage, AgentTask
from commandcentre.clock import Clock
from commandcentre.settings import Settings, settings_of

if TYPE_CHECKING:
    from commandcentre.agents.bus import Bus


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What the user is asked when a task needs a human decision."""

    title: str
    context: dict[str, Any]
    choices: tuple[str, ...] = ("approve", "reject")


@dataclass(frozen=True, slots=True)
class TaskResult:
    status: Literal["completed", "failed", "waiting_approval"]
    summary: str
    output: dict[str, Any] = field(default_factory=dict)
    approval: ApprovalRequest | None = None
    reasoning: str | None = None


@dataclass(frozen=True, slots=True)
class AgentContext:
    """Everything an agent may use; no globals."""

    workspace_id: uuid.UUID
    session: Session
    clock: Clock
    agent: Agent
    config: AgentConfig
    bus: Bus

    @property
    def settings(self) -> Settings:
        return settings_of(self.session)


class BaseAgent(Protocol):
    agent_type: ClassVar[str]
    config_model: ClassVar[type[AgentConfig]]
    # task type → model validating its input at assignment
    task_inputs: ClassVar[dict[str, type[BaseModel]]]

    def handle_task(self, ctx: AgentContext, task: AgentTask) -> TaskResult: ...

    def handle_message(self, ctx: AgentContext, message: AgentMessage) -> None: ...


class EmptyInput(BaseModel):
    """For task types that need no input."""

    model_config = {"extra": "allow"}
