"""Messages sent in one transaction are written together with their log entries."""

from __future__ import annotations

from sqlalchemy import select

from cctest.outreach import seed_drafts
from commandcentre.agents import activity
from commandcentre.agents.bus import Bus
from commandcentre.agents.models import ActivityEntry, Agent, AgentMessage
from commandcentre.context import AppContext
from commandcentre.db.base import new_id
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


def test_messages_sent_while_rows_are_deferred_are_written_as_rows(
    ctx: AppContext,
) -> None:
    drafted = seed_drafts(ctx, 1)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        outreach = session.get(Agent, drafted.seeded.agents["outreach"])
        assert outreach is not None
        bus = Bus(session=session, clock=ctx.clock, sender=outreach)
        with activity.deferred_rows(session):
            early = bus.notify("followup", "First", {"n": 0})
            later = bus.notify("followup", "Second", {"n": 1})
            # Rows, not objects of the session; each written before its log entry.
            assert early not in session
            assert later not in session
            assert activity.row_is_live(session, later.id)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        stored = {m.id: m for m in session.scalars(select(AgentMessage))}
        entries = {
            e.message_id
            for e in session.scalars(
                select(ActivityEntry).where(ActivityEntry.activity_type == "message_notification")
            )
        }
    assert set(stored) == {early.id, later.id}
    assert stored[later.id].payload == {"n": 1}
    assert stored[later.id].status == "pending"
    assert stored[later.id].workspace_id == drafted.workspace_id
    assert entries == {early.id, later.id}


def test_deferred_rows_go_in_table_order_whatever_order_they_were_added(
    ctx: AppContext,
) -> None:
    drafted = seed_drafts(ctx, 1)
    message_id = new_id()
    now = ctx.clock.now()
    with (
        workspace_session(ctx.session_factory, drafted.workspace_id) as session,
        activity.deferred_rows(session),
    ):
        # Foreign keys are enforced on both databases: the message must go in first.
        activity.add_rows(
            session,
            ActivityEntry,
            [
                {
                    "id": new_id(),
                    "workspace_id": drafted.workspace_id,
                    "activity_type": "note",
                    "description": "names a message added after it",
                    "message_id": message_id,
                    "created_at": now,
                }
            ],
        )
        activity.add_rows(
            session,
            AgentMessage,
            [
                {
                    "id": message_id,
                    "workspace_id": drafted.workspace_id,
                    "message_type": "notification",
                    "subject": "late",
                    "payload": {},
                    "created_at": now,
                    "next_attempt_at": now,
                }
            ],
        )
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        assert session.get(AgentMessage, message_id) is not None
        entry = session.scalars(
            select(ActivityEntry).where(ActivityEntry.message_id == message_id)
        ).one()
    assert entry.description == "names a message added after it"


def test_a_deferral_inside_another_leaves_its_rows_to_the_outer_one(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 1)

    def entry(note: str) -> dict[str, object]:
        return {
            "id": new_id(),
            "workspace_id": drafted.workspace_id,
            "activity_type": "note",
            "description": note,
            "created_at": ctx.clock.now(),
        }

    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:

        def stored() -> set[str]:
            # Straight on the connection: an ORM query would write the held rows first.
            found = session.connection().scalars(
                select(ActivityEntry.description).where(ActivityEntry.activity_type == "note")
            )
            return set(found)

        with activity.deferred_rows(session):
            with activity.deferred_rows(session):
                activity.add_rows(session, ActivityEntry, [entry("inner")])
            # Still held by the outer deferral, which keeps deferring.
            assert activity.rows_deferred(session)
            assert stored() == set()
            activity.add_rows(session, ActivityEntry, [entry("outer")])
        assert not activity.rows_deferred(session)
        assert stored() == {"inner", "outer"}
