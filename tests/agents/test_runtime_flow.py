"""The runtime end to end, stepped by hand: tasks, approvals, messages, escalations."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cctest.runtime import Seeded, pumps, run_until_idle, seed_opportunity
from commandcentre.agents import approvals, bus, services, tasks
from commandcentre.agents.models import ActivityEntry, Agent, AgentMessage, AgentTask, Approval
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.errors import Conflict, InvalidInput
from commandcentre.intel.models import Opportunity
from commandcentre.planning.models import Campaign, PlanningRecommendation


def _assign(
    ctx: AppContext, seeded: Seeded, agent_type: str, task_type: str, **kwargs: Any
) -> uuid.UUID:
    """Assign a task in its own transaction, as the API does."""
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        return tasks.assign(
            session=s,
            clock=ctx.clock,
            agent=_agent(s, agent_type),
            task_type=task_type,
            **kwargs,
        ).id


def _for_opportunity(seeded: Seeded) -> dict[str, Any]:
    return {"input_data": {"opportunityId": str(seeded.opportunity_id)}}


def _agent(session: Session, agent_type: str) -> Agent:
    return bus.agent_by_type(session=session, agent_type=agent_type)


def test_planning_analyses_and_outreach_acknowledges(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        tasks.assign(
            session=s,
            clock=ctx.clock,
            agent=_agent(s, "planning"),
            task_type="analyze_opportunity",
            priority="high",
            input_data={"opportunityId": str(seeded.opportunity_id)},
        )
    # the task, the notification to Outreach, its response back to Planning
    assert run_until_idle(ctx) == 3

    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        task = s.scalars(select(AgentTask)).one()
        assert task.status == "completed"
        assert task.output_data
        assert task.output_data["priorityScore"] >= 82
        recommendation = s.scalars(select(PlanningRecommendation)).one()
        assert recommendation.recommendation_type == "prioritise"
        assert "Discovery signal 82" in recommendation.reasoning
        assert s.get(Opportunity, seeded.opportunity_id).priority_score is not None  # type: ignore[union-attr]
        notification, response = s.scalars(
            select(AgentMessage).order_by(AgentMessage.created_at, AgentMessage.message_type)
        ).all()
        assert notification.message_type == "notification"
        assert "3 target account" not in notification.subject  # one account, three people
        assert notification.subject.startswith("New high-priority opportunity: 1 target account")
        assert response.response_to_id == notification.id
        assert response.to_agent_id == notification.from_agent_id
        assert notification.read_at is not None
        assert notification.responded_at is not None
        kinds = [
            a.activity_type
            for a in s.scalars(select(ActivityEntry).order_by(ActivityEntry.created_at))
        ]
        assert kinds.count("task_completed") == 1
        assert "message_response" in kinds


def test_low_signal_opportunity_is_not_handed_to_outreach(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx, signal=30.0)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        tasks.assign(
            session=s,
            clock=ctx.clock,
            agent=_agent(s, "planning"),
            task_type="analyze_opportunity",
            input_data={"opportunityId": str(seeded.opportunity_id)},
        )
    run_until_idle(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        assert s.scalar(select(func.count(AgentMessage.id))) == 0
        assert s.scalars(select(PlanningRecommendation)).one().recommendation_type == (
            "deprioritise"
        )


def test_tick_queues_analysis_of_new_opportunities_once(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    first = pumps(ctx).tick()
    assert first["queued"] == 1
    assert first["tasks"] == 1
    assert pumps(ctx).tick()["queued"] == 0  # analysed now: nothing more to queue
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        assert s.scalar(select(func.count(AgentTask.id))) == 1


def test_campaign_waits_for_approval_then_launches(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    task_id = _assign(ctx, seeded, "planning", "propose_campaign", **_for_opportunity(seeded))
    run_until_idle(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        task = s.get(AgentTask, task_id)
        assert task is not None
        assert task.status == "waiting_approval"
        pending = approvals.list_pending(session=s)
        assert [a.task_id for a in pending] == [task_id]
        assert len(pending[0].context["contacts"]) == 3
        assert s.scalar(select(func.count(Campaign.id))) == 0
        assert services.status(session=s, agent_id=task.agent_id).agent.status == (
            "waiting_approval"
        )
        user = None
        tasks.approve(session=s, clock=ctx.clock, task_id=task_id, user_id=user)
    run_until_idle(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        assert s.get(AgentTask, task_id).status == "completed"  # type: ignore[union-attr]
        campaign = s.scalars(select(Campaign)).one()
        assert campaign.status == "active"
        assert len(campaign.target_contact_ids) == 3
        assert s.get(Opportunity, seeded.opportunity_id).status == "delegated"  # type: ignore[union-attr]
        assert s.scalar(select(Approval.status)) == "approved"
        assert approvals.list_pending(session=s) == []


def test_rejected_campaign_is_cancelled_with_the_reason(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    task_id = _assign(ctx, seeded, "planning", "propose_campaign", **_for_opportunity(seeded))
    run_until_idle(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        with pytest.raises(InvalidInput):
            tasks.reject(
                session=s,
                clock=ctx.clock,
                task_id=task_id,
                user_id=None,
                reason="  ",
            )
        tasks.reject(
            session=s,
            clock=ctx.clock,
            task_id=task_id,
            user_id=None,
            reason="Budget is spent this quarter",
        )
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        task = s.get(AgentTask, task_id)
        assert task is not None
        assert task.status == "cancelled"
        assert task.error_message == "rejected: Budget is spent this quarter"
        assert s.scalar(select(Approval.reason)) == "Budget is spent this quarter"
        with pytest.raises(Conflict):
            tasks.approve(session=s, clock=ctx.clock, task_id=task_id, user_id=None)


def test_assignment_rejects_unknown_types_and_bad_input(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        planning = _agent(s, "planning")
        with pytest.raises(InvalidInput) as unknown:
            tasks.assign(session=s, clock=ctx.clock, agent=planning, task_type="sell_stuff")
        assert unknown.value.field == "taskType"
        with pytest.raises(InvalidInput) as bad:
            tasks.assign(
                session=s,
                clock=ctx.clock,
                agent=planning,
                task_type="analyze_opportunity",
                input_data={"opportunityId": "x"},
            )
        assert bad.value.field == "inputData.opportunityId"
        with pytest.raises(InvalidInput):
            tasks.assign(
                session=s, clock=ctx.clock, agent=planning, task_type="ping", priority="whenever"
            )


def test_messages_to_a_paused_agent_wait_and_nothing_is_dropped(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        services.pause(session=s, clock=ctx.clock, agent_id=seeded.agents["research"])
        bus.send(
            session=s,
            clock=ctx.clock,
            sender=_agent(s, "planning"),
            recipient=_agent(s, "research"),
            message_type="request",
            subject="Enrich the speakers",
            payload={"contacts": 3},
        )
    assert pumps(ctx).process_messages() == 0
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        assert s.scalar(select(AgentMessage.status)) == "pending"
        services.resume(session=s, clock=ctx.clock, agent_id=seeded.agents["research"])
    assert run_until_idle(ctx) == 2
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        request = s.scalars(
            select(AgentMessage).where(AgentMessage.message_type == "request")
        ).one()
        assert request.responded_at is not None


def test_a_request_gets_exactly_one_response(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        request = bus.send(
            session=s,
            clock=ctx.clock,
            sender=_agent(s, "planning"),
            recipient=_agent(s, "research"),
            message_type="request",
            subject="Who is this?",
            payload={},
        )
        research = bus.Bus(session=s, clock=ctx.clock, sender=_agent(s, "research"))
        research.respond(request, "Answer", {"ok": True})
        with pytest.raises(Conflict):
            research.respond(request, "Second answer", {"ok": True})


def test_unanswered_request_escalates_once_after_its_deadline(
    ctx: AppContext, clock: ManualClock
) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        services.pause(session=s, clock=ctx.clock, agent_id=seeded.agents["research"])
        bus.send(
            session=s,
            clock=ctx.clock,
            sender=_agent(s, "planning"),
            recipient=_agent(s, "research"),
            message_type="request",
            subject="Enrich the speakers",
            payload={},
            timeout=timedelta(minutes=30),
        )
    assert pumps(ctx).sweep() == 0
    clock.advance(timedelta(minutes=31))
    assert pumps(ctx).sweep() == 1
    assert pumps(ctx).sweep() == 0
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        escalation = s.scalars(select(Approval)).one()
        assert escalation.kind == "escalation"
        assert escalation.title.startswith("No answer from Research")
        assert escalation.context["recipientPaused"] is True
        with pytest.raises(InvalidInput):
            approvals.decide_escalation(
                session=s,
                clock=ctx.clock,
                approval_id=escalation.id,
                user_id=None,
                choice="nonsense",
            )
        approvals.decide_escalation(
            session=s,
            clock=ctx.clock,
            approval_id=escalation.id,
            user_id=None,
            choice="wait longer",
        )
        with pytest.raises(Conflict):
            approvals.decide_escalation(
                session=s,
                clock=ctx.clock,
                approval_id=escalation.id,
                user_id=None,
                choice="wait longer",
            )
    # Waiting longer re-arms the deadline: no new escalation until it passes again.
    clock.advance(timedelta(hours=23))
    assert pumps(ctx).sweep() == 0
    clock.advance(timedelta(hours=2))
    assert pumps(ctx).sweep() == 1


def test_cancelled_task_is_not_run(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        task_id = tasks.assign(
            session=s, clock=ctx.clock, agent=_agent(s, "research"), task_type="ping"
        ).id
        tasks.cancel(session=s, clock=ctx.clock, task_id=task_id, reason="not needed")
    assert pumps(ctx).process_tasks() == 0
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        assert s.get(AgentTask, task_id).status == "cancelled"  # type: ignore[union-attr]


def test_status_reports_performance(ctx: AppContext) -> None:
    seeded = seed_opportunity(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        for _ in range(3):
            tasks.assign(session=s, clock=ctx.clock, agent=_agent(s, "outreach"), task_type="ping")
    run_until_idle(ctx)
    with workspace_session(ctx.session_factory, seeded.workspace_id) as s:
        status = services.status(session=s, agent_id=seeded.agents["outreach"])
        assert status.performance.tasks_completed == 3
        assert status.performance.success_rate == 1.0
        assert status.agent.status == "idle"
        assert status.current_tasks == []
