"""Pick the writer the settings ask for, always ending the chain in the offline writer.

A missing key (or, for an OpenAI-compatible server, a missing base URL or model) means the
offline writer, with a warning: the product must work unconfigured, never crash.

``drafting_writer`` is what agents use: the configured model writer behind the provider's
shared limits (``limits``), wrapped in ``GuardedWriter`` (cache, the agent's daily budgets,
usage ledger), then the offline writer as the last link of the chain.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta

from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.llm.guard import Budget, DeferredWrites, GuardedWriter
from commandcentre.llm.limits import LimitConfig, ProviderLimits, limit_key, transaction_for
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.providers import AnthropicWriter, OpenAIWriter
from commandcentre.llm.retry import NotSent, SpendLimitReached, StopWork
from commandcentre.llm.types import DraftRequest, DraftResult, Writer
from commandcentre.llm.writer import FLAG_FELL_BACK, FLAG_WRITER_ERROR
from commandcentre.settings import Settings

log = logging.getLogger(__name__)

FLAG_SPEND_LIMIT = "spend_limit_reached"
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
# Drafts depend only on the request, which is in the cache key; a month bounds the table.
CACHE_TTL = timedelta(days=30)


class FallbackWriter:
    """Tries each writer in order; the ``final`` writer (offline by default) always answers.

    A draft from anything but the first writer carries ``writer_error``; one from the final
    writer also carries ``fell_back_to_offline``, and ``spend_limit_reached`` when a spend
    limit was the reason. ``writer`` on the result names who actually wrote it. ``StopWork``
    (a spent budget) is not a failure to route around: it propagates.
    """

    def __init__(self, *primary: Writer, final: Writer | None = None) -> None:
        self.writers: tuple[Writer, ...] = primary
        self.final: Writer = final or OfflineWriter()
        self.name = ">".join([*(w.name for w in primary), self.final.name])

    def prefetch(self, requests: list[DraftRequest]) -> None:
        """Let each writer that can read ahead for ``requests`` do so (the cache)."""
        for writer in self.writers:
            prefetch = getattr(writer, "prefetch", None)
            if prefetch is not None:
                prefetch(requests)

    def draft(self, request: DraftRequest) -> DraftResult:
        flags: list[str] = []
        for writer in self.writers:
            try:
                result = writer.draft(request)
            except StopWork:
                raise
            except SpendLimitReached:
                log.error("writer %s: spend limit reached", writer.name)
                flags += [FLAG_WRITER_ERROR, FLAG_SPEND_LIMIT]
                continue
            except NotSent as exc:
                # Expected while a breaker is open; one line, not a traceback per draft.
                log.warning("writer %s skipped: %s", writer.name, exc)
                flags.append(FLAG_WRITER_ERROR)
                continue
            except Exception:
                # Any provider or parsing failure moves on; the chain must produce a draft.
                log.exception("writer %s failed", writer.name)
                flags.append(FLAG_WRITER_ERROR)
                continue
            return _with_flags(result, flags)
        result = self.final.draft(request)
        if self.writers:
            flags.append(FLAG_FELL_BACK)
        return _with_flags(result, flags)


def _with_flags(result: DraftResult, flags: Sequence[str]) -> DraftResult:
    merged = list(result.flags)
    for flag in flags:
        if flag not in merged:
            merged.append(flag)
    return result.model_copy(update={"flags": merged})


def model_writer(
    settings: Settings,
    *,
    cheap: bool = False,
    limits: Callable[[str, str | None], ProviderLimits] | None = None,
) -> Writer | None:
    """The configured model writer, or ``None`` when settings do not allow one.

    ``limits(provider, base_url)`` gives the shared limits for the chosen endpoint.
    """
    provider = settings.llm_provider
    if provider == "offline":
        return None
    key = settings.llm_api_key.get_secret_value()
    model = (settings.llm_cheap_model if cheap else "") or settings.llm_model
    base_url = settings.llm_base_url or None
    timeout, retries = settings.llm_timeout_seconds, settings.llm_max_retries
    shared = limits(provider, base_url) if limits is not None else None
    if provider == "openai-compatible":
        if not (base_url and model):
            log.warning("llm_provider=openai-compatible needs llm_base_url and llm_model")
            return None
        return OpenAIWriter(
            model=model,
            api_key=key,
            base_url=base_url,
            provider=provider,
            timeout=timeout,
            max_retries=retries,
            limits=shared,
        )
    if not key:
        log.warning("llm_provider=%s but no llm_api_key; using the offline writer", provider)
        return None
    model = model or DEFAULT_MODELS[provider]
    if provider == "openai":
        return OpenAIWriter(
            model=model,
            api_key=key,
            base_url=base_url,
            timeout=timeout,
            max_retries=retries,
            limits=shared,
        )
    return AnthropicWriter(
        model=model,
        api_key=key,
        base_url=base_url,
        timeout=timeout,
        max_retries=retries,
        limits=shared,
    )


def writer_from_settings(settings: Settings, *, cheap: bool = False) -> Writer:
    """The writer for drafts (``cheap=True``: the cheaper model, for simple tasks)."""
    primary = model_writer(settings, cheap=cheap)
    if primary is None:
        return OfflineWriter()
    return FallbackWriter(primary, final=OfflineWriter())


def limit_config(settings: Settings) -> LimitConfig:
    rate = settings.llm_requests_per_second
    # A second's worth of burst lets a batch start at once without exceeding the rate over time.
    return LimitConfig(rate=rate, burst=max(1.0, rate), concurrency=settings.llm_concurrency)


def drafting_writer(
    settings: Settings,
    *,
    session: Session,
    clock: Clock,
    agent_id: uuid.UUID | None,
    budget: Budget,
    task_id: uuid.UUID | None = None,
    lock: AbstractContextManager[object] | None = None,
    cheap: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    deferred: DeferredWrites | None = None,
) -> Writer:
    """The writer an agent drafts with (module docstring); offline when no model is set up.

    ``lock`` must guard every other use of ``session`` while drafts run on several threads.
    ``deferred``: the caller drafts outside a transaction and writes the guard's rows at its
    next commit (``guard.DeferredWrites``); limit updates then commit on their own.
    """
    guard = lock if lock is not None else threading.RLock()
    database = session.get_bind().engine.url.render_as_string(hide_password=True)

    def limits(provider: str, base_url: str | None) -> ProviderLimits:
        return ProviderLimits(
            limit_key(provider, base_url),
            limit_config(settings),
            transaction=transaction_for(session, guard, apart=deferred is not None),
            clock=clock,
            sleep=sleep,
            database=database,
        )

    primary = model_writer(settings, cheap=cheap, limits=limits)
    if primary is None:
        return OfflineWriter()
    guarded = GuardedWriter(
        primary,
        session=session,
        clock=clock,
        agent_id=agent_id,
        task_id=task_id,
        budget=budget,
        cache_ttl=CACHE_TTL,
        lock=guard,
        deferred=deferred,
    )
    return FallbackWriter(guarded, final=OfflineWriter())
