"""The Outreach agent against a misbehaving model provider (a local server speaking the OpenAI
and Anthropic wire formats): rate limits, server errors, timeouts, malformed output, spent
budgets and the circuit breaker. Every ``draft_outreach`` task must end completed or failed
with a reason, and nothing malformed may reach the approval queue."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from cctest.model_server import (
    Answer,
    ModelServer,
    Recorded,
    assign_drafting,
    grounded,
    malformed,
    model_context,
    openai_quota,
    rate_limited,
    reachable_opportunity,
    server_error,
)
from cctest.runtime import Seeded, run_until_idle
from commandcentre.agents.models import ActivityEntry, AgentTask
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.llm.factory import FLAG_SPEND_LIMIT
from commandcentre.llm.limits import BREAKER_COOLDOWN, BREAKER_THRESHOLD
from commandcentre.llm.models import LlmLimitState, LlmUsage
from commandcentre.llm.types import DraftOutput
from commandcentre.llm.writer import FLAG_FELL_BACK, FLAG_WRITER_ERROR
from commandcentre.outreach.models import OutreachDraft

PROVIDERS = ["openai", "anthropic"]


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as s:
        yield s


def _task(ctx: AppContext, seeded: Seeded, task_id: uuid.UUID) -> AgentTask:
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        task = s.get(AgentTask, task_id)
        assert task is not None
        return task


def _drafts(ctx: AppContext, seeded: Seeded) -> list[OutreachDraft]:
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        return list(s.scalars(select(OutreachDraft).order_by(OutreachDraft.recipient)))


def _ledger(ctx: AppContext, seeded: Seeded) -> list[LlmUsage]:
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        return list(s.scalars(select(LlmUsage).order_by(LlmUsage.created_at)))


def _assert_well_formed(drafts: list[OutreachDraft]) -> None:
    """Whatever happened upstream, every queued draft is a valid, reviewable message."""
    for draft in drafts:
        DraftOutput(subject=draft.subject, body=draft.message_body)
        assert draft.message_body.strip()
        assert draft.recipient.endswith("@helix.example")
        assert draft.status in ("pending_approval", "approved")
        if draft.flags:
            assert draft.status == "pending_approval"


def _run(ctx: AppContext, seeded: Seeded, **extra: object) -> AgentTask:
    task_id = assign_drafting(ctx, seeded, **extra)
    run_until_idle(ctx)
    task = _task(ctx, seeded, task_id)
    assert task.status in ("completed", "failed"), task.status
    return task


@pytest.mark.parametrize("provider", PROVIDERS)
def test_model_drafts_are_written_and_logged(
    ctx: AppContext, server: ModelServer, provider: str
) -> None:
    server.responder = grounded()
    mctx = model_context(ctx, server, provider)
    seeded = reachable_opportunity(mctx, config={"autoApprove": True})
    task = _run(mctx, seeded)
    assert task.status == "completed"
    drafts = _drafts(mctx, seeded)
    assert len(drafts) == 3
    model = "gpt-4o-mini" if provider == "openai" else "claude-haiku-4-5"
    assert {d.writer for d in drafts} == {f"{provider}:{model}"}
    assert all(d.flags == [] and d.status == "approved" for d in drafts)
    _assert_well_formed(drafts)
    rows = _ledger(mctx, seeded)
    assert len(rows) == 3 == len(server.requests)
    assert all(r.task_id == task.id and r.model == model and not r.cached for r in rows)
    assert all(r.tokens_in > 0 and r.tokens_out > 0 and r.cost_usd > 0 for r in rows)


def test_429_with_retry_after_is_retried(ctx: AppContext, server: ModelServer) -> None:
    server.responder = grounded()
    server.push(rate_limited("0.01"), rate_limited("0"))
    mctx = model_context(ctx, server, llm_max_retries=2, llm_concurrency=1)
    seeded = reachable_opportunity(mctx, people=2)
    task = _run(mctx, seeded)
    assert task.status == "completed"
    drafts = _drafts(mctx, seeded)
    assert all(d.writer == "openai:gpt-4o-mini" and d.flags == [] for d in drafts)
    assert len(server.requests) == 4  # two refused, then one per contact


@pytest.mark.parametrize("provider", PROVIDERS)
def test_server_errors_fall_back_to_offline_drafts_for_review(
    ctx: AppContext, server: ModelServer, provider: str
) -> None:
    server.responder = lambda _: server_error(500)
    mctx = model_context(ctx, server, provider, llm_concurrency=1)
    seeded = reachable_opportunity(mctx, people=2, config={"autoApprove": True})
    task = _run(mctx, seeded)
    assert task.status == "completed"
    drafts = _drafts(mctx, seeded)
    assert len(drafts) == 2
    assert all(d.writer == "offline" for d in drafts)
    assert all({FLAG_WRITER_ERROR, FLAG_FELL_BACK} <= set(d.flags) for d in drafts)
    assert all(d.status == "pending_approval" for d in drafts)  # never auto-approved
    _assert_well_formed(drafts)
    assert [r.outcome for r in _ledger(mctx, seeded)] == ["ProviderError", "ProviderError"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeouts_end_in_offline_drafts(
    ctx: AppContext, server: ModelServer, provider: str
) -> None:
    server.responder = lambda _: Answer(delay=1.0, status=500, body={"error": {}})
    mctx = model_context(ctx, server, provider, llm_timeout_seconds=0.2)
    seeded = reachable_opportunity(mctx, people=2)
    task = _run(mctx, seeded)
    assert task.status == "completed"
    drafts = _drafts(mctx, seeded)
    assert [d.writer for d in drafts] == ["offline", "offline"]
    assert all(FLAG_WRITER_ERROR in d.flags for d in drafts)
    _assert_well_formed(drafts)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_output_never_reaches_the_queue(
    ctx: AppContext, server: ModelServer, provider: str
) -> None:
    server.responder = malformed
    mctx = model_context(ctx, server, provider, llm_concurrency=1)
    seeded = reachable_opportunity(mctx, people=2, config={"autoApprove": True})
    task = _run(mctx, seeded)
    assert task.status == "completed"
    drafts = _drafts(mctx, seeded)
    assert len(drafts) == 2
    assert all(d.writer == "offline" and d.status == "pending_approval" for d in drafts)
    assert not any("no JSON" in d.message_body or '"subject"' in d.message_body for d in drafts)
    _assert_well_formed(drafts)
    # Each contact: the answer, one re-ask with the validation error, then the fallback.
    assert len(server.requests) == 4
    assert [r.outcome for r in _ledger(mctx, seeded)] == ["MalformedOutput"] * 2


def test_a_spend_limit_is_not_retried_and_is_flagged(ctx: AppContext, server: ModelServer) -> None:
    server.responder = lambda _: openai_quota()
    mctx = model_context(ctx, server, llm_max_retries=3, llm_concurrency=1)
    seeded = reachable_opportunity(mctx, people=1)
    task = _run(mctx, seeded)
    assert task.status == "completed"
    [draft] = _drafts(mctx, seeded)
    assert FLAG_SPEND_LIMIT in draft.flags
    assert draft.writer == "offline"
    assert len(server.requests) == 1


@pytest.mark.parametrize("concurrency", [1, 4])
def test_the_daily_call_budget_stops_the_task_with_a_reason(
    ctx: AppContext, server: ModelServer, concurrency: int
) -> None:
    server.responder = grounded()
    mctx = model_context(ctx, server, llm_concurrency=concurrency)
    seeded = reachable_opportunity(mctx, people=5, config={"dailyModelCalls": 2})
    task = _run(mctx, seeded)
    assert task.status == "failed"
    assert task.error_message is not None
    assert "daily call budget of 2 reached" in task.error_message
    assert task.output_data is not None
    assert task.output_data["stoppedBy"] == "budget"
    assert task.output_data["notDrafted"] == 3
    assert len(task.output_data["draftIds"]) == 2
    assert len(server.requests) == 2  # concurrency must not overshoot the call budget
    assert len(_drafts(mctx, seeded)) == 2
    with workspace_session(mctx.session_factory, seeded.workspace_id) as s:
        shown = s.scalar(
            select(ActivityEntry.description).where(ActivityEntry.activity_type == "task_failed")
        )
    assert shown is not None
    assert "daily call budget of 2 reached" in shown

    # Running again the same day makes no call at all.
    again = _run(mctx, seeded)
    assert again.status == "failed"
    assert len(server.requests) == 2
    assert len(_drafts(mctx, seeded)) == 2


def test_the_token_budget_stops_further_calls(ctx: AppContext, server: ModelServer) -> None:
    server.responder = grounded()
    mctx = model_context(ctx, server, llm_concurrency=1)
    seeded = reachable_opportunity(mctx, people=3, config={"dailyModelTokens": 10})
    task = _run(mctx, seeded)
    assert task.status == "failed"
    assert task.error_message is not None
    assert "token budget" in task.error_message
    assert len(server.requests) == 1
    # A new UTC day is a new budget.
    assert isinstance(mctx.clock, ManualClock)
    mctx.clock.advance(timedelta(days=1))
    _run(mctx, seeded)
    assert len(server.requests) == 2


def _breaker(ctx: AppContext) -> LlmLimitState:
    with system_session(ctx.session_factory) as s:
        return s.scalars(select(LlmLimitState)).one()


def test_the_breaker_opens_on_repeated_failures_and_closes_after_a_probe(
    ctx: AppContext, server: ModelServer
) -> None:
    failing: list[bool] = [True]
    healthy = grounded()

    def respond(recorded: Recorded) -> Answer:
        return server_error(503) if failing[0] else healthy(recorded)

    server.responder = respond
    mctx = model_context(ctx, server, llm_concurrency=1)
    people = BREAKER_THRESHOLD + 2
    seeded = reachable_opportunity(mctx, people=people)
    task = _run(mctx, seeded)
    assert task.status == "completed"
    # The breaker opened after the threshold; later contacts were not sent to the provider.
    assert len(server.requests) == BREAKER_THRESHOLD
    state = _breaker(mctx)
    assert state.failures == BREAKER_THRESHOLD
    assert state.open_until == mctx.clock.now() + BREAKER_COOLDOWN
    drafts = _drafts(mctx, seeded)
    assert len(drafts) == people
    assert all(d.writer == "offline" for d in drafts)
    # Refusals by the open breaker are not calls: the ledger has the real ones only.
    assert len(_ledger(mctx, seeded)) == BREAKER_THRESHOLD

    # Still open a moment before the cool-down ends: no request goes out.
    with workspace_session(mctx.session_factory, seeded.workspace_id) as s:
        for d in s.scalars(select(OutreachDraft)):
            s.delete(d)
    failing[0] = False
    assert isinstance(mctx.clock, ManualClock)
    mctx.clock.advance(BREAKER_COOLDOWN - timedelta(seconds=1))
    _run(mctx, seeded, contactIds=[str(drafts[0].contact_id)])
    assert len(server.requests) == BREAKER_THRESHOLD

    # After it, one probe succeeds and closes the breaker; model drafts are back.
    mctx.clock.advance(timedelta(seconds=1))
    _run(mctx, seeded)
    state = _breaker(mctx)
    assert (state.failures, state.open_until) == (0, None)
    fresh = [d for d in _drafts(mctx, seeded) if d.writer != "offline"]
    assert len(fresh) == people - 1
    with workspace_session(mctx.session_factory, seeded.workspace_id) as s:
        assert s.scalar(select(func.count(OutreachDraft.id))) == people
