"""The Outreach agent: drafts first messages for an opportunity's people, and acknowledges
what Planning hands over."""

from __future__ import annotations

import threading
import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from commandcentre.agents.base import AgentContext, ClaimedTask, Preparation, TaskResult
from commandcentre.agents.common import MinimalAgent, PingInput
from commandcentre.agents.config import AgentConfig, OutreachConfig
from commandcentre.agents.models import AgentMessage, AgentTask
from commandcentre.errors import NotFound
from commandcentre.intel.models import Event, Opportunity
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.types import Writer
from commandcentre.outreach import ahead, drafts
from commandcentre.outreach.models import OutreachDraft
from commandcentre.workspaces.models import Workspace


class DraftOutreachInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    opportunityId: uuid.UUID = Field(description="The opportunity whose people to write to.")
    contactIds: list[uuid.UUID] | None = Field(
        default=None,
        max_length=500,
        description="Only these contacts; by default everyone linked to the opportunity.",
    )


def choose_writer(
    ctx: AgentContext,
    *,
    task_id: uuid.UUID | None = None,
    lock: threading.RLock | None = None,
) -> Writer:
    """The one place the drafting writer is chosen: the model the session's settings name
    (behind the provider's shared limits, under this agent's daily budgets, with the offline
    writer as the last fallback), or the offline writer when none is configured.

    ``lock`` guards the task's session while drafts run on several threads.
    """
    return drafts.writer_for(ctx.session, ctx.clock, ctx.agent, task_id=task_id, lock=lock)


def _concurrency(ctx: AgentContext, writer: Writer) -> int:
    # Offline drafts are quick CPU work; threads only help while waiting on a model.
    return 1 if isinstance(writer, OfflineWriter) else ctx.settings.llm_concurrency


def _sender(ctx: AgentContext) -> tuple[str, str]:
    workspace = ctx.session.get(Workspace, ctx.workspace_id)
    company = workspace.name.strip() if workspace and workspace.name.strip() else "our team"
    return f"The {company} team", company


Drafted = list[tuple[uuid.UUID, str]]  # (draft id, status)


def _pairs(created: list[OutreachDraft]) -> Drafted:
    return [(d.id, d.status) for d in created]


def _output(opportunity_id: uuid.UUID, created: Drafted) -> dict[str, Any]:
    pending = sum(1 for _, status in created if status == "pending_approval")
    return {
        "opportunityId": str(opportunity_id),
        "draftIds": [str(draft_id) for draft_id, _ in created],
        "pendingApproval": pending,
        "autoApproved": len(created) - pending,
    }


def _completed(opportunity_id: uuid.UUID, event_name: str, created: Drafted) -> TaskResult:
    plural = "" if len(created) == 1 else "s"
    return TaskResult(
        status="completed",
        summary=f"Drafted {len(created)} message{plural} for {event_name}",
        output=_output(opportunity_id, created),
    )


def _stopped(
    opportunity_id: uuid.UUID, event_name: str, reason: str, created: Drafted, remaining: int
) -> TaskResult:
    """A spent budget ends the task as failed, saying which budget and what is left, while
    the drafts already written stay in the queue (running the task again resumes)."""
    done = len(created)
    plural = "" if done == 1 else "s"
    return TaskResult(
        status="failed",
        summary=f"Stopped drafting for {event_name}: {reason}. Drafted {done} "
        f"message{plural}; {remaining} not drafted.",
        output={
            **_output(opportunity_id, created),
            "stoppedBy": "budget",
            "notDrafted": remaining,
        },
    )


class OutreachAgent(MinimalAgent):
    agent_type: ClassVar[str] = "outreach"
    config_model: ClassVar[type[AgentConfig]] = OutreachConfig
    task_inputs: ClassVar[dict[str, type[BaseModel]]] = {
        "ping": PingInput,
        "draft_outreach": DraftOutreachInput,
    }

    def prepare_tasks(self, prep: Preparation, tasks: list[ClaimedTask]) -> dict[uuid.UUID, object]:
        """Draft with the model ahead of the batch's transaction (see ``outreach.ahead``)."""
        return dict(ahead.draft_ahead(prep, tasks))

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
        done = ctx.prepared if isinstance(ctx.prepared, ahead.Ahead) else ahead.Ahead()
        if done.complete:
            if done.stop_reason is not None:
                return _stopped(
                    opportunity.id, event_name, done.stop_reason, done.drafted, done.not_drafted
                )
            return _completed(opportunity.id, event_name, done.drafted)
        sender_name, sender_company = _sender(ctx)
        # One lock for every use of the task's session while drafts run on several threads.
        lock = threading.RLock()
        writer = choose_writer(ctx, task_id=task.id, lock=lock)
        try:
            created = drafts.create_drafts(
                session=ctx.session,
                clock=ctx.clock,
                agent=ctx.agent,
                opportunity_id=opportunity.id,
                contact_ids=data.contactIds,
                writer=writer,
                sender_name=sender_name,
                sender_company=sender_company,
                task_id=task.id,
                concurrency=_concurrency(ctx, writer),
                lock=lock,
            )
        except NotFound:
            return TaskResult(status="failed", summary="The opportunity no longer exists.")
        except drafts.DraftingStopped as stopped:
            return _stopped(
                opportunity.id,
                event_name,
                stopped.reason,
                done.drafted + _pairs(stopped.created),
                stopped.remaining,
            )
        return _completed(opportunity.id, event_name, done.drafted + _pairs(created))

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
