"""What the Command Centre dashboard shows about the workspace's intelligence."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commandcentre.intel.models import Account, Contact, Event, ImportRun, Opportunity


@dataclass(frozen=True, slots=True)
class Counts:
    upcoming_events: int
    contacts: int
    contacts_at_accounts: int
    accounts: int
    open_opportunities: int
    new_opportunities: int


@dataclass(frozen=True, slots=True)
class UpcomingEvent:
    event: Event
    opportunity_id: uuid.UUID | None
    signal_score: float | None
    days_until: int


@dataclass(frozen=True, slots=True)
class Overview:
    counts: Counts
    top_opportunities: list[tuple[Opportunity, Event]]
    upcoming: list[UpcomingEvent]
    recent_imports: list[ImportRun]


def _count(session: Session, stmt: object) -> int:
    return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]


def counts(*, session: Session, today: date) -> Counts:
    open_statuses = ("new", "reviewing", "delegated", "in_progress")
    return Counts(
        upcoming_events=_count(
            session, select(func.count(Event.id)).where(Event.start_date >= today)
        ),
        contacts=_count(session, select(func.count(Contact.id))),
        contacts_at_accounts=_count(
            session, select(func.count(Contact.id)).where(Contact.account_id.is_not(None))
        ),
        accounts=_count(session, select(func.count(Account.id))),
        open_opportunities=_count(
            session,
            select(func.count(Opportunity.id)).where(Opportunity.status.in_(open_statuses)),
        ),
        new_opportunities=_count(
            session, select(func.count(Opportunity.id)).where(Opportunity.status == "new")
        ),
    )


def top_new_opportunities(
    *, session: Session, today: date, limit: int = 6
) -> list[tuple[Opportunity, Event]]:
    rows = session.execute(
        select(Opportunity, Event)
        .join(Event, Event.id == Opportunity.event_id)
        .where(Opportunity.status == "new", Event.start_date >= today)
        .order_by(Opportunity.signal_score.desc(), Event.start_date)
        .limit(limit)
    )
    return [(opp, event) for opp, event in rows]


def upcoming_events(*, session: Session, today: date, limit: int = 8) -> list[UpcomingEvent]:
    rows = session.execute(
        select(Event, Opportunity.id, Opportunity.signal_score)
        .outerjoin(Opportunity, Opportunity.event_id == Event.id)
        .where(Event.start_date >= today)
        .order_by(Event.start_date, Event.name)
        .limit(limit)
    )
    return [
        UpcomingEvent(
            event=event,
            opportunity_id=opp_id,
            signal_score=score,
            days_until=(event.start_date - today).days if event.start_date else 0,
        )
        for event, opp_id, score in rows
    ]


def recent_imports(*, session: Session, limit: int = 5) -> list[ImportRun]:
    return list(
        session.scalars(select(ImportRun).order_by(ImportRun.created_at.desc()).limit(limit))
    )


def overview(*, session: Session, today: date) -> Overview:
    return Overview(
        counts=counts(session=session, today=today),
        top_opportunities=top_new_opportunities(session=session, today=today),
        upcoming=upcoming_events(session=session, today=today),
        recent_imports=recent_imports(session=session),
    )
