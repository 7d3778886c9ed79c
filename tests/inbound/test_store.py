"""Recording inbound mail: once per workspace however often it arrives, whatever its shape."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from cctest.databases import Database
from cctest.dovecot import make_message, workspace_with_mailbox
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.inbound.models import InboundMessage
from commandcentre.inbound.store import BODY_TEXT_LIMIT, parse_fields, record_raw

REPLY = make_message(
    message_id="<reply-1@customer.example>",
    in_reply_to="<out-1@example.com>",
    references="<out-0@example.com> <out-1@example.com>",
    body="Sounds good.\r\nPat",
)


def _rows(ctx: AppContext) -> list[InboundMessage]:
    with system_session(ctx.session_factory) as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.created_at)))


def test_the_same_message_twice_is_one_row_with_its_fields(ctx: AppContext) -> None:
    workspace_id, mailbox_id = workspace_with_mailbox(ctx.session_factory, "acme")
    with workspace_session(ctx.session_factory, workspace_id) as session:
        first, created = record_raw(session, ctx.clock, REPLY, "imap", mailbox_id)
    with workspace_session(ctx.session_factory, workspace_id) as session:
        again, created_again = record_raw(session, ctx.clock, REPLY, "webhook")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    [row] = _rows(ctx)
    assert row.source == "imap"  # the first arrival is what is kept
    assert row.mailbox_id == mailbox_id
    assert row.status == "pending"
    assert row.dedupe_key == "<reply-1@customer.example>"
    assert row.message_id_header == "<reply-1@customer.example>"
    assert row.in_reply_to == "<out-1@example.com>"
    assert row.references == "<out-0@example.com> <out-1@example.com>"
    assert row.from_address == "pat@customer.example"
    assert row.subject == "Re: Your talk at Robotics Summit"
    assert row.body_text == "Sounds good.\nPat"
    assert row.received_at == ctx.clock.now()


def test_without_a_message_id_the_exact_bytes_decide(ctx: AppContext) -> None:
    workspace_id, _ = workspace_with_mailbox(ctx.session_factory, "acme")
    plain = make_message(body="no id here")
    other = make_message(body="no id here either")
    with workspace_session(ctx.session_factory, workspace_id) as session:
        results = [
            record_raw(session, ctx.clock, raw, "manual")[1] for raw in (plain, plain, other)
        ]
    assert results == [True, False, True]
    keys = [row.dedupe_key for row in _rows(ctx)]
    assert len(keys) == 2
    assert all(key.startswith("sha256:") for key in keys)


def test_each_workspace_keeps_its_own_copy(ctx: AppContext) -> None:
    first, _ = workspace_with_mailbox(ctx.session_factory, "acme")
    second, _ = workspace_with_mailbox(ctx.session_factory, "rival")
    for workspace_id in (first, second, first):
        with workspace_session(ctx.session_factory, workspace_id) as session:
            record_raw(session, ctx.clock, REPLY, "webhook")
    assert sorted(str(r.workspace_id) for r in _rows(ctx)) == sorted([str(first), str(second)])


MALFORMED = [
    b"",
    b"\x00\x01\x02 not mail at all \xff\xfe",
    b"Subject: =?utf-8?q?broken=ZZ?= =?unknown-charset?b?AAAA?=\r\n\r\nbody\x00with NUL\r\n",
    b"From: <<<@@@>>>\r\nTo: ,,,;;;\r\nMessage-ID: \r\n\r\nbody",
    b"Subject: \xe9t\xe9 latin-1\r\nContent-Type: text/plain; charset=bogus-9\r\n\r\n\xe9\xff",
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",  # never closed
    b"no colon header line\r\nanother\r\n\r\nbody",
    b"Message-ID: <" + b"x" * 2000 + b"@example.com>\r\nSubject: long id\r\n\r\nbody",
    b"Subject: " + b"s" * 5000 + b"\r\nReferences: " + b"<r@x> " * 5000 + b"\r\n\r\nbody",
    b"Content-Type: text/html\r\n\r\n<html><style>p{}</style><p>Hello&nbsp;<b>there</b></p>",
    b"Subject: big\r\n\r\n" + b"line of text\r\n" * 20_000,
]


@pytest.mark.parametrize("raw", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_mail_is_stored_with_what_could_be_read(ctx: AppContext, raw: bytes) -> None:
    workspace_id, _ = workspace_with_mailbox(ctx.session_factory, "acme")
    with workspace_session(ctx.session_factory, workspace_id) as session:
        row, created = record_raw(session, ctx.clock, raw, "webhook")
    assert created
    [stored] = _rows(ctx)
    assert stored.id == row.id
    assert len(stored.dedupe_key) <= 500
    for value in (stored.subject, stored.body_text, stored.from_address, stored.references):
        assert value is None or "\x00" not in value
    assert stored.body_text is None or len(stored.body_text) <= BODY_TEXT_LIMIT


def test_html_only_mail_keeps_its_text_and_big_bodies_are_cut() -> None:
    html_mail = parse_fields(MALFORMED[9])
    assert html_mail.body_text is not None
    assert "Hello" in html_mail.body_text
    assert "there" in html_mail.body_text
    assert "<b>" not in html_mail.body_text
    assert "p{}" not in html_mail.body_text
    big = parse_fields(MALFORMED[10])
    assert big.body_text is not None
    assert len(big.body_text) == BODY_TEXT_LIMIT
    # An ID longer than any real one is not an ID: the exact bytes decide instead.
    long_id = parse_fields(MALFORMED[7])
    assert long_id.message_id is None
    assert long_id.dedupe_key == "sha256:" + hashlib.sha256(MALFORMED[7]).hexdigest()


header_names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Content-Type"]
)
header_lines = st.tuples(header_names, st.binary(max_size=80)).map(
    lambda pair: pair[0].encode() + b": " + pair[1]
)
messages = st.one_of(
    st.binary(max_size=500),
    st.tuples(st.lists(header_lines, max_size=8), st.binary(max_size=200)).map(
        lambda parts: b"\r\n".join(parts[0]) + b"\r\n\r\n" + parts[1]
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=messages)
def test_reading_fields_never_raises(raw: bytes) -> None:
    fields = parse_fields(raw)
    assert fields.dedupe_key
    assert len(fields.dedupe_key) <= 500
    for value in (fields.subject, fields.body_text, fields.message_id, fields.in_reply_to):
        assert value is None or "\x00" not in value


WAITING_LOCKS = text("SELECT count(*) FROM pg_locks WHERE NOT granted")


def _record_in_thread(
    ctx: AppContext,
    workspace_id: uuid.UUID,
    results: list[Any],
    before_commit: Callable[[], object] | None = None,
    before_start: Callable[[], object] | None = None,
) -> threading.Thread:
    def run() -> None:
        try:
            if before_start is not None:
                before_start()
            with workspace_session(ctx.session_factory, workspace_id) as session:
                row, created = record_raw(session, ctx.clock, REPLY, "imap")
                if before_commit is not None:
                    before_commit()
            results.append((row.id, created))
        except BaseException as exc:  # reported by the test, not lost in the thread
            results.append(exc)

    return threading.Thread(target=run)


def test_two_threads_racing_store_one_row(ctx: AppContext) -> None:
    workspace_id, _ = workspace_with_mailbox(ctx.session_factory, "acme")
    results: list[Any] = []
    barrier = threading.Barrier(2)
    threads = []
    for _ in range(2):
        threads.append(_record_in_thread(ctx, workspace_id, results, before_start=barrier.wait))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(created for _id, created in results) == [False, True]
    assert len({row_id for row_id, _ in results}) == 1
    assert len(_rows(ctx)) == 1


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_second_insert_waits_for_the_first_and_returns_its_row(
    ctx: AppContext, database: Database, clock: ManualClock
) -> None:
    """Forces the race on PostgreSQL: the second insert runs while the first is uncommitted."""
    workspace_id, _ = workspace_with_mailbox(ctx.session_factory, "acme")
    inserted = threading.Event()
    release = threading.Event()
    results: list[Any] = []

    def hold_open() -> None:
        inserted.set()
        release.wait(60)

    first = _record_in_thread(ctx, workspace_id, results, before_commit=hold_open)
    second = _record_in_thread(ctx, workspace_id, results)
    first.start()
    assert inserted.wait(60), "the first insert never ran"
    second.start()
    # The second insert must be blocked on the first one's row lock before we let go.
    with database.engine.connect() as conn:
        waiting = 0
        for _ in range(6000):
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            ).scalar_one()
            if waiting:
                break
            threading.Event().wait(0.01)
    assert waiting, "the second insert never waited for the first"
    release.set()
    first.join()
    second.join()
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert [created for _id, created in results] == [True, False]
    assert results[0][0] == results[1][0]
    with system_session(ctx.session_factory) as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
