"""Model writers: OpenAI Chat Completions (also any OpenAI-compatible server) and Anthropic.

Both send ``build_messages(request)`` and expect a JSON object matching ``DraftOutput``:

* OpenAI asks with ``response_format``: ``json_schema`` (non-strict, because strict mode demands
  every property be required) for OpenAI itself, ``json_object`` by default for
  OpenAI-compatible servers (Ollama, vLLM, llama.cpp), where it is the widely supported mode;
  the system prompt carries the schema either way.
* Anthropic forces a single tool call (``tool_choice`` = the ``write_draft`` tool whose input
  schema is ``DraftOutput``'s), which yields already-parsed JSON. A plain text answer is still
  accepted so proxies that drop tools keep working.

Output that is not valid JSON or does not match the schema is asked for once more (the bad answer
and the validation error are shown to the model), then ``MalformedOutput`` is raised.

Prompt caching: both build the prompt so every contact of one opportunity shares a literal
prefix (system message, task settings, event and account facts; the recipient's facts last).
OpenAI caches such prefixes by itself; for Anthropic the shared block carries
``cache_control`` (ephemeral), which marks the end of the cacheable prefix.

Requests go through the SDK clients' low-level ``post`` with bodies we build ourselves: the
high-level ``create`` methods walk every parameter through the SDK's TypedDict transformation
and build pydantic models of the answer, which together cost more CPU than the HTTP exchange
with a nearby server. Our bodies need no transformation (plain strings and dicts, no aliased
or formatted fields), and the answer is read straight from its JSON. Everything that does not
depend on the request (schemas, tool definitions, request options) is built once per process.
Auth, SDK headers, the SDK's error classes and its timeout handling are unchanged, as they live
below ``post``.

Each SDK is imported when its first writer is made: importing ``anthropic`` alone takes over a
second of CPU and tens of megabytes, which processes that never call that provider (the offline
default, every command-line tool) should not pay.

The SDK clients run with ``max_retries=0`` and an explicit timeout (every request has one);
retries follow ``commandcentre.llm.retry``. With ``limits`` set, every HTTP attempt first passes
the provider's shared breaker and rate limit and holds one of its concurrency slots
(``commandcentre.llm.limits``); its outcome then feeds the breaker. Spend and quota errors are
recognised as follows and never retried:

* OpenAI: error ``code`` or ``type`` ``insufficient_quota`` (sent with HTTP 429),
  ``billing_hard_limit_reached`` or ``billing_not_active``.
* Anthropic: error type ``billing_error`` (credit balance too low, HTTP 400), HTTP 402, a
  ``details.error_code`` ending in ``spend_limit_reached`` or ``billing_unavailable``
  (HTTP 402/429), or HTTP 400/403 whose message mentions credit balance, billing or a spend limit.
"""

from __future__ import annotations

import functools
import json
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from commandcentre.llm.limits import ProviderLimits
from commandcentre.llm.prompts import build_messages, split_user_message
from commandcentre.llm.retry import (
    RETRY_STATUSES,
    Decision,
    ModelError,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)
from commandcentre.llm.types import DraftOutput, DraftRequest, DraftResult

if TYPE_CHECKING:
    import anthropic
    import openai

TOOL_NAME = "write_draft"
DEFAULT_MAX_TOKENS = 1024
# Enough of a bad answer for the model to see its mistake, bounded so a runaway reply is not
# sent back in full.
_REASK_ECHO_CHARS = 4000
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)
_OPENAI_SPEND_CODES = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
)
_ANTHROPIC_SPEND_MESSAGE = re.compile(r"credit balance|billing|spend limit", re.IGNORECASE)
_TOOL_CHOICE: dict[str, Any] = {"type": "tool", "name": TOOL_NAME}

JsonMode = Literal["json_schema", "json_object"]
Message = dict[str, Any]


class MalformedOutput(ModelError):
    """The model's answer was not JSON matching ``DraftOutput``, even after one re-ask."""


