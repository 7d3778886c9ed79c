"""Seeding a workspace for runtime tests and stepping its pumps by hand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents.models import Agent
from commandcentre.agents.pumps import Pumps
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.intel.models import (
    Account,
    Contact,
    Event,
    Opportunity,
    OpportunityContact,
)


@dataclass(frozen=True)
class Seeded:
    workspace_id: uuid.UUID
    agents: dict[str, uuid.UUID]
    opportunity_id: uuid.UUID


def agents_of(session: Session) -> dict[str, uuid.UUID]:
    return {a.agent_type: a.id for a in session.scalars(select(Agent))}


def seed_opportunity(
    ctx: AppContext, *, slug: str = "runtime", signal: float = 82.0, people: int = 3
) -> Seeded:
    with system_session(ctx.session_factory) as session:
        workspace_id = ensure_workspace_with_agents(session=session, slug=slug).id
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, workspace_id) as session:
        event = Event(
            name="Data Summit",
            start_date=now.date() + timedelta(days=30),
            end_date=now.date() + timedelta(days=31),
            dedupe_key=f"data summit|{now.date()}",
        )
        account = Account(name="Helix Robotics", normalised_name="helix robotics", tier=1)
        session.add_all([event, account])
        session.flush()
        opportunity = Opportunity(
            event_id=event.id,
            signal_score=signal,
            score_explanation={"summary": "1 target account", "factors": []},
            account_count=1,
            contact_count=people,
            first_seen_at=now,
            last_discovered_at=now,
        )
        session.add(opportunity)
        session.flush()
        for i in range(people):
            contact = Contact(
                full_name=f"Person {i}",
                name_key=f"person {i}|helix",
                organisation="Helix",
                title="Director of Data",
                account_id=account.id,
            )
            session.add(contact)
            session.flush()
            session.add(
                OpportunityContact(
                    opportunity_id=opportunity.id, contact_id=contact.id, account_id=account.id
                )
            )
        agents = agents_of(session)
        opportunity_id = opportunity.id
    return Seeded(workspace_id, agents, opportunity_id)


def pumps(ctx: AppContext, worker: str = "test-worker") -> Pumps:
    return Pumps(factory=ctx.session_factory, clock=ctx.clock, worker=worker)


def run_until_idle(ctx: AppContext, rounds: int = 20) -> int:
    p = pumps(ctx)
    total = 0
    for _ in range(rounds):
        done = p.process_tasks() + p.process_messages()
        total += done
        if not done:
            break
    return total
