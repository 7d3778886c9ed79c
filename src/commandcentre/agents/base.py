"""What an agent is: a thin class that decides what to do; services do it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

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
    # What the agent's ``prepare_tasks`` did for this task before its transaction, if anything.
    prepared: object | None = None

    @property
    def settings(self) -> Settings:
        return settings_of(self.session)


@dataclass(frozen=True, slots=True)
class ClaimedTask:
    """A task this worker holds, as ``prepare_tasks`` sees it (no session is open)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    task_type: str
    input_data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Preparation:
    """What ``prepare_tasks`` may use: it opens its own short transactions, renewing the
    leases of the tasks it writes for (``lease``) so a lost task gets nothing more."""

    factory: sessionmaker[Session]
    clock: Clock
    worker: str
    lease: timedelta


class BaseAgent(Protocol):
    agent_type: ClassVar[str]
    config_model: ClassVar[type[AgentConfig]]
    # task type → model validating its input at assignment
    task_inputs: ClassVar[dict[str, type[BaseModel]]]

    def handle_task(self, ctx: AgentContext, task: AgentTask) -> TaskResult: ...

    def handle_message(self, ctx: AgentContext, message: AgentMessage) -> None: ...


class PreparesTasks(Protocol):
    """An agent whose tasks wait on something slow (a model) does that part first, outside
    the batch's transaction, for all its claimed tasks of the batch at once. Whatever it
    returns for a task reaches that task's handler as ``ctx.prepared``; the handler must
    still finish the work when nothing (or only part of it) was prepared."""

    def prepare_tasks(
        self, prep: Preparation, tasks: list[ClaimedTask]
    ) -> dict[uuid.UUID, object]: ...


class EmptyInput(BaseModel):
    """For task types that need no input."""

    model_config = {"extra": "allow"}
