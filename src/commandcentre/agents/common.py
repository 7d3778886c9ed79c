"""Task types every agent understands."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from commandcentre.agents.base import AgentContext, TaskResult
from commandcentre.agents.config import AgentConfig
from commandcentre.agents.models import AgentMessage, AgentTask


class PingInput(BaseModel):
    """A no-op task: proves the agent's runtime path end to end (health checks, benchmarks)."""

    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=200)


def handle_ping(ctx: AgentContext, task: AgentTask) -> TaskResult:
    return TaskResult(
        status="completed", summary=f"{ctx.agent.name} is alive", output={"pong": True}
    )


class MinimalAgent:
    """Shared behaviour: answer pings, acknowledge requests it has no specific answer for."""

    agent_type: ClassVar[str]
    config_model: ClassVar[type[AgentConfig]]
    task_inputs: ClassVar[dict[str, type[BaseModel]]] = {"ping": PingInput}

    def handle_task(self, ctx: AgentContext, task: AgentTask) -> TaskResult:
        if task.task_type == "ping":
            return handle_ping(ctx, task)
        return TaskResult(status="failed", summary=f"unsupported task type {task.task_type}")

    def handle_message(self, ctx: AgentContext, message: AgentMessage) -> None:
        if message.requires_response:
            ctx.bus.respond(message, f"Received: {message.subject}", {"acknowledged": True})
