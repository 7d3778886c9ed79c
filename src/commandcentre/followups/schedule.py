"""Scheduling follow-ups when a first message has gone out (the Outreach agent says so).

The rows come from the pure rules (:mod:`commandcentre.followups.rules`); this module only
finds the facts they need and keeps one conversation at one pace: a contact already in a
follow-up sequence (say, for another event) is not given a second one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.agents.config import FollowupConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.followups.models import FollowUp
from commandcentre.followups.rules import FollowupRules, add_business_days, plan_followups
from commandcentre.intel.models import Contact, Event, Opportunity
from commandcentre.outreach import pacing
from commandcentre.outreach.models import OutreachDraft
from commandcentre.outreach.timing import next_send_window
from commandcentre.workspaces.models import Workspace


@dataclass(frozen=True, slots=True)
class Facts:
    contact: Contact
    draft: OutreachDraft
    event_start: date | None
    event_end: date | None
    default_tz: str


def facts(session: Session, draft: OutreachDraft) -> Facts | None:
    contact = session.get(Contact, draft.contact_id)
    if contact is None:
        return None
    event: Event | None = None
    if draft.opportunity_id is not None:
        opportunity = session.get(Opportunity, draft.opportunity_id)
        event = session.get(Event, opportunity.event_id) if opportunity else None
    workspace = session.get(Workspace, draft.workspace_id)
    start = event.start_date if event else None
    end = (event.end_date or event.start_date) if event else None
    return Facts(contact, draft, start, end, workspace.timezone if workspace else "UTC")


def rules_for(session: Session, agent: Agent, default_tz: str) -> FollowupRules:
    config = FollowupConfig.model_validate(agent.config or {})
    rules_of_sending = pacing.outreach_config(session)
    return FollowupRules.from_config(
        config,
        business_hours=rules_of_sending.business_hours,
        meeting_note=config.meetingNote,
        min_gap=timedelta(hours=config.minGapHours),
        default_tz=default_tz,
    )


def _in_sequence(session: Session, contact_id: uuid.UUID) -> FollowUp | None:
    return session.scalars(
        select(FollowUp)
        .where(FollowUp.contact_id == contact_id, FollowUp.status == "scheduled")
        .order_by(FollowUp.scheduled_at)
        .limit(1)
    ).first()


def schedule_after_send(
    session: Session, clock: Clock, agent: Agent, draft_id: uuid.UUID, sent_at: datetime
) -> list[FollowUp]:
    """Plan the follow-ups of one sent first message; idempotent per message."""
    existing = list(
        session.scalars(select(FollowUp).where(FollowUp.original_outreach_id == draft_id))
    )
    if existing:
        return existing
    draft = session.get(OutreachDraft, draft_id)
    if draft is None:
        return []
    found = facts(session, draft)
    if found is None:
        return []
    config = FollowupConfig.model_validate(agent.config or {})
    ongoing = _in_sequence(session, found.contact.id)
    if ongoing is not None:
        # One conversation, one pace: the sequence already running speaks for both.
        activity.record(
            session=session,
            clock=clock,
            agent_id=agent.id,
            activity_type="followups_coordinated",
            description=f"{found.contact.full_name} is already in a follow-up sequence; "
            "no second sequence was started",
            details={"draftId": str(draft_id), "ongoingFollowUpId": str(ongoing.id)},
            entity_type="contact",
            entity_id=found.contact.id,
        )
        return []
    rules = rules_for(session, agent, found.default_tz)
    plan = plan_followups(
        sent_at=sent_at,
        event_start=found.event_start,
        event_end=found.event_end,
        recipient_tz=found.contact.timezone,
        rules=rules,
    )
    now = clock.now()
    rows = [
        FollowUp(
            agent_id=agent.id,
            contact_id=found.contact.id,
            original_outreach_id=draft_id,
            followup_number=planned.number,
            followup_type=planned.followup_type,
            scheduled_at=planned.scheduled_at,
            created_at=now,
            updated_at=now,
        )
        for planned in plan.planned
    ]
    if config.escalate and config.maxFollowups > 0:
        last = plan.planned[-1].scheduled_at if plan.planned else sent_at
        rows.append(
            FollowUp(
                agent_id=agent.id,
                contact_id=found.contact.id,
                original_outreach_id=draft_id,
                followup_number=len(plan.planned) + 1,
                followup_type="escalation",
                scheduled_at=escalation_time(last, config, found, rules),
                created_at=now,
                updated_at=now,
            )
        )
    session.add_all(rows)
    session.flush()
    scheduled = [r for r in rows if r.followup_type != "escalation"]
    activity.record(
        session=session,
        clock=clock,
        agent_id=agent.id,
        activity_type="followups_scheduled",
        description=f"Scheduled {len(scheduled)} follow-up(s) for {found.contact.full_name}",
        details={
            "draftId": str(draft_id),
            "followUps": [
                {"type": r.followup_type, "at": r.scheduled_at.isoformat()} for r in scheduled
            ],
            "skipped": [{"type": s.followup_type, "reason": s.detail} for s in plan.skipped],
        },
        entity_type="contact",
        entity_id=found.contact.id,
    )
    if scheduled:
        activity.bump_metrics(
            session=session,
            clock=clock,
            agent_id=agent.id,
            counts={"followups_scheduled": len(scheduled)},
        )
    return rows


def escalation_time(
    last_touch: datetime, config: FollowupConfig, found: Facts, rules: FollowupRules
) -> datetime:
    """When silence after the last follow-up has lasted one more delay."""
    day = add_business_days(last_touch.date(), config.followupDelayDays)
    at = datetime.combine(day, last_touch.timetz())
    return next_send_window(
        at=at,
        recipient_tz=found.contact.timezone,
        business_hours=rules.business_hours,
        default_tz=found.default_tz,
    )
