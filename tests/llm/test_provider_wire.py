"""The exact requests the model writers put on the wire, and what they read back.

The writers build request bodies themselves and post them through the SDK clients' low-level
``post`` (no per-call parameter transformation), so these tests pin every byte that matters:
the body's content and key order, the auth and SDK headers, and the usage read from answers.
The expected bodies were captured from the writers as they were when they went through
``chat.completions.create`` / ``messages.create``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cctest.model_server import (
    GOOD_OUTPUT,
    Answer,
    ModelServer,
    Recorded,
    anthropic_ok,
    openai_ok,
    sample_request,
)
from commandcentre.llm.prompts import SYSTEM_PROMPT, build_messages, split_user_message
from commandcentre.llm.providers import AnthropicWriter, MalformedOutput, OpenAIWriter
from commandcentre.llm.types import DraftOutput


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep of {seconds} s")


def _openai(server: ModelServer, **kw: Any) -> OpenAIWriter:
    options: dict[str, Any] = {
        "model": "gpt-test",
        "api_key": "sk-test",
        "base_url": server.url + "/v1",
        "timeout": 2.0,
        "sleep": _no_sleep,
        **kw,
    }
    return OpenAIWriter(**options)


def _anthropic(server: ModelServer, **kw: Any) -> AnthropicWriter:
    options: dict[str, Any] = {
        "model": "claude-test",
        "api_key": "sk-ant-test",
        "base_url": server.url,
        "timeout": 2.0,
        "sleep": _no_sleep,
        **kw,
    }
    return AnthropicWriter(**options)


def _json_schema_format() -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "draft",
            "schema": DraftOutput.model_json_schema(),
            "strict": False,
        },
    }


def _anthropic_body(messages: list[dict[str, Any]], *, max_tokens: int = 1024) -> dict[str, Any]:
    return {
        "max_tokens": max_tokens,
        "messages": messages,
        "model": "claude-test",
        "system": SYSTEM_PROMPT,
        "tool_choice": {"type": "tool", "name": "write_draft"},
        "tools": [
            {
                "name": "write_draft",
                "description": "Return the drafted message.",
                "input_schema": DraftOutput.model_json_schema(),
            }
        ],
    }


def _anthropic_user_turn() -> dict[str, Any]:
    shared, personal = split_user_message(sample_request())
    return {
        "role": "user",
        "content": [
            {"type": "text", "text": shared, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": personal},
        ],
    }


def _assert_body(recorded: Recorded, expected: dict[str, Any]) -> None:
    assert recorded.body == expected
    # Same keys in the same order, so the serialised request is byte-for-byte what it was.
    assert list(recorded.body) == list(expected)
    assert json.dumps(recorded.body) == json.dumps(expected)


def _sdk_headers(recorded: Recorded, prefix: str) -> None:
    headers = recorded.headers
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith(prefix)
    assert headers["x-stainless-lang"] == "python"
    assert headers["x-stainless-retry-count"] == "0"
    assert headers["x-stainless-read-timeout"] == "2.0"


def test_openai_body_and_headers(server: ModelServer) -> None:
    server.push(openai_ok(GOOD_OUTPUT))
    _openai(server).draft(sample_request())

    [req] = server.requests
    assert req.path == "/v1/chat/completions"
    _assert_body(
        req,
        {
            "model": "gpt-test",
            "messages": build_messages(sample_request()),
            "response_format": _json_schema_format(),
        },
    )
    _sdk_headers(req, "OpenAI/Python")
    assert req.headers["authorization"] == "Bearer sk-test"
    assert "x-api-key" not in req.headers


def test_openai_compatible_body_and_keyless_auth(server: ModelServer) -> None:
    server.push(openai_ok(GOOD_OUTPUT))
    _openai(server, model="llama3", api_key="", provider="openai-compatible").draft(
        sample_request()
    )

    [req] = server.requests
    _assert_body(
        req,
        {
            "model": "llama3",
            "messages": build_messages(sample_request()),
            "response_format": {"type": "json_object"},
        },
    )
    assert req.headers["authorization"] == "Bearer unused"


def test_openai_reask_body_appends_the_bad_answer_and_the_problem(server: ModelServer) -> None:
    server.push(openai_ok("not json"), openai_ok(GOOD_OUTPUT))
    _openai(server).draft(sample_request())

    first, second = server.requests
    messages = build_messages(sample_request())
    _assert_body(
        first,
        {"model": "gpt-test", "messages": messages, "response_format": _json_schema_format()},
    )
    reask = second.body["messages"][2:]
    assert reask[0] == {"role": "assistant", "content": "not json"}
    assert reask[1]["role"] == "user"
    _assert_body(
        second,
        {
            "model": "gpt-test",
            "messages": [*messages, *reask],
            "response_format": _json_schema_format(),
        },
    )


def test_openai_json_mode_can_be_forced(server: ModelServer) -> None:
    server.push(openai_ok(GOOD_OUTPUT), openai_ok(GOOD_OUTPUT))
    _openai(server, json_mode="json_object").draft(sample_request())
    _openai(server, provider="openai-compatible", json_mode="json_schema").draft(sample_request())
    assert server.requests[0].body["response_format"] == {"type": "json_object"}
    assert server.requests[1].body["response_format"] == _json_schema_format()


def test_openai_writers_do_not_share_request_state(server: ModelServer) -> None:
    """Bodies are built per call from shared constants; nothing a call sends leaks into the
    next one (a re-ask's extra turns in particular)."""
    server.push(openai_ok("x"), openai_ok(GOOD_OUTPUT), openai_ok(GOOD_OUTPUT))
    writer = _openai(server)
    writer.draft(sample_request())
    writer.draft(sample_request())
    assert len(server.requests[1].body["messages"]) == 4
    _assert_body(
        server.requests[2],
        {
            "model": "gpt-test",
            "messages": build_messages(sample_request()),
            "response_format": _json_schema_format(),
        },
    )


def test_anthropic_body_and_headers(server: ModelServer) -> None:
    server.push(anthropic_ok(GOOD_OUTPUT))
    _anthropic(server).draft(sample_request())

    [req] = server.requests
    assert req.path == "/v1/messages"
    _assert_body(req, _anthropic_body([_anthropic_user_turn()]))
    _sdk_headers(req, "Anthropic/Python")
    assert req.headers["x-api-key"] == "sk-ant-test"
    assert req.headers["authorization"] == "Bearer sk-ant-test"
    assert req.headers["anthropic-version"]


def test_anthropic_max_tokens_and_reask_body(server: ModelServer) -> None:
    server.push(anthropic_ok({"subject": "x"}), anthropic_ok(GOOD_OUTPUT))
    _anthropic(server, max_tokens=333).draft(sample_request())

    first, second = server.requests
    _assert_body(first, _anthropic_body([_anthropic_user_turn()], max_tokens=333))
    reask = second.body["messages"][1:]
    assert reask[0] == {"role": "assistant", "content": json.dumps({"subject": "x"})}
    assert reask[1]["role"] == "user"
    _assert_body(second, _anthropic_body([_anthropic_user_turn(), *reask], max_tokens=333))


def test_anthropic_usage_counts_cache_writes_and_reads_as_input(server: ModelServer) -> None:
    answer = anthropic_ok(GOOD_OUTPUT)
    body = {
        **answer.body,
        "usage": {
            "input_tokens": 20,
            "output_tokens": 70,
            "cache_creation_input_tokens": 300,
            "cache_read_input_tokens": 1000,
        },
    }
    unset = {
        **answer.body,
        "usage": {
            "input_tokens": 5,
            "output_tokens": 7,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": None,
        },
    }
    server.push(Answer(body=body), Answer(body=unset))
    writer = _anthropic(server)

    first = writer.draft(sample_request())
    second = writer.draft(sample_request())

    assert first.usage is not None
    assert (first.usage.tokens_in, first.usage.tokens_out) == (1320, 70)
    assert second.usage is not None
    assert (second.usage.tokens_in, second.usage.tokens_out) == (5, 7)


def test_anthropic_text_blocks_are_joined_and_tool_call_wins(server: ModelServer) -> None:
    text = json.dumps(GOOD_OUTPUT)
    split = anthropic_ok(text=text).body
    split = {
        **split,
        "content": [{"type": "text", "text": text[:10]}, {"type": "text", "text": text[10:]}],
    }
    tool = anthropic_ok(GOOD_OUTPUT).body
    tool = {**tool, "content": [{"type": "text", "text": "Here you go."}, *tool["content"]]}
    server.push(Answer(body=split), Answer(body=tool))
    writer = _anthropic(server)

    assert writer.draft(sample_request()).subject == GOOD_OUTPUT["subject"]
    assert writer.draft(sample_request()).body == GOOD_OUTPUT["body"]
    assert len(server.requests) == 2


def test_openai_answer_without_choices_or_usage_is_asked_again(server: ModelServer) -> None:
    empty = {**openai_ok("").body, "choices": [], "usage": None}
    null_content = openai_ok("").body
    null_content["choices"][0]["message"]["content"] = None
    server.push(Answer(body=empty), Answer(body=null_content), openai_ok(GOOD_OUTPUT))
    writer = _openai(server)

    with pytest.raises(MalformedOutput):
        writer.draft(sample_request())
    assert server.requests[1].body["messages"][2] == {"role": "assistant", "content": "(empty)"}

    result = writer.draft(sample_request())
    assert result.usage is not None
    assert (result.usage.tokens_in, result.usage.tokens_out, result.usage.requests) == (120, 40, 1)


def test_json_answers_labelled_as_text_are_still_read(server: ModelServer) -> None:
    """Some proxies label JSON answers ``text/plain``; the SDKs parse them anyway."""
    plain = {"Content-Type": "text/plain"}
    server.push(
        Answer(body=openai_ok(GOOD_OUTPUT).body, headers=plain),
        Answer(body=anthropic_ok(GOOD_OUTPUT).body, headers=plain),
    )
    assert _openai(server).draft(sample_request()).subject == GOOD_OUTPUT["subject"]
    assert _anthropic(server).draft(sample_request()).subject == GOOD_OUTPUT["subject"]
