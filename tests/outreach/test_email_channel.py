"""Email channels: the .eml outbox and SMTP against a real local aiosmtpd server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.policy import EmailPolicy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from commandcentre.outreach.channels import (
    Channel,
    OutboxChannel,
    SendOutcome,
    SmtpChannel,
)
from commandcentre.outreach.channels.email import (
    BatchChannel,
    SendReceipt,
    _wire_policy,
    outbox_filename,
)
from commandcentre.outreach.compose import compose_email

# Short enough to keep every test well under a second, long enough for a loaded CI box.
TIMEOUT = 0.5


def _message(**overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "from_address": "ana@agency.example",
        "from_name": "Ana",
        "to_address": "bob@conf.example",
        "subject": "Your talk",
        "body": "Hi Bob,\n.\nA line with only a dot above.\nAna",
        "message_id_domain": "mail.agency.example",
        "unsubscribe_url": "https://cc.example/u/" + "t0k3n" * 30,
        "unsubscribe_mailto": "unsubscribe@agency.example",
        "postal_address": "Agency Ltd, 1 Main Street",
        "now": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    }
    fields.update(overrides)
    return compose_email(**fields)


def _free_port() -> int:
    # aiosmtpd cannot take port=0 (its readiness probe would connect to port 0).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RecordingHandler:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 OK queued"


class RcptReplyHandler:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.data_calls = 0

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return self.reply

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.data_calls += 1
        return "250 OK"


class DataReplyHandler:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        return self.reply


class HangUpAfterDataHandler:
    """Receives the whole message, then drops the connection instead of answering."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.received.append(envelope.content)
        assert server.transport is not None
        server.transport.close()
        return "250 OK"


class SlowAfterDataHandler:
    """Receives the message but answers only after the client has given up."""

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(TIMEOUT * 3)
        return "250 OK"


ServerFactory = Callable[[object], Controller]


@pytest.fixture
def smtp_server() -> Iterator[ServerFactory]:
    started: list[Controller] = []

    def start(handler: object) -> Controller:
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


def _channel(controller: Controller) -> SmtpChannel:
    return SmtpChannel(controller.hostname, controller.port, timeout=TIMEOUT)


# ---------------------------------------------------------------------------------------
# SMTP


def test_sent_message_arrives_intact(smtp_server: ServerFactory) -> None:
    handler = RecordingHandler()
    controller = smtp_server(handler)
    message = _message()

    receipt = _channel(controller).send(message)

    assert receipt.outcome is SendOutcome.sent
    assert receipt.code == 250
    assert receipt.message_id == message["Message-ID"]
    [envelope] = handler.envelopes
    assert envelope.mail_from == "ana@agency.example"
    assert envelope.rcpt_tos == ["bob@conf.example"]
    assert isinstance(envelope.content, bytes)
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(received, EmailMessage)
    assert received["Message-ID"] == message["Message-ID"]
    assert received["List-Unsubscribe"] == message["List-Unsubscribe"]
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    content = received.get_content()
    assert isinstance(content, str)
    # The lone "." line was dot-stuffed in transit and restored by the server.
    assert "Hi Bob,\r\n.\r\nA line with only a dot above." in content


def test_bcc_goes_only_into_the_envelope(smtp_server: ServerFactory) -> None:
    handler = RecordingHandler()
    controller = smtp_server(handler)
    message = _message()
    message["Bcc"] = "audit@agency.example"

    assert _channel(controller).send(message).outcome is SendOutcome.sent

    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == ["bob@conf.example", "audit@agency.example"]
    assert isinstance(envelope.content, bytes)
    assert b"audit@agency.example" not in envelope.content
    assert message["Bcc"] == "audit@agency.example"


def test_refused_connection_is_retryable() -> None:
    channel = SmtpChannel("127.0.0.1", _free_port(), timeout=TIMEOUT)
    receipt = channel.send(_message())
    assert receipt.outcome is SendOutcome.retryable
    assert receipt.phase == "connect"


