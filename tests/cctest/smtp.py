"""A real local SMTP server (aiosmtpd) for sending tests, with scripted misbehaviour."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session


def free_port() -> int:
    # aiosmtpd cannot take port=0 (its readiness probe would connect to port 0).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MailSink:
    """Accepts every message and records its Message-ID.

    ``drop_after_body(message_id)`` → True makes the server keep the message and then hang
    up without answering, the case where the sender cannot know the outcome.
    ``on_accept(raw)`` runs for each accepted message (e.g. file a copy in an IMAP Sent
    folder, as hosted providers do).
    """

    def __init__(
        self,
        *,
        drop_after_body: Callable[[str], bool] | None = None,
        on_accept: Callable[[bytes], None] | None = None,
    ) -> None:
        self.drop_after_body = drop_after_body
        self.on_accept = on_accept
        self.lock = threading.Lock()
        self.message_ids: list[str] = []
        self.dropped: list[str] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.content
        assert isinstance(raw, bytes)
        message = message_from_bytes(raw, policy=policy.default)
        message_id = str(message["Message-ID"]).strip()
        with self.lock:
            self.message_ids.append(message_id)
        if self.on_accept is not None:
            self.on_accept(raw)
        if self.drop_after_body is not None and self.drop_after_body(message_id):
            with self.lock:
                self.dropped.append(message_id)
            assert server.transport is not None
            server.transport.close()
        return "250 2.0.0 OK queued"

    def duplicates(self) -> dict[str, int]:
        with self.lock:
            return {k: n for k, n in Counter(self.message_ids).items() if n > 1}


@contextmanager
def smtp_server(handler: object) -> Iterator[Controller]:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
