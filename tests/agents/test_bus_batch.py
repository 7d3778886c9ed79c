"""Messages sent in one transaction are written together with their log entries."""

from __future__ import annotations

from sqlalchemy import select

from cctest.outreach import seed_drafts
from commandcentre.agents.bus import Bus
from commandcentre.agents.models import ActivityEntry, Agent, AgentMessage
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session


def test_messages_sent_together_each_get_their_log_entry_in_their_workspace(
    ctx: AppContext,
) -> None:
    first = seed_drafts(ctx, 1, slug="first")
    second = seed_drafts(ctx, 1, slug="second")
    sent = {}
    for drafted in (first, second):
        with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
            outreach = session.get(Agent, drafted.seeded.agents["outreach"])
            assert outreach is not None
            bus = Bus(session=session, clock=ctx.clock, sender=outreach)
            messages = [bus.notify("followup", f"Notice {n}", {"n": n}) for n in range(3)]
            # Known before anything is written, and all written at the commit.
            sent[drafted.workspace_id] = {m.id for m in messages}
            assert all(m.id is not None for m in messages)

    for drafted in (first, second):
        with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
            stored = list(session.scalars(select(AgentMessage)))
            entries = list(
                session.scalars(
                    select(ActivityEntry).where(
                        ActivityEntry.activity_type == "message_notification"
                    )
                )
            )
        assert {m.id for m in stored} == sent[drafted.workspace_id]
        assert {m.workspace_id for m in stored} == {drafted.workspace_id}
        assert {m.to_agent_id for m in stored} == {drafted.seeded.agents["followup"]}
        assert len(entries) == 3
        assert {e.message_id for e in entries} == sent[drafted.workspace_id]
        assert {e.workspace_id for e in entries} == {drafted.workspace_id}
