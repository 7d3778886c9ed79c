"""The Follow-up agent's runtime shell; scheduling arrives with the follow-up work."""

from __future__ import annotations

from typing import ClassVar

from commandcentre.agents.common import MinimalAgent
from commandcentre.agents.config import AgentConfig, FollowupConfig


class FollowupAgent(MinimalAgent):
    agent_type: ClassVar[str] = "followup"
    config_model: ClassVar[type[AgentConfig]] = FollowupConfig
