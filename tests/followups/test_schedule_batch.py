"""Scheduling many 'sent first message' notices in one delivery batch behaves as one at a
time: one sequence per message, one sequence per contact."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from sqlalchemy import select

from cctest.outreach import refuse_writes_for, second_draft, seed_drafts
from cctest.runtime import pumps
from commandcentre.agents.base import AgentContext
from commandcentre.agents.bus import Bus
from commandcentre.agents.models import ActivityEntry, Agent, AgentMessage
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.followups.agent import FollowupAgent
from commandcentre.followups.models import FollowUp


def _notify(
    ctx: AppContext, workspace_id: uuid.UUID, outreach_id: uuid.UUID, draft_ids: Sequence[object]
) -> None:
    with workspace_session(ctx.session_factory, workspace_id) as session:
        outreach = session.get(Agent, outreach_id)
        assert outreach is not None
        for draft_id in draft_ids:
            Bus(session=session, clock=ctx.clock, sender=outreach).notify(
                "followup",
                "Sent first message",
                {"originalOutreachId": str(draft_id), "sentAt": ctx.clock.now().isoformat()},
            )


def _activity(ctx: AppContext, workspace_id: object) -> list[str]:
    with workspace_session(ctx.session_factory, workspace_id) as session:  # type: ignore[arg-type]
        return sorted(
            kind
            for kind in session.scalars(
                select(ActivityEntry.activity_type).where(
                    ActivityEntry.activity_type.like("followups_%")
                )
            )
        )


def test_the_same_notice_twice_in_one_batch_plans_one_sequence(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 2)
    ids = [drafted.draft_ids[0], drafted.draft_ids[0], drafted.draft_ids[1]]
    _notify(ctx, drafted.workspace_id, drafted.seeded.agents["outreach"], ids)
    assert pumps(ctx).process_messages() == 3
    # Delivered again later (say, after a crash): still nothing new.
    _notify(ctx, drafted.workspace_id, drafted.seeded.agents["outreach"], ids[:1])
    assert pumps(ctx).process_messages() == 1
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        rows = list(session.scalars(select(FollowUp)))
    for draft_id in drafted.draft_ids:
        mine = [
            (r.followup_type, r.followup_number) for r in rows if r.original_outreach_id == draft_id
        ]
        assert sorted(mine, key=lambda t: t[1]) == [
            ("reminder", 1),
            ("value_add", 2),
            ("escalation", 3),
        ]
    assert _activity(ctx, drafted.workspace_id) == ["followups_scheduled"] * 2


def test_two_first_messages_to_one_contact_in_one_batch_give_one_sequence(
    ctx: AppContext,
) -> None:
    drafted = seed_drafts(ctx, 1)
    second_id = second_draft(ctx, drafted, "sent")
    _notify(
        ctx,
        drafted.workspace_id,
        drafted.seeded.agents["outreach"],
        [drafted.draft_ids[0], second_id],
    )
    assert pumps(ctx).process_messages() == 2
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        rows = list(session.scalars(select(FollowUp)))
        coordinated = session.scalars(
            select(ActivityEntry).where(ActivityEntry.activity_type == "followups_coordinated")
        ).one()
    assert {r.original_outreach_id for r in rows} == {drafted.draft_ids[0]}
    assert coordinated.details["draftId"] == str(second_id)
    assert coordinated.details["ongoingFollowUpId"] in {str(r.id) for r in rows}


def test_a_sequence_rolled_back_with_its_message_does_not_hold_back_the_contacts_next(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first messages to one contact in one batch; the first one's writes are refused,
    so the contact is in no sequence and the second message starts one."""
    drafted = seed_drafts(ctx, 1)
    second_id = second_draft(ctx, drafted, "sent")
    first_id = drafted.draft_ids[0]
    refuse_writes_for(monkeypatch, {str(first_id)})
    _notify(ctx, drafted.workspace_id, drafted.seeded.agents["outreach"], [first_id, second_id])
    assert pumps(ctx).process_messages() == 2
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        rows = list(session.scalars(select(FollowUp)))
    assert {r.original_outreach_id for r in rows} == {second_id}
    assert _activity(ctx, drafted.workspace_id) == ["followups_scheduled"]


def test_a_poison_message_in_a_run_leaves_the_others_scheduled_once(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middle notice fails after planning its sequence: its rows and log entry go with
    it, the others' are written exactly once, and it is retried by itself later."""
    drafted = seed_drafts(ctx, 3)
    poison = drafted.draft_ids[1]
    original = FollowupAgent.handle_message

    def handle(self: FollowupAgent, agent_ctx: AgentContext, message: AgentMessage) -> None:
        original(self, agent_ctx, message)
        if message.payload.get("originalOutreachId") == str(poison):
            raise RuntimeError("poison")

    monkeypatch.setattr(FollowupAgent, "handle_message", handle)
    _notify(ctx, drafted.workspace_id, drafted.seeded.agents["outreach"], drafted.draft_ids)
    assert pumps(ctx).process_messages() == 3
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        rows = list(session.scalars(select(FollowUp)))
        pending = session.scalars(
            select(AgentMessage).where(AgentMessage.status == "pending")
        ).all()
    planned = {drafted.draft_ids[0], drafted.draft_ids[2]}
    assert {r.original_outreach_id for r in rows} == planned
    assert len(rows) == 6
    assert all(r.workspace_id == drafted.workspace_id for r in rows)
    assert [m.payload["originalOutreachId"] for m in pending] == [str(poison)]
    assert _activity(ctx, drafted.workspace_id) == ["followups_scheduled"] * 2
