"""The Planning agent: prioritises opportunities and hands the best ones to Outreach."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from commandcentre.agents.base import AgentContext, ApprovalRequest, TaskResult
from commandcentre.agents.common import MinimalAgent, PingInput
from commandcentre.agents.config import AgentConfig, PlanningConfig
from commandcentre.agents.models import AgentTask
from commandcentre.planning import campaigns, recommendations


class AnalyzeOpportunityInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    opportunityId: uuid.UUID = Field(description="The opportunity to analyse.")


class ProposeCampaignInput(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    opportunityId: uuid.UUID = Field(description="The opportunity to build a campaign for.")


class PlanningAgent(MinimalAgent):
    agent_type: ClassVar[str] = "planning"
    config_model: ClassVar[type[AgentConfig]] = PlanningConfig
    task_inputs: ClassVar[dict[str, type[BaseModel]]] = {
        "ping": PingInput,
        "analyze_opportunity": AnalyzeOpportunityInput,
        "propose_campaign": ProposeCampaignInput,
    }

    def handle_task(self, ctx: AgentContext, task: AgentTask) -> TaskResult:
        if task.task_type == "propose_campaign":
            return self._propose_campaign(ctx, task)
        if task.task_type != "analyze_opportunity":
            return super().handle_task(ctx, task)
        assert isinstance(ctx.config, PlanningConfig)
        data = AnalyzeOpportunityInput.model_validate(task.input_data)
        analysis = recommendations.analyse(
            session=ctx.session,
            clock=ctx.clock,
            opportunity_id=data.opportunityId,
            agent=ctx.agent,
        )
        if analysis is None:
            return TaskResult(status="failed", summary="The opportunity no longer exists.")
        output = {
            "opportunityId": str(data.opportunityId),
            "priorityScore": analysis.priority,
            "recommendationId": str(analysis.recommendation.id),
        }
        if analysis.priority >= ctx.config.highPriorityThreshold:
            plural = "s" if analysis.account_count != 1 else ""
            message = ctx.bus.notify(
                "outreach",
                f"New high-priority opportunity: {analysis.account_count} target account{plural}"
                f" at {analysis.event_name}",
                {
                    "kind": "high_priority_opportunity",
                    "opportunityId": str(data.opportunityId),
                    "accountCount": analysis.account_count,
                    "contactCount": analysis.contact_count,
                    "priorityScore": analysis.priority,
                },
            )
            output["notifiedOutreach"] = str(message.id)
        return TaskResult(
            status="completed",
            summary=f"{analysis.event_name}: priority {analysis.priority:.0f} "
            f"({analysis.recommendation.recommendation_type})",
            output=output,
            reasoning=analysis.recommendation.reasoning,
        )

    def _propose_campaign(self, ctx: AgentContext, task: AgentTask) -> TaskResult:
        """First run proposes and waits for the user; the run after approval launches."""
        decision = task.input_data.get("_decision")
        proposal = (task.output_data or {}).get("proposal")
        if decision and proposal:
            launched = campaigns.launch(
                session=ctx.session, clock=ctx.clock, agent_id=ctx.agent.id, proposal=proposal
            )
            people = len(launched.target_contact_ids)
            ctx.bus.notify(
                "outreach",
                f"Campaign approved: {launched.name} ({people} people)",
                {
                    "kind": "campaign_approved",
                    "campaignId": str(launched.id),
                    "opportunityId": proposal["opportunityId"],
                    "contactCount": people,
                },
            )
            return TaskResult(
                status="completed",
                summary=f"Launched campaign '{launched.name}' for {people} people",
                output={"proposal": proposal, "campaignId": str(launched.id)},
            )
        data = ProposeCampaignInput.model_validate(task.input_data)
        found = campaigns.propose(
            session=ctx.session, clock=ctx.clock, opportunity_id=data.opportunityId
        )
        if found is None:
            return TaskResult(status="failed", summary="The opportunity no longer exists.")
        if not found.contacts:
            return TaskResult(
                status="failed", summary="Nobody from a target account to contact yet."
            )
        return TaskResult(
            status="waiting_approval",
            summary=f"Proposed campaign '{found.name}' for {len(found.contacts)} people",
            output={"proposal": found.as_context()},
            reasoning=found.reasoning,
            approval=ApprovalRequest(
                title=f"Launch campaign: {found.name}?",
                context=found.as_context(),
                choices=("approve", "reject"),
            ),
        )
