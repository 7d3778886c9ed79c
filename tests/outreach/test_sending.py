"""The send pipeline: undo delay, outbox, approval fingerprint, suppression, windows, caps,
crash recovery and reconciliation, SMTP outcomes, LinkedIn tasks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from cctest.outreach import OPEN_WINDOW, Drafted, drain, outbox_sender, seed_drafts
from cctest.smtp import MailSink, smtp_server
from commandcentre.agents.models import Agent, AgentMessage
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.errors import Conflict, NotFound
from commandcentre.intel.models import Contact
from commandcentre.outreach import review, sending, suppression
from commandcentre.outreach.channels.email import outbox_filename
from commandcentre.outreach.dispatch import Sender
from commandcentre.outreach.models import OutreachDraft, Send
from commandcentre.outreach.transport import outbox_dir, transport_from_settings
from commandcentre.settings import Settings


def _sends(ctx: AppContext, drafted: Drafted) -> list[Send]:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        return list(session.scalars(select(Send).order_by(Send.recipient)))


def _approve_all(ctx: AppContext, drafted: Drafted) -> None:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        for draft_id in drafted.draft_ids:
            review.approve(session, ctx.clock, draft_id, None)


def _eml(ctx: AppContext, message_id: str) -> Path:
    return outbox_dir(ctx.settings) / outbox_filename(message_id)


def test_approved_email_waits_out_the_undo_delay_then_goes_to_the_outbox(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted = seed_drafts(ctx, 1, config={"businessHoursOnly": False, "undoDelaySeconds": 60})
    _approve_all(ctx, drafted)
    sender = outbox_sender(ctx)
    assert drain(sender) == 0
    (send,) = _sends(ctx, drafted)
    assert send.status == "queued"
    assert send.not_before == clock.now() + timedelta(seconds=60)

    clock.advance(timedelta(seconds=61))
    assert drain(sender) == 1
    (send,) = _sends(ctx, drafted)
    assert send.status == "sent"
    assert send.message_id is not None
    message = message_from_bytes(_eml(ctx, send.message_id).read_bytes(), policy=policy.default)
    assert message["Message-ID"] == send.message_id
    assert message["To"] == "person0@helix.example"
    assert "/unsubscribe/" in str(message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = session.get(OutreachDraft, drafted.draft_ids[0])
        assert draft is not None
        assert draft.status == "sent"
        contact = session.get(Contact, draft.contact_id)
        assert contact is not None
        assert contact.outreach_status == "contacted"
        told = session.scalars(
            select(AgentMessage).where(
                AgentMessage.to_agent_id == drafted.seeded.agents["followup"]
            )
        ).one()
    assert told.message_type == "notification"
    assert told.payload["contactId"] == str(draft.contact_id)
    assert told.payload["originalOutreachId"] == str(draft.id)
    # Three business days after Monday 2 March.
    assert told.payload["followupDate"] == "2026-03-05"
    # Nothing goes out twice, however often the pump runs.
    clock.advance(timedelta(days=2))
    assert drain(sender) == 0


def test_an_approved_draft_goes_at_its_suggested_time(ctx: AppContext, clock: ManualClock) -> None:
    drafted = seed_drafts(ctx, 1, keep_suggested_time=True, approve=True)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = session.get(OutreachDraft, drafted.draft_ids[0])
        assert draft is not None
        assert draft.suggested_send_at is not None
        suggested = draft.suggested_send_at
    assert suggested > clock.now() + timedelta(days=7)
    (send,) = _sends(ctx, drafted)
    assert send.not_before == suggested
    sender = outbox_sender(ctx)
    clock.set(suggested - timedelta(seconds=1))
    assert drain(sender) == 0
    clock.set(suggested)
    assert drain(sender) == 1


def test_postal_address_footer_comes_from_settings(ctx: AppContext) -> None:
    ctx.settings.mail_postal_address = "Acme Ltd, 1 Main Street, Springfield"
    drafted = seed_drafts(ctx, 1, approve=True)
    drain(outbox_sender(ctx))
    (send,) = _sends(ctx, drafted)
    assert send.message_id is not None
    text = _eml(ctx, send.message_id).read_text()
    assert "Acme Ltd, 1 Main Street, Springfield" in text


def test_an_approval_can_be_taken_back_until_the_send_starts(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted = seed_drafts(ctx, 2, config={"businessHoursOnly": False, "undoDelaySeconds": 60})
    _approve_all(ctx, drafted)
    first, second = drafted.draft_ids
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = review.undo_approval(session, ctx.clock, first, None)
        assert draft.status == "pending_approval"
        assert draft.approval_hash is None
    clock.advance(timedelta(seconds=61))
    sender = outbox_sender(ctx)
    assert sender.claim_due() != []
    with (
        pytest.raises(Conflict, match="already on its way"),
        workspace_session(ctx.session_factory, drafted.workspace_id) as session,
    ):
        review.undo_approval(session, ctx.clock, second, None)
    statuses = {s.draft_id: s.status for s in _sends(ctx, drafted)}
    assert statuses == {second: "claimed"}


def test_a_message_changed_after_approval_is_not_sent(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 1, approve=True)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(
            update(OutreachDraft)
            .where(OutreachDraft.id == drafted.draft_ids[0])
            .values(message_body="Something nobody approved")
        )
    drain(outbox_sender(ctx))
    (send,) = _sends(ctx, drafted)
    assert send.status == "failed"
    assert send.last_error == "the message differs from what was approved"
    assert not list(outbox_dir(ctx.settings).glob("*.eml"))


def test_suppression_is_checked_again_at_send(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 2, approve=True)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        suppression.add(session, ctx.clock, "domain", "helix.example", "manual")
    drain(outbox_sender(ctx))
    sends = _sends(ctx, drafted)
    assert {s.status for s in sends} == {"cancelled"}
    assert all("suppressed" in (s.last_error or "") for s in sends)
    assert not list(outbox_dir(ctx.settings).glob("*.eml"))


def test_sends_wait_for_the_window_in_the_recipients_time_zone(
    ctx: AppContext, clock: ManualClock
) -> None:
    # Saturday 7 March 2026, 10:00 UTC.
    clock.set(datetime(2026, 3, 7, 10, 0, tzinfo=UTC))
    drafted = seed_drafts(
        ctx, 1, config={"businessHoursOnly": True, "undoDelaySeconds": 0}, approve=True
    )
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(update(Contact).values(timezone="America/New_York"))
    sender = outbox_sender(ctx)
    assert drain(sender) == 0
    (send,) = _sends(ctx, drafted)
    # Monday 9:00 in New York is 14:00 UTC (before the DST change of 8 March: EST).
    assert send.status == "queued"
    assert send.not_before == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 9, 13, 0, tzinfo=UTC))
    assert drain(sender) == 1


def test_paused_agent_sends_nothing_until_resumed(ctx: AppContext, clock: ManualClock) -> None:
    drafted = seed_drafts(ctx, 1, approve=True)
    agent_id = drafted.seeded.agents["outreach"]
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(update(Agent).where(Agent.id == agent_id).values(paused_at=clock.now()))
    sender = outbox_sender(ctx)
    drain(sender)
    assert _sends(ctx, drafted)[0].status == "queued"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(update(Agent).where(Agent.id == agent_id).values(paused_at=None))
    clock.advance(timedelta(minutes=2))
    drain(sender)
    assert _sends(ctx, drafted)[0].status == "sent"


def test_mailbox_cap_holds_over_a_rolling_day(ctx: AppContext, clock: ManualClock) -> None:
    ctx.settings.mail_daily_cap = 3
    drafted = seed_drafts(ctx, 5, approve=True)
    sender = outbox_sender(ctx)
    drain(sender)
    statuses = sorted(s.status for s in _sends(ctx, drafted))
    assert statuses == ["queued", "queued", "sent", "sent", "sent"]
    waiting = [s for s in _sends(ctx, drafted) if s.status == "queued"]
    assert {s.not_before for s in waiting} == {clock.now() + timedelta(hours=24)}
    clock.advance(timedelta(hours=23))
    assert drain(sender) == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert drain(sender) == 2


def test_agent_max_daily_outreach_caps_sending(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 4, config={**OPEN_WINDOW, "maxDailyOutreach": 2}, approve=True)
    drain(outbox_sender(ctx))
    assert sorted(s.status for s in _sends(ctx, drafted)) == ["queued", "queued", "sent", "sent"]


def test_twenty_concurrent_approvals_of_one_draft_make_one_send(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 1)
    draft_id = drafted.draft_ids[0]
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def approve() -> None:
        barrier.wait()
        try:
            with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
                review.approve(session, ctx.clock, draft_id, None)
            result = "approved"
        except Conflict:
            result = "conflict"
        except Exception as exc:  # a lost race must surface as Conflict, nothing else
            result = f"error: {exc!r}"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=approve) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(outcomes)) == ["approved", "conflict"]
    assert outcomes.count("approved") == 1
    drain(outbox_sender(ctx))
    sends = _sends(ctx, drafted)
    assert [s.status for s in sends] == ["sent"]
    assert len(list(outbox_dir(ctx.settings).glob("*.eml"))) == 1


def test_lapsed_claims_are_requeued_and_lapsed_attempts_reconciled(
    ctx: AppContext, clock: ManualClock
) -> None:
    ctx.settings.mail_reconcile_delay_seconds = 0
    drafted = seed_drafts(ctx, 3, approve=True)
    crashed = outbox_sender(ctx, worker="crashed")
    claimed = crashed.claim_due()
    assert len(claimed) == 3
    # One attempt completed (the file is in the outbox) and one started but never wrote
    # anything before the worker died; the third was only claimed.
    done_id, lost_id, _ = claimed
    crashed.send_one(done_id)
    prepared = crashed._prepare(lost_id)
    assert prepared is not None
    assert not isinstance(prepared, str)
    with system_session(ctx.session_factory) as session:
        # As if the worker died after the outbox write but before recording it.
        session.execute(
            update(Send)
            .where(Send.id == done_id)
            .values(
                status="in_flight",
                sent_at=None,
                claimed_by="crashed",
                lease_expires_at=clock.now() + timedelta(minutes=2),
            )
        )
    clock.advance(timedelta(minutes=3))
    survivor = outbox_sender(ctx, worker="survivor")
    assert survivor.sweep() == 3
    drain(survivor)
    sends = _sends(ctx, drafted)
    assert [s.status for s in sends] == ["sent", "sent", "sent"]
    files = list(outbox_dir(ctx.settings).glob("*.eml"))
    assert sorted(f.name for f in files) == sorted(
        outbox_filename(s.message_id or "") for s in sends
    )


def _smtp_settings(ctx: AppContext, port: int) -> Settings:
    return ctx.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
    )


def _smtp_sender(ctx: AppContext, settings: Settings) -> Sender:
    return Sender(
        factory=ctx.session_factory,
        clock=ctx.clock,
        settings=settings,
        transport=transport_from_settings(settings),
        worker="smtp-sender",
    )


def test_smtp_hang_up_after_body_without_imap_needs_review_then_resolves(
    ctx: AppContext, clock: ManualClock
) -> None:
    sink = MailSink(drop_after_body=lambda _: True)
    drafted = seed_drafts(ctx, 1, approve=True)
    with smtp_server(sink) as server:
        settings = _smtp_settings(ctx, server.port)
        sender = _smtp_sender(ctx, settings)
        drain(sender)
        (send,) = _sends(ctx, drafted)
        assert send.status == "unknown"
        clock.advance(timedelta(seconds=31))
        drain(sender)
        (send,) = _sends(ctx, drafted)
        assert send.status == "needs_review"
        assert len(sink.message_ids) == 1
        with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
            sending.resolve(session, ctx.clock, send.id, "sent", None)
        (send,) = _sends(ctx, drafted)
        assert send.status == "sent"
        # Nothing was sent again by the machine.
        assert len(sink.message_ids) == 1


def test_smtp_refusal_of_the_recipient_fails_and_suppresses(ctx: AppContext) -> None:
    class Refuse:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            return "550 5.1.1 no such user"

    drafted = seed_drafts(ctx, 1, approve=True)
    with smtp_server(Refuse()) as server:
        drain(_smtp_sender(ctx, _smtp_settings(ctx, server.port)))
    (send,) = _sends(ctx, drafted)
    assert send.status == "failed"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        assert suppression.is_suppressed(session, send.recipient) is not None
        contact = session.get(Contact, send.contact_id)
        assert contact is not None
        assert contact.email_status == "invalid"


def test_smtp_temporary_failure_retries_later_with_the_same_message_id(
    ctx: AppContext, clock: ManualClock
) -> None:
    class Busy:
        def __init__(self) -> None:
            self.calls = 0
            self.ids: list[str] = []

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            self.calls += 1
            self.ids.append(str(message_from_bytes(envelope.content)["Message-ID"]))
            return "451 4.3.0 try later" if self.calls == 1 else "250 OK"

    handler = Busy()
    drafted = seed_drafts(ctx, 1, approve=True)
    with smtp_server(handler) as server:
        sender = _smtp_sender(ctx, _smtp_settings(ctx, server.port))
        drain(sender)
        (send,) = _sends(ctx, drafted)
        assert send.status == "retry_wait"
        assert send.started_at is None
        clock.advance(timedelta(hours=1))
        drain(sender)
    (send,) = _sends(ctx, drafted)
    assert send.status == "sent"
    assert handler.ids == [send.message_id, send.message_id]


def test_linkedin_drafts_become_tasks_marked_sent_by_hand(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 1)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        draft = session.get(OutreachDraft, drafted.draft_ids[0])
        assert draft is not None
        draft.channel = "linkedin"
        draft.recipient = "https://www.linkedin.com/in/person-0"
    _approve_all(ctx, drafted)
    drain(outbox_sender(ctx))
    (send,) = _sends(ctx, drafted)
    assert send.status == "manual"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        sending.mark_manual_sent(session, ctx.clock, drafted.draft_ids[0], None)
        with pytest.raises(Conflict):
            sending.mark_manual_sent(session, ctx.clock, drafted.draft_ids[0], None)
    (send,) = _sends(ctx, drafted)
    assert send.status == "sent"
    assert not list(outbox_dir(ctx.settings).glob("*.eml"))


def test_sends_never_cross_workspaces(ctx: AppContext) -> None:
    mine = seed_drafts(ctx, 1, slug="mine", approve=True)
    theirs = seed_drafts(ctx, 1, slug="theirs")
    with workspace_session(ctx.session_factory, theirs.workspace_id) as session:
        assert session.scalar(select(func.count(Send.id))) == 0
        with pytest.raises(NotFound, match="send not found"):
            sending.resolve(session, ctx.clock, _sends(ctx, mine)[0].id, "sent", None)
