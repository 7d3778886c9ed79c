"""People managing the follow-up schedule: list it by day, cancel, skip or move a follow-up.

Every change is one conditional UPDATE on a row that is still ``scheduled``, so it cannot
race the follow-up pump: whichever commits first wins, and the loser finds out (the pump's
hold fails, or this module raises Conflict). A moved follow-up also loses any claim a
worker took on it, so a worker that claimed it for the old time cannot carry it out now.

A new time must be in the future and allowed by the same rules the pump applies when the
follow-up is due (:func:`commandcentre.followups.rules.violation`); a refusal says which
rule and suggests the next allowed time (:func:`commandcentre.followups.rules.next_slot`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.agents.bus import find_agent
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.scoping import current_workspace
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.followups import schedule
from commandcentre.followups.models import FOLLOWUP_STATUSES, FOLLOWUP_TYPES, FollowUp
from commandcentre.followups.rules import FollowupRules, FollowupType, next_slot, violation
from commandcentre.intel.models import Contact
from commandcentre.outreach.models import OutreachDraft
from commandcentre.pagination import Page, paginate
from commandcentre.workspaces.models import Workspace

# Further ahead than any sequence runs; a date beyond it is a typo, not a plan.
MAX_AHEAD = timedelta(days=365)
MAX_REASON = 2000
TYPE_TEXT = {
    "reminder": "Reminder",
    "value_add": "Value add",
    "check_in": "Check-in",
    "post_event": "Post-event",
    "meeting_note": "Meeting note",
    "escalation": "Escalation",
}
STATUS_TEXT = {
    "scheduled": "Scheduled",
    "executed": "Done",
    "cancelled": "Cancelled",
    "skipped": "Skipped",
}


class ForbiddenTime(InvalidInput):
    """A new time the follow-up rules refuse; carries the next allowed time, if any."""

    def __init__(self, message: str, suggestion: datetime | None) -> None:
        super().__init__(message, field="scheduledAt")
        self.suggestion = suggestion


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    """A follow-up with what a person needs to recognise it."""

    followup: FollowUp
    contact_name: str | None
    subject: str | None  # of the original message the follow-up answers
    channel: str | None

    @property
    def type_text(self) -> str:
        return TYPE_TEXT.get(self.followup.followup_type, self.followup.followup_type)

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.followup.status, self.followup.status)


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    rows: list[FollowUpRow]


# --------------------------------------------------------------------------- reading


def workspace_zone(session: Session) -> str:
    workspace = session.get(Workspace, current_workspace(session))
    return workspace.timezone if workspace and workspace.timezone else "UTC"


def get_or_404(session: Session, followup_id: uuid.UUID) -> FollowUp:
    row = session.get(FollowUp, followup_id)
    if row is None:
        raise NotFound("follow-up not found")
    return row


def list_(
    session: Session,
    *,
    status: str | None = None,
    followup_type: str | None = None,
    contact_id: uuid.UUID | None = None,
    page: int = 1,
    limit: int = 25,
) -> Page[FollowUp]:
    """Follow-ups in calendar order (the planned time), optionally filtered."""
    if status is not None and status not in FOLLOWUP_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(FOLLOWUP_STATUSES)}", field="status")
    if followup_type is not None and followup_type not in FOLLOWUP_TYPES:
        raise InvalidInput(
            f"followup_type must be one of {', '.join(FOLLOWUP_TYPES)}", field="followup_type"
        )
    stmt = select(FollowUp).order_by(FollowUp.scheduled_at, FollowUp.id)
    if status is not None:
        stmt = stmt.where(FollowUp.status == status)
    if followup_type is not None:
        stmt = stmt.where(FollowUp.followup_type == followup_type)
    if contact_id is not None:
        stmt = stmt.where(FollowUp.contact_id == contact_id)
    return paginate(session, stmt, page=page, limit=limit)


def rows_for(session: Session, followups: list[FollowUp]) -> list[FollowUpRow]:
    """Contact names and original subjects for a page of follow-ups, in two queries."""
    contact_ids = {f.contact_id for f in followups}
    draft_ids = {f.original_outreach_id for f in followups if f.original_outreach_id}
    names: dict[uuid.UUID, str] = {}
    if contact_ids:
        for cid, name in session.execute(
            select(Contact.id, Contact.full_name).where(Contact.id.in_(contact_ids))
        ):
            names[cid] = name
    originals: dict[uuid.UUID, tuple[str, str]] = {}
    if draft_ids:
        originals = {
            did: (subject, channel)
            for did, subject, channel in session.execute(
                select(OutreachDraft.id, OutreachDraft.subject, OutreachDraft.channel).where(
                    OutreachDraft.id.in_(draft_ids)
                )
            )
        }
    rows = []
    for f in followups:
        original = originals.get(f.original_outreach_id) if f.original_outreach_id else None
        rows.append(
            FollowUpRow(
                followup=f,
                contact_name=names.get(f.contact_id),
                subject=original[0] if original else None,
                channel=original[1] if original else None,
            )
        )
    return rows


def by_day(rows: list[FollowUpRow], zone: str) -> list[Day]:
    """Consecutive rows grouped by the day of their planned time in ``zone``."""
    tz = ZoneInfo(zone)
    days: list[Day] = []
    for row in rows:
        day = row.followup.scheduled_at.astimezone(tz).date()
        if not days or days[-1].day != day:
            days.append(Day(day, []))
        days[-1].rows.append(row)
    return days


def list_by_day(
    session: Session,
    *,
    zone: str,
    status: str | None = None,
    followup_type: str | None = None,
    page: int = 1,
    limit: int = 25,
) -> tuple[Page[FollowUp], list[Day]]:
    found = list_(session, status=status, followup_type=followup_type, page=page, limit=limit)
    return found, by_day(rows_for(session, found.items), zone)


# --------------------------------------------------------------------------- changing


def _describe(session: Session, row: FollowUp) -> str:
    contact = session.get(Contact, row.contact_id)
    who = contact.full_name if contact else "a removed contact"
    kind = row.followup_type.replace("_", " ")
    return f"{kind} follow-up #{row.followup_number} to {who}"


def _clean_reason(reason: str | None) -> str:
    return (reason or "").replace("\x00", "").strip()[:MAX_REASON]


def _transition(session: Session, row: FollowUp, values: dict[str, Any]) -> FollowUp:
    """Apply ``values`` only while the follow-up is still scheduled."""
    result = session.execute(
        update(FollowUp)
        .where(FollowUp.id == row.id, FollowUp.status == "scheduled")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        session.refresh(row)
        raise Conflict(
            f"this follow-up is already {STATUS_TEXT.get(row.status, row.status).lower()}; "
            "only a scheduled one can be changed",
            field="status",
        )
    session.refresh(row)
    return row


def _log(
    session: Session,
    clock: Clock,
    row: FollowUp,
    activity_type: str,
    description: str,
    user_id: uuid.UUID | None,
    **details: Any,
) -> None:
    activity.record(
        session=session,
        clock=clock,
        agent_id=row.agent_id,
        activity_type=activity_type,
        description=description,
        details={
            "followUpId": str(row.id),
            "contactId": str(row.contact_id),
            "userId": str(user_id) if user_id else None,
            **details,
        },
        entity_type="followup",
        entity_id=row.id,
    )


def _end(
    session: Session,
    clock: Clock,
    row: FollowUp,
    status: str,
    reason: str,
    user_id: uuid.UUID | None,
) -> None:
    now = clock.now()
    _transition(
        session,
        row,
        {
            "status": status,
            "cancel_reason": reason,
            "claimed_by": None,
            "lease_expires_at": None,
            "updated_at": now,
        },
    )
    verb = "Cancelled" if status == "cancelled" else "Skipped"
    _log(
        session,
        clock,
        row,
        f"followup_{status}",
        f"{verb} the {_describe(session, row)} by hand: {reason}",
        user_id,
        reason=reason,
    )


def cancel(
    session: Session,
    clock: Clock,
    followup_id: uuid.UUID,
    user_id: uuid.UUID | None,
    reason: str,
    *,
    whole_sequence: bool = False,
) -> list[FollowUp]:
    """Cancel a scheduled follow-up (and, if asked, every later one of its sequence)."""
    row = get_or_404(session, followup_id)
    why = _clean_reason(reason)
    if not why:
        raise InvalidInput("say why the follow-up is cancelled", field="reason")
    if row.status != "scheduled":
        raise Conflict(
            f"this follow-up is already {STATUS_TEXT.get(row.status, row.status).lower()}; "
            "only a scheduled one can be cancelled",
            field="status",
        )
    targets = [row]
    if whole_sequence:
        later = select(FollowUp).where(
            FollowUp.contact_id == row.contact_id,
            FollowUp.status == "scheduled",
            FollowUp.id != row.id,
            FollowUp.scheduled_at >= row.scheduled_at,
        )
        if row.original_outreach_id is not None:
            later = later.where(FollowUp.original_outreach_id == row.original_outreach_id)
        targets += list(session.scalars(later.order_by(FollowUp.scheduled_at, FollowUp.id)))
    for target in targets:
        _end(session, clock, target, "cancelled", why, user_id)
    return targets


def skip(
    session: Session, clock: Clock, followup_id: uuid.UUID, user_id: uuid.UUID | None
) -> FollowUp:
    """Pass over one scheduled follow-up; the rest of the sequence stays as planned."""
    row = get_or_404(session, followup_id)
    _end(session, clock, row, "skipped", "skipped by hand", user_id)
    return row


def _rules(session: Session, row: FollowUp, zone: str) -> FollowupRules:
    agent = session.get(Agent, row.agent_id) if row.agent_id else None
    if agent is None:
        agent = find_agent(session, "followup")
    if agent is None:
        return FollowupRules(default_tz=zone)
    return schedule.rules_for(session, agent, zone)


def format_instant(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%a %d %b %Y %H:%M} ({zone})"


def check_time(session: Session, clock: Clock, row: FollowUp, at: datetime) -> None:
    """Refuse a time in the past, too far ahead, or one the follow-up rules forbid."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("give the time with its time zone", field="scheduledAt")
    now = clock.now()
    if at <= now:
        raise InvalidInput("the new time must be in the future", field="scheduledAt")
    if at > now + MAX_AHEAD:
        raise InvalidInput("the new time must be within a year from now", field="scheduledAt")
    if row.followup_type == "escalation":
        return  # not a message: asking you what next is allowed at any time
    zone = workspace_zone(session)
    original = (
        session.get(OutreachDraft, row.original_outreach_id) if row.original_outreach_id else None
    )
    found = schedule.facts(session, original) if original else None
    contact = session.get(Contact, row.contact_id)
    kind: FollowupType = row.followup_type  # type: ignore[assignment]
    facts: dict[str, Any] = {
        "followup_type": kind,
        "event_start": found.event_start if found else None,
        "event_end": found.event_end if found else None,
        "recipient_tz": contact.timezone if contact else None,
        "rules": _rules(session, row, found.default_tz if found else zone),
    }
    broken = violation(at, **facts)
    if broken is None:
        return
    slot = next_slot(at, **facts)
    if slot is not None and slot > now + MAX_AHEAD:
        slot = None
    advice = (
        f" The next allowed time is {format_instant(slot, zone)}."
        if slot is not None
        else " No allowed time is left for this follow-up: skip or cancel it instead."
    )
    raise ForbiddenTime(f"Not allowed: {broken}.{advice}", slot)


