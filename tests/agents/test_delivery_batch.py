"""Delivering a batch of agent messages in one transaction: a failing handler costs only its
own message, the others' effects commit, and every row lands in its own workspace."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cctest.outreach import Drafted, refuse_writes_for, seed_drafts
from cctest.runtime import pumps
from commandcentre.agents import delivery
from commandcentre.agents.bus import Bus
from commandcentre.agents.models import ActivityEntry, Agent, AgentMessage, AgentMetrics
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.followups.models import FollowUp


def notify_sent(ctx: AppContext, drafted: Drafted, draft_ids: list[Any]) -> list[uuid.UUID]:
    """The Outreach agent's 'sent first message' notices, one per draft id given (a bad id
    makes a message whose handler fails)."""
    ids = []
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        outreach = session.get(Agent, drafted.seeded.agents["outreach"])
        assert outreach is not None
        for draft_id in draft_ids:
            message = Bus(session=session, clock=ctx.clock, sender=outreach).notify(
                "followup",
                "Sent first message",
                {"originalOutreachId": str(draft_id), "sentAt": ctx.clock.now().isoformat()},
            )
            ids.append(message.id)
    return ids


def messages(ctx: AppContext) -> dict[uuid.UUID, AgentMessage]:
    with system_session(ctx.session_factory) as session:
        rows = list(session.scalars(select(AgentMessage)))
        session.expunge_all()
    return {row.id: row for row in rows}


def received(ctx: AppContext, agent_id: uuid.UUID) -> tuple[float, float]:
    with system_session(ctx.session_factory) as session:
        row = session.execute(
            select(
                func.sum(AgentMetrics.messages_received),
                func.sum(AgentMetrics.followups_scheduled),
            ).where(AgentMetrics.agent_id == agent_id)
        ).one()
    return (row[0] or 0, row[1] or 0)


def test_a_failing_handler_is_retried_while_the_rest_of_the_batch_is_delivered(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted = seed_drafts(ctx, 3)
    good = drafted.draft_ids[:2]
    ids = notify_sent(ctx, drafted, [good[0], "not-a-uuid", good[1]])
    poison = ids[1]
    followup_agent = drafted.seeded.agents["followup"]

    assert pumps(ctx).process_messages() == 3

    rows = messages(ctx)
    assert {rows[i].status for i in (ids[0], ids[2])} == {"delivered"}
    assert all(rows[i].read_at is not None and rows[i].claimed_by is None for i in ids[::2])
    bad = rows[poison]
    assert bad.status == "pending"
    assert bad.attempts == 1
    assert bad.read_at is None
    assert bad.claimed_by is None
    assert bad.last_error is not None
    assert bad.last_error.startswith("ValueError")
    assert bad.next_attempt_at is not None
    assert bad.next_attempt_at >= clock.now()
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        planned = {r.original_outreach_id for r in session.scalars(select(FollowUp))}
        scheduled = session.scalar(
            select(func.count(ActivityEntry.id)).where(
                ActivityEntry.activity_type == "followups_scheduled"
            )
        )
    assert planned == set(good)
    assert scheduled == 2
    # The failed message's counter went with its savepoint.
    assert received(ctx, followup_agent) == (2, 4)

    # Backed off: not due at once; due again later, and it keeps failing until it is dead.
    assert pumps(ctx).process_messages() == 0
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        message = session.get(AgentMessage, poison)
        assert message is not None
        message.max_attempts = 2
    clock.advance(timedelta(minutes=6))
    assert pumps(ctx).process_messages() == 1
    bad = messages(ctx)[poison]
    assert bad.status == "dead"
    assert bad.attempts == 2
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        dead = session.scalars(
            select(ActivityEntry).where(ActivityEntry.activity_type == "message_dead")
        ).one()
    assert dead.message_id == poison
    assert received(ctx, followup_agent) == (2, 4)


def test_messages_of_two_workspaces_in_one_batch_land_in_their_own(ctx: AppContext) -> None:
    first = seed_drafts(ctx, 2, slug="first")
    second = seed_drafts(ctx, 2, slug="second")
    sent = {
        first.workspace_id: notify_sent(ctx, first, first.draft_ids),
        second.workspace_id: notify_sent(ctx, second, second.draft_ids),
    }

    p = pumps(ctx)
    claimed = delivery.claim_due(factory=ctx.session_factory, clock=ctx.clock, worker=p.worker)
    assert len(claimed) == 4
    statuses = delivery.deliver_batch(
        factory=ctx.session_factory, clock=ctx.clock, message_ids=claimed, worker=p.worker
    )
    assert statuses == ["delivered"] * 4

    for drafted in (first, second):
        with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
            followups = list(session.scalars(select(FollowUp)))
            entries = list(
                session.scalars(
                    select(ActivityEntry).where(
                        ActivityEntry.activity_type == "followups_scheduled"
                    )
                )
            )
        assert {f.original_outreach_id for f in followups} == set(drafted.draft_ids)
        assert {f.agent_id for f in followups} == {drafted.seeded.agents["followup"]}
        assert len(entries) == 2
        assert received(ctx, drafted.seeded.agents["followup"]) == (2, 4)
    with system_session(ctx.session_factory) as session:
        # No row of one workspace points at the other's drafts or agents.
        for workspace_id, draft_id, agent_id in session.execute(
            select(FollowUp.workspace_id, FollowUp.original_outreach_id, FollowUp.agent_id)
        ):
            owner = first if draft_id in first.draft_ids else second
            assert workspace_id == owner.workspace_id
            assert agent_id == owner.seeded.agents["followup"]
        metrics = session.execute(select(AgentMetrics.workspace_id, AgentMetrics.agent_id)).all()
        delivered = session.execute(
            select(AgentMessage.workspace_id, AgentMessage.id).where(
                AgentMessage.status == "delivered"
            )
        ).all()
    for workspace_id, agent_id in metrics:
        owner = first if workspace_id == first.workspace_id else second
        assert agent_id in owner.seeded.agents.values()
    assert {(w, i) for w, i in delivered} == {(w, i) for w, ids in sent.items() for i in ids}


def test_a_lost_claim_is_not_delivered(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 1)
    [message_id] = notify_sent(ctx, drafted, drafted.draft_ids)
    claimed = delivery.claim_due(factory=ctx.session_factory, clock=ctx.clock, worker="a")
    assert claimed == [message_id]
    # Another worker took it over after the lease ran out.
    assert delivery.deliver_batch(
        factory=ctx.session_factory, clock=ctx.clock, message_ids=claimed, worker="b"
    ) == [None]
    assert messages(ctx)[message_id].status == "pending"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        assert session.scalar(select(func.count(FollowUp.id))) == 0
    assert (
        delivery.deliver(
            factory=ctx.session_factory, clock=ctx.clock, message_id=message_id, worker="a"
        )
        == "delivered"
    )


def test_a_message_whose_writes_the_database_refuses_costs_only_that_message(
    ctx: AppContext, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    drafted = seed_drafts(ctx, 5)
    ids = notify_sent(ctx, drafted, drafted.draft_ids)
    refuse_writes_for(monkeypatch, {str(drafted.draft_ids[2])})

    assert pumps(ctx).process_messages() == 5

    rows = messages(ctx)
    assert [rows[i].status for i in ids] == ["delivered"] * 2 + ["pending"] + ["delivered"] * 2
    assert rows[ids[2]].attempts == 1
    assert rows[ids[2]].last_error is not None
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        planned = {r.original_outreach_id for r in session.scalars(select(FollowUp))}
        scheduled = session.scalar(
            select(func.count(ActivityEntry.id)).where(
                ActivityEntry.activity_type == "followups_scheduled"
            )
        )
    assert planned == set(drafted.draft_ids) - {drafted.draft_ids[2]}
    assert scheduled == 4
    assert received(ctx, drafted.seeded.agents["followup"]) == (4, 8)

    # Once the database takes its writes, the message is delivered like the others.
    monkeypatch.undo()
    clock.advance(timedelta(minutes=6))
    assert pumps(ctx).process_messages() == 1
    assert messages(ctx)[ids[2]].status == "delivered"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        planned = {r.original_outreach_id for r in session.scalars(select(FollowUp))}
    assert planned == set(drafted.draft_ids)
    assert received(ctx, drafted.seeded.agents["followup"]) == (5, 10)


def test_a_pump_call_delivers_at_most_its_batch_of_messages(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 5)
    ids = notify_sent(ctx, drafted, drafted.draft_ids)
    small = replace(pumps(ctx), message_batch=3)

    assert small.process_messages() == 3
    assert sorted(m.status for m in messages(ctx).values()) == ["delivered"] * 3 + ["pending"] * 2
    assert small.process_messages() == 2
    assert {messages(ctx)[i].status for i in ids} == {"delivered"}
    assert small.process_messages() == 0
