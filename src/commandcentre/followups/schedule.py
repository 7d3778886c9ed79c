"""Scheduling follow-ups when a first message has gone out (the Outreach agent says so).

The rows come from the pure rules (:mod:`commandcentre.followups.rules`); this module only
finds the facts they need and keeps one conversation at one pace: a contact already in a
follow-up sequence (say, for another event) is not given a second one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, SessionTransaction

from commandcentre.agents import activity
from commandcentre.agents.config import FollowupConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace
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


# What one transaction has looked up for scheduling: rows read ahead for a batch of sent
# messages (kept referenced: the session's identity map holds rows only weakly) and each
# agent's settings, derived once. It lives in session.info with the transaction it belongs
# to and is thrown away when another transaction finds it.
_CACHE_KEY = "followups.schedule"


@dataclass(slots=True)
class _Cache:
    transaction: SessionTransaction
    rows: list[object] = field(default_factory=list)
    configs: dict[tuple[uuid.UUID, str], FollowupConfig] = field(default_factory=dict)
    rules: dict[tuple[uuid.UUID, str, str], FollowupRules] = field(default_factory=dict)
    # Follow-ups read ahead, and those scheduled since, by the message they follow up and
    # by contact; the drafts and contacts listed in `read` have all theirs here.
    by_draft: dict[uuid.UUID, list[FollowUp]] = field(default_factory=dict)
    by_contact: dict[uuid.UUID, list[FollowUp]] = field(default_factory=dict)
    read: set[uuid.UUID] = field(default_factory=set)

    def remember(self, rows: Collection[FollowUp]) -> None:
        for row in rows:
            if row.original_outreach_id is not None:
                self.by_draft.setdefault(row.original_outreach_id, []).append(row)
            self.by_contact.setdefault(row.contact_id, []).append(row)


def _cache(session: Session) -> _Cache | None:
    transaction = session.get_transaction()
    if transaction is None:
        return None
    cache: _Cache | None = session.info.get(_CACHE_KEY)
    if cache is None or cache.transaction is not transaction:
        cache = _Cache(transaction)
        session.info[_CACHE_KEY] = cache
    return cache


def prefetch(session: Session, draft_ids: Collection[uuid.UUID]) -> None:
    """Read the drafts, contacts, opportunities and events of many sent messages in one query,
    so that scheduling each of them in this transaction finds them in the session."""
    cache = _cache(session)
    if cache is None or not draft_ids:
        return
    rows = session.execute(
        select(OutreachDraft, Contact, Opportunity, Event)
        .outerjoin(Contact, Contact.id == OutreachDraft.contact_id)
        .outerjoin(Opportunity, Opportunity.id == OutreachDraft.opportunity_id)
        .outerjoin(Event, Event.id == Opportunity.event_id)
        .where(OutreachDraft.id.in_(set(draft_ids)))
    ).all()
    workspaces = {row[0].workspace_id for row in rows}
    cache.rows.extend(obj for row in rows for obj in row if obj is not None)
    cache.rows.extend(session.scalars(select(Workspace).where(Workspace.id.in_(workspaces))))
    _prefetch_followups(
        session, cache, {row[0].id for row in rows}, {row[1].id for row in rows if row[1]}
    )


def _prefetch_followups(
    session: Session, cache: _Cache, draft_ids: set[uuid.UUID], contact_ids: set[uuid.UUID]
) -> None:
    """What scheduling asks of each message (planned already? contact in a sequence?),
    answered for the whole batch by one query."""
    if not draft_ids:
        return
    found = session.scalars(
        select(FollowUp).where(
            or_(
                FollowUp.original_outreach_id.in_(draft_ids),
                and_(FollowUp.contact_id.in_(contact_ids), FollowUp.status == "scheduled"),
            )
        )
    ).all()
    cache.remember(found)
    cache.read.update(draft_ids, contact_ids)


def _config(session: Session, agent: Agent) -> FollowupConfig:
    """The agent's settings, validated once per transaction."""
    cache = _cache(session)
    key = (agent.id, json.dumps(agent.config or {}, sort_keys=True, default=str))
    config = cache.configs.get(key) if cache is not None else None
    if config is None:
        config = FollowupConfig.model_validate(agent.config or {})
        if cache is not None:
            cache.configs[key] = config
    return config


