"""Campaigns the Planning agent proposes and the user approves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.intel.models import Account, Contact, Event, Opportunity, OpportunityContact
from commandcentre.planning.models import Campaign

MAX_TARGETS = 25


@dataclass(frozen=True, slots=True)
class Proposal:
    name: str
    opportunity_id: uuid.UUID
    contacts: list[dict[str, Any]]
    start_date: str | None
    end_date: str | None
    reasoning: str

    def as_context(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "opportunityId": str(self.opportunity_id),
            "contacts": self.contacts,
            "startDate": self.start_date,
            "endDate": self.end_date,
            "reasoning": self.reasoning,
        }


def propose(*, session: Session, clock: Clock, opportunity_id: uuid.UUID) -> Proposal | None:
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        return None
    event = session.get(Event, opportunity.event_id)
    assert event is not None
    rows = session.execute(
        select(Contact.id, Contact.full_name, Contact.title, Account.name, Account.tier)
        .join(OpportunityContact, OpportunityContact.contact_id == Contact.id)
        .join(Account, Account.id == OpportunityContact.account_id)
        .where(OpportunityContact.opportunity_id == opportunity.id)
        .order_by(Account.tier, Account.name, Contact.full_name)
        .limit(MAX_TARGETS)
    ).all()
    contacts = [
        {"contactId": str(cid), "name": name, "title": title, "account": account, "tier": tier}
        for cid, name, title, account, tier in rows
    ]
    today = clock.now().date()
    start = today
    end = event.end_date or event.start_date
    window = ""
    if event.start_date:
        start = max(today, event.start_date - timedelta(days=21))
        window = f" from {start.isoformat()} until the event"
    reasoning = (
        f"{len(contacts)} people from {len({c['account'] for c in contacts})} target accounts "
        f"will be at {event.name}; reach them{window} to book meetings there."
    )
    return Proposal(
        name=f"{event.name}: meet target accounts",
        opportunity_id=opportunity.id,
        contacts=contacts,
        start_date=start.isoformat(),
        end_date=end.isoformat() if end else None,
        reasoning=reasoning,
    )


def launch(
    *, session: Session, clock: Clock, agent_id: uuid.UUID, proposal: dict[str, Any]
) -> Campaign:
    campaign = Campaign(
        agent_id=agent_id,
        opportunity_id=uuid.UUID(proposal["opportunityId"]),
        name=str(proposal["name"])[:300],
        description=proposal.get("reasoning"),
        status="active",
        goals={"meetings": max(1, len(proposal["contacts"]) // 3)},
        target_contact_ids=[c["contactId"] for c in proposal["contacts"]],
        start_date=date.fromisoformat(proposal["startDate"]) if proposal.get("startDate") else None,
        end_date=date.fromisoformat(proposal["endDate"]) if proposal.get("endDate") else None,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(campaign)
    opportunity = session.get(Opportunity, campaign.opportunity_id)
    if opportunity is not None and opportunity.status in ("new", "reviewing"):
        opportunity.status = "delegated"
    session.flush()
    return campaign
