"""IMAP: read new mail since a checkpoint without touching it, and look for sent copies.

Reading never changes the mailbox: folders are opened read-only (EXAMINE) and messages are
fetched with ``BODY.PEEK[]``, so nothing is marked \\Seen and people who share the mailbox see
it as they left it. Progress is kept per (mailbox, folder) as UIDVALIDITY + last UID in
``ImapCheckpoint``; the messages of a batch and the checkpoint that covers them commit in one
transaction, and storing is idempotent, so a poller killed at any point re-reads at most one
batch and never stores a message twice.
"""

from __future__ import annotations

import logging
import re
import ssl as ssl_module
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, Protocol, cast

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped]
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.db.scoping import workspace_session
from commandcentre.inbound.models import ImapCheckpoint
from commandcentre.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_BATCH_SIZE = 25
# Larger messages are read only this far (a partial fetch): headers and the first text part
# are what classification needs, and a 50 MB attachment must not sit in a worker's memory.
MAX_FETCH_BYTES = 5_000_000
_MESSAGE_ID = re.compile(r"^<[^<>\s]{1,500}>$")


class ImapConnection(Protocol):
    """The part of ``imapclient.IMAPClient`` this product uses (the library ships no types)."""

    def login(self, username: str, password: str) -> Any: ...
    def logout(self) -> Any: ...
    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]: ...
    def search(self, criteria: Any = "ALL", charset: str | None = None) -> list[int]: ...
    def fetch(
        self, messages: Sequence[int], data: Sequence[str]
    ) -> dict[int, dict[bytes, Any]]: ...
    def append(self, folder: str, msg: bytes, flags: Sequence[bytes] = ()) -> Any: ...
    def get_flags(self, messages: Sequence[int]) -> dict[int, tuple[bytes, ...]]: ...
    def create_folder(self, folder: str) -> Any: ...
    def delete_folder(self, folder: str) -> Any: ...


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str
    ssl: bool = True
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapAccount | None:
        """The configured account, or None when no IMAP host is set."""
        if not settings.imap_host.strip():
            return None
        return cls(
            host=settings.imap_host.strip(),
            port=settings.imap_port,
            username=settings.imap_username,
            password=settings.imap_password.get_secret_value(),
            ssl=settings.imap_ssl,
        )


# What a failed IMAP conversation raises: network errors, timeouts, TLS failures, protocol
# errors and refused commands (imaplib's errors are IMAPClientError's bases or subclasses).
IMAP_ERRORS: tuple[type[BaseException], ...] = (OSError, IMAPClientError, ssl_module.SSLError)


@contextmanager
def open_connection(account: ImapAccount) -> Iterator[ImapConnection]:
    """A signed-in connection, logged out (best effort) when the block ends."""
    client = IMAPClient(
        account.host,
        port=account.port,
        ssl=account.ssl,
        ssl_context=ssl_module.create_default_context() if account.ssl else None,
        timeout=account.timeout,
    )
    conn = cast(ImapConnection, client)
    try:
        conn.login(account.username, account.password)
        yield conn
    finally:
        # The session is over either way; a dead socket must not hide the real outcome.
        with suppress(*IMAP_ERRORS):
            conn.logout()


@dataclass(frozen=True)
class PollResult:
    fetched: int  # messages read from the server
    stored: int  # of those, how many made a new row
    uidvalidity: int
    last_uid: int
    restarted: bool  # the folder's UIDVALIDITY changed, so it was read again from the start


# Called for each fetched message inside the batch transaction (a session bound to the
# checkpoint's workspace); returns True when the message made a new row.
StoreFn = Callable[[Session, bytes], bool]


def poll_folder(
    conn: ImapConnection,
    folder: str,
    *,
    factory: sessionmaker[Session],
    workspace_id: uuid.UUID,
    mailbox_id: uuid.UUID,
    store: StoreFn,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_bytes: int = MAX_FETCH_BYTES,
) -> PollResult:
    """Hand every message that arrived in `folder` since the checkpoint to `store`.

    Messages go in UID order, in batches; each batch is stored and the checkpoint moved past
    it in one transaction. When the server reports a new UIDVALIDITY the old UIDs mean
    nothing, so the folder is read again from the start (storing is idempotent, so messages
    seen before are not stored twice).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    status = conn.select_folder(folder, readonly=True)
    uidvalidity = _as_int32(int(status[b"UIDVALIDITY"]))
    last_uid, restarted = _load_checkpoint(factory, workspace_id, mailbox_id, folder, uidvalidity)
    uidnext = status.get(b"UIDNEXT")
    fetched = stored = 0
    if uidnext is not None and int(uidnext) <= last_uid + 1:
        return PollResult(0, 0, uidvalidity, last_uid, restarted)
    # "n:*" always includes the highest UID even when it is below n, hence the filter.
    uids = sorted(uid for uid in conn.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
    part = f"BODY.PEEK[]<0.{max_bytes}>"
    for start in range(0, len(uids), batch_size):
        batch = uids[start : start + batch_size]
        # Fetched before the transaction opens, so no database lock waits on the network.
        response = conn.fetch(batch, [part])
        with workspace_session(factory, workspace_id) as session:
            # The checkpoint moves first: on SQLite that write takes the database's write lock
            # at the start, so the reads the store step makes cannot go stale before its
            # writes (which SQLite would refuse instead of waiting). Same transaction either
            # way, so a failure below undoes it.
            _advance(session, mailbox_id, folder, uidvalidity, batch[-1])
            for uid in batch:
                raw = _body_of(response.get(uid))
                if raw is None:
                    continue  # expunged between SEARCH and FETCH
                fetched += 1
                if store(session, raw):
                    stored += 1
        last_uid = batch[-1]
    return PollResult(fetched, stored, uidvalidity, last_uid, restarted)


def _as_int32(uidvalidity: int) -> int:
    """UIDVALIDITY as stored: the column is a signed 32-bit integer on PostgreSQL, while IMAP
    allows any unsigned 32-bit value. Only equality matters, so two's complement is exact."""
    return uidvalidity - (1 << 32) if uidvalidity >= 1 << 31 else uidvalidity


