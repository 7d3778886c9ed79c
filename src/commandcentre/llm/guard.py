"""Cache, daily budgets and the usage ledger around a writer.

``GuardedWriter`` wraps any ``Writer`` and, for each draft:

1. Looks the request up in ``llm_cache`` (key: sha256 of the writer name and the request as
   JSON with sorted keys). A live entry is returned without calling the writer and is logged as a
   ``cached`` ledger row with zero tokens and zero cost. Cache hits never count against budgets.
2. Checks the agent's budget for the current UTC day, summed over its non-cached ledger rows
   (successes and failures alike, since a failed call may still have been billed). It refuses
   with ``BudgetExceeded`` when one more call would exceed ``max_calls``, or when the tokens or
   cost already spent have reached ``max_tokens`` / ``max_cost_usd``. A refused draft makes no
   call and writes no ledger row (a refusal would otherwise count as a call).
3. Calls the writer, then writes a ledger row (provider and model from the result's ``usage``
   when the writer reports one, else from the writer's name; cost from ``pricing``) and stores
   the result in the cache. Results flagged ``writer_error`` (a fallback chain's degraded answer)
   and results that fail the grounding check are not cached, so neither an outage nor a bad
   answer is replayed (the grounding retry must reach the model again).
4. When the writer raises, writes a ledger row whose ``outcome`` is the exception's class name
   (``SpendLimitReached``, ``ProviderError``, ...) and re-raises. ``NotSent`` errors (an open
   circuit breaker) write no row: nothing was sent, so nothing counts against a budget.

Drafts for one task may run on several threads at once; every use of the session goes through
``lock`` (shared with whatever else uses that session meanwhile), and calls in flight are
counted against the call budget, so concurrency cannot overshoot it.

Every row goes through the caller's workspace-bound session, which stamps the workspace; the
cache lookup is also filtered by workspace explicitly, so no text crosses tenants. Nothing is
committed here: the caller's transaction decides, so a failure that rolls that transaction back
also drops its ledger row. A caller drafting outside a transaction passes ``DeferredWrites``:
the cache and ledger rows then wait there and are written just before the caller's next
commit, so model calls never hold the database's write lock; the budget counts those
unwritten calls meanwhile.

The budget check is a read-then-call, so two *workers* drafting for the same agent at the same
moment can each pass it and overshoot by one call; budgets cap daily spend, they are not locks.
Token and cost budgets are checked against finished calls, so calls already in flight when one
is reached may still finish; no new call starts after it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace
from commandcentre.llm.models import LlmCacheEntry, LlmUsage
from commandcentre.llm.pricing import cost_usd
from commandcentre.llm.retry import NotSent, StopWork
from commandcentre.llm.types import DraftRequest, DraftResult, Writer
from commandcentre.llm.writer import FLAG_WRITER_ERROR, check

_PROVIDER_LEN = 32
_MODEL_LEN = 100
_OUTCOME_LEN = 32
OUTCOME_OK = "ok"


class BudgetExceeded(StopWork):
    """The agent's daily budget is spent; ``reason`` says which limit, for display."""

    def __init__(self, reason: str, *, limit: str) -> None:
        super().__init__(reason)
        self.limit = limit


