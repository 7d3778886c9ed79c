"""Cache, per-agent daily budgets and the usage ledger around a writer, on both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cctest.runtime import Seeded, seed_opportunity
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.llm.guard import (
    Budget,
    BudgetExceeded,
    GuardedWriter,
    UsageTotals,
    cache_key,
    usage_today,
)
from commandcentre.llm.models import LlmCacheEntry, LlmUsage
from commandcentre.llm.pricing import cost_usd, price_of
from commandcentre.llm.providers import ModelDraftResult, Usage
from commandcentre.llm.retry import ProviderError, SpendLimitReached
from commandcentre.llm.types import DraftRequest, DraftResult, Fact, Writer
from commandcentre.llm.writer import FLAG_WRITER_ERROR

UNLIMITED = Budget()


class FakeWriter:
    """Counts calls; answers with a fixed usage, or raises ``error`` when one is set."""

    def __init__(
        self,
        *,
        provider: str = "openai",
        model: str = "gpt-4o-mini",
        tokens_in: int = 1000,
        tokens_out: int = 200,
        error: Exception | None = None,
        flags: list[str] | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.name = f"{provider}:{model}"
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        self.error = error
        self.flags = flags or []
        self.calls = 0

    def draft(self, request: DraftRequest) -> ModelDraftResult:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return ModelDraftResult(
            subject=f"Hello {request.recipient_name}",
            body=f"Draft number {self.calls}.",
            writer=self.name,
            flags=list(self.flags),
            usage=Usage(
                provider=self.provider,
                model=self.model,
                tokens_in=self.tokens_in,
                tokens_out=self.tokens_out,
                latency_ms=42.0,
                requests=1,
            ),
        )


def _request(name: str = "Ada Lovelace") -> DraftRequest:
    return DraftRequest(
        recipient_name=name,
        sender_name="Sam",
        ask="a short call",
        facts=[Fact(field="contact.title", value="Head of Data")],
        untrusted_fields={"contact.bio", "event.description"},
    )


def _guard(
    inner: Writer,
    session: Session,
    clock: ManualClock,
    agent_id: uuid.UUID,
    *,
    budget: Budget = UNLIMITED,
    cache_ttl: timedelta | None = None,
    task_id: uuid.UUID | None = None,
) -> GuardedWriter:
    return GuardedWriter(
        inner,
        session=session,
        clock=clock,
        agent_id=agent_id,
        task_id=task_id,
        budget=budget,
        cache_ttl=cache_ttl,
    )


def _ledger(session: Session) -> list[LlmUsage]:
    return list(session.scalars(select(LlmUsage).order_by(LlmUsage.id)))


@pytest.fixture
def seeded(ctx: AppContext) -> Seeded:
    return seed_opportunity(ctx)


def _agent(seeded: Seeded, index: int = 0) -> uuid.UUID:
    return sorted(seeded.agents.values())[index]


# --------------------------------------------------------------------------- cache


def test_cache_hit_skips_the_writer_and_is_recorded_as_cached(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    agent = _agent(seeded)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        first = _guard(inner, session, clock, agent).draft(_request())
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        second = _guard(inner, session, clock, agent).draft(_request())
        rows = _ledger(session)

    assert inner.calls == 1
    assert type(second) is DraftResult  # the original call's usage is not replayed
    assert (second.subject, second.body, second.writer) == (first.subject, first.body, first.writer)
    assert [r.cached for r in rows] == [False, True]
    hit = rows[1]
    assert (hit.tokens_in, hit.tokens_out, hit.cost_usd) == (0, 0, 0.0)
    assert (hit.provider, hit.model, hit.outcome) == ("openai", "gpt-4o-mini", "ok")


def test_entries_read_ahead_serve_hits_and_misses_once(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    agent = _agent(seeded)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(inner, session, clock, agent).draft(_request("Ada Lovelace"))
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        guard = _guard(inner, session, clock, agent)
        guard.prefetch([_request("Ada Lovelace"), _request("Grace Hopper")])
        hit = guard.draft(_request("Ada Lovelace"))
        guard.draft(_request("Grace Hopper"))
        session.flush()
        # Asked again, the same request is looked up afresh: the new answer is found.
        again = guard.draft(_request("Grace Hopper"))
        rows = _ledger(session)
    assert inner.calls == 2  # Ada from the first session, Grace once
    assert hit.body == "Draft number 1."
    assert again.body == "Draft number 2."
    assert [r.cached for r in rows] == [False, True, False, True]


def test_cache_key_depends_on_writer_and_request_not_set_order() -> None:
    a = _request()
    b = DraftRequest.model_validate(
        {**a.model_dump(), "untrusted_fields": {"event.description", "contact.bio"}}
    )
    assert cache_key("openai:gpt-4o", a) == cache_key("openai:gpt-4o", b)
    assert cache_key("openai:gpt-4o", a) != cache_key("openai:gpt-4o-mini", a)
    assert cache_key("openai:gpt-4o", a) != cache_key("openai:gpt-4o", _request("Grace Hopper"))
    assert len(cache_key("offline", a)) == 64


def test_expired_entry_is_refreshed_in_place(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    agent = _agent(seeded)
    ttl = timedelta(hours=1)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(inner, session, clock, agent, cache_ttl=ttl).draft(_request())
        clock.advance(timedelta(minutes=59))
        _guard(inner, session, clock, agent, cache_ttl=ttl).draft(_request())
        assert inner.calls == 1
        clock.advance(timedelta(minutes=2))
        fresh = _guard(inner, session, clock, agent, cache_ttl=ttl).draft(_request())
        assert inner.calls == 2
        entries = list(session.scalars(select(LlmCacheEntry)))

    assert len(entries) == 1
    assert entries[0].response["body"] == fresh.body == "Draft number 2."
    assert entries[0].expires_at == clock.now() + ttl


def test_degraded_results_are_not_cached(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter(flags=[FLAG_WRITER_ERROR])
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(inner, session, clock, _agent(seeded)).draft(_request())
        _guard(inner, session, clock, _agent(seeded)).draft(_request())
        assert list(session.scalars(select(LlmCacheEntry))) == []
    assert inner.calls == 2


def test_concurrent_insert_of_the_same_key_keeps_the_winner(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:

        class RacingWriter(FakeWriter):
            """Another worker stores the same answer while our call is with the model."""

            def draft(self, request: DraftRequest) -> ModelDraftResult:
                session.add(
                    LlmCacheEntry(
                        cache_key=cache_key(inner.name, request),
                        model="gpt-4o-mini",
                        response={"subject": "S", "body": "the winner", "writer": "openai:gpt-4o"},
                        created_at=clock.now(),
                        expires_at=None,
                    )
                )
                session.flush()
                return inner.draft(request)

        racing = GuardedWriter(
            RacingWriter(),
            session=session,
            clock=clock,
            agent_id=_agent(seeded),
            budget=UNLIMITED,
            cache_ttl=None,
        )
        assert racing.draft(_request()).body == "Draft number 1."
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        entries = list(session.scalars(select(LlmCacheEntry)))
        again = _guard(inner, session, clock, _agent(seeded)).draft(_request())
        ledger = _ledger(session)

    assert [e.response["body"] for e in entries] == ["the winner"]
    assert again.body == "the winner"
    assert inner.calls == 1
    assert [(r.cached, r.model) for r in ledger] == [(False, "gpt-4o-mini"), (True, "gpt-4o")]


def test_cache_entries_never_cross_workspaces(ctx: AppContext, clock: ManualClock) -> None:
    first = seed_opportunity(ctx, slug="first")
    second = seed_opportunity(ctx, slug="second")
    inner = FakeWriter()
    with workspace_session(ctx.session_factory, first.workspace_id) as session:
        _guard(inner, session, clock, _agent(first)).draft(_request())
    with workspace_session(ctx.session_factory, second.workspace_id) as session:
        result = _guard(inner, session, clock, _agent(second)).draft(_request())
        rows = _ledger(session)

    assert inner.calls == 2
    assert result.body == "Draft number 2."
    assert [r.cached for r in rows] == [False]
    with workspace_session(ctx.session_factory, first.workspace_id) as session:
        entries = list(session.scalars(select(LlmCacheEntry)))
    assert [e.response["body"] for e in entries] == ["Draft number 1."]


# --------------------------------------------------------------------------- budgets


def test_call_budget_refuses_with_reason_and_makes_no_call(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    budget = Budget(max_calls=2)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        guard = _guard(inner, session, clock, _agent(seeded), budget=budget)
        guard.draft(_request("A One"))
        guard.draft(_request("B Two"))
        with pytest.raises(BudgetExceeded) as refused:
            guard.draft(_request("C Three"))
        rows = _ledger(session)

    assert refused.value.reason == "daily call budget of 2 reached for this agent"
    assert refused.value.limit == "calls"
    assert str(refused.value) == refused.value.reason
    assert inner.calls == 2
    assert len(rows) == 2  # a refusal is not a call


def test_cache_hits_are_served_after_the_budget_is_spent(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        guard = _guard(inner, session, clock, _agent(seeded), budget=Budget(max_calls=1))
        guard.draft(_request())
        guard.draft(_request())
        with pytest.raises(BudgetExceeded):
            guard.draft(_request("Grace Hopper"))
    assert inner.calls == 1


def test_token_budget_refuses_once_reached(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter(tokens_in=600, tokens_out=400)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        guard = _guard(inner, session, clock, _agent(seeded), budget=Budget(max_tokens=1500))
        guard.draft(_request("A One"))
        guard.draft(_request("B Two"))  # 1000 < 1500 before this call, so it is allowed
        with pytest.raises(BudgetExceeded, match="daily token budget of 1500 reached"):
            guard.draft(_request("C Three"))
    assert inner.calls == 2


def test_cost_budget_refuses_once_reached(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    # gpt-4o: 100k in + 10k out = 0.25 + 0.10 = $0.35 a call.
    inner = FakeWriter(model="gpt-4o", tokens_in=100_000, tokens_out=10_000)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        guard = _guard(inner, session, clock, _agent(seeded), budget=Budget(max_cost_usd=0.70))
        guard.draft(_request("A One"))
        guard.draft(_request("B Two"))
        with pytest.raises(BudgetExceeded) as refused:
            guard.draft(_request("C Three"))
        totals = usage_today(session, clock, _agent(seeded))

    assert refused.value.reason == "daily cost budget of $0.70 reached for this agent"
    assert refused.value.limit == "cost"
    assert inner.calls == 2
    assert totals.cost_usd == pytest.approx(0.70)


def test_budgets_are_per_agent_and_per_utc_day(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter()
    budget = Budget(max_calls=1)
    first, second = _agent(seeded, 0), _agent(seeded, 1)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(inner, session, clock, first, budget=budget).draft(_request("A One"))
        with pytest.raises(BudgetExceeded):
            _guard(inner, session, clock, first, budget=budget).draft(_request("B Two"))
        # Another agent in the same workspace has its own allowance.
        _guard(inner, session, clock, second, budget=budget).draft(_request("B Two"))
        assert inner.calls == 2

        # Still the same UTC day at 23:59.
        clock.set(clock.now().replace(hour=23, minute=59))
        with pytest.raises(BudgetExceeded):
            _guard(inner, session, clock, first, budget=budget).draft(_request("C Three"))
        clock.advance(timedelta(minutes=1))
        _guard(inner, session, clock, first, budget=budget).draft(_request("C Three"))
        assert inner.calls == 3
        assert usage_today(session, clock, first).calls == 1


def test_failed_calls_count_against_the_call_budget(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    inner = FakeWriter(error=ProviderError("openai:gpt-4o-mini: HTTP 500", status=500))
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        guard = _guard(inner, session, clock, _agent(seeded), budget=Budget(max_calls=1))
        with pytest.raises(ProviderError):
            guard.draft(_request())
        with pytest.raises(BudgetExceeded):
            guard.draft(_request())
    assert inner.calls == 1


# --------------------------------------------------------------------------- ledger


def test_success_writes_a_ledger_row(ctx: AppContext, clock: ManualClock, seeded: Seeded) -> None:
    inner = FakeWriter(model="claude-sonnet-4-5", provider="anthropic")
    agent = _agent(seeded)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(inner, session, clock, agent).draft(_request())
        [row] = _ledger(session)
        totals = usage_today(session, clock, agent)

    assert row.workspace_id == seeded.workspace_id
    assert (row.agent_id, row.task_id) == (agent, None)
    assert (row.provider, row.model, row.outcome, row.cached) == (
        "anthropic",
        "claude-sonnet-4-5",
        "ok",
        False,
    )
    assert (row.tokens_in, row.tokens_out, row.latency_ms) == (1000, 200, 42.0)
    # 1000 * $3/M + 200 * $15/M
    assert row.cost_usd == pytest.approx(0.006)
    assert row.created_at == clock.now()
    assert totals == UsageTotals(calls=1, tokens_in=1000, tokens_out=200, cost_usd=row.cost_usd)


def test_unknown_model_costs_nothing(ctx: AppContext, clock: ManualClock, seeded: Seeded) -> None:
    inner = FakeWriter(provider="openai-compatible", model="llama3.1:8b")
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(inner, session, clock, _agent(seeded)).draft(_request())
        [row] = _ledger(session)
    assert (row.provider, row.model, row.tokens_in, row.cost_usd) == (
        "openai-compatible",
        "llama3.1:8b",
        1000,
        0.0,
    )


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (SpendLimitReached("openai:gpt-4o-mini: insufficient_quota"), "SpendLimitReached"),
        (ProviderError("openai:gpt-4o-mini: HTTP 400", status=400), "ProviderError"),
    ],
)
def test_failure_writes_a_ledger_row_and_reraises(
    ctx: AppContext,
    clock: ManualClock,
    seeded: Seeded,
    error: Exception,
    outcome: str,
) -> None:
    inner = FakeWriter(error=error)
    agent = _agent(seeded)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        with pytest.raises(type(error)):
            _guard(inner, session, clock, agent).draft(_request())
        [row] = _ledger(session)
        entries = list(session.scalars(select(LlmCacheEntry)))

    assert (row.provider, row.model, row.outcome, row.cached) == (
        "openai",
        "gpt-4o-mini",
        outcome,
        False,
    )
    assert (row.tokens_in, row.tokens_out, row.cost_usd) == (0, 0, 0.0)
    assert row.agent_id == agent
    assert entries == []


def test_writer_without_usage_is_named_from_its_result(
    ctx: AppContext, clock: ManualClock, seeded: Seeded
) -> None:
    from commandcentre.llm.offline import OfflineWriter

    with workspace_session(ctx.session_factory, seeded.workspace_id) as session:
        _guard(OfflineWriter(), session, clock, _agent(seeded)).draft(_request())
        [row] = _ledger(session)
    assert (row.provider, row.model, row.tokens_in, row.cost_usd) == ("offline", "offline", 0, 0.0)


# --------------------------------------------------------------------------- pricing


def test_pricing_known_models_and_snapshots() -> None:
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("gpt-4o", 1_000_000, 0) == pytest.approx(2.50)
    assert cost_usd("claude-haiku-4-5", 0, 1_000_000) == pytest.approx(5.00)
    # A dated snapshot is priced like its family, and the longest family name wins.
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini")
    assert price_of("claude-sonnet-4-5-20250929") == price_of("claude-sonnet-4-5")


def test_pricing_unknown_models_cost_nothing() -> None:
    assert price_of("llama3.1:8b") is None
    assert cost_usd("llama3.1:8b", 5000, 5000) == 0.0
    assert cost_usd("gpt-4oz", 5000, 5000) == 0.0
