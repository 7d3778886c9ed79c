"""Reply polling for the worker tick, and which workspace an incoming message belongs to.

One IMAP account is configured in settings and may serve several workspaces. Each workspace's
default mailbox keeps its own checkpoint on that account's inbox; a poll reads what is new for
each and keeps only the messages that belong to that workspace (`route`), so every message is
stored in at most one workspace, whichever path (poll or webhook) brought it.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.inbound.imap import (
    IMAP_ERRORS,
    ImapAccount,
    StoreFn,
    open_connection,
    poll_folder,
)
from commandcentre.inbound.store import InboundFields, Ingest, parse_fields, record_raw
from commandcentre.outreach.models import Mailbox, Send
from commandcentre.workspaces.models import Workspace

log = logging.getLogger(__name__)

_ANGLE_ID = re.compile(rb"<([^<>\s@]{1,250}@[^<>\s@]{1,250})>")
# How far into a message to look for quoted Message-IDs (bounces quote the original's
# headers in a later MIME part), and how many distinct ones to look up.
_SCAN_BYTES = 1_000_000
_MAX_CANDIDATES = 100
_ALL = {"include_all_workspaces": True}


@dataclass(frozen=True)
class Destination:
    workspace_id: uuid.UUID
    mailbox_id: uuid.UUID | None
    send_id: uuid.UUID | None  # the send this message answers, when that decided it


def header_candidates(fields: InboundFields) -> list[str]:
    """Message-IDs the message says it answers: In-Reply-To, then References newest first."""
    found: list[str] = []
    for value in (fields.in_reply_to, *reversed(_ids_in(fields.references))):
        for message_id in _ids_in(value):
            if message_id not in found:
                found.append(message_id)
    return found


def _ids_in(value: str | None) -> list[str]:
    if not value:
        return []
    return [f"<{m.decode('ascii', 'replace')}>" for m in _ANGLE_ID.findall(value.encode("utf-8"))]


def quoted_candidates(raw: bytes, own_id: str | None) -> list[str]:
    """Message-IDs anywhere in the message, for bounces that quote the original's headers."""
    found: list[str] = []
    for match in _ANGLE_ID.finditer(raw[:_SCAN_BYTES]):
        message_id = f"<{match.group(1).decode('ascii', 'replace')}>"
        if message_id != own_id and message_id not in found:
            found.append(message_id)
            if len(found) >= _MAX_CANDIDATES:
                break
    return found


def route(
    session: Session,
    fields: InboundFields,
    raw: bytes,
    named_workspace: uuid.UUID | None = None,
) -> Destination | None:
    """The workspace a message belongs to, or None when no workspace can claim it.

    1. It answers (In-Reply-To/References) or quotes (a bounce) one of our sends: that
       send's workspace. Our Message-IDs are random, so only a real reply or bounce names one.
    2. Otherwise the workspace the caller named (the webhook's `workspace` parameter).
    3. Otherwise, it was addressed to a mailbox address that exactly one workspace uses.
    4. Otherwise, when there is only one workspace, that one.
    Anything else is left alone: with several workspaces sharing one address, a message that
    answers none of them cannot be given to one without risking showing it to the wrong team.
    """
    for candidates in (
        header_candidates(fields),
        quoted_candidates(raw, fields.message_id),
    ):
        found = _send_for(session, candidates)
        if found is not None:
            return found
    rows = []
    if fields.recipients:
        rows = list(
            session.execute(
                select(Mailbox.workspace_id, Mailbox.id)
                .where(func.lower(Mailbox.from_address).in_(fields.recipients))
                .order_by(Mailbox.is_default.desc(), Mailbox.created_at, Mailbox.id)
                .execution_options(**_ALL)
            ).all()
        )
    if named_workspace is not None:
        mailbox = next((r.id for r in rows if r.workspace_id == named_workspace), None)
        return Destination(named_workspace, mailbox, None)
    workspaces = {row.workspace_id for row in rows}
    if len(workspaces) == 1:
        return Destination(rows[0].workspace_id, rows[0].id, None)
    if len(workspaces) > 1:
        return None
    only = session.scalars(select(Workspace.id).limit(2)).all()
    if len(only) == 1:
        return Destination(only[0], None, None)
    return None


def _send_for(session: Session, candidates: list[str]) -> Destination | None:
    if not candidates:
        return None
    rows = session.execute(
        select(Send.message_id, Send.workspace_id, Send.mailbox_id, Send.id)
        .where(Send.message_id.in_(candidates))
        .execution_options(**_ALL)
    ).all()
    by_id = {row.message_id: row for row in rows}
    for message_id in candidates:  # the order of preference, not the database's
        row = by_id.get(message_id)
        if row is not None:
            return Destination(row.workspace_id, row.mailbox_id, row.id)
    return None


def store_for_workspace(
    workspace_id: uuid.UUID, mailbox_id: uuid.UUID, clock: Clock, ingest: Ingest = record_raw
) -> StoreFn:
    """The poller's store step for one workspace: keep what routes here, skip the rest."""

    def store(session: Session, raw: bytes) -> bool:
        destination = route(session, parse_fields(raw), raw)
        if destination is None or destination.workspace_id != workspace_id:
            return False
        _row, created = ingest(session, clock, raw, "imap", destination.mailbox_id or mailbox_id)
        return created

    return store


def default_mailboxes(ctx: AppContext) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace, mailbox) for every workspace with a default mailbox, oldest workspace first."""
    with system_session(ctx.session_factory) as session:
        rows = session.execute(
            select(Mailbox.workspace_id, Mailbox.id)
            .join(Workspace, Workspace.id == Mailbox.workspace_id)
            .where(Mailbox.is_default.is_(True))
            .order_by(Workspace.created_at, Workspace.id, Mailbox.created_at, Mailbox.id)
        ).all()
    chosen: dict[uuid.UUID, uuid.UUID] = {}
    for workspace_id, mailbox_id in rows:
        chosen.setdefault(workspace_id, mailbox_id)
    return list(chosen.items())


def poll_once(ctx: AppContext, *, batch_size: int = 25, ingest: Ingest = record_raw) -> int:
    """Read the configured inbox once for every workspace's default mailbox.

    `ingest` records each message that belongs to the workspace being read (see `Ingest`).

    Returns how many new inbound rows were stored (0 when IMAP is not configured). An
    unreachable or failing server is logged and ends this round; the next tick tries again
    from the checkpoints, so nothing is lost.
    """
    account = ImapAccount.from_settings(ctx.settings)
    if account is None:
        return 0
    targets = default_mailboxes(ctx)
    if not targets:
        log.info("IMAP is configured but no workspace has a default mailbox; nothing polled")
        return 0
    folder = ctx.settings.imap_inbox_folder
    stored = 0
    try:
        with open_connection(account) as conn:
            for workspace_id, mailbox_id in targets:
                result = poll_folder(
                    conn,
                    folder,
                    factory=ctx.session_factory,
                    workspace_id=workspace_id,
                    mailbox_id=mailbox_id,
                    store=store_for_workspace(workspace_id, mailbox_id, ctx.clock, ingest),
                    batch_size=batch_size,
                )
                stored += result.stored
    except IMAP_ERRORS as exc:
        log.warning("polling %s on %s failed: %s", folder, account.host, exc)
    return stored
