"""The Follow-up agent end to end: scheduled on the Outreach agent's notice, drafted as
replies in the thread, stopped by an answer, escalated after silence."""

from __future__ import annotations

import uuid
from datetime import timedelta
from email import message_from_bytes, policy

from sqlalchemy import select, update

from cctest.outreach import (
    OPEN_WINDOW,
    Drafted,
    second_draft,
    seed_drafts,
    send_first_message,
    settle,
)
from commandcentre.agents import approvals
from commandcentre.agents.models import Agent, Approval
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.followups.execute import cancel_for_contact
from commandcentre.followups.models import FollowUp
from commandcentre.intel.models import Contact
from commandcentre.outreach import review
from commandcentre.outreach.channels.email import outbox_filename
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.outreach.transport import outbox_dir


def _followup_config(ctx: AppContext, drafted: Drafted, **config: object) -> None:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        agent = session.get(Agent, drafted.seeded.agents["followup"])
        assert agent is not None
        agent.config = {**agent.config, **config}


def _rows(ctx: AppContext, drafted: Drafted) -> list[FollowUp]:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        return list(session.scalars(select(FollowUp).order_by(FollowUp.scheduled_at)))


def _sent_first_message(ctx: AppContext, **followup_config: object) -> tuple[Drafted, Pumps]:
    drafted = seed_drafts(ctx, 1, config=OPEN_WINDOW)
    _followup_config(ctx, drafted, **followup_config)
    return drafted, send_first_message(ctx, drafted)


def test_first_send_schedules_follow_ups_and_an_escalation(ctx: AppContext) -> None:
    drafted, _ = _sent_first_message(ctx)
    rows = _rows(ctx, drafted)
    assert [(r.followup_type, r.followup_number) for r in rows] == [
        ("reminder", 1),
        ("value_add", 2),
        ("escalation", 3),
    ]
    # Sent Monday 2 March 09:00 UTC; three business days later, then three more.
    assert [r.scheduled_at.isoformat() for r in rows[:2]] == [
        "2026-03-05T09:00:00+00:00",
        "2026-03-10T09:00:00+00:00",
    ]
    assert {r.original_outreach_id for r in rows} == {drafted.draft_ids[0]}


def test_due_follow_up_is_a_threaded_reply_that_waits_for_approval(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted, pumps = _sent_first_message(ctx)
    clock.advance(timedelta(days=3))
    settle(pumps)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        original = session.get(OutreachDraft, drafted.draft_ids[0])
        assert original is not None
        follow = session.scalars(
            select(OutreachDraft).where(OutreachDraft.followup_number == 1)
        ).one()
        assert follow.status == "pending_approval"
        assert follow.subject == f"Re: {original.subject}"
        assert follow.parent_draft_id == original.id
        assert follow.recipient == original.recipient
        review.approve(session, ctx.clock, follow.id, None)
        first_id = session.scalar(select(Send.message_id).where(Send.draft_id == original.id))
    settle(pumps)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        send = session.scalars(select(Send).where(Send.draft_id == follow.id)).one()
    assert send.status == "sent"
    assert send.message_id is not None
    raw = (outbox_dir(ctx.settings) / outbox_filename(send.message_id)).read_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert first_id is not None
    assert message["In-Reply-To"] == first_id
    assert first_id in str(message["References"])


def test_a_reply_cancels_what_is_pending_and_stops_queued_follow_ups(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted, pumps = _sent_first_message(ctx, autoApprove=True)
    clock.advance(timedelta(days=3))
    # The follow-up is drafted and auto-approved, but not yet sent ...
    pumps.process_followups()
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        contact_id = session.scalars(select(Contact.id)).one()
        # ... when the contact answers.
        session.execute(
            update(Contact).where(Contact.id == contact_id).values(outreach_status="replied")
        )
        assert cancel_for_contact(session, ctx.clock, [contact_id], "the contact replied") == 2
    settle(pumps)
    clock.advance(timedelta(days=30))
    settle(pumps)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        statuses = sorted(s for (s,) in session.execute(select(Send.status)))
    assert statuses == ["cancelled", "sent"]
    assert {r.status for r in _rows(ctx, drafted)} == {"executed", "cancelled"}


def test_silence_after_every_follow_up_escalates_with_a_move_the_user_can_accept(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted, pumps = _sent_first_message(ctx, autoApprove=True)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(update(Contact).values(linkedin_url="https://www.linkedin.com/in/p0"))
    for _ in range(4):
        clock.advance(timedelta(days=3))
        settle(pumps)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        sent = session.scalars(select(Send).where(Send.status == "sent")).all()
        assert len(sent) == 3
        approval = session.scalars(select(Approval).where(Approval.kind == "escalation")).one()
        assert approval.context["recommendation"]["move"] == "linkedin"
        assert approval.choices == ["accept the move", "stop", "review by hand"]
        approvals.decide_escalation(
            session=session,
            clock=ctx.clock,
            approval_id=approval.id,
            user_id=None,
            choice="accept the move",
        )
        linkedin = session.scalars(
            select(OutreachDraft).where(OutreachDraft.channel == "linkedin")
        ).one()
    assert linkedin.status == "pending_approval"
    assert linkedin.recipient == "https://www.linkedin.com/in/p0"


def test_follow_ups_wait_out_an_absence_and_the_minimum_gap(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted, pumps = _sent_first_message(ctx)
    back = clock.now() + timedelta(days=8)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(update(Contact).values(followups_paused_until=back))
    clock.advance(timedelta(days=3))
    settle(pumps)
    first = _rows(ctx, drafted)[0]
    assert first.status == "scheduled"
    assert first.scheduled_at == back
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(update(Contact).values(followups_paused_until=None))
        # Someone touched this contact an hour ago through another campaign.
        session.execute(update(Send).values(started_at=back - timedelta(hours=1)))
    clock.set(back)
    settle(pumps)
    first = _rows(ctx, drafted)[0]
    assert first.status == "scheduled"
    assert first.scheduled_at == back + timedelta(hours=47)


def test_a_contact_in_a_sequence_is_not_given_a_second_one(ctx: AppContext) -> None:
    drafted, pumps = _sent_first_message(ctx)
    second = second_draft(ctx, drafted, "pending_approval")
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        review.approve(session, ctx.clock, second, None)
    settle(pumps)
    rows = _rows(ctx, drafted)
    assert {r.original_outreach_id for r in rows} == {drafted.draft_ids[0]}


def test_stopping_after_an_escalation_withdraws_what_still_waits(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted, pumps = _sent_first_message(ctx, autoApprove=True, maxFollowups=1)
    for _ in range(3):
        clock.advance(timedelta(days=3))
        settle(pumps)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        approval = session.scalars(select(Approval).where(Approval.kind == "escalation")).one()
        contact_id = uuid.UUID(approval.context["contactId"])
        waiting = OutreachDraft(
            agent_id=drafted.seeded.agents["outreach"],
            contact_id=contact_id,
            channel="email",
            recipient="person0@helix.example",
            subject="Another idea",
            message_body="Hello once more",
            status="pending_approval",
            created_at=ctx.clock.now(),
            updated_at=ctx.clock.now(),
        )
        session.add(waiting)
        session.flush()
        approvals.decide_escalation(
            session=session, clock=ctx.clock, approval_id=approval.id, user_id=None, choice="stop"
        )
        assert waiting.status == "pending_approval"  # the update went around the ORM
        session.refresh(waiting)
        assert waiting.status == "rejected"
        assert waiting.rejection_reason == "stopped after the escalation"
