"""Opportunities, read side: events where target accounts speak or attend.

Discovery (`intel/discovery.py`) creates and refreshes these rows; here they are listed,
explained and moved through their status by the user.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from commandcentre.errors import InvalidInput, NotFound
from commandcentre.intel.models import (
    OPPORTUNITY_STATUSES,
    Account,
    Appearance,
    Contact,
    Event,
    EventSession,
    Opportunity,
    OpportunityContact,
)
from commandcentre.pagination import Page, paginate


def days_until(event: Event, today: date) -> int | None:
    return (event.start_date - today).days if event.start_date else None


# --------------------------------------------------------------------------- explanation


@dataclass(frozen=True, slots=True)
class ScoreFactor:
    name: str
    points: float
    detail: str


@dataclass(frozen=True, slots=True)
class ScoreExplanation:
    summary: str = ""
    factors: list[ScoreFactor] = field(default_factory=list)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _points(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) else 0.0


def explain(raw: Mapping[str, Any] | None) -> ScoreExplanation:
    """Read discovery's `score_explanation` JSON, tolerating missing or odd parts.

    Expected shape: {"summary": str, "factors": [{"name", "points", "detail"}]}. Rows
    written before a field existed, or by hand, must still render.
    """
    if not isinstance(raw, Mapping):
        return ScoreExplanation()
    factors: list[ScoreFactor] = []
    items = raw.get("factors")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        name = _text(item.get("name"))
        if not name:
            continue
        factors.append(
            ScoreFactor(
                name=name, points=_points(item.get("points")), detail=_text(item.get("detail"))
            )
        )
    return ScoreExplanation(summary=_text(raw.get("summary")), factors=factors)


# --------------------------------------------------------------------------- reads


def get(*, session: Session, opportunity_id: uuid.UUID) -> Opportunity | None:
    return session.get(Opportunity, opportunity_id)


def get_by_event(*, session: Session, event_id: uuid.UUID) -> Opportunity | None:
    return session.scalar(select(Opportunity).where(Opportunity.event_id == event_id))


def list_query(
    *,
    today: date,
    status: str | None = None,
    new: bool = False,
    min_score: float | None = None,
    upcoming: bool = False,
) -> Select[Opportunity]:
    stmt = select(Opportunity).join(Event, Event.id == Opportunity.event_id)
    if status:
        stmt = stmt.where(Opportunity.status == status)
    if new:
        stmt = stmt.where(Opportunity.status == "new")
    if min_score is not None:
        stmt = stmt.where(Opportunity.signal_score >= min_score)
    if upcoming:
        stmt = stmt.where(Event.start_date >= today)
    return stmt.order_by(
        Opportunity.signal_score.desc(),
        Event.start_date.asc().nulls_last(),
        Event.name,
        Opportunity.id,
    )


def list_(
    *,
    session: Session,
    today: date,
    status: str | None = None,
    new: bool = False,
    min_score: float | None = None,
    upcoming: bool = False,
    page: int = 1,
    limit: int = 25,
) -> Page[Opportunity]:
    """Strongest signal first, then soonest event; each row has its `event` loaded."""
    stmt = list_query(
        today=today, status=status, new=new, min_score=min_score, upcoming=upcoming
    ).options(selectinload(Opportunity.event))
    return paginate(session, stmt, page=page, limit=limit)


@dataclass(frozen=True, slots=True)
class Person:
    contact: Contact
    role: str
    talk_titles: list[str]


@dataclass(frozen=True, slots=True)
class AccountPeople:
    account: Account
    people: list[Person]


@dataclass(frozen=True, slots=True)
class OpportunityDetail:
    opportunity: Opportunity
    event: Event
    explanation: ScoreExplanation
    accounts: list[AccountPeople]  # tier 1 first, then by name


def _talks(
    session: Session, event_id: uuid.UUID, contact_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    if not contact_ids:
        return {}
    rows = session.execute(
        select(Appearance.contact_id, EventSession.title)
        .join(EventSession, EventSession.id == Appearance.session_id)
        .where(Appearance.event_id == event_id, Appearance.contact_id.in_(contact_ids))
        .order_by(EventSession.starts_at.asc().nulls_last(), EventSession.title)
    )
    talks: dict[uuid.UUID, list[str]] = {}
    for contact_id, title in rows:
        talks.setdefault(contact_id, []).append(title)
    return talks


def get_detail(*, session: Session, opportunity_id: uuid.UUID) -> OpportunityDetail | None:
    opportunity = get(session=session, opportunity_id=opportunity_id)
    if opportunity is None:
        return None
    links = session.execute(
        select(OpportunityContact.role, Contact, Account)
        .join(Contact, Contact.id == OpportunityContact.contact_id)
        .join(Account, Account.id == OpportunityContact.account_id)
        .where(OpportunityContact.opportunity_id == opportunity.id)
        .order_by(Account.tier, Account.name, Account.id, Contact.full_name, Contact.id)
    ).all()
    talks = _talks(session, opportunity.event_id, [contact.id for _, contact, _ in links])
    grouped: dict[uuid.UUID, AccountPeople] = {}
    for role, contact, account in links:
        group = grouped.setdefault(account.id, AccountPeople(account=account, people=[]))
        group.people.append(
            Person(contact=contact, role=role, talk_titles=talks.get(contact.id, []))
        )
    return OpportunityDetail(
        opportunity=opportunity,
        event=opportunity.event,
        explanation=explain(opportunity.score_explanation),
        accounts=list(grouped.values()),
    )


# --------------------------------------------------------------------------- changes


def update(*, session: Session, opportunity_id: uuid.UUID, status: str) -> Opportunity:
    """Move an opportunity to `status` (any listed status; the user is in charge)."""
    if status not in OPPORTUNITY_STATUSES:
        raise InvalidInput(
            f"status must be one of: {', '.join(OPPORTUNITY_STATUSES)}", field="status"
        )
    opportunity = get(session=session, opportunity_id=opportunity_id)
    if opportunity is None:
        raise NotFound("no such opportunity")
    opportunity.status = status
    session.flush()
    return opportunity
