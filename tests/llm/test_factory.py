"""Choosing a writer from settings, and the fallback chain that ends in the offline writer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from cctest.model_server import (
    GOOD_OUTPUT,
    ModelServer,
    openai_ok,
    openai_quota,
    sample_request,
    server_error,
)
from commandcentre.llm.factory import (
    DEFAULT_MODELS,
    FLAG_SPEND_LIMIT,
    FallbackWriter,
    writer_from_settings,
)
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.providers import AnthropicWriter, OpenAIWriter
from commandcentre.llm.types import DraftRequest, DraftResult, Writer
from commandcentre.llm.writer import FLAG_FELL_BACK, FLAG_WRITER_ERROR, draft_with_grounding
from commandcentre.settings import Settings


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def make_settings(**values: Any) -> Settings:
    if "llm_api_key" in values:
        values["llm_api_key"] = SecretStr(values["llm_api_key"])
    values.setdefault("llm_timeout_seconds", 1.0)
    values.setdefault("llm_max_retries", 0)
    return Settings(_env_file=None, **values)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def primary_of(writer: Writer) -> Writer:
    assert isinstance(writer, FallbackWriter)
    assert isinstance(writer.final, OfflineWriter)
    [primary] = writer.writers
    return primary


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"llm_provider": "offline", "llm_api_key": "sk-x"},
        {"llm_provider": "openai"},
        {"llm_provider": "anthropic", "llm_model": "claude-x"},
        {"llm_provider": "openai-compatible", "llm_model": "llama3"},
        {"llm_provider": "openai-compatible", "llm_base_url": "http://127.0.0.1:1/v1"},
    ],
    ids=["default", "offline", "openai-no-key", "anthropic-no-key", "compat-no-url", "no-model"],
)
def test_unconfigured_means_offline(values: dict[str, Any]) -> None:
    writer = writer_from_settings(make_settings(**values))
    assert isinstance(writer, OfflineWriter)
    assert writer.draft(sample_request()).writer == "offline"


def test_settings_come_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMANDCENTRE_LLM_PROVIDER", "anthropic")
    monkeypatch.setenv("COMMANDCENTRE_LLM_API_KEY", "sk-ant-env")
    monkeypatch.setenv("COMMANDCENTRE_LLM_TIMEOUT_SECONDS", "5")
    settings = Settings(_env_file=None)
    assert settings.llm_api_key.get_secret_value() == "sk-ant-env"
    assert "sk-ant-env" not in repr(settings)
    primary = primary_of(writer_from_settings(settings))
    assert isinstance(primary, AnthropicWriter)
    assert primary.name == f"anthropic:{DEFAULT_MODELS['anthropic']}"
    assert primary.timeout == 5.0


def test_models_and_cheap_model() -> None:
    settings = make_settings(
        llm_provider="openai", llm_api_key="sk-x", llm_model="big", llm_cheap_model="small"
    )
    assert primary_of(writer_from_settings(settings)).name == "openai:big"
    cheap = primary_of(writer_from_settings(settings, cheap=True))
    assert isinstance(cheap, OpenAIWriter)
    assert cheap.name == "openai:small"
    no_cheap = make_settings(llm_provider="openai", llm_api_key="sk-x", llm_model="big")
    assert primary_of(writer_from_settings(no_cheap, cheap=True)).name == "openai:big"


def test_compatible_server_needs_no_key(server: ModelServer) -> None:
    server.push(openai_ok(GOOD_OUTPUT))
    settings = make_settings(
        llm_provider="openai-compatible", llm_base_url=server.url + "/v1", llm_model="llama3"
    )
    result = writer_from_settings(settings).draft(sample_request())
    assert result.writer == "openai-compatible:llama3"
    assert result.flags == []


def test_primary_down_falls_back_to_offline() -> None:
    settings = make_settings(
        llm_provider="openai", llm_api_key="sk-x", llm_base_url=closed_port_url()
    )
    writer = writer_from_settings(settings)
    assert writer.name == f"openai:{DEFAULT_MODELS['openai']}>offline"
    result = writer.draft(sample_request())
    assert result.writer == "offline"
    assert FLAG_WRITER_ERROR in result.flags
    assert FLAG_FELL_BACK in result.flags


def test_spend_limit_falls_back_and_is_flagged(server: ModelServer) -> None:
    server.push(openai_quota())
    settings = make_settings(
        llm_provider="openai",
        llm_api_key="sk-x",
        llm_base_url=server.url + "/v1",
        llm_max_retries=3,
    )
    result = writer_from_settings(settings).draft(sample_request())
    assert result.writer == "offline"
    assert FLAG_SPEND_LIMIT in result.flags
    assert len(server.requests) == 1


class Broken:
    name = "broken"

    def draft(self, request: DraftRequest) -> DraftResult:
        raise RuntimeError("no")


def test_chain_tries_writers_in_order(server: ModelServer) -> None:
    server.push(openai_ok(GOOD_OUTPUT), server_error(400))
    second = OpenAIWriter(model="second", api_key="k", base_url=server.url + "/v1", max_retries=0)
    chain = FallbackWriter(Broken(), second)
    result = chain.draft(sample_request())
    assert result.writer == "openai:second"
    assert result.flags == [FLAG_WRITER_ERROR]
    result = chain.draft(sample_request())
    assert result.writer == "offline"
    assert result.flags == [FLAG_WRITER_ERROR, FLAG_FELL_BACK]


def test_chain_under_grounding_keeps_one_set_of_flags() -> None:
    request = sample_request()
    result = draft_with_grounding(FallbackWriter(Broken()), request, fallback=OfflineWriter())
    assert result.writer == "offline"
    assert result.flags.count(FLAG_FELL_BACK) == 1
    assert result.flags.count(FLAG_WRITER_ERROR) == 1