def reschedule(
    session: Session,
    clock: Clock,
    followup_id: uuid.UUID,
    user_id: uuid.UUID | None,
    at: datetime,
) -> FollowUp:
    """Move a scheduled follow-up to ``at`` (checked by :func:`check_time`)."""
    row = get_or_404(session, followup_id)
    if row.status != "scheduled":
        raise Conflict(
            f"this follow-up is already {STATUS_TEXT.get(row.status, row.status).lower()}; "
            "only a scheduled one can be moved",
            field="status",
        )
    check_time(session, clock, row, at)
    before = row.scheduled_at
    _transition(
        session,
        row,
        {
            "scheduled_at": at,
            # A worker that claimed it for the old time must not carry it out now.
            "claimed_by": None,
            "lease_expires_at": None,
            "last_error": None,
            "updated_at": clock.now(),
        },
    )
    zone = workspace_zone(session)
    _log(
        session,
        clock,
        row,
        "followup_rescheduled",
        f"Moved the {_describe(session, row)} to {format_instant(at, zone)}",
        user_id,
        before=before.isoformat(),
        after=at.isoformat(),
    )
    return row


def scheduled_count(session: Session, contact_id: uuid.UUID) -> int:
    """How many follow-ups of this contact are still to come."""
    return len(
        list(
            session.scalars(
                select(FollowUp.id).where(
                    FollowUp.contact_id == contact_id, FollowUp.status == "scheduled"
                )
            )
        )
    )
