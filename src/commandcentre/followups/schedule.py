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
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
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


@dataclass(frozen=True, slots=True)
class _Sent:
    """What scheduling needs of a sent first message, read as plain values."""

    workspace_id: uuid.UUID
    contact_id: uuid.UUID
    contact_workspace_id: uuid.UUID
    full_name: str
    recipient_tz: str | None
    event_start: date | None
    event_end: date | None
    default_tz: str


@dataclass(frozen=True, slots=True)
class _Known:
    """A follow-up this transaction knows of; `planned` ones were added by it and stand
    only while their savepoint does (activity.row_is_live)."""

    id: uuid.UUID
    original_outreach_id: uuid.UUID | None
    contact_id: uuid.UUID
    status: str
    scheduled_at: datetime
    planned: bool = False


# What one transaction has looked up for scheduling: the facts of a batch of sent messages,
# read ahead, and each agent's settings, derived once. It lives in session.info with the
# transaction it belongs to and is thrown away when another transaction finds it.
_CACHE_KEY = "followups.schedule"


@dataclass(slots=True)
class _Cache:
    transaction: SessionTransaction
    sent: dict[uuid.UUID, _Sent] = field(default_factory=dict)
    configs: dict[tuple[uuid.UUID, str], FollowupConfig] = field(default_factory=dict)
    rules: dict[tuple[uuid.UUID, str, str], FollowupRules] = field(default_factory=dict)
    # Follow-ups read ahead, and those scheduled since, by the message they follow up and
    # by contact; the drafts and contacts listed in `read` have all theirs here.
    by_draft: dict[uuid.UUID, list[_Known]] = field(default_factory=dict)
    by_contact: dict[uuid.UUID, list[_Known]] = field(default_factory=dict)
    read: set[uuid.UUID] = field(default_factory=set)

    def remember(self, rows: Collection[_Known]) -> None:
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
    """Read the facts of many sent messages in one query (columns only: building their
    rows cost more than scheduling), so that scheduling each of them in this transaction
    asks nothing more."""
    cache = _cache(session)
    if cache is None or not draft_ids:
        return
    rows = session.execute(
        select(
            OutreachDraft.id,
            OutreachDraft.workspace_id,
            Contact.id,
            Contact.workspace_id,
            Contact.full_name,
            Contact.timezone,
            Event.start_date,
            Event.end_date,
            Workspace.timezone,
        )
        .join(Contact, Contact.id == OutreachDraft.contact_id)
        .outerjoin(Opportunity, Opportunity.id == OutreachDraft.opportunity_id)
        .outerjoin(Event, Event.id == Opportunity.event_id)
        .outerjoin(Workspace, Workspace.id == OutreachDraft.workspace_id)
        .where(OutreachDraft.id.in_(set(draft_ids)))
    ).all()
    for draft_id, ws, contact_id, contact_ws, name, tz, start, end, default_tz in rows:
        cache.sent[draft_id] = _Sent(
            ws, contact_id, contact_ws, name, tz, start, end or start, default_tz or "UTC"
        )
    _prefetch_followups(session, cache, {row[0] for row in rows}, {row[2] for row in rows})


def _prefetch_followups(
    session: Session, cache: _Cache, draft_ids: set[uuid.UUID], contact_ids: set[uuid.UUID]
) -> None:
    """What scheduling asks of each message (planned already? contact in a sequence?),
    answered for the whole batch by one query."""
    if not draft_ids:
        return
    cache.remember(
        _known_where(
            session,
            or_(
                FollowUp.original_outreach_id.in_(draft_ids),
                and_(FollowUp.contact_id.in_(contact_ids), FollowUp.status == "scheduled"),
            ),
        )
    )
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


def _sent(session: Session, draft_id: uuid.UUID) -> _Sent | None:
    """The message's facts: read ahead, or looked up now."""
    cache = _cache(session)
    if cache is not None and draft_id in cache.sent:
        return cache.sent[draft_id]
    draft = session.get(OutreachDraft, draft_id)
    if draft is None:
        return None
    found = facts(session, draft)
    if found is None:
        return None
    return _Sent(
        draft.workspace_id,
        found.contact.id,
        found.contact.workspace_id,
        found.contact.full_name,
        found.contact.timezone,
        found.event_start,
        found.event_end,
        found.default_tz,
    )


def schedule_after_send(
    session: Session, clock: Clock, agent: Agent, draft_id: uuid.UUID, sent_at: datetime
) -> None:
    """Plan the follow-ups of one sent first message; idempotent per message."""
    found = _sent(session, draft_id)
    workspace_id = current_workspace(session)
    # One transaction may deliver the messages of several workspaces: facts read ahead
    # belong to the bound one only if they say so.
    if found is None or workspace_id != found.workspace_id:
        return
    if found.contact_workspace_id != workspace_id:
        return
    known = _known(session, draft_id, found.contact_id)
    if any(r.original_outreach_id == draft_id for r in known):
        return
    if known:
        ongoing = min(known, key=lambda r: r.scheduled_at)
        # One conversation, one pace: the sequence already running speaks for both.
        activity.record(
            session=session,
            clock=clock,
            agent_id=agent.id,
            activity_type="followups_coordinated",
            description=f"{found.full_name} is already in a follow-up sequence; "
            "no second sequence was started",
            details={"draftId": str(draft_id), "ongoingFollowUpId": str(ongoing.id)},
            entity_type="contact",
            entity_id=found.contact_id,
        )
        return
    _plan(session, clock, agent, draft_id, sent_at, found)