def test_4xx_on_rcpt_is_retryable(smtp_server: ServerFactory) -> None:
    handler = RcptReplyHandler("451 4.3.0 Try again later")
    receipt = _channel(smtp_server(handler)).send(_message())
    assert (receipt.outcome, receipt.phase, receipt.code) == (SendOutcome.retryable, "rcpt", 451)
    assert handler.data_calls == 0


def test_5xx_on_rcpt_is_permanent(smtp_server: ServerFactory) -> None:
    handler = RcptReplyHandler("550 5.1.1 No such user")
    receipt = _channel(smtp_server(handler)).send(_message())
    assert (receipt.outcome, receipt.phase, receipt.code) == (SendOutcome.permanent, "rcpt", 550)
    assert "No such user" in receipt.detail
    assert handler.data_calls == 0


def test_4xx_after_data_is_retryable(smtp_server: ServerFactory) -> None:
    receipt = _channel(smtp_server(DataReplyHandler("451 4.7.1 Greylisted"))).send(_message())
    assert (receipt.outcome, receipt.phase, receipt.code) == (SendOutcome.retryable, "data", 451)


def test_5xx_after_data_is_permanent(smtp_server: ServerFactory) -> None:
    receipt = _channel(smtp_server(DataReplyHandler("550 5.7.1 Rejected"))).send(_message())
    assert (receipt.outcome, receipt.phase, receipt.code) == (SendOutcome.permanent, "data", 550)


def test_hang_up_after_body_is_unknown(smtp_server: ServerFactory) -> None:
    handler = HangUpAfterDataHandler()
    message = _message()

    receipt = _channel(smtp_server(handler)).send(message)

    assert receipt.outcome is SendOutcome.unknown
    assert receipt.phase == "data"
    # The server really did get the whole message: a blind retry would send it twice.
    [content] = handler.received
    assert str(message["Message-ID"]).encode() in content


def test_no_reply_within_timeout_after_body_is_unknown(smtp_server: ServerFactory) -> None:
    receipt = _channel(smtp_server(SlowAfterDataHandler())).send(_message())
    assert receipt.outcome is SendOutcome.unknown


def _international_message() -> EmailMessage:
    # compose_email only takes ASCII local parts (the stdlib Address class refuses others);
    # a message built elsewhere may still carry one.
    message = _message()
    del message["To"]
    message["To"] = "jürgen@conf.example"
    return message


def test_non_ascii_recipient_uses_smtputf8() -> None:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=True)
    controller.start()
    try:
        receipt = _channel(controller).send(_international_message())
    finally:
        controller.stop()
    assert receipt.outcome is SendOutcome.sent
    assert handler.envelopes[0].rcpt_tos == ["jürgen@conf.example"]


def test_non_ascii_recipient_without_smtputf8_is_permanent() -> None:
    handler = RecordingHandler()
    # aiosmtpd's Controller turns SMTPUTF8 on unless told otherwise.
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port(), enable_SMTPUTF8=False)
    controller.start()
    try:
        receipt = _channel(controller).send(_international_message())
    finally:
        controller.stop()
    assert (receipt.outcome, receipt.phase) == (SendOutcome.permanent, "mail")
    assert handler.envelopes == []


def test_conflicting_tls_options_are_refused() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpChannel("127.0.0.1", 25, starttls=True, ssl=True)


def test_message_without_message_id_is_refused(smtp_server: ServerFactory) -> None:
    message = _message()
    del message["Message-ID"]
    with pytest.raises(ValueError, match="Message-ID"):
        _channel(smtp_server(RecordingHandler())).send(message)


# ---------------------------------------------------------------------------------------
# Outbox


