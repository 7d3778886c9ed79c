"""Where email goes, chosen by settings: SMTP when a host is set, else the local outbox.

Also answers the one question the sender cannot answer itself: did a message whose outcome
was unknown actually leave? The outbox can look for its own file; SMTP needs the mailbox's
Sent folder over IMAP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from commandcentre.outreach.channels.email import (
    Channel,
    OutboxChannel,
    SmtpChannel,
    outbox_filename,
)
from commandcentre.settings import Settings

# message_id -> True (it left), False (it did not), None (cannot tell now)
SentLookup = Callable[[str], bool | None]


def outbox_dir(settings: Settings) -> Path:
    return settings.outbox_dir or settings.data_dir / "outbox"


@dataclass(frozen=True, slots=True)
class Transport:
    name: str
    channel: Channel
    lookup: SentLookup
    # Whether a "not found" from lookup proves the message never left (so sending again
    # is not a blind resend): true for the outbox, and for SMTP providers that file every
    # accepted message in Sent by themselves.
    absence_is_proof: bool
    # Whether lookup can answer at all (SMTP needs an IMAP account).
    can_lookup: bool
    # Sends a worker claims at a time. Deciding and recording a batch cost about as much for
    # one send as for a hundred. The outbox writes a message in a fraction of a millisecond, so
    # it takes many; SMTP spends a connection on each, so it takes fewer and a burst spreads
    # over the workers.
    batch: int = 20


def _outbox_lookup(directory: Path) -> SentLookup:
    def lookup(message_id: str) -> bool:
        return (directory / outbox_filename(message_id)).exists()

    return lookup


def _imap_lookup(settings: Settings) -> SentLookup:
    def lookup(message_id: str) -> bool | None:
        if not settings.imap_host:
            return None
        # Imported late: IMAP support is only needed when a host is configured.
        from commandcentre.inbound.imap import find_sent_copy

        return find_sent_copy(settings, message_id)

    return lookup


def transport_from_settings(settings: Settings) -> Transport:
    if not settings.smtp_host:
        directory = outbox_dir(settings)
        return Transport(
            "outbox", OutboxChannel(directory), _outbox_lookup(directory), True, True, batch=100
        )
    security = settings.smtp_security
    channel = SmtpChannel(
        settings.smtp_host,
        settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password.get_secret_value() if settings.smtp_username else None,
        starttls=security == "starttls",
        ssl=security == "ssl",
        timeout=settings.smtp_timeout_seconds,
    )
    proof = bool(settings.imap_host) and settings.imap_sent_copies_automatic
    return Transport("smtp", channel, _imap_lookup(settings), proof, bool(settings.imap_host))


def public_base_url(settings: Settings) -> str:
    base = settings.public_base_url.strip() or f"http://{settings.host}:{settings.port}"
    return base.rstrip("/")


def message_id_domain(settings: Settings) -> str:
    if settings.mail_message_id_domain:
        return settings.mail_message_id_domain
    domain = settings.mail_from_address.rpartition("@")[2]
    return domain or (urlsplit(public_base_url(settings)).hostname or "localhost")
