"""Bulk approval: the same checks as approving one draft, made for the whole list at once."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from cctest.outreach import seed_drafts
from commandcentre.agents.models import ActivityEntry
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.outreach import review, suppression
from commandcentre.outreach.compose import approval_hash
from commandcentre.outreach.models import OutreachDraft, Send


def test_each_draft_is_judged_on_its_own(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 5)
    ok, blocked, rejected, again, elsewhere = drafted.draft_ids
    missing = uuid.uuid4()
    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        moved = session.get(OutreachDraft, elsewhere)
        assert moved is not None
        moved.recipient = "someone@blocked.example"
        recipient = session.get(OutreachDraft, blocked)
        assert recipient is not None
        suppression.add(session, ctx.clock, "email", recipient.recipient, "manual")
        suppression.add(session, ctx.clock, "domain", "blocked.example", "unsubscribe")
        review.reject(session, ctx.clock, rejected, None, "not now")
        review.approve(session, ctx.clock, again, None)

    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        outcomes = review.bulk_approve(
            session, ctx.clock, [ok, blocked, rejected, again, missing, elsewhere, ok], None
        )

    by_id = {o.draft_id: o for o in outcomes}
    assert [o.draft_id for o in outcomes] == [ok, blocked, rejected, again, missing, elsewhere]
    assert by_id[ok].ok
    assert "is suppressed (email" in (by_id[blocked].error or "")
    assert "is suppressed (domain blocked.example" in (by_id[elsewhere].error or "")
    assert by_id[rejected].error == (
        "only a draft pending approval can be approved; this one is rejected"
    )
    assert by_id[again].error == (
        "only a draft pending approval can be approved; this one is approved"
    )
    assert by_id[missing].error == "draft not found"
    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        queued = sorted(session.scalars(select(Send.draft_id)))
    assert queued == sorted([ok, again])


def test_approved_drafts_get_their_fingerprint_one_send_and_a_log_entry(
    ctx: AppContext,
) -> None:
    drafted = seed_drafts(ctx, 4)
    first, second, third, fourth = drafted.draft_ids
    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        fourth_recipient = session.get(OutreachDraft, fourth)
        assert fourth_recipient is not None
        suppression.add(session, ctx.clock, "email", fourth_recipient.recipient, "unsubscribe")

    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        outcomes = review.bulk_approve(
            session, ctx.clock, [first, second, third, fourth, second], None
        )
    assert [(o.draft_id, o.ok) for o in outcomes] == [
        (first, True),
        (second, True),
        (third, True),
        (fourth, False),
    ]

    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        drafts = {d.id: d for d in session.scalars(select(OutreachDraft))}
        sends = list(session.scalars(select(Send)))
        logged = list(
            session.scalars(
                select(ActivityEntry.entity_id).where(
                    ActivityEntry.activity_type == "draft_approved"
                )
            )
        )
    assert sorted(s.draft_id for s in sends) == sorted([first, second, third])
    for send in sends:
        draft = drafts[send.draft_id]
        assert draft.status == "approved"
        assert draft.approved_at == ctx.clock.now()
        expected = approval_hash(draft.recipient, draft.subject, draft.message_body)
        assert draft.approval_hash == send.approval_hash == expected
        assert send.status == "queued"
    assert drafts[fourth].status == "pending_approval"
    assert drafts[fourth].approval_hash is None
    assert sorted(str(e) for e in logged) == sorted(str(d) for d in (first, second, third))

    # Approving them again changes nothing and queues nothing more.
    with workspace_session(ctx.session_factory, drafted.seeded.workspace_id) as session:
        again = review.bulk_approve(session, ctx.clock, [first, second], None)
        assert [o.ok for o in again] == [False, False]
        assert len(list(session.scalars(select(Send)))) == 3