@dataclass(frozen=True)
class Budget:
    """Per agent per UTC day; ``None`` means no limit of that kind."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None

    @property
    def limited(self) -> bool:
        return not (
            self.max_calls is None and self.max_tokens is None and self.max_cost_usd is None
        )


@dataclass(frozen=True)
class UsageTotals:
    """One agent's ledger for one UTC day. ``calls`` excludes cache hits, which are free."""

    calls: int = 0
    cached_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of the UTC day containing ``now``."""
    day = now.astimezone(UTC).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def usage_today(session: Session, clock: Clock, agent_id: uuid.UUID | None) -> UsageTotals:
    """Totals for ``agent_id`` today (UTC); ``None`` totals calls made for no agent."""
    start, end = day_bounds(clock.now())
    agent_filter = (
        LlmUsage.agent_id.is_(None) if agent_id is None else LlmUsage.agent_id == agent_id
    )
    rows = session.execute(
        select(
            LlmUsage.cached,
            func.count(LlmUsage.id),
            func.coalesce(func.sum(LlmUsage.tokens_in), 0),
            func.coalesce(func.sum(LlmUsage.tokens_out), 0),
            func.coalesce(func.sum(LlmUsage.cost_usd), 0.0),
        )
        .where(
            LlmUsage.workspace_id == current_workspace(session),
            agent_filter,
            LlmUsage.created_at >= start,
            LlmUsage.created_at < end,
        )
        .group_by(LlmUsage.cached)
    ).all()
    calls = cached = tokens_in = tokens_out = 0
    cost = 0.0
    for is_cached, count, t_in, t_out, spent in rows:
        if is_cached:
            cached += int(count)
            continue
        calls += int(count)
        tokens_in += int(t_in)
        tokens_out += int(t_out)
        cost += float(spent)
    return UsageTotals(
        calls=calls, cached_calls=cached, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost
    )


def budget_refusal(
    budget: Budget, totals: UsageTotals, *, in_flight: int = 0
) -> BudgetExceeded | None:
    """Why the next call may not be made, or ``None`` when it may."""
    if budget.max_calls is not None and totals.calls + in_flight + 1 > budget.max_calls:
        return BudgetExceeded(
            f"daily call budget of {budget.max_calls} reached for this agent", limit="calls"
        )
    if budget.max_tokens is not None and totals.tokens >= budget.max_tokens:
        return BudgetExceeded(
            f"daily token budget of {budget.max_tokens} reached for this agent", limit="tokens"
        )
    if budget.max_cost_usd is not None and totals.cost_usd >= budget.max_cost_usd:
        return BudgetExceeded(
            f"daily cost budget of ${budget.max_cost_usd:.2f} reached for this agent",
            limit="cost",
        )
    return None


def cache_key(writer_name: str, request: DraftRequest) -> str:
    """sha256 hex of the writer name and the request's canonical JSON."""
    payload = request.model_dump(mode="json")
    # A set dumps in hash order, which differs between processes; sort it for a stable key.
    payload["untrusted_fields"] = sorted(request.untrusted_fields)
    canonical = json.dumps(
        {"writer": writer_name, "request": payload},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def split_writer_name(name: str) -> tuple[str, str]:
    """``openai:gpt-4o`` -> (``openai``, ``gpt-4o``); a bare name such as ``offline`` is both."""
    provider, sep, model = name.partition(":")
    if not sep:
        return name, name
    return provider, model


@functools.cache
def _insert_cache_entry(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once per dialect (building costs more than
    running it)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(LlmCacheEntry).on_conflict_do_nothing(
        index_elements=["workspace_id", "cache_key"]
    )


@dataclass
class DeferredWrites:
    """Cache rows and the totals of ledger rows not yet written (module docstring)."""

    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    usage_rows: list[dict[str, Any]] = field(default_factory=list)
    unwritten: dict[uuid.UUID | None, UsageTotals] = field(default_factory=dict)

    def count(
        self, agent_id: uuid.UUID | None, tokens_in: int, tokens_out: int, cost: float
    ) -> None:
        seen = self.unwritten.get(agent_id, UsageTotals())
        self.unwritten[agent_id] = UsageTotals(
            calls=seen.calls + 1,
            tokens_in=seen.tokens_in + tokens_in,
            tokens_out=seen.tokens_out + tokens_out,
            cost_usd=seen.cost_usd + cost,
        )

    def including(self, agent_id: uuid.UUID | None, totals: UsageTotals) -> UsageTotals:
        """``totals`` from the ledger plus this agent's calls not written yet."""
        extra = self.unwritten.get(agent_id)
        if extra is None:
            return totals
        return UsageTotals(
            calls=totals.calls + extra.calls,
            cached_calls=totals.cached_calls,
            tokens_in=totals.tokens_in + extra.tokens_in,
            tokens_out=totals.tokens_out + extra.tokens_out,
            cost_usd=totals.cost_usd + extra.cost_usd,
        )

    def write(self, session: Session) -> None:
        """Write the held rows in ``session``, a statement for each table, just before it
        commits (the ledger's tasks and agents exist: nothing else need be flushed first)."""
        if self.cache_rows:
            session.execute(_insert_cache_entry(session.get_bind().dialect.name), self.cache_rows)
        if self.usage_rows:
            session.execute(insert(LlmUsage), self.usage_rows)
        self.cache_rows = []
        self.usage_rows = []
        self.unwritten = {}


class GuardedWriter:
    """A ``Writer`` with cache, per-agent daily budgets and a usage ledger (module docstring)."""

    def __init__(
        self,
        inner: Writer,
        *,
        session: Session,
        clock: Clock,
        agent_id: uuid.UUID | None,
        task_id: uuid.UUID | None = None,
        budget: Budget,
        cache_ttl: timedelta | None,
        lock: AbstractContextManager[object] | None = None,
        deferred: DeferredWrites | None = None,
    ) -> None:
        self.inner = inner
        self.deferred = deferred
        self.name = inner.name
        self.session = session
        self.clock = clock
        self.agent_id = agent_id
        self.task_id = task_id
        self.budget = budget
        # None: entries never expire (drafts depend only on the request, which is in the key).
        self.cache_ttl = cache_ttl
        # Guards the session (not thread-safe) and the in-flight count.
        self.lock: AbstractContextManager[object] = lock or threading.RLock()
        self._in_flight = 0
        self._stale: dict[str, LlmCacheEntry] = {}
        # Entries read ahead for a batch of requests (None: known to be missing).
        self._known: dict[str, LlmCacheEntry | None] = {}
        # The keys prefetch computed, by request object (held, so its id is not reused).
        self._keys: dict[int, tuple[DraftRequest, str]] = {}

    def _key(self, request: DraftRequest) -> str:
        known = self._keys.pop(id(request), None)
        if known is not None and known[0] is request:
            return known[1]
        return cache_key(self.inner.name, request)

    def draft(self, request: DraftRequest) -> DraftResult:
        with self.lock:
            key = self._key(request)
            hit = self._cached(key)
            if hit is not None:
                # The stored result names who wrote it, which is what the original row recorded.
                provider, model = split_writer_name(hit.writer or self.inner.name)
                self._record(provider=provider, model=model, cached=True)
                return hit
            if self.budget.limited:
                totals = usage_today(self.session, self.clock, self.agent_id)
                if self.deferred is not None:
                    totals = self.deferred.including(self.agent_id, totals)
                refusal = budget_refusal(self.budget, totals, in_flight=self._in_flight)
                if refusal is not None:
                    raise refusal
            self._in_flight += 1

        started = time.perf_counter()
        try:
            result = self.inner.draft(request)
        except NotSent:
            with self.lock:
                self._in_flight -= 1
            raise
        except Exception as exc:
            provider, model = split_writer_name(self.inner.name)
            with self.lock:
                self._in_flight -= 1
                self._record(
                    provider=provider,
                    model=model,
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                    outcome=type(exc).__name__,
                )
            raise
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        with self.lock:
            self._in_flight -= 1
            self._finish(key, request, result, elapsed_ms)
        return result

    def _finish(
        self, key: str, request: DraftRequest, result: DraftResult, elapsed_ms: float
    ) -> None:
        usage = getattr(result, "usage", None)
        provider, model = split_writer_name(result.writer or self.inner.name)
        tokens_in = tokens_out = 0
        if usage is not None:
            provider, model = str(usage.provider), str(usage.model)
            tokens_in, tokens_out = int(usage.tokens_in), int(usage.tokens_out)
            elapsed_ms = float(usage.latency_ms) or elapsed_ms
        self._record(
            provider=provider,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=cost_usd(model, tokens_in, tokens_out),
            latency_ms=elapsed_ms,
        )
        if FLAG_WRITER_ERROR not in result.flags and check(result, request).ok:
            self._store(key, model, result)

    # ------------------------------------------------------------------ cache

    def _cached(self, key: str) -> DraftResult | None:
        entry = self._entry(key)
        if entry is None:
            return None
        if entry.expires_at is None or entry.expires_at > self.clock.now():
            try:
                return DraftResult.model_validate(entry.response, strict=False)
            except ValueError:
                pass  # written by an older result shape: a miss, not a crash
        # Expired or unreadable: refreshed in place when the new answer is stored.
        self._stale[key] = entry
        return None

    def _store(self, key: str, model: str, result: DraftResult) -> None:
        now = self.clock.now()
        expires_at = now + self.cache_ttl if self.cache_ttl is not None else None
        # Only DraftResult's own fields: a hit must not replay the original call's usage.
        response: dict[str, Any] = result.model_dump(
            mode="json", include=set(DraftResult.model_fields)
        )
        existing = self._stale.pop(key, None)
        if existing is not None:
            # Expired (or unreadable) entry for the same key: refresh it in place, since the
            # unique key forbids a second row.
            existing.model = model[:_MODEL_LEN]
            existing.response = response
            existing.created_at = now
            existing.expires_at = expires_at
            return
        row = {
            "id": new_id(),
            "workspace_id": current_workspace(self.session),
            "cache_key": key,
            "model": model[:_MODEL_LEN],
            "response": response,
            "created_at": now,
            "expires_at": expires_at,
        }
        if self.deferred is not None:
            self.deferred.cache_rows.append(row)
            return
        # Another worker caching the same answer first is no error: its row stands.
        self.session.execute(_insert_cache_entry(self.session.get_bind().dialect.name), row)

    def prefetch(self, requests: list[DraftRequest]) -> None:
        """Read the cache entries of ``requests`` in one query, so each draft looks its
        entry up in memory. Another worker's entry written meanwhile is simply not seen."""
        keys = [cache_key(self.inner.name, request) for request in requests]
        # Each draft looks its key up instead of computing it again.
        self._keys.update(
            (id(request), (request, key)) for request, key in zip(requests, keys, strict=True)
        )
        found = {
            entry.cache_key: entry
            for entry in self.session.scalars(
                select(LlmCacheEntry).where(
                    LlmCacheEntry.workspace_id == current_workspace(self.session),
                    LlmCacheEntry.cache_key.in_(keys),
                )
            )
        }
        self._known.update({key: found.get(key) for key in keys})

    def _entry(self, key: str) -> LlmCacheEntry | None:
        """The row for ``key`` in this workspace, live or expired."""
        if key in self._known:
            # Read once: a regenerated request (same key) must not replay a stale answer.
            return self._known.pop(key)
        return self.session.scalars(
            select(LlmCacheEntry).where(
                LlmCacheEntry.workspace_id == current_workspace(self.session),
                LlmCacheEntry.cache_key == key,
            )
        ).first()

    # ------------------------------------------------------------------ ledger

    def _record(
        self,
        *,
        provider: str,
        model: str,
        tokens_in: int = 0,
        tokens_out: int = 0,
        cost: float = 0.0,
        latency_ms: float = 0.0,
        cached: bool = False,
        outcome: str = OUTCOME_OK,
    ) -> None:
        row = {
            "agent_id": self.agent_id,
            "task_id": self.task_id,
            "provider": provider[:_PROVIDER_LEN],
            "model": model[:_MODEL_LEN],
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": cost,
            "latency_ms": latency_ms,
            "cached": cached,
            "outcome": outcome[:_OUTCOME_LEN],
            "created_at": self.clock.now(),
        }
        if self.deferred is None:
            self.session.add(LlmUsage(**row))
            return
        if not cached:
            self.deferred.count(self.agent_id, tokens_in, tokens_out, cost)
        self.deferred.usage_rows.append(
            {**row, "id": new_id(), "workspace_id": current_workspace(self.session)}
        )
