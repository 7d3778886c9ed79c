"""The send pump works a claimed batch at a time: one decision for the batch, then the
attempts, then one record; each send still gets exactly its own outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import func, select

from cctest.outreach import Drafted, drain, outbox_sender, seed_drafts
from commandcentre.agents.models import Agent, AgentMessage, AgentMetrics
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.outreach import suppression
from commandcentre.outreach.channels.email import (
    Channel,
    OutboxChannel,
    SendReceipt,
    outbox_filename,
)
from commandcentre.outreach.dispatch import Sender
from commandcentre.outreach.models import Send
from commandcentre.outreach.transport import outbox_dir, transport_from_settings


def _sends(ctx: AppContext, drafted: Drafted) -> list[Send]:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        return list(session.scalars(select(Send).order_by(Send.recipient)))


def _outbox(ctx: AppContext) -> list[str]:
    return sorted(path.name for path in outbox_dir(ctx.settings).glob("*.eml"))


def test_one_batch_cancels_the_suppressed_sends_the_rest_and_stops_at_the_cap(
    ctx: AppContext,
) -> None:
    ctx.settings.mail_daily_cap = 4
    drafted = seed_drafts(ctx, 7, approve=True)
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        suppression.add(session, ctx.clock, "email", "person2@helix.example", "unsubscribe")
    sender = outbox_sender(ctx)
    # The whole batch in one call; counted are the sends attempted or ended: 4 sent and
    # 1 cancelled (the 2 over the cap wait).
    assert sender.process(limit=20) == 5
    sends = _sends(ctx, drafted)
    by_status: dict[str, list[Send]] = {}
    for send in sends:
        by_status.setdefault(send.status, []).append(send)
    assert [s.recipient for s in by_status["cancelled"]] == ["person2@helix.example"]
    assert "suppressed" in (by_status["cancelled"][0].last_error or "")
    assert len(by_status["sent"]) == 4
    assert len(by_status["queued"]) == 2
    assert all(s.last_error == "the daily sending cap is reached" for s in by_status["queued"])
    # Each sent email is in the outbox once, under its recorded Message-ID; nothing else is.
    assert _outbox(ctx) == sorted(outbox_filename(s.message_id or "") for s in by_status["sent"])
    assert all(s.message_id is None for s in by_status["queued"] + by_status["cancelled"])
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        followup_id = session.scalar(select(Agent.id).where(Agent.agent_type == "followup"))
        told = session.scalars(
            select(AgentMessage).where(AgentMessage.to_agent_id == followup_id)
        ).all()
        assert sorted(str(m.payload["sendId"]) for m in told) == sorted(
            str(s.id) for s in by_status["sent"]
        )
        counted = session.scalar(select(func.sum(AgentMetrics.outreach_sent)))
        assert counted == 4
    # Nothing more goes out today, however often the pump runs.
    assert drain(sender) == 0
    assert len(_outbox(ctx)) == 4


def test_a_batch_over_the_workspace_maximum_sends_exactly_the_maximum(ctx: AppContext) -> None:
    drafted = seed_drafts(
        ctx,
        6,
        config={"businessHoursOnly": False, "undoDelaySeconds": 0, "maxDailyOutreach": 3},
        approve=True,
    )
    sender = outbox_sender(ctx)
    assert sender.process(limit=20) == 3
    assert sorted(s.status for s in _sends(ctx, drafted)) == ["queued"] * 3 + ["sent"] * 3
    assert len(_outbox(ctx)) == 3


@dataclass
class _SlowChannel:
    """The outbox, with each message taking `delay` of the (manual) clock; a sweep by
    another worker may run during each attempt."""

    inner: Channel
    clock: ManualClock
    delay: timedelta
    other: Sender | None = None
    swept: int = 0

    def send(self, message: EmailMessage) -> SendReceipt:
        self.clock.advance(self.delay)
        if self.other is not None:
            self.swept += self.other.sweep()
        return self.inner.send(message)


def _slow_sender(ctx: AppContext, clock: ManualClock, delay: timedelta) -> Sender:
    sender = outbox_sender(ctx)
    channel = _SlowChannel(sender.transport.channel, clock, delay, outbox_sender(ctx, "sweeper"))
    return replace(sender, transport=replace(sender.transport, channel=channel))


def test_sends_waiting_in_a_slow_batch_keep_their_leases(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted = seed_drafts(ctx, 4, approve=True)
    # Each attempt takes 60% of the lease: without renewals the third would lapse.
    sender = _slow_sender(ctx, clock, timedelta(minutes=2) * 0.6)
    assert sender.process(limit=20) == 4
    channel = sender.transport.channel
    assert isinstance(channel, _SlowChannel)
    assert channel.swept == 0
    sends = _sends(ctx, drafted)
    assert [s.status for s in sends] == ["sent"] * 4
    assert [s.attempts for s in sends] == [1] * 4
    assert _outbox(ctx) == sorted(outbox_filename(s.message_id or "") for s in sends)


def test_sends_whose_leases_were_taken_over_are_not_attempted_and_go_again_once(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted = seed_drafts(ctx, 3, approve=True)
    # The first attempt outlasts every lease: meanwhile the sweep makes all three unknown.
    sender = _slow_sender(ctx, clock, timedelta(minutes=5))
    sender.process(limit=20)
    channel = sender.transport.channel
    assert isinstance(channel, _SlowChannel)
    assert channel.swept == 3
    # Only the attempt under way reached the outbox, and its receipt still counts; the two
    # never attempted are back in the queue, with the Message-IDs they were given.
    assert len(_outbox(ctx)) == 1
    sends = _sends(ctx, drafted)
    assert sorted(s.status for s in sends) == ["queued", "queued", "sent"]
    assert all(s.message_id for s in sends)
    channel.other = None
    drain(outbox_sender(ctx, "survivor"))
    after = _sends(ctx, drafted)
    assert [s.status for s in after] == ["sent"] * 3
    assert [s.message_id for s in after] == [s.message_id for s in sends]
    assert _outbox(ctx) == sorted(outbox_filename(s.message_id or "") for s in after)


def test_a_receipt_settles_a_send_that_reconciliation_could_not(
    ctx: AppContext, clock: ManualClock
) -> None:
    """Without a way to look, reconciliation leaves a lapsed attempt to a person; the
    attempt's own receipt, recorded later, still settles it."""
    drafted = seed_drafts(ctx, 1, approve=True)
    sender = outbox_sender(ctx)
    no_lookup = replace(sender.transport, can_lookup=False, absence_is_proof=False)
    reconciler = replace(outbox_sender(ctx, "reconciler"), transport=no_lookup)

    @dataclass
    class _Stalled:
        inner: Channel

        def send(self, message: EmailMessage) -> SendReceipt:
            clock.advance(timedelta(minutes=5))
            reconciler.sweep()
            clock.advance(timedelta(seconds=ctx.settings.mail_reconcile_delay_seconds + 1))
            reconciler.reconcile()
            assert [s.status for s in _sends(ctx, drafted)] == ["needs_review"]
            return self.inner.send(message)

    stalled = replace(
        sender, transport=replace(sender.transport, channel=_Stalled(sender.transport.channel))
    )
    assert stalled.process() == 1
    assert [s.status for s in _sends(ctx, drafted)] == ["sent"]
    assert len(_outbox(ctx)) == 1


