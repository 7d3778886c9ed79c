"""Reply polling against a real Dovecot: what is found, what is left untouched, where it lands,
and that a poller killed at any moment still records every message exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cctest.databases import Database
from cctest.dovecot import (
    SENT_FOLDER,
    MailUser,
    make_message,
    workspace_with_mailbox,
)
from cctest.outreach import OPEN_WINDOW, outbox_sender, seed_drafts
from commandcentre.agents.models import AgentMetrics
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import Clock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.followups.models import FollowUp
from commandcentre.inbound import process
from commandcentre.inbound.imap import (
    ImapConnection,
    PollResult,
    _as_int32,
    find_sent_copy,
    open_connection,
    poll_folder,
)
from commandcentre.inbound.models import ImapCheckpoint, InboundMessage
from commandcentre.inbound.poller import poll_once
from commandcentre.inbound.store import Source, record_raw
from commandcentre.intel.models import Contact
from commandcentre.outreach.models import Mailbox, OutreachDraft, Send


@pytest.fixture
def imap_ctx(ctx: AppContext, mail_user: MailUser) -> AppContext:
    """The test context pointed at a fresh account on the test Dovecot."""
    return AppContext(
        settings=ctx.settings.model_copy(update=mail_user.settings()),
        engine=ctx.engine,
        session_factory=ctx.session_factory,
        clock=ctx.clock,
    )


@pytest.fixture
def conn(mail_user: MailUser) -> Iterator[ImapConnection]:
    with open_connection(mail_user.account) as connection:
        yield connection


def _poll(
    ctx: AppContext,
    conn: ImapConnection,
    workspace_id: uuid.UUID,
    mailbox_id: uuid.UUID,
    folder: str = "INBOX",
    batch_size: int = 3,
) -> PollResult:
    def store(session: Session, raw: bytes) -> bool:
        return record_raw(session, ctx.clock, raw, "imap", mailbox_id)[1]

    return poll_folder(
        conn,
        folder,
        factory=ctx.session_factory,
        workspace_id=workspace_id,
        mailbox_id=mailbox_id,
        store=store,
        batch_size=batch_size,
    )


def _stored(ctx: AppContext) -> list[InboundMessage]:
    with system_session(ctx.session_factory) as session:
        return list(session.scalars(select(InboundMessage)))


def _ids(ctx: AppContext) -> list[str | None]:
    return sorted((r.message_id_header for r in _stored(ctx)), key=str)


def _checkpoint(ctx: AppContext, folder: str = "INBOX") -> ImapCheckpoint:
    with system_session(ctx.session_factory) as session:
        return session.scalars(select(ImapCheckpoint).where(ImapCheckpoint.folder == folder)).one()


def test_new_messages_are_found_and_left_unread_and_polling_resumes(
    imap_ctx: AppContext, mail_user: MailUser, conn: ImapConnection
) -> None:
    workspace_id, mailbox_id = workspace_with_mailbox(imap_ctx.session_factory, "acme")
    for n in range(7):
        mail_user.append(make_message(message_id=f"<m{n}@customer.example>"))

    first = _poll(imap_ctx, conn, workspace_id, mailbox_id)
    assert (first.fetched, first.stored, first.restarted) == (7, 7, False)
    assert _ids(imap_ctx) == sorted(f"<m{n}@customer.example>" for n in range(7))
    flags = mail_user.seen_flags()
    assert len(flags) == 7
    assert not any(flags.values()), "polling marked messages as read"
    assert _checkpoint(imap_ctx).last_uid == max(flags)

    # Nothing new: nothing is read again.
    assert _poll(imap_ctx, conn, workspace_id, mailbox_id).fetched == 0
    # A new connection (a restarted poller) resumes after the checkpoint.
    for n in range(7, 9):
        mail_user.append(make_message(message_id=f"<m{n}@customer.example>"))
    with open_connection(mail_user.account) as fresh:
        resumed = _poll(imap_ctx, fresh, workspace_id, mailbox_id)
    assert (resumed.fetched, resumed.stored) == (2, 2)
    assert len(_stored(imap_ctx)) == 9
    assert not any(mail_user.seen_flags().values())


def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(
    imap_ctx: AppContext, mail_user: MailUser
) -> None:
    workspace_id, mailbox_id = workspace_with_mailbox(imap_ctx.session_factory, "acme")
    folder = "Replies"
    old = [make_message(message_id=f"<old{n}@customer.example>") for n in range(3)]
    with mail_user.client() as admin:
        admin.create_folder(folder)
        for raw in old:
            admin.append(folder, raw)
    with mail_user.client() as conn:
        assert _poll(imap_ctx, conn, workspace_id, mailbox_id, folder).stored == 3
    before = _checkpoint(imap_ctx, folder)

    # Recreating a folder gives it a new UIDVALIDITY; the same UIDs now name other messages.
    with mail_user.client() as admin:
        admin.delete_folder(folder)
        admin.create_folder(folder)
        admin.append(folder, make_message(message_id="<new0@customer.example>"))
        for raw in old:
            admin.append(folder, raw)

    with mail_user.client() as conn:
        result = _poll(imap_ctx, conn, workspace_id, mailbox_id, folder)
    after = _checkpoint(imap_ctx, folder)
    assert after.uidvalidity != before.uidvalidity
    assert result.restarted
    assert (result.fetched, result.stored) == (4, 1)
    assert after.last_uid == 4
    assert len(_stored(imap_ctx)) == 4
    assert "<new0@customer.example>" in _ids(imap_ctx)


def test_sent_folder_lookup(imap_ctx: AppContext, mail_user: MailUser) -> None:
    sent_id = f"<{uuid.uuid4().hex}@example.com>"
    mail_user.append(make_message(message_id=sent_id, subject="Your talk"), SENT_FOLDER)
    # A longer ID containing the wanted one must not count as a match.
    mail_user.append(make_message(message_id=sent_id[:-1] + ".x>"), SENT_FOLDER)
    settings = imap_ctx.settings
    assert find_sent_copy(settings, sent_id) is True
    assert find_sent_copy(settings, f"<{uuid.uuid4().hex}@example.com>") is False
    assert find_sent_copy(settings, sent_id[:-5] + ">") is False
    assert not any(mail_user.seen_flags(SENT_FOLDER).values())
    # Cannot tell: no IMAP, a missing folder, a closed port, a wrong password, a bad ID.
    assert find_sent_copy(settings.model_copy(update={"imap_host": ""}), sent_id) is None
    assert find_sent_copy(settings, sent_id, folder="No Such Folder") is None
    closed = settings.model_copy(update={"imap_port": _closed_port()})
    assert find_sent_copy(closed, sent_id) is None
    wrong = settings.model_copy(update={"imap_password": SecretStr("wrong")})
    assert find_sent_copy(wrong, sent_id) is None
    assert find_sent_copy(settings, "not-a-message-id\r\nA1 LOGOUT") is None


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


def _send(ctx: AppContext, workspace_id: uuid.UUID, mailbox_id: uuid.UUID, message_id: str) -> None:
    now = ctx.clock.now()
    with workspace_session(ctx.session_factory, workspace_id) as session:
        contact = Contact(full_name="Pat Reply", name_key=f"pat|{uuid.uuid4().hex}")
        session.add(contact)
        session.flush()
        draft = OutreachDraft(
            contact_id=contact.id,
            recipient="pat@customer.example",
            subject="Your talk",
            message_body="Hello Pat",
            status="sent",
        )
        session.add(draft)
        session.flush()
        session.add(
            Send(
                draft_id=draft.id,
                mailbox_id=mailbox_id,
                contact_id=contact.id,
                recipient="pat@customer.example",
                subject="Your talk",
                message_id=message_id,
                approval_hash="0" * 64,
                status="sent",
                not_before=now - timedelta(days=1),
                sent_at=now - timedelta(days=1),
            )
        )


def _bounce(original_id: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
        "To: outreach@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.customer.example>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe address was not found.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
        "Final-Recipient: rfc822; gone@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: outreach@example.com\r\nTo: gone@customer.example\r\nMessage-ID: {original_id}\r\n"
        "--B--\r\n"
    ).encode()


def test_poll_once_files_each_message_in_the_workspace_it_belongs_to(
    imap_ctx: AppContext, mail_user: MailUser
) -> None:
    factory = imap_ctx.session_factory
    acme, acme_box = workspace_with_mailbox(factory, "acme", "outreach@example.com")
    rival, rival_box = workspace_with_mailbox(factory, "rival", "outreach@example.com")
    # Rival also has its own address, used by no other workspace.
    with system_session(factory) as session:
        own = Mailbox(workspace_id=rival, name="Events", from_address="events@rival.example")
        session.add(own)
        session.flush()
        rival_own_box = own.id
    _send(imap_ctx, acme, acme_box, "<acme-out-1@example.com>")
    _send(imap_ctx, rival, rival_box, "<rival-out-1@example.com>")

    mail_user.append(
        make_message(message_id="<r1@c.example>", in_reply_to="<acme-out-1@example.com>")
    )
    mail_user.append(
        make_message(
            message_id="<r2@c.example>",
            references="<rival-out-1@example.com> <someone-elses@c.example>",
        )
    )
    mail_user.append(_bounce("<acme-out-1@example.com>"))
    mail_user.append(make_message(message_id="<r3@c.example>", to="events@rival.example"))
    # Answers nothing and goes to the address both workspaces share: nobody's to take.
    mail_user.append(make_message(message_id="<r4@c.example>"))

    assert poll_once(imap_ctx) == 4
    placed = {
        row.message_id_header: (row.workspace_id, row.mailbox_id) for row in _stored(imap_ctx)
    }
    assert placed == {
        "<r1@c.example>": (acme, acme_box),
        "<bounce-1@mx.customer.example>": (acme, acme_box),
        "<r2@c.example>": (rival, rival_box),
        "<r3@c.example>": (rival, rival_own_box),
    }
    # Both workspaces' checkpoints moved past everything, so the next poll reads nothing.
    with system_session(factory) as session:
        marks = session.scalars(select(ImapCheckpoint.last_uid)).all()
    assert sorted(marks) == [5, 5]
    assert poll_once(imap_ctx) == 0
    assert len(_stored(imap_ctx)) == 4
    assert not any(mail_user.seen_flags().values())


def test_poll_once_without_imap_or_mailboxes_does_nothing(
    ctx: AppContext, imap_ctx: AppContext, mail_user: MailUser
) -> None:
    mail_user.append(make_message(message_id="<x@c.example>"))
    assert poll_once(ctx) == 0  # no IMAP host configured
    assert poll_once(imap_ctx) == 0  # no workspace has a default mailbox yet
    workspace_with_mailbox(imap_ctx.session_factory, "acme")
    unreachable = AppContext(
        settings=imap_ctx.settings.model_copy(update={"imap_port": _closed_port()}),
        engine=imap_ctx.engine,
        session_factory=imap_ctx.session_factory,
        clock=imap_ctx.clock,
    )
    assert poll_once(unreachable) == 0  # logged, retried next tick
    assert poll_once(imap_ctx) == 1


CHILD = textwrap.dedent(
    """
    from commandcentre.context import AppContext
    from commandcentre.inbound import process
    from commandcentre.inbound.poller import poll_once
    from commandcentre.settings import Settings

    ctx = AppContext.from_settings(Settings(_env_file=None))
    print("ready", flush=True)
    while True:
        poll_once(ctx, batch_size=7, ingest=process.ingest_raw)
    """
)
CYCLES = 10
PER_CYCLE = 30


def _sent_with_followups(ctx: AppContext, people: int) -> list[Send]:
    """People written to, each with follow-ups scheduled: what replies must stop."""
    ctx.settings.mail_daily_cap = 10_000
    drafted = seed_drafts(
        ctx, people, config={**OPEN_WINDOW, "maxDailyOutreach": 1000}, approve=True
    )
    pumps = Pumps(ctx.session_factory, ctx.clock, "seed", sends=outbox_sender(ctx))
    pumps.drain(lambda: pumps.process_sends(100))
    pumps.drain(lambda: pumps.process_messages(100))
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        sends = list(session.scalars(select(Send).order_by(Send.recipient)))
        scheduled = session.scalars(select(FollowUp.id).where(FollowUp.status == "scheduled"))
        assert len(list(scheduled)) == 3 * people
    assert len(sends) == people
    return sends


def test_a_poller_killed_at_random_points_records_every_reply_once(
    imap_ctx: AppContext, mail_user: MailUser, database: Database, tmp_path: Path
) -> None:
    sends = _sent_with_followups(imap_ctx, CYCLES * PER_CYCLE)
    settings = imap_ctx.settings
    env = os.environ | {
        "COMMANDCENTRE_DATABASE_URL": database.url,
        "COMMANDCENTRE_DATA_DIR": str(tmp_path / "child"),
        "COMMANDCENTRE_SECRET_KEY": "test-secret",
        "COMMANDCENTRE_IMAP_HOST": settings.imap_host,
        "COMMANDCENTRE_IMAP_PORT": str(settings.imap_port),
        "COMMANDCENTRE_IMAP_USERNAME": settings.imap_username,
        "COMMANDCENTRE_IMAP_PASSWORD": settings.imap_password.get_secret_value(),
        "COMMANDCENTRE_IMAP_SSL": "false",
    }
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # Every fifth reply has no Message-ID, so re-reads are caught by the content hash too.
    expected = [
        make_message(
            message_id=None if n % 5 == 0 else f"<crash-{n}@customer.example>",
            sender=send.recipient,
            subject=f"Re: {send.subject}",
            body=f"reply number {n}: sounds good, let us talk",
            in_reply_to=send.message_id,
        )
        for n, send in enumerate(sends)
    ]
    kills = 0
    progress: list[int] = []  # rows stored when each poller died, for the failure message
    for cycle in range(CYCLES):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line == b"ready\n", child.stderr.read() if child.stderr else line
            chunk = expected[cycle * PER_CYCLE : (cycle + 1) * PER_CYCLE]
            appender = threading.Thread(target=_append_all, args=(mail_user, chunk))
            appender.start()
            threading.Event().wait(rng.uniform(0.0, 0.4))
            child.send_signal(signal.SIGKILL)
            appender.join()
        finally:
            child.kill()
            child.wait()
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
        kills += child.returncode == -signal.SIGKILL
        progress.append(len(_stored(imap_ctx)))

    context = f"seed {seed}, rows after each kill {progress}"
    assert kills == CYCLES, f"{context}: a poller exited on its own instead of being killed"
    poll_once(imap_ctx, ingest=process.ingest_raw)  # the restart after the last kill

    rows = _stored(imap_ctx)
    bodies = sorted(row.body_text or "" for row in rows)
    assert bodies == sorted(
        f"reply number {n}: sounds good, let us talk" for n in range(len(expected))
    ), context
    assert {(row.classification, row.status) for row in rows} == {("reply", "processed")}
    assert {row.matched_send_id for row in rows} == {send.id for send in sends}
    workspace_id = sends[0].workspace_id
    with workspace_session(imap_ctx.session_factory, workspace_id) as session:
        statuses = set(session.scalars(select(FollowUp.status)))
        replied = set(session.scalars(select(Contact.outreach_status)))
        responses = session.scalar(select(func.sum(AgentMetrics.responses_received)))
    assert statuses == {"cancelled"}, context
    assert replied == {"replied"}, context
    # Effects ran once per reply, however often a killed poller read it.
    assert responses == len(expected), context
    assert not any(mail_user.seen_flags().values())
    assert _checkpoint(imap_ctx).last_uid == len(expected)
    print(context)


def _append_all(mail_user: MailUser, messages: list[bytes]) -> None:
    with mail_user.client() as conn:
        for raw in messages:
            conn.append("INBOX", raw)


def test_poll_once_hands_each_new_message_to_the_ingest_step_once(
    imap_ctx: AppContext, mail_user: MailUser
) -> None:
    workspace_id, mailbox_id = workspace_with_mailbox(imap_ctx.session_factory, "acme")
    calls: list[tuple[str, uuid.UUID | None, bool]] = []

    def ingest(
        session: Session,
        clock: Clock,
        raw: bytes,
        source: Source,
        mailbox: uuid.UUID | None = None,
    ) -> tuple[InboundMessage, bool]:
        row, created = record_raw(session, clock, raw, source, mailbox)
        calls.append((source, mailbox, created))
        return row, created

    for n in range(3):
        mail_user.append(make_message(message_id=f"<i{n}@c.example>"))
    assert poll_once(imap_ctx, ingest=ingest) == 3
    assert poll_once(imap_ctx, ingest=ingest) == 0
    assert calls == [("imap", mailbox_id, True)] * 3
    assert {row.workspace_id for row in _stored(imap_ctx)} == {workspace_id}


def test_uidvalidity_above_the_signed_range_is_stored_losslessly() -> None:
    # IMAP allows any unsigned 32-bit UIDVALIDITY; the column is a signed 32-bit integer.
    values = [1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1]
    stored = [_as_int32(v) for v in values]
    assert all(-(1 << 31) <= s < (1 << 31) for s in stored)
    assert len(set(stored)) == len(values)


def test_replies_absences_bounces_and_unsubscribes_in_the_mailbox_are_classified(
    imap_ctx: AppContext, mail_user: MailUser
) -> None:
    sends = _sent_with_followups(imap_ctx, 4)
    reply, away, bounced, leaving = sends
    mail_user.append(
        make_message(
            message_id="<yes@customer.example>",
            sender=reply.recipient,
            subject=f"Re: {reply.subject}",
            body="Yes, happy to meet at the event.",
            in_reply_to=reply.message_id,
        )
    )
    mail_user.append(
        make_message(
            message_id="<away@customer.example>",
            sender=away.recipient,
            subject="Automatic reply: out of office",
            body="I am out of the office until 20 March 2026.",
            in_reply_to=away.message_id,
        )
    )
    mail_user.append(_bounce(bounced.message_id or ""))
    mail_user.append(
        make_message(
            message_id="<bye@customer.example>",
            sender=leaving.recipient,
            subject=f"Re: {leaving.subject}",
            body="Please remove me from your list.",
            in_reply_to=leaving.message_id,
        )
    )
    assert poll_once(imap_ctx, ingest=process.ingest_raw) == 4
    by_send = {row.matched_send_id: row for row in _stored(imap_ctx)}
    assert {k: (r.classification, r.status) for k, r in by_send.items()} == {
        reply.id: ("reply", "processed"),
        away.id: ("out_of_office", "processed"),
        bounced.id: ("bounce_hard", "processed"),
        leaving.id: ("unsubscribe", "processed"),
    }
    with workspace_session(imap_ctx.session_factory, reply.workspace_id) as session:
        waiting = set(
            session.scalars(select(FollowUp.contact_id).where(FollowUp.status == "scheduled"))
        )
    # Only the absent person's follow-ups still wait (paused until they are back).
    assert waiting == {away.contact_id}
    assert not any(mail_user.seen_flags().values())
