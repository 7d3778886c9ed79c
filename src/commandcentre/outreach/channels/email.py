"""Email delivery: a local ``.eml`` outbox for demos and SMTP for real sending.

The SMTP channel drives the transaction itself instead of ``smtplib.send_message`` because
the caller must know *where* a failure happened. Once the body and its terminating dot have
been handed to the network, the server may have accepted the message even if we never see
its reply; that case is ``SendOutcome.unknown`` and must go to a person, not a retry, or
the contact could get the same email twice.
"""

from __future__ import annotations

import copy
import enum
import functools
import hashlib
import os
import re
import smtplib
import ssl as ssl_module
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol, runtime_checkable


class SendOutcome(enum.StrEnum):
    sent = "sent"
    # Nothing was delivered; trying again later is safe.
    retryable = "retryable"
    # The server refused this message for good (5xx); do not try again.
    permanent = "permanent"
    # The body went out but no final reply came back; delivery may or may not have happened.
    unknown = "unknown"


@dataclass(frozen=True, slots=True)
class SendReceipt:
    outcome: SendOutcome
    message_id: str
    # SMTP phase of the deciding event: connect, tls, auth, mail, rcpt, data, outbox.
    phase: str
    code: int | None = None
    detail: str = ""
    location: str | None = None


class Channel(Protocol):
    def send(self, message: EmailMessage) -> SendReceipt: ...


@runtime_checkable
class BatchChannel(Channel, Protocol):
    """A channel that takes a batch's messages at once (the outbox): the receipt, or the
    error that stopped that message, for each in order."""

    def send_all(self, messages: Sequence[EmailMessage]) -> list[SendReceipt | Exception]: ...


def _message_id(message: EmailMessage) -> str:
    # The raw header, unfolded: ``message.get`` would parse it into a header object first,
    # which costs more than writing the message to the outbox. A Message-ID holds no spaces.
    value = next((v for k, v in message.raw_items() if k.lower() == "message-id"), "")
    value = " ".join(str(value).split())
    if not value:
        # Without our own Message-ID neither idempotency nor reply matching can work.
        raise ValueError("message has no Message-ID header")
    return value


# ---------------------------------------------------------------------------------------
# Outbox


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._@+=-]")


def outbox_filename(message_id: str) -> str:
    """A safe, stable file name for a Message-ID; distinct IDs never share a name."""
    bare = message_id.strip().strip("<>")
    safe = _UNSAFE_FILENAME.sub("_", bare).lstrip(".")[:150]
    if safe != bare or not safe:
        # Sanitising lost information, so add a digest of the original to stay unique.
        digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        safe = f"{safe}-{digest}"
    return f"{safe}.eml"


class OutboxChannel:
    """Writes each message to ``directory/<message-id>.eml``; nothing leaves the machine."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> SendReceipt:
        outcome = self.send_all([message])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def send_all(self, messages: Sequence[EmailMessage]) -> list[SendReceipt | Exception]:
        """``send`` for each message, the receipt or the error in the same order.

        Each file is on disk (flushed with fsync) before this returns. The files are
        written side by side: a disk flush then covers several of them, so a batch waits
        for the disk about half as long.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        outcomes: list[SendReceipt | Exception] = []
        writes: dict[int, Future[None]] = {}
        for index, message in enumerate(messages):
            try:
                message_id = _message_id(message)
                target = self.directory / outbox_filename(message_id)
                if target.exists():
                    # Same Message-ID means the same send: report success, keep the first copy.
                    outcomes.append(
                        SendReceipt(
                            SendOutcome.sent,
                            message_id,
                            "outbox",
                            detail="already in outbox",
                            location=str(target),
                        )
                    )
                    continue
                data = message.as_bytes(policy=_wire_policy(message))
            except Exception as exc:
                outcomes.append(exc)
                continue
            receipt = SendReceipt(SendOutcome.sent, message_id, "outbox", location=str(target))
            outcomes.append(receipt)
            writes[index] = _disk_writers().submit(_write_durably, self.directory, target, data)
        for index, write in writes.items():
            try:
                write.result()
            except Exception as exc:
                outcomes[index] = exc
        return outcomes


# Threads wait on the disk with the interpreter lock released; a few in flight are enough
# for the disk to flush them together.
_DISK_WRITERS = 8


@functools.cache
def _disk_writers() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_DISK_WRITERS, thread_name_prefix="outbox")


