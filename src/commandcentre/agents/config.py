"""Typed, validated configuration for each agent type (JSON uses the seed's camelCase)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from commandcentre.errors import InvalidInput


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class OutreachConfig(AgentConfig):
    autoApprove: bool = Field(
        default=False, description="Send drafts without review when no flag is raised."
    )
    maxDailyOutreach: int = Field(default=50, ge=1, le=1000)
    tone: Literal["professional", "friendly", "casual"] = "professional"
    undoDelaySeconds: int = Field(
        default=60, ge=0, le=86_400, description="How long an approval can be taken back."
    )
    businessHoursOnly: bool = Field(
        default=True, description="Send only on weekdays within business hours, recipient time."
    )
    businessHoursStart: int = Field(
        default=9, ge=0, le=23, description="First hour of the send window, recipient time."
    )
    businessHoursEnd: int = Field(
        default=17, ge=1, le=24, description="Hour the send window closes, recipient time."
    )
    # Daily model budgets (UTC day); the Outreach agent stops drafting with a visible reason
    # when one is spent. Cache hits are free. null = no limit of that kind.
    dailyModelCalls: int | None = Field(
        default=500, ge=0, le=1_000_000, description="Model calls per day; null = no limit."
    )
    dailyModelTokens: int | None = Field(
        default=1_000_000,
        ge=0,
        le=1_000_000_000,
        description="Model tokens (in + out) per day; null = no limit.",
    )
    dailyModelCostUsd: float | None = Field(
        default=5.0, ge=0, le=100_000, description="Model spend in USD per day; null = no limit."
    )

    @model_validator(mode="after")
    def _window(self) -> OutreachConfig:
        if self.businessHoursStart >= self.businessHoursEnd:
            raise ValueError("the send window must close after it opens")
        return self

    @property
    def business_hours(self) -> tuple[int, int]:
        return self.businessHoursStart, self.businessHoursEnd

    @property
    def sending_hours(self) -> tuple[int, int]:
        """The hours a suggested send time may fall in: any hour when the agent sends at
        any hour."""
        return self.business_hours if self.businessHoursOnly else (0, 24)


class FollowupConfig(AgentConfig):
    followupDelayDays: int = Field(default=3, ge=1, le=30, description="Business days.")
    maxFollowups: int = Field(default=2, ge=0, le=5)
    autoApprove: bool = Field(
        default=False, description="Send follow-ups without review when no flag is raised."
    )
    meetingNote: bool = Field(
        default=False, description="Send one short meeting note during the event."
    )
    minGapHours: int = Field(
        default=48, ge=0, le=720, description="Least time between two touches of one contact."
    )
    cancelColleaguesOnReply: bool = Field(
        default=False,
        description="A reply also stops follow-ups to colleagues at the same account.",
    )
    escalate: bool = Field(
        default=True, description="Ask you what next when the last follow-up gets no answer."
    )


class PlanningConfig(AgentConfig):
    highPriorityThreshold: float = Field(
        default=70.0, ge=0, le=100, description="Priority at which Outreach is told."
    )
    sweepNewOpportunities: bool = Field(
        default=True, description="Analyse new opportunities on every tick."
    )


class ResearchConfig(AgentConfig):
    maxNotesPerContact: int = Field(default=5, ge=1, le=50)


CONFIG_MODELS: dict[str, type[AgentConfig]] = {
    "outreach": OutreachConfig,
    "followup": FollowupConfig,
    "planning": PlanningConfig,
    "research": ResearchConfig,
}


def validate_config(agent_type: str, data: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a (partial) config and return it complete, with defaults filled in."""
    model = CONFIG_MODELS.get(agent_type)
    if model is None:
        raise InvalidInput(f"unknown agent type '{agent_type}'", field="agentType")
    try:
        return model.model_validate(data or {}).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InvalidInput(f"config.{where}: {first['msg']}", field=f"config.{where}") from None


def merged_config(
    agent_type: str, current: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    return validate_config(agent_type, {**current, **changes})
