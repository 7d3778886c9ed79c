"""The follow-up pump: due follow-ups become threaded drafts (or an escalation), once.

Each due row is claimed, then decided in one transaction: stop when the contact answered,
opted out or bounced; wait while they are away, the agent is paused or another touch was
too recent; move to the next allowed slot when the rules forbid now; otherwise write the
follow-up as a reply to the thread and hand it to the outreach sending path (approval per
the Follow-up agent's settings, then the same caps, windows and exactly-once sending).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import activity, claims
from commandcentre.agents.config import FollowupConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.followups import escalation, schedule
from commandcentre.followups.models import FollowUp
from commandcentre.followups.rules import FollowupType, next_slot, violation
from commandcentre.followups.writing import write_followup
from commandcentre.intel.models import Contact, Opportunity
from commandcentre.outreach import pacing, review, suppression
from commandcentre.outreach.compose import reply_subject
from commandcentre.outreach.drafts import facts_for
from commandcentre.outreach.models import OutreachDraft, Send

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
PAUSED_RECHECK = timedelta(minutes=5)
# Touches that may have reached the person count for the minimum gap.
TOUCHED = ("in_flight", "sent", "unknown", "needs_review")
ANSWERED = frozenset({"replied", "meeting", "not_interested"})


@dataclass(frozen=True, slots=True)
class FollowupRunner:
    factory: sessionmaker[Session]
    clock: Clock
    worker: str
    lease: timedelta = DEFAULT_LEASE

    def claim_due(self, limit: int = 50) -> list[uuid.UUID]:
        now = self.clock.now()
        candidates = (
            select(FollowUp.id)
            .where(FollowUp.status == "scheduled", FollowUp.scheduled_at <= now)
            .where(or_(FollowUp.lease_expires_at.is_(None), FollowUp.lease_expires_at < now))
            .order_by(FollowUp.scheduled_at, FollowUp.id)
            .limit(limit)
        )
        with claims.system_transaction(self.factory) as session:
            return claims.claim(
                session,
                FollowUp,
                candidates,
                values={
                    "claimed_by": self.worker,
                    "lease_expires_at": now + self.lease,
                    "attempts": FollowUp.attempts + 1,
                },
            )

    def run_one(self, followup_id: uuid.UUID) -> str | None:
        mine = [FollowUp.status == "scheduled", FollowUp.claimed_by == self.worker]
        with claims.held_in_workspace(self.factory, FollowUp, followup_id, conditions=mine) as held:
            if held is None:
                return None
            session, row = held
            outcome = _Step(session, self.clock, row).run()
            row.claimed_by = None
            row.lease_expires_at = None
            return outcome

    def process(self, limit: int = 50) -> int:
        done = 0
        for followup_id in self.claim_due(limit):
            if self.run_one(followup_id) not in (None, "waiting"):
                done += 1
        return done


class _Step:
    def __init__(self, session: Session, clock: Clock, row: FollowUp) -> None:
        self.session = session
        self.clock = clock
        self.row = row
        self.now = clock.now()

    def run(self) -> str:
        session, row = self.session, self.row
        original = (
            session.get(OutreachDraft, row.original_outreach_id)
            if row.original_outreach_id
            else None
        )
        contact = session.get(Contact, row.contact_id)
        if original is None or contact is None:
            return self._end("cancelled", "the original message or the contact is gone")
        stop = self._stop_reason(contact, original)
        if stop is not None:
            return self._end("cancelled", stop)
        agent = session.get(Agent, row.agent_id) if row.agent_id else None
        if agent is None or agent.paused_at is not None:
            return self._wait(self.now + PAUSED_RECHECK, "the Follow-up agent is paused")
        if contact.followups_paused_until is not None and contact.followups_paused_until > self.now:
            return self._wait(contact.followups_paused_until, "the contact is out of office")
        found = schedule.facts(session, original)
        assert found is not None
        rules = schedule.rules_for(session, agent, found.default_tz)
        last = self._last_touch(contact.id)
        if last is not None and last + rules.min_gap > self.now:
            return self._wait(last + rules.min_gap, "another touch was too recent")
        if row.followup_type == "escalation":
            escalation.escalate(session, self.clock, agent, contact, original)
            return self._end("executed", None)
        kind: FollowupType = row.followup_type  # type: ignore[assignment]
        when = {
            "followup_type": kind,
            "event_start": found.event_start,
            "event_end": found.event_end,
            "recipient_tz": contact.timezone,
            "rules": rules,
        }
        broken = violation(self.now, **when)  # type: ignore[arg-type]
        if broken is not None:
            slot = next_slot(self.now, **when)  # type: ignore[arg-type]
            if slot is None:
                return self._end("skipped", f"no allowed time left: {broken}")
            return self._wait(slot, broken)
        self._draft(agent, contact, original)
        return self._end("executed", None)

    def _stop_reason(self, contact: Contact, original: OutreachDraft) -> str | None:
        if contact.outreach_status in ANSWERED:
            return f"the contact {contact.outreach_status.replace('_', ' ')}"
        if contact.outreach_status == "do_not_contact":
            return "the contact asked not to be contacted"
        if contact.email_status == "invalid" and original.channel == "email":
            return "the address bounced"
        if original.channel == "email":
            blocked = suppression.is_suppressed(self.session, original.recipient)
            if blocked is not None:
                return f"suppressed ({blocked.reason})"
        sent = self.session.scalar(
            select(Send.id).where(Send.draft_id == original.id, Send.status == "sent")
        )
        if sent is None:
            return "the first message was never sent"
        return None

    def _last_touch(self, contact_id: uuid.UUID) -> datetime | None:
        latest: datetime | None = self.session.scalar(
            select(Send.started_at)
            .where(Send.contact_id == contact_id, Send.status.in_(TOUCHED))
            .order_by(Send.started_at.desc())
            .limit(1)
        )
        return latest

    def _draft(self, agent: Agent, contact: Contact, original: OutreachDraft) -> None:
        session = self.session
        config = FollowupConfig.model_validate(agent.config or {})
        tone = pacing.outreach_config(session).tone
        opportunity = (
            session.get(Opportunity, original.opportunity_id) if original.opportunity_id else None
        )
        facts = facts_for(session, contact, opportunity) if opportunity else []
        sender = str((original.personalization_context or {}).get("sender") or "")
        text = write_followup(
            followup_type=self.row.followup_type,
            facts=facts,
            first_name=contact.first_name or "",
            sender_name=sender or _signature(original.message_body),
            tone=tone,
        )
        parent = self._thread_parent(original)
        draft = OutreachDraft(
            agent_id=agent.id,
            contact_id=contact.id,
            opportunity_id=original.opportunity_id,
            campaign_id=original.campaign_id,
            parent_draft_id=parent.id,
            followup_number=self.row.followup_number,
            channel=original.channel,
            recipient=original.recipient,
            subject=reply_subject(original.subject),
            message_body=text.body,
            personalization_context={
                "followupType": self.row.followup_type,
                "reasoning": text.reasoning,
                "facts": [f.field for f in facts],
            },
            claims=[c.model_dump() for c in text.claims],
            flags=[],
            status="pending_approval",
            writer="followup-templates",
            created_at=self.now,
            updated_at=self.now,
        )
        session.add(draft)
        session.flush()
        self.row.draft_id = draft.id
        activity.record(
            session=session,
            clock=self.clock,
            agent_id=agent.id,
            activity_type="followup_drafted",
            description=f"Wrote {self.row.followup_type.replace('_', ' ')} follow-up "
            f"#{self.row.followup_number} to {contact.full_name}",
            details={"draftId": str(draft.id), "followUpId": str(self.row.id)},
            entity_type="outreach_draft",
            entity_id=draft.id,
        )
        if config.autoApprove:
            review.mark_approved(session, self.clock, draft, user_id=None)
        activity.bump_metrics(
            session=session, clock=self.clock, agent_id=agent.id, counts={"followups_completed": 1}
        )

    def _thread_parent(self, original: OutreachDraft) -> OutreachDraft:
        """The latest sent message of this thread: follow-ups reply to it."""
        latest = self.session.scalars(
            select(OutreachDraft)
            .join(FollowUp, FollowUp.draft_id == OutreachDraft.id)
            .join(Send, Send.draft_id == OutreachDraft.id)
            .where(FollowUp.original_outreach_id == original.id, Send.status == "sent")
            .order_by(OutreachDraft.followup_number.desc())
            .limit(1)
        ).first()
        return latest or original

    def _wait(self, until: datetime, reason: str) -> str:
        self.row.scheduled_at = max(until, self.now + timedelta(seconds=1))
        self.row.last_error = reason
        self.row.updated_at = self.now
        return "waiting"

    def _end(self, status: str, reason: str | None) -> str:
        self.row.status = status
        self.row.executed_at = self.now if status == "executed" else None
        self.row.cancel_reason = reason
        self.row.updated_at = self.now
        if reason is not None:
            activity.record(
                session=self.session,
                clock=self.clock,
                agent_id=self.row.agent_id,
                activity_type=f"followup_{status}",
                description=f"Follow-up {status}: {reason}",
                details={"followUpId": str(self.row.id), "reason": reason},
                entity_type="followup",
                entity_id=self.row.id,
            )
        return status


def _signature(body: str) -> str:
    """The sender name as the first message signed it (its last non-empty line)."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    return lines[-1] if lines else "The team"


def cancel_for_contact(
    session: Session, clock: Clock, contact_ids: list[uuid.UUID], reason: str
) -> int:
    """Cancel every pending follow-up of these contacts (a reply, an opt-out, a bounce)."""
    if not contact_ids:
        return 0
    now = clock.now()
    result = session.execute(
        update(FollowUp)
        .where(FollowUp.contact_id.in_(contact_ids), FollowUp.status == "scheduled")
        .values(status="cancelled", cancel_reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