def _rules(session: Session, agent: Agent, default_tz: str) -> FollowupRules:
    """rules_for, derived once per transaction."""
    cache = _cache(session)
    key = (agent.id, json.dumps(agent.config or {}, sort_keys=True, default=str), default_tz)
    rules = cache.rules.get(key) if cache is not None else None
    if rules is None:
        rules = rules_for(session, agent, default_tz)
        if cache is not None:
            cache.rules[key] = rules
    return rules


def _in_workspace(session: Session, row: OutreachDraft | Contact | None) -> bool:
    """A row found in the session (not read now) belongs to the bound workspace: one
    transaction may deliver the messages of several."""
    return row is not None and row.workspace_id == current_workspace(session)


def schedule_after_send(
    session: Session, clock: Clock, agent: Agent, draft_id: uuid.UUID, sent_at: datetime
) -> list[FollowUp]:
    """Plan the follow-ups of one sent first message; idempotent per message."""
    draft = session.get(OutreachDraft, draft_id)
    if not _in_workspace(session, draft):
        return _existing(session, draft_id)
    assert draft is not None
    contact = session.get(Contact, draft.contact_id)
    if not _in_workspace(session, contact):
        return _existing(session, draft_id)
    assert contact is not None
    known = _known(session, draft_id, contact.id)
    existing = [r for r in known if r.original_outreach_id == draft_id]
    if existing:
        return existing
    found = facts(session, draft)
    if found is None:
        return []
    config = _config(session, agent)
    if known:
        ongoing = min(known, key=lambda r: r.scheduled_at)
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
    rules = _rules(session, agent, found.default_tz)
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
            # Known before the flush: a later message of the batch may name it.
            id=new_id(),
            workspace_id=draft.workspace_id,
            agent_id=agent.id,
            contact_id=found.contact.id,
            original_outreach_id=draft_id,
            followup_number=planned.number,
            followup_type=planned.followup_type,
            scheduled_at=planned.scheduled_at,
            status="scheduled",
            created_at=now,
            updated_at=now,
        )
        for planned in plan.planned
    ]
    if config.escalate and config.maxFollowups > 0:
        last = plan.planned[-1].scheduled_at if plan.planned else sent_at
        rows.append(
            FollowUp(
                id=new_id(),
                workspace_id=draft.workspace_id,
                agent_id=agent.id,
                contact_id=found.contact.id,
                original_outreach_id=draft_id,
                followup_number=len(plan.planned) + 1,
                followup_type="escalation",
                scheduled_at=escalation_time(last, config, found, rules),
                status="scheduled",
                created_at=now,
                updated_at=now,
            )
        )
    # Written with the next flush (the savepoint's end, or the next query): the rows of
    # many messages go out together.
    session.add_all(rows)
    cache = _cache(session)
    if cache is not None:
        cache.remember(rows)
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


def _known(session: Session, draft_id: uuid.UUID, contact_id: uuid.UUID) -> list[FollowUp]:
    """The message's follow-ups and the contact's scheduled ones: one answer to both
    questions, was this message planned already and is the contact in a sequence."""
    cache = _cache(session)
    if cache is None or draft_id not in cache.read or contact_id not in cache.read:
        return list(
            session.scalars(
                select(FollowUp).where(
                    or_(
                        FollowUp.original_outreach_id == draft_id,
                        and_(FollowUp.contact_id == contact_id, FollowUp.status == "scheduled"),
                    )
                )
            )
        )
    candidates = {
        id(row): row
        for row in (*cache.by_draft.get(draft_id, ()), *cache.by_contact.get(contact_id, ()))
        # Rows of a savepoint rolled back since have left the session.
        if row in session
    }
    return [
        row
        for row in candidates.values()
        if row.original_outreach_id == draft_id
        or (row.contact_id == contact_id and row.status == "scheduled")
    ]


def _existing(session: Session, draft_id: uuid.UUID) -> list[FollowUp]:
    return list(session.scalars(select(FollowUp).where(FollowUp.original_outreach_id == draft_id)))


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