def _write_durably(directory: Path, target: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # Readers never see a half-written .eml: the name appears only when complete.
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------
# SMTP


def _classify(code: int) -> SendOutcome:
    # Only an explicit 5xx is final; 4xx and garbled codes (-1) leave a retry possible.
    return SendOutcome.permanent if 500 <= code < 600 else SendOutcome.retryable


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class _Failure(Exception):
    def __init__(self, outcome: SendOutcome, phase: str, code: int | None, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.phase = phase
        self.code = code
        self.detail = detail


def _envelope(message: EmailMessage) -> tuple[str, list[str]]:
    senders = getaddresses([str(v) for v in message.get_all("Sender", [])]) or getaddresses(
        [str(v) for v in message.get_all("From", [])]
    )
    recipients = [
        address
        for _, address in getaddresses(
            [str(v) for field in ("To", "Cc", "Bcc") for v in message.get_all(field, [])]
        )
        if address
    ]
    if not senders or not senders[0][1]:
        raise ValueError("message has no From address")
    if not recipients:
        raise ValueError("message has no recipients")
    return senders[0][1], recipients


def _wire_policy(message: EmailMessage, utf8: bool = False) -> Policy:
    # Keep the message's own policy (outreach mail uses a long line limit so that long
    # List-Unsubscribe URLs are not mangled) and only force CRLF and the UTF-8 mode.
    return _wire_clone(message.policy, utf8)


@functools.lru_cache(maxsize=32)
def _wire_clone(base: Policy, utf8: bool) -> Policy:
    # Policies are immutable and every outreach message shares one, so the clone is made
    # once per (policy, mode) instead of on every send.
    if isinstance(base, EmailPolicy):
        return base.clone(linesep="\r\n", utf8=utf8)
    return base.clone(linesep="\r\n")


def _wire_bytes(message: EmailMessage, utf8: bool) -> bytes:
    stripped = copy.copy(message)
    # Bcc travels only in the envelope. (Deleting rebinds the header list, so the
    # caller's message keeps its headers.)
    del stripped["Bcc"]
    data = stripped.as_bytes(policy=_wire_policy(message, utf8))
    # Dot-stuffing (RFC 5321 4.5.2) so a line holding only "." cannot end the data early.
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpChannel:
    """Sends one message per connection over SMTP and reports what is known about it."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        ssl: bool = False,
        timeout: float = 30.0,
        *,
        local_hostname: str | None = None,
        ssl_context: ssl_module.SSLContext | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose either starttls or ssl (implicit TLS), not both")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.ssl = ssl
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.ssl_context = ssl_context

    def send(self, message: EmailMessage) -> SendReceipt:
        message_id = _message_id(message)
        sender, recipients = _envelope(message)
        try:
            smtp = self._connect()
        except _Failure as failure:
            return SendReceipt(
                failure.outcome, message_id, failure.phase, failure.code, failure.detail
            )
        try:
            code, detail = self._transact(smtp, message, sender, recipients)
        except _Failure as failure:
            self._abandon(smtp, reset=failure.outcome is not SendOutcome.unknown)
            return SendReceipt(
                failure.outcome, message_id, failure.phase, failure.code, failure.detail
            )
        self._abandon(smtp, reset=False)
        return SendReceipt(SendOutcome.sent, message_id, "data", code, detail)

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl_module.create_default_context()
        try:
            smtp: smtplib.SMTP
            if self.ssl:
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                    context=context,
                )
            else:
                smtp = smtplib.SMTP(
                    self.host,
                    self.port,
                    local_hostname=self.local_hostname,
                    timeout=self.timeout,
                )
        except smtplib.SMTPConnectError as exc:
            raise _Failure(
                _classify(exc.smtp_code), "connect", exc.smtp_code, _text(exc.smtp_error)
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Refused, unreachable, timed out or garbled greeting: nothing was sent.
            raise _Failure(SendOutcome.retryable, "connect", None, repr(exc)) from exc
        phase = "connect"
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.starttls:
                phase = "tls"
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username is not None and self.password is not None:
                phase = "auth"
                smtp.login(self.username, self.password)
        except smtplib.SMTPResponseException as exc:
            self._abandon(smtp, reset=False)
            raise _Failure(
                _classify(exc.smtp_code), phase, exc.smtp_code, _text(exc.smtp_error)
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Includes SMTPNotSupportedError (no STARTTLS offered) and TLS handshake errors.
            self._abandon(smtp, reset=False)
            raise _Failure(SendOutcome.retryable, phase, None, repr(exc)) from exc
        return smtp

    def _transact(
        self, smtp: smtplib.SMTP, message: EmailMessage, sender: str, recipients: list[str]
    ) -> tuple[int, str]:
        needs_utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
        options: list[str] = []
        if needs_utf8:
            if not smtp.has_extn("smtputf8"):
                raise _Failure(
                    SendOutcome.permanent,
                    "mail",
                    None,
                    "non-ASCII address but the server lacks SMTPUTF8",
                )
            options = ["SMTPUTF8", "BODY=8BITMIME"]
        payload = _wire_bytes(message, needs_utf8)
        try:
            code, reply = smtp.mail(sender, options)
            if code != 250:
                raise _Failure(_classify(code), "mail", code, _text(reply))
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                # All or nothing: delivering to some and retrying would duplicate for them.
                if code not in (250, 251):
                    raise _Failure(_classify(code), "rcpt", code, f"{recipient}: {_text(reply)}")
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                raise _Failure(_classify(code), "data", code, _text(reply))
            smtp.send(payload)
        except (OSError, smtplib.SMTPException) as exc:
            # The terminating dot was not (fully) handed over, so the server cannot have
            # accepted the message: retrying is safe.
            raise _Failure(SendOutcome.retryable, "data", None, repr(exc)) from exc
        try:
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            raise _Failure(
                SendOutcome.unknown, "data", None, f"no reply after message body: {exc!r}"
            ) from exc
        if code == 250:
            return code, _text(reply)
        if 400 <= code < 600:
            raise _Failure(_classify(code), "data", code, _text(reply))
        # A garbled final reply says nothing about whether the message was accepted.
        raise _Failure(SendOutcome.unknown, "data", code, _text(reply))

    @staticmethod
    def _abandon(smtp: smtplib.SMTP, *, reset: bool) -> None:
        # Best effort only: the outcome is already decided and must not be overturned
        # by a failing RSET or QUIT.
        try:
            if reset:
                smtp.rset()
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
        finally:
            smtp.close()


__all__ = [
    "Channel",
    "OutboxChannel",
    "SendOutcome",
    "SendReceipt",
    "SmtpChannel",
    "outbox_filename",
]
