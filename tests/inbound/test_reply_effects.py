"""What incoming mail does: replies stop follow-ups and count, absences pause them, bounces
and unsubscribes suppress; each message acts once, however often it arrives."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select

from cctest.outreach import Drafted, outbox_sender, seed_drafts
from commandcentre.agents.models import AgentMessage, AgentMetrics
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.followups.models import FollowUp
from commandcentre.inbound import process
from commandcentre.inbound.models import InboundMessage
from commandcentre.intel.models import Contact
from commandcentre.outreach import review, suppression
from commandcentre.outreach.models import Send


def _sent(ctx: AppContext) -> tuple[Drafted, Send]:
    drafted = seed_drafts(ctx, 2, config={"businessHoursOnly": False, "undoDelaySeconds": 0})
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        review.approve(session, ctx.clock, drafted.draft_ids[0], None)
    pumps = Pumps(ctx.session_factory, ctx.clock, "w", sends=outbox_sender(ctx))
    for _ in range(3):
        pumps.process_sends()
        pumps.process_messages()
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        send = session.scalars(select(Send).where(Send.status == "sent")).one()
    return drafted, send


def _mail(sender: str, subject: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "outreach@example.com"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.helix.example")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def _ingest(ctx: AppContext, drafted: Drafted, raw: bytes) -> tuple[InboundMessage, bool]:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        return process.ingest_raw(session, ctx.clock, raw, "webhook")


def _followups(ctx: AppContext, drafted: Drafted) -> list[str]:
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        return sorted(s for (s,) in session.execute(select(FollowUp.status)))


def test_a_reply_in_the_thread_stops_follow_ups_once_and_counts(
    ctx: AppContext, clock: ManualClock
) -> None:
    drafted, send = _sent(ctx)
    assert _followups(ctx, drafted) == ["scheduled"] * 3
    clock.advance(timedelta(hours=5))
    raw = _mail(
        send.recipient,
        f"Re: {send.subject}",
        "Happy to meet, Tuesday works.\n\nOn Monday you wrote:\n> hello",
        In_Reply_To=send.message_id or "",
        References=send.message_id or "",
    )
    row, created = _ingest(ctx, drafted, raw)
    assert created
    assert (row.classification, row.status, row.sentiment) == ("reply", "processed", "positive")
    again, created_again = _ingest(ctx, drafted, raw)
    assert not created_again
    assert again.id == row.id
    assert _followups(ctx, drafted) == ["cancelled"] * 3
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        contact = session.get(Contact, send.contact_id)
        assert contact is not None
        assert contact.outreach_status == "replied"
        metrics = session.scalars(
            select(AgentMetrics).where(AgentMetrics.agent_id == drafted.seeded.agents["outreach"])
        ).one()
        assert metrics.responses_received == 1
        assert metrics.total_response_seconds == 5 * 3600
        lead = session.scalars(
            select(AgentMessage).where(
                AgentMessage.to_agent_id == drafted.seeded.agents["planning"]
            )
        ).one()
    assert lead.payload["kind"] == "warm_lead"


def test_our_own_sent_copy_is_not_a_reply(ctx: AppContext) -> None:
    drafted, send = _sent(ctx)
    raw = _mail("outreach@example.com", send.subject, "the message we sent")
    raw = raw.replace(
        raw.split(b"Message-ID: ")[1].split(b"\n")[0], (send.message_id or "").encode()
    )
    row, _ = _ingest(ctx, drafted, raw)
    assert row.status == "processed"
    assert row.reason == "our own sent message, not a reply"
    assert _followups(ctx, drafted) == ["scheduled"] * 3


def test_out_of_office_pauses_follow_ups_until_after_the_return_date(ctx: AppContext) -> None:
    drafted, send = _sent(ctx)
    raw = _mail(
        send.recipient,
        "Automatic reply: out of office",
        "I am out of the office until 20 March 2026 with limited access to email.",
        Auto_Submitted="auto-replied",
        In_Reply_To=send.message_id or "",
    )
    row, _ = _ingest(ctx, drafted, raw)
    assert row.classification == "out_of_office"
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        contact = session.get(Contact, send.contact_id)
        assert contact is not None
        assert contact.followups_paused_until is not None
        assert contact.followups_paused_until.date().isoformat() == "2026-03-23"
    assert _followups(ctx, drafted) == ["scheduled"] * 3


def test_an_unsubscribe_reply_suppresses_and_stops_everything(ctx: AppContext) -> None:
    drafted, send = _sent(ctx)
    raw = _mail(
        send.recipient,
        f"Re: {send.subject}",
        "Please unsubscribe me.",
        In_Reply_To=send.message_id or "",
    )
    row, _ = _ingest(ctx, drafted, raw)
    assert row.classification == "unsubscribe"
    assert _followups(ctx, drafted) == ["cancelled"] * 3
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        assert suppression.is_suppressed(session, send.recipient) is not None
        contact = session.get(Contact, send.contact_id)
        assert contact is not None
        assert contact.outreach_status == "do_not_contact"


def test_a_hard_bounce_marks_the_address_invalid(ctx: AppContext) -> None:
    drafted, send = _sent(ctx)
    report = (
        "From: MAILER-DAEMON@mx.helix.example\r\n"
        "To: outreach@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.helix.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\n"
        "Your message could not be delivered.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.helix.example\r\n\r\n"
        f"Final-Recipient: rfc822; {send.recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
        "--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {send.message_id}\r\nSubject: {send.subject}\r\n"
        "--b1--\r\n"
    ).encode()
    row, _ = _ingest(ctx, drafted, report)
    assert row.classification == "bounce_hard"
    assert row.status == "processed"
    assert _followups(ctx, drafted) == ["cancelled"] * 3
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        contact = session.get(Contact, send.contact_id)
        assert contact is not None
        assert contact.email_status == "invalid"
        assert suppression.is_suppressed(session, send.recipient) is not None


def test_mail_that_matches_no_outreach_is_quarantined_with_a_reason(ctx: AppContext) -> None:
    drafted, _ = _sent(ctx)
    row, _ = _ingest(ctx, drafted, _mail("stranger@else.example", "Hello", "Who are you?"))
    assert row.status == "quarantined"
    assert "no outreach of ours matches it" in (row.reason or "")


def test_a_reply_matched_by_sender_and_subject_without_thread_headers(ctx: AppContext) -> None:
    drafted, send = _sent(ctx)
    row, _ = _ingest(ctx, drafted, _mail(send.recipient.upper(), f"RE: {send.subject}", "Sure."))
    assert row.status == "processed"
    assert "sender and subject" in (row.reason or "")
    assert row.matched_send_id == send.id


def test_marking_a_contact_replied_by_hand_stops_follow_ups(ctx: AppContext) -> None:
    drafted, send = _sent(ctx)
    assert send.contact_id is not None
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        process.mark_replied(session, ctx.clock, send.contact_id, None, note="Met at the booth")
    assert _followups(ctx, drafted) == ["cancelled"] * 3
