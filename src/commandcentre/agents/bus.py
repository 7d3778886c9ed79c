"""Messages between agents: request, response, notification, escalation.

A message is a row; delivery calls the receiving agent's `handle_message`. A request gets
exactly one response (a unique index on `response_to_id`), and a request left unanswered
past its deadline escalates to the user.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commandcentre.agents import activity, approvals, wakeup
from commandcentre.agents.models import Agent, AgentMessage
from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import WORKSPACE_KEY
from commandcentre.errors import Conflict, InvalidInput, NotFound

DEFAULT_REQUEST_TIMEOUT = timedelta(hours=1)
ESCALATION_CHOICES = ["acknowledge", "retry", "cancel"]


def find_agent(session: Session, agent_type: str) -> Agent | None:
    """The workspace's agent of this type (there is one per type), if it has one."""
    return session.scalar(select(Agent).where(Agent.agent_type == agent_type))


def agent_by_type(*, session: Session, agent_type: str) -> Agent:
    agent = find_agent(session, agent_type)
    if agent is None:
        raise NotFound(f"this workspace has no {agent_type} agent")
    return agent


def send(
    *,
    session: Session,
    clock: Clock,
    sender: Agent | None,
    recipient: Agent | None,
    message_type: str,
    subject: str,
    payload: dict[str, Any],
    requires_response: bool = False,
    response_to: AgentMessage | None = None,
    timeout: timedelta | None = None,
    task_id: uuid.UUID | None = None,
) -> AgentMessage:
    if message_type not in ("request", "response", "notification", "escalation"):
        raise InvalidInput(f"unknown message type '{message_type}'", field="messageType")
    if message_type == "request":
        requires_response = True
    if message_type == "response" and response_to is None:
        raise InvalidInput("a response must answer a request", field="responseToId")
    check_json(payload, field="payload")
    if response_to is not None and response_to.responded_at is not None:
        raise Conflict("this request already has its response")
    now = clock.now()
    values: dict[str, Any] = {
        # Known now, so the log entry can refer to it before anything is written.
        "id": new_id(),
        # Stamped now: the flush that writes it may come after the session moved on to
        # another workspace's rows (None: stamped by that flush, or refused).
        "workspace_id": session.info.get(WORKSPACE_KEY),
        "from_agent_id": sender.id if sender else None,
        "to_agent_id": recipient.id if recipient else None,
        "message_type": message_type,
        "subject": subject[:300],
        "payload": payload,
        "requires_response": requires_response,
        "response_to_id": response_to.id if response_to else None,
        "status": "pending" if recipient else "delivered",
        "response_deadline_at": now + (timeout or DEFAULT_REQUEST_TIMEOUT)
        if requires_response
        else None,
        "task_id": task_id,
        "created_at": now,
        "next_attempt_at": now,
    }
    message = AgentMessage(**values)
    if (
        response_to is None
        and values["workspace_id"] is not None
        and activity.rows_deferred(session)
    ):
        # A batch that writes plain rows (recording sends, delivering messages): the
        # message goes with them instead of through the unit of work. ``message`` stays
        # out of the session; callers read its id.
        activity.add_rows(session, AgentMessage, [values])
    else:
        # Written with the caller's next flush (ActivityEntry.message puts it before its log
        # entry), so a batch of messages goes out together.
        session.add(message)
    if response_to is not None:
        response_to.responded_at = now
        try:
            # Another worker may have answered the same request a moment ago: the unique
            # index on response_to_id decides, and the loser gets a clear conflict.
            with session.begin_nested():
                session.flush()
        except IntegrityError:
            raise Conflict("this request already has its response") from None
    who = sender.name if sender else "You"
    to = recipient.name if recipient else "you"
    activity.record(
        session=session,
        clock=clock,
        agent_id=sender.id if sender else (recipient.id if recipient else None),
        activity_type=f"message_{message_type}",
        description=f"{who} → {to}: {subject}",
        message_id=message.id,
        details={"messageType": message_type, "payload": payload},
        metrics={"messages_sent": 1} if sender else None,
    )
    if recipient is not None:
        wakeup.after_commit(session, "messages")
    return message


def check_json(value: Any, *, field: str) -> None:
    """Refuse what PostgreSQL's JSONB cannot store (NUL characters, lone surrogates)."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidInput(f"{field} is not valid JSON: {exc}", field=field) from None
    if "\x00" in text or "\\u0000" in text:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)


class Bus:
    """The bus as an agent sees it: the sender is always the agent itself."""

    def __init__(
        self, *, session: Session, clock: Clock, sender: Agent, task_id: uuid.UUID | None = None
    ) -> None:
        self.session = session
        self.clock = clock
        self.sender = sender
        self.task_id = task_id

    def _to(self, agent_type: str) -> Agent:
        return agent_by_type(session=self.session, agent_type=agent_type)

    def notify(self, agent_type: str, subject: str, payload: dict[str, Any]) -> AgentMessage:
        return send(
            session=self.session,
            clock=self.clock,
            sender=self.sender,
            recipient=self._to(agent_type),
            message_type="notification",
            subject=subject,
            payload=payload,
            task_id=self.task_id,
        )

    def request(
        self,
        agent_type: str,
        subject: str,
        payload: dict[str, Any],
        timeout: timedelta | None = None,
    ) -> AgentMessage:
        return send(
            session=self.session,
            clock=self.clock,
            sender=self.sender,
            recipient=self._to(agent_type),
            message_type="request",
            subject=subject,
            payload=payload,
            timeout=timeout,
            task_id=self.task_id,
        )

    def respond(self, request: AgentMessage, subject: str, payload: dict[str, Any]) -> AgentMessage:
        requester = (
            self.session.get(Agent, request.from_agent_id) if request.from_agent_id else None
        )
        return send(
            session=self.session,
            clock=self.clock,
            sender=self.sender,
            recipient=requester,
            message_type="response",
            subject=subject,
            payload=payload,
            response_to=request,
            task_id=self.task_id,
        )

    def escalate(
        self, subject: str, payload: dict[str, Any], choices: list[str] | None = None
    ) -> AgentMessage:
        return escalate(
            session=self.session,
            clock=self.clock,
            sender=self.sender,
            subject=subject,
            payload=payload,
            choices=choices or ESCALATION_CHOICES,
        )


def escalate(
    *,
    session: Session,
    clock: Clock,
    sender: Agent | None,
    subject: str,
    payload: dict[str, Any],
    choices: list[str],
) -> AgentMessage:
    """An escalation goes to the user: a message with no recipient and a pending approval."""
    message = send(
        session=session,
        clock=clock,
        sender=sender,
        recipient=None,
        message_type="escalation",
        subject=subject,
        payload=payload,
    )
    # The approval refers to it and no relationship orders the two.
    session.flush()
    approvals.open_escalation(
        session=session,
        clock=clock,
        agent_id=sender.id if sender else None,
        message_id=message.id,
        title=subject,
        context=payload,
        choices=choices,
    )
    return message