def test_every_attempt_starts_from_a_committed_in_flight_row_with_its_message_id(
    ctx: AppContext, clock: ManualClock
) -> None:
    """What makes a crash during the attempt recoverable: when a message is handed to the
    transport, its row is already in flight (seen from another session), leased, counted
    as an attempt, and carries the very Message-ID the message goes out with."""
    drafted = seed_drafts(ctx, 3, approve=True)
    sender = outbox_sender(ctx)
    seen: list[tuple[str, str | None, int, bool]] = []

    @dataclass
    class _Watching:
        inner: Channel

        def send(self, message: EmailMessage) -> SendReceipt:
            message_id = str(message["Message-ID"])
            with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
                row = session.scalars(select(Send).where(Send.message_id == message_id)).one()
                leased = row.lease_expires_at is not None and row.lease_expires_at > clock.now()
                seen.append((row.status, row.claimed_by, row.attempts, leased))
            return self.inner.send(message)

    watching = replace(
        sender, transport=replace(sender.transport, channel=_Watching(sender.transport.channel))
    )
    assert watching.process(limit=20) == 3
    assert seen == [("in_flight", "sender", 1, True)] * 3
    sends = _sends(ctx, drafted)
    assert [s.status for s in sends] == ["sent"] * 3
    assert all(s.mailbox_id is not None and s.started_at is not None for s in sends)
    assert _outbox(ctx) == sorted(outbox_filename(s.message_id or "") for s in sends)


