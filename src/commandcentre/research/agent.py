"""The Research agent's runtime shell; enrichment arrives with the research work."""

from __future__ import annotations

from typing import ClassVar

from commandcentre.agents.common import MinimalAgent
from commandcentre.agents.config import AgentConfig, ResearchConfig


class ResearchAgent(MinimalAgent):
    agent_type: ClassVar[str] = "research"
    config_model: ClassVar[type[AgentConfig]] = ResearchConfig
