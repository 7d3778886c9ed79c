"""The Follow-up agent: schedules follow-ups when the Outreach agent reports a first message
sent; the follow-up pump (``followups.execute``) carries them out when due."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from commandcentre.agents.base import AgentContext
from commandcentre.agents.common import MinimalAgent
from commandcentre.agents.config import AgentConfig, FollowupConfig
from commandcentre.agents.models import AgentMessage
from commandcentre.followups import schedule


class FollowupAgent(MinimalAgent):
    agent_type: ClassVar[str] = "followup"
    config_model: ClassVar[type[AgentConfig]] = FollowupConfig

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
