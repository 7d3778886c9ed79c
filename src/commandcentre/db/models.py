"""Imports every model so `Base.metadata` knows the whole schema (Alembic, tests)."""

from __future__ import annotations

from commandcentre.agents import models as agents
from commandcentre.db.base import Base
from commandcentre.followups import models as followups
from commandcentre.inbound import models as inbound
from commandcentre.intel import models as intel
from commandcentre.llm import models as llm
from commandcentre.metrics import models as metrics
from commandcentre.outreach import models as outreach
from commandcentre.planning import models as planning
from commandcentre.workspaces import models as workspaces

__all__ = [
    "Base",
    "agents",
    "followups",
    "inbound",
    "intel",
    "llm",
    "metrics",
    "outreach",
    "planning",
    "workspaces",
]
