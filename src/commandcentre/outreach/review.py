"""The human decision on a draft: approve (after edits), reject, take an approval back.

Approval is a conditional UPDATE from ``pending_approval``, so of any number of concurrent
approvals of one draft exactly one wins and queues exactly one send.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.clock import Clock
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.outreach import sending, suppression
from commandcentre.outreach.compose import approval_hash
from commandcentre.outreach.models import OutreachDraft, Suppression
from commandcentre.pagination import Page, paginate

MAX_BULK = 200


def list_(
    session: Session, status: str | None = None, page: int = 1, limit: int = 25
) -> Page[OutreachDraft]:
    stmt = select(OutreachDraft)
    if status is not None:
        stmt = stmt.where(OutreachDraft.status == status)
    stmt = stmt.order_by(OutreachDraft.created_at.desc(), OutreachDraft.id)
    return paginate(session, stmt, page=page, limit=limit)


def get_or_404(session: Session, draft_id: uuid.UUID) -> OutreachDraft:
    draft = session.get(OutreachDraft, draft_id)
    if draft is None:
        raise NotFound("draft not found")
    return draft


def _not_pending(draft: OutreachDraft, action: str) -> Conflict:
    status = draft.status.replace("_", " ")
    return Conflict(
        f"only a draft pending approval can be {action}; this one is {status}", field="status"
    )


def _check_not_suppressed(session: Session, draft: OutreachDraft) -> None:
    if draft.channel != "email":
        return
    blocked = suppression.is_suppressed(session, draft.recipient)
    if blocked is not None:
        raise _suppressed(draft, blocked)


def _suppressed(draft: OutreachDraft, blocked: Suppression) -> Conflict:
    return Conflict(
        f"{draft.recipient} is suppressed ({blocked.kind} {blocked.value}, "
        f"reason: {blocked.reason}); this draft cannot be approved",
        field="recipient",
    )


def _edited(draft: OutreachDraft, subject: str | None, body: str | None) -> tuple[str, str]:
    new_subject = draft.subject
    if subject is not None:
        if "\r" in subject or "\n" in subject:
            raise InvalidInput("the subject must be a single line", field="subject")
        new_subject = subject.strip()
    new_body = draft.message_body
    if body is not None:
        if not body.strip():
            raise InvalidInput("the message must not be empty", field="messageBody")
        new_body = body
    return new_subject, new_body


def mark_approved(
    session: Session,
    clock: Clock,
    draft: OutreachDraft,
    *,
    user_id: uuid.UUID | None,
    subject: str | None = None,
    body: str | None = None,
) -> OutreachDraft:
    """Approve one draft pending approval (a person, or an auto-approve rule when no user).

    Raises Conflict when the draft is no longer pending, including when a concurrent
    approval got there first.
    """
    if draft.status != "pending_approval":
        raise _not_pending(draft, "approved")
    _check_not_suppressed(session, draft)
    new_subject, new_body = _edited(draft, subject, body)
    now = clock.now()
    fingerprint = approval_hash(draft.recipient, new_subject, new_body)
    won = session.execute(
        update(OutreachDraft)
        .where(OutreachDraft.id == draft.id, OutreachDraft.status == "pending_approval")
        .values(
            status="approved",
            subject=new_subject,
            message_body=new_body,
            approved_by=user_id,
            approved_at=now,
            approval_hash=fingerprint,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.refresh(draft)
    if not won:
        raise _not_pending(draft, "approved")
    sending.enqueue(session, clock, draft)
    edited = subject is not None or body is not None
    who = "Approved" if user_id is not None else "Auto-approved"
    _record(session, clock, draft, "draft_approved", who + (" after edits" if edited else ""))
    return draft


def approve(
    session: Session,
    clock: Clock,
    draft_id: uuid.UUID,
    user_id: uuid.UUID | None,
    subject: str | None = None,
    body: str | None = None,
) -> OutreachDraft:
    """Approve, optionally after editing; the hash covers exactly what was approved."""
    draft = get_or_404(session, draft_id)
    return mark_approved(session, clock, draft, user_id=user_id, subject=subject, body=body)


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    draft_id: uuid.UUID
    ok: bool
    error: str | None = None


def bulk_approve(
    session: Session, clock: Clock, draft_ids: Sequence[uuid.UUID], user_id: uuid.UUID | None
) -> list[BulkOutcome]:
    """Approve each draft on its own terms: one that cannot be approved does not block the
    rest. The same checks as ``approve``, made for the whole list at once: one read of the
    drafts and their suppressions, one conditional UPDATE that only pending drafts pass."""
    if len(draft_ids) > MAX_BULK:
        raise InvalidInput(f"approve at most {MAX_BULK} drafts at once", field="draftIds")
    ids = list(dict.fromkeys(draft_ids))
    drafts = {
        d.id: d for d in session.scalars(select(OutreachDraft).where(OutreachDraft.id.in_(ids)))
    }
    blocked = suppression.suppressed_among(
        session, [d.recipient for d in drafts.values() if d.channel == "email"]
    )
    refused: dict[uuid.UUID, str] = {}
    candidates: list[uuid.UUID] = []
    for draft_id in ids:
        draft = drafts.get(draft_id)
        if draft is None:
            refused[draft_id] = NotFound("draft not found").message
        elif draft.status != "pending_approval":
            refused[draft_id] = _not_pending(draft, "approved").message
        elif draft.channel == "email" and draft.recipient in blocked:
            refused[draft_id] = _suppressed(draft, blocked[draft.recipient]).message
        else:
            candidates.append(draft_id)
    now = clock.now()
    won = (
        set(
            session.scalars(
                update(OutreachDraft)
                .where(OutreachDraft.id.in_(candidates), OutreachDraft.status == "pending_approval")
                .values(status="approved", approved_by=user_id, approved_at=now, updated_at=now)
                .returning(OutreachDraft.id)
                .execution_options(synchronize_session=False)
            )
        )
        if candidates
        else set()
    )
    approved: list[OutreachDraft] = []
    for draft_id in candidates:
        draft = drafts[draft_id]
        if draft_id not in won:
            # Approved by someone else since it was read.
            session.refresh(draft)
            refused[draft_id] = _not_pending(draft, "approved").message
            continue
        # Already written by the UPDATE; set here so the loaded rows agree with it.
        draft.status = "approved"
        draft.approved_by = user_id
        draft.approved_at = now
        draft.updated_at = now
        draft.approval_hash = approval_hash(draft.recipient, draft.subject, draft.message_body)
        approved.append(draft)
    sending.enqueue_many(session, clock, approved)
    # The log entries as plain rows, one statement for the lot.
    with activity.deferred_rows(session):
        for draft in approved:
            _record(session, clock, draft, "draft_approved", "Approved")
    return [
        BulkOutcome(draft_id, False, refused[draft_id])
        if draft_id in refused
        else BulkOutcome(draft_id, True)
        for draft_id in ids
    ]


def undo_approval(
    session: Session, clock: Clock, draft_id: uuid.UUID, user_id: uuid.UUID | None
) -> OutreachDraft:
    """Take an approval back while its send still waits; the draft returns to the queue."""
    draft = get_or_404(session, draft_id)
    if draft.status != "approved":
        raise Conflict("only an approved draft that has not gone out can be taken back")
    sending.withdraw(session, draft)
    now = clock.now()
    draft.status = "pending_approval"
    draft.approved_by = None
    draft.approved_at = None
    draft.approval_hash = None
    draft.updated_at = now
    details = {"userId": str(user_id) if user_id else None}
    _record(session, clock, draft, "draft_approval_undone", "Took back the approval of", details)
    return draft


def reject(
    session: Session, clock: Clock, draft_id: uuid.UUID, user_id: uuid.UUID | None, reason: str
) -> OutreachDraft:
    if not reason or not reason.strip():
        raise InvalidInput("say why you reject it", field="reason")
    draft = get_or_404(session, draft_id)
    if draft.status != "pending_approval":
        raise _not_pending(draft, "rejected")
    draft.status = "rejected"
    draft.rejection_reason = reason.strip()
    draft.updated_at = clock.now()
    details = {"reason": reason.strip(), "userId": str(user_id) if user_id else None}
    _record(session, clock, draft, "draft_rejected", "Rejected", details)
    return draft


def _record(
    session: Session,
    clock: Clock,
    draft: OutreachDraft,
    kind: str,
    verb: str,
    details: dict[str, Any] | None = None,
) -> None:
    activity.record(
        session=session,
        clock=clock,
        agent_id=draft.agent_id,
        activity_type=kind,
        description=f"{verb} the {draft.channel} draft to {draft.recipient}",
        details=details,
        entity_type="outreach_draft",
        entity_id=draft.id,
    )