class Usage(BaseModel):
    """What one draft cost: summed over every HTTP request it took (retries and re-asks)."""

    model_config = ConfigDict(extra="forbid")

    provider: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    requests: int = 0


class ModelDraftResult(DraftResult):
    usage: Usage | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    tokens_in: int
    tokens_out: int


@functools.cache
def _draft_schema() -> dict[str, Any]:
    """``DraftOutput``'s JSON schema; generating it takes longer than a local request.

    Shared by every request body, which the SDKs only serialise, so it must never be mutated.
    """
    return DraftOutput.model_json_schema()


@functools.cache
def _openai_response_format(json_mode: JsonMode) -> dict[str, Any]:
    if json_mode == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": "draft", "schema": _draft_schema(), "strict": False},
    }


@functools.cache
def _anthropic_tools() -> list[dict[str, Any]]:
    return [
        {
            "name": TOOL_NAME,
            "description": "Return the drafted message.",
            "input_schema": _draft_schema(),
        }
    ]


def _answer(data: object) -> dict[str, Any]:
    """The answer's top-level JSON object.

    Asked for ``object``, the SDKs hand back the text of an answer not labelled JSON (some
    proxies send ``text/plain``); asked for a model class they parsed it anyway, so this does
    too. Anything that is not a JSON object reads as an empty answer, which is re-asked once.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def _get(data: object, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def _count(value: object) -> int:
    # bool is an int, but never a token count.
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_output(text: str) -> DraftOutput:
    """Validate a model answer; code fences around the JSON are tolerated."""
    m = _FENCE.match(text)
    payload = m.group(1) if m else text
    try:
        return DraftOutput.model_validate_json(payload)
    except ValidationError as exc:
        raise MalformedOutput(_short_error(exc)) from exc


def _short_error(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()]
    return "; ".join(parts[:5])


def _reask(bad: str, problem: str) -> list[Message]:
    return [
        {"role": "assistant", "content": bad[:_REASK_ECHO_CHARS] or "(empty)"},
        {
            "role": "user",
            "content": "That answer was not a JSON object matching the schema "
            f"({problem}). Reply again with only the corrected JSON object.",
        },
    ]


def _status_decision(
    status: int, headers: Mapping[str, str], message: str
) -> Decision:  # shared by both providers once spend errors are ruled out
    if status in RETRY_STATUSES or status >= 500:
        return Decision("retry", status=status, retry_after=parse_retry_after(headers))
    return Decision("fail", status=status, message=message)


class _ModelWriter:
    provider: str = ""

    def __init__(
        self,
        *,
        model: str,
        timeout: float,
        max_retries: int,
        sleep: Callable[[float], None],
        rand: Callable[[], float],
        limits: ProviderLimits | None = None,
    ) -> None:
        self.model = model
        self.name = f"{self.provider}:{model}"
        self.timeout = timeout
        self.policy = RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self._rand = rand
        self.limits = limits

    def _send(self, messages: list[Message]) -> Reply:
        raise NotImplementedError

    def _prompt(self, request: DraftRequest) -> list[Message]:
        return list(build_messages(request))

    def _attempt(self, messages: list[Message]) -> Reply:
        """One HTTP request, through the shared limits when there are any."""
        if self.limits is None:
            return self._send(messages)
        error: Exception | None = None
        with self.limits.request():
            try:
                reply = self._send(messages)
            except Exception as exc:
                error = exc
        # Outcomes are written after the slot is given back, so a slow database write never
        # holds a concurrency slot.
        if error is None:
            self.limits.succeeded()
            return reply
        if self._is_outage(error):
            self.limits.failed()
        raise error

    def _is_outage(self, exc: Exception) -> bool:
        """Timeouts, connection errors and 5xx count towards the breaker; 4xx do not."""
        decision = self._classify(exc)
        return (
            decision is not None
            and decision.kind == "retry"
            and (decision.status is None or decision.status >= 500)
        )

    def _classify(self, exc: Exception) -> Decision | None:
        raise NotImplementedError

    def _call(self, messages: list[Message], usage: Usage) -> Reply:
        started = time.perf_counter()
        try:
            reply, attempts = call_with_retries(
                lambda: self._attempt(messages),
                classify=self._classify,
                policy=self.policy,
                sleep=self._sleep,
                rand=self._rand,
            )
        finally:
            usage.latency_ms += (time.perf_counter() - started) * 1000.0
        usage.requests += attempts
        usage.tokens_in += reply.tokens_in
        usage.tokens_out += reply.tokens_out
        return reply

    def draft(self, request: DraftRequest) -> ModelDraftResult:
        messages = self._prompt(request)
        usage = Usage(provider=self.provider, model=self.model)
        reply = self._call(messages, usage)
        try:
            output = parse_output(reply.text)
        except MalformedOutput as exc:
            reply = self._call([*messages, *_reask(reply.text, str(exc))], usage)
            output = parse_output(reply.text)
        return ModelDraftResult(**output.model_dump(), writer=self.name, usage=usage)


def load_sdk(provider: str) -> None:
    """Import the SDK ``provider`` needs now: a long-running process does it once at
    start-up, before it freezes its heap (``agents.heap``), instead of in its first task."""
    if provider in ("openai", "openai-compatible"):
        import openai  # noqa: F401
    elif provider == "anthropic":
        import anthropic  # noqa: F401


@functools.cache
def _openai_options() -> Any:
    """What ``chat.completions.create`` asks of its client: the key as a Bearer token."""
    from openai._base_client import make_request_options

    return make_request_options(security={"bearer_auth": True})


@functools.lru_cache(maxsize=32)
def _openai_client(api_key: str, base_url: str | None, timeout: float) -> openai.OpenAI:
    """One client (and connection pool) per endpoint, key and timeout in the process: a new
    client loads the TLS trust store, which costs more than a request to a nearby server.
    The SDK's clients are safe to share between threads."""
    import openai

    return openai.OpenAI(
        # Local servers often need no key, but the SDK refuses to start without one.
        api_key=api_key or "unused",
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
    )


