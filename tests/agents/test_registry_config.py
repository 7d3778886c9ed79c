"""Every agent type resolves to a class, and configs are validated on save."""

from __future__ import annotations

import pytest

from commandcentre.agents.config import CONFIG_MODELS, validate_config
from commandcentre.agents.models import AGENT_TYPES
from commandcentre.agents.registry import agent_for, agent_types
from commandcentre.errors import InvalidInput


@pytest.mark.parametrize("agent_type", AGENT_TYPES)
def test_every_agent_type_resolves(agent_type: str) -> None:
    agent = agent_for(agent_type)
    assert agent.agent_type == agent_type
    assert agent.config_model is CONFIG_MODELS[agent_type]
    assert "ping" in agent.task_inputs


def test_registry_has_exactly_the_known_types() -> None:
    assert sorted(agent_types()) == sorted(AGENT_TYPES)
    with pytest.raises(LookupError):
        agent_for("sales")


def test_defaults_fill_in_and_partial_configs_validate() -> None:
    assert validate_config("outreach", {}) == {
        "autoApprove": False,
        "maxDailyOutreach": 50,
        "tone": "professional",
        "undoDelaySeconds": 60,
        "businessHoursOnly": True,
        "businessHoursStart": 9,
        "businessHoursEnd": 17,
        "dailyModelCalls": 500,
        "dailyModelTokens": 1_000_000,
        "dailyModelCostUsd": 5.0,
    }
    assert validate_config("followup", {"maxFollowups": 3})["followupDelayDays"] == 3


@pytest.mark.parametrize(
    ("agent_type", "config", "field"),
    [
        ("outreach", {"tone": "rude"}, "config.tone"),
        ("outreach", {"maxDailyOutreach": 0}, "config.maxDailyOutreach"),
        ("outreach", {"autoApprove": "yes"}, "config.autoApprove"),
        ("followup", {"followupDelayDays": 99}, "config.followupDelayDays"),
        ("planning", {"unknownOption": 1}, "config.unknownOption"),
    ],
)
def test_bad_config_names_the_field(agent_type: str, config: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_config(agent_type, config)
    assert caught.value.field == field
