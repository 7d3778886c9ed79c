"""The sending rules of a workspace (window, undo delay, daily maximum) live in its Outreach
agent's settings and apply to everything it sends, follow-ups included."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from commandcentre.agents.bus import find_agent
from commandcentre.agents.config import OutreachConfig
from commandcentre.agents.models import Agent


def outreach_agent(session: Session, agent_id: uuid.UUID | None = None) -> Agent | None:
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    if agent is None or agent.agent_type != "outreach":
        agent = find_agent(session, "outreach")
    return agent


def outreach_config(session: Session, agent_id: uuid.UUID | None = None) -> OutreachConfig:
    agent = outreach_agent(session, agent_id)
    return OutreachConfig.model_validate(agent.config if agent is not None else {})
