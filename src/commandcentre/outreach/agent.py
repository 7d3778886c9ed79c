"""The Outreach agent: drafts first messages for an opportunity's people, and acknowledges
what Planning hands over."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from commandcentre.agents.base import AgentContext, TaskResult
from commandcentre.agents.common import MinimalAgent, PingInput
from commandcentre.agents.config import AgentConfig, OutreachConfig
from commandcentre.agents.models import AgentMessage, AgentTask
from commandcentre.errors import NotFound
from commandcentre.intel.models import Event, Opportunity
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.types import Writer
from commandcentre.outreach import drafts
from commandcentre.workspaces.models import Workspace


class DraftOutreachInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    opportunityId: uuid.UUID = Field(description="The opportunity whose people to write to.")
    contactIds: list[uuid.UUID] | None = Field(
        default=None,
        max_length=500,
        description="Only these contacts; by default everyone linked to the opportunity.",
    )


def choose_writer(ctx: AgentContext) -> Writer:
    """The one place the drafting writer is chosen; model writers plug in here."""
    return OfflineWriter()


def _sender(ctx: AgentContext) -> tuple[str, str]:
    workspace = ctx.session.get(Workspace, ctx.workspace_id)
    company = workspace.name.strip() if workspace and workspace.name.strip() else "our team"
    return f"The {company} team", company


class OutreachAgent(MinimalAgent):
    agent_type: ClassVar[str] = "outreach"
    config_model: ClassVar[type[AgentConfig]] = OutreachConfig
    task_inputs: ClassVar[dict[str, type[BaseModel]]] = {
        "ping": PingInput,
        "draft_outreach": DraftOutreachInput,
    }

    def handle_task(self, ctx: AgentContext, task: AgentTask) -> TaskResult:
        if task.task_type == "draft_outreach":
            return self._draft_outreach(ctx, task)
        return super().handle_task(ctx, task)

    def _draft_outreach(self, ctx: AgentContext, task: AgentTask) -> TaskResult:
        data = DraftOutreachInput.model_validate(task.input_data)
        opportunity = ctx.session.get(Opportunity, data.opportunityId)
        if opportunity is None:
            return TaskResult(status="failed", summary="The opportunity no longer exists.")
        event = ctx.session.get(Event, opportunity.event_id)
        event_name = event.name if event else "the event"
        sender_name, sender_company = _sender(ctx)
        try:
            created = drafts.create_drafts(
                session=ctx.session,
                clock=ctx.clock,
                agent=ctx.agent,
                opportunity_id=opportunity.id,
                contact_ids=data.contactIds,
                writer=choose_writer(ctx),
                sender_name=sender_name,
                sender_company=sender_company,
                task_id=task.id,
            )
        except NotFound:
            return TaskResult(status="failed", summary="The opportunity no longer exists.")
        plural = "" if len(created) == 1 else "s"
        pending = sum(1 for d in created if d.status == "pending_approval")
        return TaskResult(
            status="completed",
            summary=f"Drafted {len(created)} message{plural} for {event_name}",
            output={
                "opportunityId": str(opportunity.id),
                "draftIds": [str(d.id) for d in created],
                "pendingApproval": pending,
                "autoApproved": len(created) - pending,
            },
        )

    def handle_message(self, ctx: AgentContext, message: AgentMessage) -> None:
        if message.payload.get("kind") == "high_priority_opportunity":
            accounts = int(message.payload.get("accountCount", 0))
            plural = "s" if accounts != 1 else ""
            ctx.bus.respond(
                message,
                f"Acknowledged: ready to draft for {accounts} target account{plural} "
                "when delegated",
                {"acknowledged": True, "opportunityId": message.payload.get("opportunityId")},
            )
            return
        super().handle_message(ctx, message)