def test_the_pump_claims_as_many_sends_as_its_transport_takes_at_a_time(ctx: AppContext) -> None:
    drafted = seed_drafts(ctx, 25, approve=True)
    sender = outbox_sender(ctx)
    smtp = transport_from_settings(ctx.settings.model_copy(update={"smtp_host": "mail.example"}))
    # A local outbox takes a large batch; SMTP, a connection per message, a smaller one.
    assert sender.transport.batch > 25 > smtp.batch

    slow = replace(sender, transport=replace(sender.transport, batch=10))
    pumps = Pumps(factory=ctx.session_factory, clock=ctx.clock, worker="w", sends=slow)
    assert pumps.process_sends() == 10
    assert len(_outbox(ctx)) == 10

    pumps = replace(pumps, sends=sender)
    assert pumps.process_sends() == 15
    assert {s.status for s in _sends(ctx, drafted)} == {"sent"}


@dataclass
class _FailingOne:
    """The outbox taking the batch at once, except that the disk fails for one message."""

    inner: OutboxChannel
    fail_to: str
    calls: int = 0

    def send(self, message: EmailMessage) -> SendReceipt:
        raise AssertionError("a batch channel is given the whole batch")

    def send_all(self, messages: Sequence[EmailMessage]) -> list[SendReceipt | Exception]:
        self.calls += 1
        kept = [m for m in messages if m["To"] != self.fail_to]
        written = iter(self.inner.send_all(kept))
        return [
            OSError("disk full") if m["To"] == self.fail_to else next(written) for m in messages
        ]


def test_a_batch_channel_gets_the_batch_at_once_and_a_failed_message_is_settled_alone(
    ctx: AppContext, clock: ManualClock
) -> None:
    ctx.settings.mail_reconcile_delay_seconds = 0
    drafted = seed_drafts(ctx, 4, approve=True)
    sender = outbox_sender(ctx)
    assert isinstance(sender.transport.channel, OutboxChannel)
    failing = _FailingOne(sender.transport.channel, "person1@helix.example")
    batch = replace(sender, transport=replace(sender.transport, channel=failing))

    assert batch.process(limit=20) == 4
    assert failing.calls == 1
    by_recipient = {s.recipient: s for s in _sends(ctx, drafted)}
    assert by_recipient.pop("person1@helix.example").status == "unknown"
    assert {s.status for s in by_recipient.values()} == {"sent"}
    assert len(_outbox(ctx)) == 3

    # The outbox shows it never left, so it goes again, once, under its Message-ID.
    drain(sender)
    sends = _sends(ctx, drafted)
    assert [s.status for s in sends] == ["sent"] * 4
    assert _outbox(ctx) == sorted(outbox_filename(s.message_id or "") for s in sends)


@dataclass
class _ShortAnswer:
    """A batch channel with a bug: it writes every message but reports on only the first."""

    inner: OutboxChannel

    def send(self, message: EmailMessage) -> SendReceipt:
        raise AssertionError("a batch channel is given the whole batch")

    def send_all(self, messages: Sequence[EmailMessage]) -> list[SendReceipt | Exception]:
        return self.inner.send_all(messages)[:1]


def test_a_batch_channel_that_miscounts_leaves_every_send_to_reconciliation(
    ctx: AppContext,
) -> None:
    ctx.settings.mail_reconcile_delay_seconds = 0
    drafted = seed_drafts(ctx, 3, approve=True)
    sender = outbox_sender(ctx)
    assert isinstance(sender.transport.channel, OutboxChannel)
    buggy = replace(
        sender, transport=replace(sender.transport, channel=_ShortAnswer(sender.transport.channel))
    )

    buggy.process(limit=20)
    assert {s.status for s in _sends(ctx, drafted)} == {"unknown"}

    # Each file is found in the outbox: sent, and none of them twice.
    drain(sender)
    sends = _sends(ctx, drafted)
    assert [s.status for s in sends] == ["sent"] * 3
    assert _outbox(ctx) == sorted(outbox_filename(s.message_id or "") for s in sends)