def _plan(
    session: Session,
    clock: Clock,
    agent: Agent,
    draft_id: uuid.UUID,
    sent_at: datetime,
    found: _Sent,
) -> None:
    config = _config(session, agent)
    rules = _rules(session, agent, found.default_tz)
    plan = plan_followups(
        sent_at=sent_at,
        event_start=found.event_start,
        event_end=found.event_end,
        recipient_tz=found.recipient_tz,
        rules=rules,
    )
    times: list[tuple[int, str, datetime]] = [
        (p.number, p.followup_type, p.scheduled_at) for p in plan.planned
    ]
    if config.escalate and config.maxFollowups > 0:
        last = plan.planned[-1].scheduled_at if plan.planned else sent_at
        at = _escalation_at(last, config, found.recipient_tz, found.default_tz, rules)
        times.append((len(plan.planned) + 1, "escalation", at))
    rows = _rows(clock, agent, draft_id, found, times)
    _add(session, rows)
    scheduled = [r for r in rows if r["followup_type"] != "escalation"]
    activity.record(
        session=session,
        clock=clock,
        agent_id=agent.id,
        activity_type="followups_scheduled",
        description=f"Scheduled {len(scheduled)} follow-up(s) for {found.full_name}",
        details={
            "draftId": str(draft_id),
            "followUps": [
                {"type": r["followup_type"], "at": r["scheduled_at"].isoformat()} for r in scheduled
            ],
            "skipped": [{"type": s.followup_type, "reason": s.detail} for s in plan.skipped],
        },
        entity_type="contact",
        entity_id=found.contact_id,
    )
    if scheduled:
        activity.bump_metrics(
            session=session,
            clock=clock,
            agent_id=agent.id,
            counts={"followups_scheduled": len(scheduled)},
        )


def _rows(
    clock: Clock,
    agent: Agent,
    draft_id: uuid.UUID,
    found: _Sent,
    times: list[tuple[int, str, datetime]],
) -> list[dict[str, Any]]:
    """The FollowUp rows as plain values (stamped with their workspace: they skip the
    unit of work that would stamp them)."""
    now = clock.now()
    return [
        {
            "id": new_id(),
            "workspace_id": found.workspace_id,
            "agent_id": agent.id,
            "contact_id": found.contact_id,
            "original_outreach_id": draft_id,
            "draft_id": None,
            "followup_number": number,
            "followup_type": kind,
            "scheduled_at": at,
            "status": "scheduled",
            "executed_at": None,
            "cancel_reason": None,
            "created_at": now,
            "updated_at": now,
        }
        for number, kind, at in times
    ]


def _add(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the rows (with the batch's, when delivery defers them) and let later
    messages of this transaction find them."""
    activity.add_rows(session, FollowUp, rows)
    cache = _cache(session)
    if cache is None or not rows:
        return
    if activity.rows_deferred(session):
        cache.remember(
            [
                _Known(
                    r["id"],
                    r["original_outreach_id"],
                    r["contact_id"],
                    r["status"],
                    r["scheduled_at"],
                    planned=True,
                )
                for r in rows
            ]
        )
    else:
        # Written already, but a savepoint of the caller's may yet drop them: ask the
        # database next time.
        cache.read.discard(rows[0]["original_outreach_id"])
        cache.read.discard(rows[0]["contact_id"])


def _known(session: Session, draft_id: uuid.UUID, contact_id: uuid.UUID) -> list[_Known]:
    """The message's follow-ups and the contact's scheduled ones: one answer to both
    questions, was this message planned already and is the contact in a sequence."""
    cache = _cache(session)
    if cache is None or draft_id not in cache.read or contact_id not in cache.read:
        return _known_where(
            session,
            or_(
                FollowUp.original_outreach_id == draft_id,
                and_(FollowUp.contact_id == contact_id, FollowUp.status == "scheduled"),
            ),
        )
    candidates = {
        row.id: row
        for row in (*cache.by_draft.get(draft_id, ()), *cache.by_contact.get(contact_id, ()))
        # Rows of a savepoint rolled back since are gone.
        if not row.planned or activity.row_is_live(session, row.id)
    }
    return [
        row
        for row in candidates.values()
        if row.original_outreach_id == draft_id
        or (row.contact_id == contact_id and row.status == "scheduled")
    ]


def escalation_time(
    last_touch: datetime, config: FollowupConfig, found: Facts, rules: FollowupRules
) -> datetime:
    """When silence after the last follow-up has lasted one more delay."""
    return _escalation_at(last_touch, config, found.contact.timezone, found.default_tz, rules)


def _escalation_at(
    last_touch: datetime,
    config: FollowupConfig,
    recipient_tz: str | None,
    default_tz: str,
    rules: FollowupRules,
) -> datetime:
    day = add_business_days(last_touch.date(), config.followupDelayDays)
    at = datetime.combine(day, last_touch.timetz())
    return next_send_window(
        at=at,
        recipient_tz=recipient_tz,
        business_hours=rules.business_hours,
        default_tz=default_tz,
    )


def _known_where(session: Session, condition: ColumnElement[bool]) -> list[_Known]:
    """The follow-ups matching ``condition``, as the few columns scheduling asks about."""
    return [
        _Known(*row)
        for row in session.execute(
            select(
                FollowUp.id,
                FollowUp.original_outreach_id,
                FollowUp.contact_id,
                FollowUp.status,
                FollowUp.scheduled_at,
            ).where(condition)
        )
    ]
