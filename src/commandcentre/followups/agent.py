"""The Follow-up agent: schedules follow-ups when the Outreach agent reports a first message
sent; the follow-up pump (``followups.execute``) carries them out when due."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from sqlalchemy.orm import Session

from commandcentre.agents.base import AgentContext
from commandcentre.agents.common import MinimalAgent
from commandcentre.agents.config import AgentConfig, FollowupConfig
from commandcentre.agents.models import AgentMessage
from commandcentre.followups import schedule


class FollowupAgent(MinimalAgent):
    agent_type: ClassVar[str] = "followup"
    config_model: ClassVar[type[AgentConfig]] = FollowupConfig

    def prepare_messages(self, session: Session, messages: Sequence[AgentMessage]) -> None:
        """Delivery hands over a batch first: what scheduling needs is read in one go."""
        draft_ids = []
        for message in messages:
            draft_id = _sent_draft(message)
            if draft_id is not None:
                draft_ids.append(draft_id)
        schedule.prefetch(session, draft_ids)

    def handle_message(self, ctx: AgentContext, message: AgentMessage) -> None:
        payload = message.payload or {}
        if message.message_type == "notification" and payload.get("originalOutreachId"):
            sent_at = datetime.fromisoformat(str(payload.get("sentAt")))
            schedule.schedule_after_send(
                ctx.session,
                ctx.clock,
                ctx.agent,
                uuid.UUID(str(payload["originalOutreachId"])),
                sent_at,
            )
            return
        super().handle_message(ctx, message)


def _sent_draft(message: AgentMessage) -> uuid.UUID | None:
    """The first message a 'sent' notice is about; None for other messages (or a bad id,
    which handle_message then reports)."""
    payload = message.payload or {}
    if message.message_type != "notification" or not payload.get("originalOutreachId"):
        return None
    try:
        return uuid.UUID(str(payload["originalOutreachId"]))
    except ValueError:
        return None