def _body_of(item: dict[bytes, Any] | None) -> bytes | None:
    if not item:
        return None
    for key, value in item.items():
        # A partial fetch answers as BODY[]<0>; servers that send it whole use BODY[].
        if key.startswith(b"BODY[]") and isinstance(value, bytes):
            return value
    return None


def _load_checkpoint(
    factory: sessionmaker[Session],
    workspace_id: uuid.UUID,
    mailbox_id: uuid.UUID,
    folder: str,
    uidvalidity: int,
) -> tuple[int, bool]:
    """The last UID already handled under this UIDVALIDITY (0 to start over), creating or
    resetting the checkpoint row as needed; also whether a reset happened."""
    with workspace_session(factory, workspace_id) as session:
        row = _checkpoint(session, mailbox_id, folder)
        if row is None:
            try:
                # A savepoint: a concurrent poller creating the same row costs one statement.
                with session.begin_nested():
                    session.add(
                        ImapCheckpoint(
                            mailbox_id=mailbox_id,
                            folder=folder,
                            uidvalidity=uidvalidity,
                            last_uid=0,
                        )
                    )
                    session.flush()
            except IntegrityError:
                row = _checkpoint(session, mailbox_id, folder)
                if row is None:
                    raise
            else:
                return 0, False
        if row.uidvalidity == uidvalidity:
            return row.last_uid, False
        log.warning(
            "UIDVALIDITY of %s changed (%s -> %s); reading the folder again",
            folder,
            row.uidvalidity,
            uidvalidity,
        )
        session.execute(
            update(ImapCheckpoint)
            .where(ImapCheckpoint.id == row.id, ImapCheckpoint.uidvalidity != uidvalidity)
            .values(uidvalidity=uidvalidity, last_uid=0)
            .execution_options(synchronize_session=False)
        )
        return 0, True


def _checkpoint(session: Session, mailbox_id: uuid.UUID, folder: str) -> ImapCheckpoint | None:
    return session.scalars(
        select(ImapCheckpoint).where(
            ImapCheckpoint.mailbox_id == mailbox_id, ImapCheckpoint.folder == folder
        )
    ).first()


def _advance(
    session: Session, mailbox_id: uuid.UUID, folder: str, uidvalidity: int, uid: int
) -> None:
    # Only forward, and only under the same UIDVALIDITY: two pollers racing must never move
    # the checkpoint back, nor carry an old folder's UID into a new one.
    session.execute(
        update(ImapCheckpoint)
        .where(
            ImapCheckpoint.mailbox_id == mailbox_id,
            ImapCheckpoint.folder == folder,
            ImapCheckpoint.uidvalidity == uidvalidity,
            ImapCheckpoint.last_uid < uid,
        )
        .values(last_uid=uid)
        .execution_options(synchronize_session=False)
    )


def find_sent_copy(settings: Settings, message_id: str, folder: str | None = None) -> bool | None:
    """Whether the Sent folder holds the message with this Message-ID.

    True: found. False: the folder was searched and it is not there. None: cannot tell (no
    IMAP configured, server unreachable, folder missing, or an unusable Message-ID).
    """
    account = ImapAccount.from_settings(settings)
    wanted = message_id.strip()
    if account is None or not _MESSAGE_ID.match(wanted):
        return None
    try:
        with open_connection(account) as conn:
            return _search_sent(conn, folder or settings.imap_sent_folder, wanted)
    except IMAP_ERRORS as exc:
        log.warning("Sent-folder lookup of %s failed: %s", wanted, exc)
        return None


def _search_sent(conn: ImapConnection, folder: str, message_id: str) -> bool:
    conn.select_folder(folder, readonly=True)
    candidates = conn.search(["HEADER", "Message-ID", message_id])
    if not candidates:
        return False
    # IMAP header search matches substrings; confirm the exact header.
    response = conn.fetch(candidates, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    for item in response.values():
        for key, value in item.items():
            if key.startswith(b"BODY[HEADER") and isinstance(value, bytes):
                found = value.decode("ascii", "replace").partition(":")[2]
                if " ".join(found.split()) == message_id:
                    return True
    return False
