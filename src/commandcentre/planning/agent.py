"""The Planning agent: prioritises opportunities and hands the best ones to Outreach."""

from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from commandcentre.agents.base import AgentContext, TaskResult
from commandcentre.agents.common import MinimalAgent, PingInput
from commandcentre.agents.config import AgentConfig, PlanningConfig
from commandcentre.agents.models import AgentTask
from commandcentre.planning import recommendations


class AnalyzeOpportunityInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    opportunityId: uuid.UUID = Field(description="The opportunity to analyse.")


class PlanningAgent(MinimalAgent):
    agent_type: ClassVar[str] = "planning"
    config_model: ClassVar[type[AgentConfig]] = PlanningConfig
    task_inputs: ClassVar[dict[str, type[BaseModel]]] = {
        "ping": PingInput,
        "analyze_opportunity": AnalyzeOpportunityInput,
    }

    def handle_task(self, ctx: AgentContext, task: AgentTask) -> TaskResult:
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