class OpenAIWriter(_ModelWriter):
    """OpenAI Chat Completions, or any server speaking that wire format via ``base_url``."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        provider: str = "openai",
        json_mode: JsonMode | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        limits: ProviderLimits | None = None,
    ) -> None:
        self.provider = provider
        super().__init__(
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            sleep=sleep,
            rand=rand,
            limits=limits,
        )
        self.json_mode: JsonMode = json_mode or (
            "json_schema" if provider == "openai" else "json_object"
        )
        self._client = _openai_client(api_key, base_url or None, timeout)

    def _response_format(self) -> dict[str, Any]:
        return _openai_response_format(self.json_mode)

    def _send(self, messages: list[Message]) -> Reply:
        # Key order as ``chat.completions.create`` sends them, so the bytes are unchanged.
        body = {
            "model": self.model,
            "messages": messages,
            "response_format": self._response_format(),
        }
        data = _answer(
            self._client.post(
                "/chat/completions", body=body, cast_to=object, options=_openai_options()
            )
        )
        choices = data.get("choices")
        first = choices[0] if isinstance(choices, list) and choices else None
        text = _get(_get(first, "message"), "content")
        usage = data.get("usage")
        return Reply(
            text=text if isinstance(text, str) else "",
            tokens_in=_count(_get(usage, "prompt_tokens")),
            tokens_out=_count(_get(usage, "completion_tokens")),
        )

    def _classify(self, exc: Exception) -> Decision | None:
        import openai  # already loaded by the client this writer made

        if isinstance(exc, openai.APITimeoutError):
            return Decision("retry", message=f"{self.name}: request timed out")
        if isinstance(exc, openai.APIConnectionError):
            return Decision("retry", message=f"{self.name}: connection failed")
        if not isinstance(exc, openai.APIStatusError):
            return None
        message = f"{self.name}: HTTP {exc.status_code}: {exc.message}"
        if exc.code in _OPENAI_SPEND_CODES or exc.type in _OPENAI_SPEND_CODES:
            return Decision("spend", status=exc.status_code, message=message)
        return _status_decision(exc.status_code, exc.response.headers, message)


@functools.lru_cache(maxsize=32)
def _anthropic_client(api_key: str, base_url: str | None, timeout: float) -> anthropic.Anthropic:
    """Shared like _openai_client."""
    import anthropic

    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        # This SDK sends the key only as a Bearer token; the Messages API documents
        # x-api-key, which proxies and compatible servers check, so send it too.
        default_headers={"x-api-key": api_key},
    )


class AnthropicWriter(_ModelWriter):
    """Anthropic Messages API; structured output through one forced tool call."""

    provider = "anthropic"

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        timeout: float = 30.0,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        limits: ProviderLimits | None = None,
    ) -> None:
        super().__init__(
            model=model,
            timeout=timeout,
            max_retries=max_retries,
            sleep=sleep,
            rand=rand,
            limits=limits,
        )
        self.max_tokens = max_tokens
        self._client = _anthropic_client(api_key, base_url or None, timeout)

    def _prompt(self, request: DraftRequest) -> list[Message]:
        """System rules, then one user turn in two blocks: the opportunity's shared block,
        marked as a cache breakpoint, and the recipient's own block."""
        system = [m for m in build_messages(request) if m["role"] == "system"]
        shared, personal = split_user_message(request)
        blocks: list[dict[str, Any]] = [
            {"type": "text", "text": shared, "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": personal},
        ]
        return [*system, {"role": "user", "content": blocks}]

    def _send(self, messages: list[Message]) -> Reply:
        system = "\n\n".join(str(m["content"]) for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        # Key order as ``messages.create`` sends them, so the bytes are unchanged.
        body = {
            "max_tokens": self.max_tokens,
            "messages": turns,
            "model": self.model,
            "system": system,
            "tool_choice": _TOOL_CHOICE,
            "tools": _anthropic_tools(),
        }
        data = _answer(self._client.post("/v1/messages", body=body, cast_to=object))
        text = ""
        texts: list[str] = []
        content = data.get("content")
        for block in content if isinstance(content, list) else []:
            kind = _get(block, "type")
            if kind == "tool_use" and _get(block, "name") == TOOL_NAME:
                text = json.dumps(_get(block, "input"))
                break
            if kind == "text":
                texts.append(str(_get(block, "text") or ""))
        else:
            text = "".join(texts)
        usage = data.get("usage")
        tokens_in = (
            _count(_get(usage, "input_tokens"))
            + _count(_get(usage, "cache_creation_input_tokens"))
            + _count(_get(usage, "cache_read_input_tokens"))
        )
        tokens_out = _count(_get(usage, "output_tokens"))
        return Reply(text=text, tokens_in=tokens_in, tokens_out=tokens_out)

    def _classify(self, exc: Exception) -> Decision | None:
        import anthropic  # already loaded by the client this writer made

        if isinstance(exc, anthropic.APITimeoutError):
            return Decision("retry", message=f"{self.name}: request timed out")
        if isinstance(exc, anthropic.APIConnectionError):
            return Decision("retry", message=f"{self.name}: connection failed")
        if not isinstance(exc, anthropic.APIStatusError):
            return None
        status = exc.status_code
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        error = error if isinstance(error, dict) else {}
        details = error.get("details")
        code = details.get("error_code") if isinstance(details, dict) else None
        text = str(error.get("message", ""))
        message = f"{self.name}: HTTP {status}: {text or exc.message}"
        if (
            error.get("type") == "billing_error"
            or status == 402
            or (
                isinstance(code, str)
                and code.endswith(("spend_limit_reached", "billing_unavailable"))
            )
            or (status in (400, 403) and _ANTHROPIC_SPEND_MESSAGE.search(text))
        ):
            return Decision("spend", status=status, message=message)
        return _status_decision(status, exc.response.headers, message)
