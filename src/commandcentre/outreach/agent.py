"""The Outreach agent. Drafting and sending arrive with the outreach work; for now it
takes part in the conversation: it acknowledges what Planning hands over."""

from __future__ import annotations

from typing import ClassVar

from commandcentre.agents.base import AgentContext
from commandcentre.agents.common import MinimalAgent
from commandcentre.agents.config import AgentConfig, OutreachConfig
from commandcentre.agents.models import AgentMessage


class OutreachAgent(MinimalAgent):
    agent_type: ClassVar[str] = "outreach"
    config_model: ClassVar[type[AgentConfig]] = OutreachConfig

    def handle_message(self, ctx: AgentContext, message: AgentMessage) -> None:
        if message.payload.get("kind") == "high_priority_opportunity":
            accounts = int(message.payload.get("accountCount", 0))
            plural = "s" if accounts != 1 else ""
            ctx.bus.respond(
                message,
                f"Acknowledged: ready to draft for {accounts} target account{plural} "
                "when delegated",
                {"acknowledged": True, "opportunityId": message.payload.get("opportunityId")},
            )
            return
        super().handle_message(ctx, message)
