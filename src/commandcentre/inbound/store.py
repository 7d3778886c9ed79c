"""Record an incoming message exactly once, however often and however it arrives.

IMAP polling, the webhook and manual entry all end here. The dedupe key is the Message-ID
header (else a SHA-256 of the raw bytes), unique per workspace; the row is written with an
insert that does nothing on conflict, so two deliveries racing (a poll and a webhook, or two
pollers) leave one row on SQLite and PostgreSQL alike. Parsing is defensive: malformed mail
is stored with whatever could be read, never refused. Classification happens later; rows
start as ``pending``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace
from commandcentre.inbound.models import InboundMessage
from commandcentre.inbound.parse import (
    MAX_BODY_CHARS,
    ParsedMessage,
    UnparseableMessage,
    parse_message,
)

log = logging.getLogger(__name__)

Source = Literal["imap", "webhook", "manual"]

# The parser already keeps at most this much of a body.
BODY_TEXT_LIMIT = MAX_BODY_CHARS
HEADER_LIMIT = 500
SUBJECT_LIMIT = 1000
ADDRESS_LIMIT = 320
REFERENCES_LIMIT = 20_000
# Characters PostgreSQL text cannot hold (NUL) or that break single-line fields.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class InboundFields:
    """What the stored row keeps of a raw message; every field may be missing."""

    dedupe_key: str
    message_id: str | None
    in_reply_to: str | None
    references: str | None
    from_address: str | None
    subject: str | None
    body_text: str | None
    recipients: tuple[str, ...]


class Ingest(Protocol):
    """Records a raw message once; `record_raw`, or a function that also acts on it the first
    time (in the same transaction). The poller and the webhook take one of these."""

    def __call__(
        self,
        session: Session,
        clock: Clock,
        raw: bytes,
        source: Source,
        mailbox_id: uuid.UUID | None = None,
        /,
    ) -> tuple[InboundMessage, bool]: ...


def dedupe_key(message_id: str | None, raw: bytes) -> str:
    """The Message-ID when there is a usable one (the parser keeps only IDs that fit the
    column), else a hash of the exact bytes."""
    if message_id:
        return message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_fields(raw: bytes) -> InboundFields:
    """Read the fields of a raw message. Never raises: unreadable parts come back as None."""
    try:
        parsed = parse_message(raw)
    except UnparseableMessage as exc:
        log.info("unreadable message of %d bytes: %s", len(raw), exc.reason)
        return InboundFields(dedupe_key(None, raw), None, None, None, None, None, None, ())
    return fields_of(parsed, raw)


def fields_of(parsed: ParsedMessage, raw: bytes) -> InboundFields:
    """The stored fields of a message already parsed (one linear parse serves both)."""
    message_id = _single_line(parsed.message_id, HEADER_LIMIT)
    references = " ".join(parsed.references) or None
    return InboundFields(
        dedupe_key=dedupe_key(message_id, raw),
        message_id=_cut(message_id, HEADER_LIMIT),
        in_reply_to=_cut(_single_line(parsed.in_reply_to, None), HEADER_LIMIT),
        references=_cut(_single_line(references, None), REFERENCES_LIMIT),
        from_address=_cut(
            _single_line(parsed.from_address or parsed.return_path, None), ADDRESS_LIMIT
        ),
        subject=_cut(_single_line(parsed.subject, None), SUBJECT_LIMIT),
        body_text=_body_text(parsed.body_text),
        recipients=parsed.recipients,
    )


def record_raw(
    session: Session,
    clock: Clock,
    raw: bytes,
    source: Source,
    mailbox_id: uuid.UUID | None = None,
) -> tuple[InboundMessage, bool]:
    """Store the message in the session's workspace unless it is there already.

    Returns the row and whether this call created it. Safe under concurrency: the insert
    does nothing when the (workspace, dedupe key) pair exists, and the row that won is read
    back. On PostgreSQL a concurrent uncommitted insert of the same key makes this wait for
    that transaction, then read its row.
    """
    return record_fields(session, clock, parse_fields(raw), source, mailbox_id)


def record_fields(
    session: Session,
    clock: Clock,
    fields: InboundFields,
    source: Source,
    mailbox_id: uuid.UUID | None = None,
) -> tuple[InboundMessage, bool]:
    """`record_raw` for a message already parsed (the poller parses once to route it)."""
    workspace_id = current_workspace(session)
    now = clock.now()
    table = cast(Table, InboundMessage.__table__)
    values = {
        "id": new_id(),
        "workspace_id": workspace_id,
        "mailbox_id": mailbox_id,
        "source": source,
        "dedupe_key": fields.dedupe_key,
        "message_id_header": fields.message_id,
        "in_reply_to": fields.in_reply_to,
        "references": fields.references,
        "from_address": fields.from_address,
        "subject": fields.subject,
        "body_text": fields.body_text,
        "received_at": now,
        "status": "pending",
        "attempts": 0,
        "max_attempts": 5,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "dedupe_key"])
        .returning(table.c.id)
    )
    created_id = session.execute(statement).scalar_one_or_none()
    row = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.dedupe_key == fields.dedupe_key)
        .execution_options(populate_existing=True)
    ).one()
    return row, created_id is not None


def _clean(text: str) -> str:
    # Lone surrogates (from undecodable bytes) cannot be stored; NUL cannot either.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "")


def _single_line(value: str | None, limit: int | None) -> str | None:
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", _clean(value)).split())
    if limit is not None and len(text) > limit:
        text = text[:limit]
    return text or None


def _cut(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None


def _body_text(text: str) -> str | None:
    return _clean(text).strip()[:BODY_TEXT_LIMIT] or None
