"""Decisions waiting for the user: tasks that need approval, and escalations."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents.models import AgentMessage, AgentTask, Approval
from commandcentre.clock import Clock
from commandcentre.errors import Conflict, InvalidInput, NotFound

REWAIT = timedelta(hours=24)

if TYPE_CHECKING:
    from commandcentre.agents.base import ApprovalRequest


def open_for_task(
    *, session: Session, clock: Clock, task: AgentTask, request: ApprovalRequest
) -> Approval:
    approval = Approval(
        kind="task",
        agent_id=task.agent_id,
        task_id=task.id,
        title=request.title,
        context=request.context,
        choices=list(request.choices),
        status="pending",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(approval)
    session.flush()
    return approval


def open_escalation(
    *,
    session: Session,
    clock: Clock,
    agent_id: uuid.UUID | None,
    message_id: uuid.UUID,
    title: str,
    context: dict[str, Any],
    choices: list[str],
) -> Approval:
    approval = Approval(
        kind="escalation",
        agent_id=agent_id,
        message_id=message_id,
        title=title,
        context=context,
        choices=choices,
        status="pending",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(approval)
    session.flush()
    return approval


def close_for_task(
    *,
    session: Session,
    clock: Clock,
    task_id: uuid.UUID,
    status: str,
    user_id: uuid.UUID | None,
    decision: str | None = None,
    reason: str | None = None,
) -> None:
    for approval in session.scalars(
        select(Approval).where(Approval.task_id == task_id, Approval.status == "pending")
    ):
        _close(
            approval, clock=clock, status=status, user_id=user_id, decision=decision, reason=reason
        )


def _close(
    approval: Approval,
    *,
    clock: Clock,
    status: str,
    user_id: uuid.UUID | None,
    decision: str | None,
    reason: str | None,
) -> None:
    approval.status = status
    approval.decision = decision
    approval.reason = reason
    approval.decided_by = user_id
    approval.decided_at = clock.now()


def choices_for_task(*, session: Session, task_id: uuid.UUID) -> list[str]:
    approval = session.scalar(
        select(Approval).where(Approval.task_id == task_id, Approval.status == "pending")
    )
    return [c for c in (approval.choices if approval else []) if c != "reject"]


def list_pending(*, session: Session, limit: int = 200) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.status == "pending")
            .order_by(Approval.created_at.desc())
            .limit(limit)
        )
    )


def get_or_404(*, session: Session, approval_id: uuid.UUID) -> Approval:
    approval = session.get(Approval, approval_id)
    if approval is None:
        raise NotFound("approval not found")
    return approval


def decide_escalation(
    *,
    session: Session,
    clock: Clock,
    approval_id: uuid.UUID,
    user_id: uuid.UUID | None,
    choice: str,
    reason: str | None = None,
) -> Approval:
    approval = get_or_404(session=session, approval_id=approval_id)
    if approval.kind != "escalation":
        raise InvalidInput("decide tasks through their approve/reject actions", field="kind")
    if approval.status != "pending":
        raise Conflict(f"this escalation was already {approval.status}")
    if choice not in approval.choices:
        raise InvalidInput(f"choice must be one of: {', '.join(approval.choices)}", field="choice")
    _close(
        approval, clock=clock, status="approved", user_id=user_id, decision=choice, reason=reason
    )
    _apply_to_request(session=session, clock=clock, approval=approval, choice=choice)
    return approval


def _apply_to_request(*, session: Session, clock: Clock, approval: Approval, choice: str) -> None:
    """An overdue request's escalation: waiting longer re-arms its deadline once more.
    A follow-up escalation: the chosen next move is carried out."""
    if approval.context.get("kind") == "followup_escalation":
        # Imported here: follow-ups build on the runtime, not the other way round.
        from commandcentre.followups import escalation

        escalation.apply_choice(session, clock, approval, choice)
        return
    request_id = approval.context.get("requestId")
    if not request_id or choice != "wait longer":
        return
    request = session.get(AgentMessage, uuid.UUID(str(request_id)))
    if request is not None and request.responded_at is None:
        request.escalated_at = None
        request.response_deadline_at = clock.now() + REWAIT
