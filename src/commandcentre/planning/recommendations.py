"""Planning recommendations: a priority per opportunity, with the reasoning behind it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity, tasks
from commandcentre.agents.models import Agent, AgentTask
from commandcentre.clock import Clock
from commandcentre.intel.models import AccountIntel, Event, Opportunity, OpportunityContact
from commandcentre.planning.models import PlanningRecommendation

RECENT_INTEL = timedelta(days=90)
# Fresh news about an account is a reason to talk now; each kind adds this much.
INTEL_BOOST = {
    "funding": 6.0,
    "hiring": 4.0,
    "product": 4.0,
    "leadership": 5.0,
    "partnership": 3.0,
    "earnings": 2.0,
}
MAX_INTEL_BOOST = 12.0
REPEAT_BOOST_PER_EVENT = 3.0
MAX_REPEAT_BOOST = 9.0


@dataclass(frozen=True, slots=True)
class Analysis:
    recommendation: PlanningRecommendation
    priority: float
    account_count: int
    contact_count: int
    event_name: str


def analyse(
    *, session: Session, clock: Clock, opportunity_id: uuid.UUID, agent: Agent
) -> Analysis | None:
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        return None
    event = session.get(Event, opportunity.event_id)
    assert event is not None
    today = clock.now().date()
    account_ids = list(
        session.scalars(
            select(OpportunityContact.account_id)
            .where(OpportunityContact.opportunity_id == opportunity.id)
            .distinct()
        )
    )
    contact_ids = list(
        session.scalars(
            select(OpportunityContact.contact_id).where(
                OpportunityContact.opportunity_id == opportunity.id
            )
        )
    )
    intel = session.execute(
        select(AccountIntel.category, AccountIntel.title)
        .where(
            AccountIntel.account_id.in_(account_ids),
            AccountIntel.noted_on >= today - RECENT_INTEL,
        )
        .order_by(AccountIntel.noted_on.desc())
    ).all()
    intel_boost = min(MAX_INTEL_BOOST, sum(INTEL_BOOST.get(c, 0.0) for c, _ in intel))
    repeat_events = _other_upcoming_events(
        session=session, contact_ids=contact_ids, opportunity=opportunity, today=today
    )
    repeat_boost = min(MAX_REPEAT_BOOST, REPEAT_BOOST_PER_EVENT * repeat_events)
    priority = round(min(100.0, opportunity.signal_score + intel_boost + repeat_boost), 1)
    kind = "prioritise" if priority >= 70 else "monitor" if priority >= 40 else "deprioritise"
    reasons = [
        f"Discovery signal {opportunity.signal_score:.0f}: "
        f"{opportunity.score_explanation.get('summary', 'no summary')}."
    ]
    if intel:
        headlines = "; ".join(title for _, title in intel[:3])
        reasons.append(f"Recent account news adds {intel_boost:.0f}: {headlines}.")
    if repeat_events:
        reasons.append(
            f"The same people appear at {repeat_events} other upcoming event"
            f"{'s' if repeat_events != 1 else ''}: coordinate rather than repeat outreach "
            f"(+{repeat_boost:.0f})."
        )
    actions = _actions(kind=kind, contact_count=len(contact_ids))
    session.execute(
        update(PlanningRecommendation)
        .where(
            PlanningRecommendation.opportunity_id == opportunity.id,
            PlanningRecommendation.status == "pending",
        )
        .values(status="superseded")
        .execution_options(synchronize_session=False)
    )
    first_analysis = opportunity.priority_score is None
    recommendation = PlanningRecommendation(
        agent_id=agent.id,
        opportunity_id=opportunity.id,
        recommendation_type=kind,
        priority_score=priority,
        reasoning=" ".join(reasons),
        recommended_actions=actions,
        status="pending",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(recommendation)
    opportunity.priority_score = priority
    session.flush()
    activity.record(
        session=session,
        clock=clock,
        agent_id=agent.id,
        activity_type="recommendation",
        description=f"{event.name}: {kind} (priority {priority:.0f})",
        details={"reasoning": recommendation.reasoning, "actions": actions},
        entity_type="opportunity",
        entity_id=opportunity.id,
        metrics={"opportunities_identified": 1} if first_analysis else None,
    )
    return Analysis(
        recommendation,
        priority,
        max(opportunity.account_count, len(account_ids)),
        max(opportunity.contact_count, len(contact_ids)),
        event.name,
    )


def _other_upcoming_events(
    *, session: Session, contact_ids: list[uuid.UUID], opportunity: Opportunity, today: object
) -> int:
    if not contact_ids:
        return 0
    return int(
        session.scalar(
            select(func.count(func.distinct(Opportunity.event_id)))
            .join(OpportunityContact, OpportunityContact.opportunity_id == Opportunity.id)
            .join(Event, Event.id == Opportunity.event_id)
            .where(
                OpportunityContact.contact_id.in_(contact_ids),
                Opportunity.id != opportunity.id,
                Event.start_date >= today,
            )
        )
        or 0
    )


def _actions(*, kind: str, contact_count: int) -> list[dict[str, object]]:
    if kind == "prioritise":
        return [
            {
                "action": "delegate_outreach",
                "label": f"Delegate outreach to {contact_count} "
                f"contact{'s' if contact_count != 1 else ''}",
            },
            {"action": "research", "label": "Ask Research to enrich the key people"},
        ]
    if kind == "monitor":
        return [{"action": "watch", "label": "Keep watching; revisit when the agenda changes"}]
    return [{"action": "skip", "label": "Not worth outreach now"}]


def list_for_opportunity(
    *, session: Session, opportunity_id: uuid.UUID
) -> list[PlanningRecommendation]:
    return list(
        session.scalars(
            select(PlanningRecommendation)
            .where(PlanningRecommendation.opportunity_id == opportunity_id)
            .order_by(PlanningRecommendation.created_at.desc())
        )
    )


def queue_new_opportunities(
    *, session: Session, clock: Clock, agent: Agent, limit: int = 50
) -> int:
    """The periodic sweep: an analysis task for each new opportunity not yet analysed."""
    open_tasks = select(AgentTask.input_data).where(
        AgentTask.agent_id == agent.id,
        AgentTask.task_type == "analyze_opportunity",
        AgentTask.status.in_(("pending", "in_progress", "waiting_approval")),
    )
    queued = {str(data.get("opportunityId")) for data in session.scalars(open_tasks)}
    # An analysis that died is not retried by the sweep: it would fail the same way
    # forever. It stays visible with its error until the user assigns it again.
    given_up = select(AgentTask.input_data).where(
        AgentTask.agent_id == agent.id,
        AgentTask.task_type == "analyze_opportunity",
        AgentTask.status.in_(("dead", "failed")),
    )
    queued |= {str(data.get("opportunityId")) for data in session.scalars(given_up)}
    candidates = session.scalars(
        select(Opportunity)
        .where(Opportunity.status == "new", Opportunity.priority_score.is_(None))
        .order_by(Opportunity.signal_score.desc())
        .limit(limit)
    )
    count = 0
    for opportunity in candidates:
        if str(opportunity.id) in queued:
            continue
        tasks.assign(
            session=session,
            clock=clock,
            agent=agent,
            task_type="analyze_opportunity",
            priority="high" if opportunity.signal_score >= 70 else "medium",
            input_data={"opportunityId": str(opportunity.id)},
        )
        count += 1
    return count