def test_outbox_writes_one_eml_per_message_id(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    channel: Channel = OutboxChannel(outbox)
    message = _message()

    first = channel.send(message)
    second = channel.send(message)

    assert first.outcome is SendOutcome.sent
    assert second.outcome is SendOutcome.sent
    assert second.detail == "already in outbox"
    files = sorted(outbox.iterdir())
    assert [f.name for f in files] == [outbox_filename(str(message["Message-ID"]))]
    assert first.location == str(files[0])
    stored = message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert stored["Message-ID"] == message["Message-ID"]
    assert stored["List-Unsubscribe"] == message["List-Unsubscribe"]


def test_a_folded_message_id_is_read_unfolded(tmp_path: Path) -> None:
    """A message read back from elsewhere may carry its Message-ID on a continuation line."""
    raw = (
        b"From: ana@agency.example\r\nTo: b@example.com\r\nSubject: Hi\r\n"
        b"Message-ID:\r\n <folded.1@mail.agency.example>\r\n\r\nHello\r\n"
    )
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)

    receipt = OutboxChannel(tmp_path).send(message)

    assert receipt.message_id == "<folded.1@mail.agency.example>"
    assert [f.name for f in tmp_path.glob("*.eml")] == ["folded.1@mail.agency.example.eml"]


def test_outbox_refuses_a_message_without_message_id(tmp_path: Path) -> None:
    message = _message()
    del message["Message-ID"]
    with pytest.raises(ValueError, match="Message-ID"):
        OutboxChannel(tmp_path).send(message)
    assert not list(tmp_path.iterdir())


def test_outbox_keeps_distinct_messages_apart(tmp_path: Path) -> None:
    channel = OutboxChannel(tmp_path)
    channel.send(_message())
    channel.send(_message())
    assert len(list(tmp_path.glob("*.eml"))) == 2
    assert not list(tmp_path.glob(".tmp-*"))


def test_outbox_takes_a_batch_with_each_outcome_in_its_place(tmp_path: Path) -> None:
    channel = OutboxChannel(tmp_path)
    earlier, first, second = _message(), _message(), _message()
    broken = _message()
    del broken["Message-ID"]
    channel.send(earlier)

    outcomes = channel.send_all([first, broken, earlier, second])

    assert isinstance(channel, BatchChannel)
    assert len(outcomes) == 4
    sent, refused, again, last = outcomes
    assert isinstance(refused, ValueError)
    assert "Message-ID" in str(refused)
    assert isinstance(sent, SendReceipt)
    assert isinstance(again, SendReceipt)
    assert isinstance(last, SendReceipt)
    assert [r.message_id for r in (sent, again, last)] == [
        str(m["Message-ID"]) for m in (first, earlier, second)
    ]
    assert again.detail == "already in outbox"
    assert {r.outcome for r in (sent, again, last)} == {SendOutcome.sent}
    # Every receipt's file is complete once send_all returns; nothing half-written remains.
    for receipt, message in ((sent, first), (last, second)):
        assert receipt.location is not None
        stored = message_from_bytes(Path(receipt.location).read_bytes(), policy=policy.default)
        assert stored["Message-ID"] == message["Message-ID"]
        assert stored.get_content().splitlines() == message.get_content().splitlines()
    assert len(list(tmp_path.glob("*.eml"))) == 3
    assert not list(tmp_path.glob(".tmp-*"))


def test_outbox_filenames_are_safe_and_unique() -> None:
    plain = outbox_filename("<abc123@mail.example>")
    assert plain == "abc123@mail.example.eml"
    hostile = outbox_filename("<../../etc/passwd@x>")
    assert "/" not in hostile
    assert not hostile.startswith(".")
    assert outbox_filename("<a/b@x>") != outbox_filename("<a_b@x>")


def test_wire_policy_is_cached_per_mode_and_keeps_the_line_limit() -> None:
    message = _message()
    plain = _wire_policy(message)
    utf8 = _wire_policy(message, utf8=True)
    assert plain is _wire_policy(_message())
    assert isinstance(plain, EmailPolicy)
    assert isinstance(utf8, EmailPolicy)
    assert (plain.linesep, plain.utf8, plain.max_line_length) == ("\r\n", False, 998)
    assert (utf8.linesep, utf8.utf8) == ("\r\n", True)
