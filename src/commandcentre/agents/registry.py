"""The explicit map from agent type to the class that does its work."""

from __future__ import annotations

from functools import cache

from commandcentre.agents.base import BaseAgent


@cache
def _registry() -> dict[str, BaseAgent]:
    from commandcentre.followups.agent import FollowupAgent
    from commandcentre.outreach.agent import OutreachAgent
    from commandcentre.planning.agent import PlanningAgent
    from commandcentre.research.agent import ResearchAgent

    agents: list[BaseAgent] = [PlanningAgent(), OutreachAgent(), FollowupAgent(), ResearchAgent()]
    return {agent.agent_type: agent for agent in agents}


def agent_for(agent_type: str) -> BaseAgent:
    try:
        return _registry()[agent_type]
    except KeyError:
        raise LookupError(f"no agent class for type '{agent_type}'") from None


def agent_types() -> tuple[str, ...]:
    return tuple(_registry())
