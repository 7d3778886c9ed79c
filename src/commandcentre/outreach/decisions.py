"""Whether a held send may go now, and the message it goes with.

The send pump (``dispatch``) hands each workspace's held sends to ``Decisions``, inside the
batch's transaction bound to that workspace. Each send is checked against its approval
fingerprint, suppression, paused agents, stop reasons and the send window; those that pass
are counted against the mailbox's and the Outreach agent's rolling 24-hour caps under row
locks, and the ones that fit are recorded ``in_flight`` with their message (``InFlight``).
The others go back to the queue, or are cancelled or failed, with the reason logged.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.agents.config import OutreachConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.intel.models import Contact
from commandcentre.outreach import suppression, timing
from commandcentre.outreach.compose import approval_hash, compose_email, make_message_id
from commandcentre.outreach.models import Mailbox, OutreachDraft, Send, Suppression
from commandcentre.outreach.transport import message_id_domain, public_base_url
from commandcentre.outreach.unsubscribe import make_token
from commandcentre.secrets import secret_key
from commandcentre.settings import Settings
from commandcentre.workspaces.models import Workspace

CAP_WINDOW = timedelta(hours=24)
# Sends that may have reached the recipient count against the caps.
COUNTED = ("in_flight", "sent", "unknown", "needs_review")
# A paused agent's sends look again this much later.
PAUSED_RECHECK = timedelta(minutes=1)


class SenderLike(Protocol):
    """What deciding reads of the sender (``dispatch.Sender``)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def lease(self) -> timedelta: ...


@dataclass(frozen=True, slots=True)
class Held:
    """The columns of a held send that deciding reads. The row itself is not loaded: the
    decision writes it with one statement per kind of change (``Decisions._write``)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    draft_id: uuid.UUID
    agent_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    recipient: str
    approval_hash: str
    message_id: str | None
    attempts: int
    # What the decision made of it, for the activity log.
    status: str = "claimed"


# In the order of Held's fields.
HELD_COLUMNS = (
    Send.id,
    Send.workspace_id,
    Send.draft_id,
    Send.agent_id,
    Send.contact_id,
    Send.recipient,
    Send.approval_hash,
    Send.message_id,
    Send.attempts,
)


@dataclass(frozen=True, slots=True)
class InFlight:
    """A send recorded in flight by this worker's decision, with its message."""

    send_id: uuid.UUID
    message: EmailMessage
    message_id: str
    # The send's attempt count after this decision: every decision adds one, so it names
    # this attempt (the Message-ID stays the same across attempts).
    attempt: int


Decided = InFlight | str


@dataclass(frozen=True, slots=True)
class _Draft:
    """What deciding reads of a draft (not its large JSON columns)."""

    id: uuid.UUID
    status: str
    recipient: str
    subject: str
    message_body: str
    approval_hash: str | None
    followup_number: int
    parent_draft_id: uuid.UUID | None


_DRAFT_COLUMNS = (
    OutreachDraft.id,
    OutreachDraft.status,
    OutreachDraft.recipient,
    OutreachDraft.subject,
    OutreachDraft.message_body,
    OutreachDraft.approval_hash,
    OutreachDraft.followup_number,
    OutreachDraft.parent_draft_id,
)


@dataclass(frozen=True, slots=True)
class _Contact:
    """What deciding reads of a contact."""

    id: uuid.UUID
    outreach_status: str
    email_status: str
    timezone: str | None


_CONTACT_COLUMNS = (Contact.id, Contact.outreach_status, Contact.email_status, Contact.timezone)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A send that passed every check but the caps, with what it was checked against."""

    send: Held
    draft: _Draft
    contact: _Contact | None
    agent: Agent | None
    config: OutreachConfig


@dataclass(slots=True)
class _Usage:
    """Sends counted against one cap over the rolling day, kept current as the batch's own
    sends go in flight (the rows it was counted under stay locked until the commit)."""

    used: int
    oldest: datetime | None

    def full(self, cap: int, now: datetime) -> datetime | None:
        """None while under the cap; else when the oldest counted send leaves the window."""
        if self.used < cap:
            return None
        return (self.oldest or now) + CAP_WINDOW

    def add(self, started_at: datetime) -> None:
        self.used += 1
        if self.oldest is None or started_at < self.oldest:
            self.oldest = started_at


class Decisions:
    """Everything checked before the attempts of one workspace's held sends, in the batch's
    transaction bound to that workspace. Each send's decision is its message (the send is
    now in flight) or its new status (back in the queue, cancelled or failed).

    The sends' new columns are collected and written at the end of ``run``, one executemany
    UPDATE per kind of change, in the same transaction as the counting (so still under the
    locks the caps were counted under) and before it commits."""

    def __init__(self, session: Session, sender: SenderLike, sends: list[Held]) -> None:
        self.session = session
        self.sender = sender
        self.sends = sends
        self.workspace_id = sends[0].workspace_id
        self.now = sender.clock.now()
        self._configs: dict[uuid.UUID | None, OutreachConfig] = {}
        self._writes: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def run(self) -> dict[uuid.UUID, Decided]:
        session, sends = self.session, self.sends
        drafts = _drafts(session, {send.draft_id for send in sends})
        contacts = _contacts(session, {send.contact_id for send in sends if send.contact_id})
        agents = load_agents(
            session, {send.agent_id for send in sends if send.agent_id}, "outreach"
        )
        blocked = suppression.suppressed_among(session, [send.recipient for send in sends])
        decided: dict[uuid.UUID, Decided] = {}
        ready: list[_Ready] = []
        for send in sends:
            contact = contacts.get(send.contact_id) if send.contact_id else None
            checked = self._check(
                send, drafts.get(send.draft_id), contact, agents, blocked.get(send.recipient)
            )
            if isinstance(checked, _Ready):
                ready.append(checked)
            else:
                decided[send.id] = checked
        if ready:
            decided.update(self._within_caps(ready))
        self._write()
        return decided

    def _check(
        self,
        send: Held,
        draft: _Draft | None,
        contact: _Contact | None,
        agents: dict[uuid.UUID | str, Agent],
        blocked: Suppression | None,
    ) -> _Ready | str:
        if draft is None or draft.status != "approved":
            return self._stop(send, "cancelled", "the draft is no longer approved")
        if not _as_approved(send, draft):
            return self._stop(send, "failed", "the message differs from what was approved")
        if blocked is not None:
            return self._stop(
                send, "cancelled", f"suppressed ({blocked.kind} {blocked.value}: {blocked.reason})"
            )
        author = agents.get(send.agent_id) if send.agent_id else None
        # The sending rules are the Outreach agent's, whoever wrote the message.
        agent = author if author is not None and author.agent_type == "outreach" else None
        agent = agent or agents.get("outreach")
        config = self._config(agent)
        for who in (author, agent):
            if who is not None and who.paused_at is not None:
                return self._later(
                    send, self.now + PAUSED_RECHECK, f"the {who.name} agent is paused"
                )
        stop = _stop_reason(contact, draft)
        if stop is not None:
            return self._stop(send, "cancelled", stop)
        opening = self._window(config, contact)
        if opening is not None:
            return self._later(send, opening, "outside the send window")
        return _Ready(send, draft, contact, agent, config)

    def _within_caps(self, ready: list[_Ready]) -> dict[uuid.UUID, Decided]:
        """Lock, count once, then let sends go in the batch's order while the caps hold.

        The messages are built before the locks are taken, so the locks (which every
        worker sending for this workspace waits on) are held only for the counting.
        """
        built = self._build(ready)
        mailbox = self._lock_and_find_mailbox(ready)
        by_mailbox = self._usage(Send.mailbox_id == mailbox.id)
        # Everything the workspace sends, follow-ups included, counts against the Outreach
        # agent's daily maximum.
        by_workspace = self._usage(Send.workspace_id == self.workspace_id)
        decided: dict[uuid.UUID, Decided] = {}
        going: list[InFlight] = []
        for item in ready:
            send = item.send
            full = by_mailbox.full(mailbox.daily_cap, self.now)
            if full is None:
                full = by_workspace.full(item.config.maxDailyOutreach, self.now)
            if full is not None:
                decided[send.id] = self._later(send, full, "the daily sending cap is reached")
                continue
            message, message_id = built[send.id]
            if isinstance(message, ValueError):
                decided[send.id] = self._stop(
                    send, "failed", f"the message could not be built: {message}", message_id
                )
                continue
            by_mailbox.add(self.now)
            by_workspace.add(self.now)
            flight = InFlight(send.id, message, message_id, send.attempts + 1)
            decided[send.id] = flight
            going.append(flight)
        self._go(going, mailbox.id)
        return decided

    def _build(self, ready: list[_Ready]) -> dict[uuid.UUID, tuple[EmailMessage | ValueError, str]]:
        """Each ready send's message (or why it cannot be built), with its Message-ID: the
        recorded one if an earlier decision recorded it (reconciliation looks for that one),
        else a new one, recorded only if the send goes in flight."""
        threads = _parent_message_ids(self.session, [item.draft for item in ready])
        composer = _Composer(self)
        built: dict[uuid.UUID, tuple[EmailMessage | ValueError, str]] = {}
        for item in ready:
            message_id = item.send.message_id or make_message_id(composer.domain)
            try:
                message: EmailMessage | ValueError = composer.compose(
                    item.send, item.draft, threads.get(item.draft.id, []), message_id
                )
            except ValueError as exc:
                message = exc
            built[item.send.id] = (message, message_id)
        return built

    def _lock_and_find_mailbox(self, ready: list[_Ready]) -> Mailbox:
        """Take the locks the caps are counted under; the sending mailbox."""
        session, sender = self.session, self.sender
        # SQLite holds its single write lock since the batch's first write. On PostgreSQL
        # FOR NO KEY UPDATE: exclusive among deciders (and against edits of the rows), yet
        # it lets other transactions insert rows that refer to the agent (activity, messages,
        # counters), so recording outcomes never queues behind a batch being decided.
        locking = session.get_bind().dialect.name != "sqlite"
        agent_ids = sorted({item.agent.id for item in ready if item.agent is not None})
        if locking and agent_ids:
            session.execute(
                select(Agent.id)
                .where(Agent.id.in_(agent_ids))
                .order_by(Agent.id)
                .with_for_update(key_share=True)
            )
        mailbox = ensure_mailbox(session, sender.clock, sender.settings)
        if locking:
            session.execute(
                select(Mailbox.id).where(Mailbox.id == mailbox.id).with_for_update(key_share=True)
            )
        return mailbox

    def _go(self, going: list[InFlight], mailbox_id: uuid.UUID) -> None:
        """Record the sends going in flight, each with its Message-ID and a lease."""
        # The leases run from now, not from before the wait for the locks.
        expires = self.sender.clock.now() + self.sender.lease
        for flight in going:
            self._set(
                flight.send_id,
                status="in_flight",
                message_id=flight.message_id,
                mailbox_id=mailbox_id,
                started_at=self.now,
                attempts=flight.attempt,
                lease_expires_at=expires,
            )

    def _set(self, send_id: uuid.UUID, **values: Any) -> None:
        values["id"] = send_id
        values["updated_at"] = self.now
        self._writes.setdefault(tuple(sorted(values)), []).append(values)

    def _write(self) -> None:
        # Bulk UPDATE by primary key, one executemany per set of columns, filtered by the
        # workspace as every write is; the rows are this worker's, locked since they were
        # held. No Send is loaded in this session, so there is nothing to synchronise.
        statement = (
            update(Send)
            .where(Send.workspace_id == self.workspace_id)
            .execution_options(synchronize_session=None)
        )
        for rows in self._writes.values():
            self.session.execute(statement, rows)
        self._writes.clear()

    def _usage(self, scope: ColumnElement[bool]) -> _Usage:
        used, oldest = self.session.execute(
            select(func.count(Send.id), func.min(Send.started_at)).where(
                scope,
                Send.status.in_(COUNTED),
                Send.started_at > self.now - CAP_WINDOW,
            )
        ).one()
        return _Usage(int(used), oldest)

    def _config(self, agent: Agent | None) -> OutreachConfig:
        key = agent.id if agent is not None else None
        config = self._configs.get(key)
        if config is None:
            config = OutreachConfig.model_validate(agent.config if agent is not None else {})
            self._configs[key] = config
        return config

    @functools.cached_property
    def workspace(self) -> Workspace | None:
        return self.session.get(Workspace, self.workspace_id)

    def _stop(self, send: Held, status: str, reason: str, message_id: str | None = None) -> str:
        extra = {} if message_id is None else {"message_id": message_id}
        self._set(
            send.id,
            status=status,
            last_error=reason,
            claimed_by=None,
            lease_expires_at=None,
            **extra,
        )
        logged = replace(send, status=status, message_id=message_id or send.message_id)
        log_send(self.session, self.sender.clock, logged, f"Did not send: {reason}", status)
        return status

    def _later(self, send: Held, when: datetime, reason: str) -> str:
        self._set(
            send.id,
            status="queued",
            not_before=max(when, self.now + timedelta(seconds=1)),
            last_error=reason,
            claimed_by=None,
            lease_expires_at=None,
        )
        return "queued"

    def _window(self, config: OutreachConfig, contact: _Contact | None) -> datetime | None:
        """None when now is inside the window; else when it next opens."""
        if not config.businessHoursOnly:
            return None
        workspace = self.workspace
        default_tz = workspace.timezone if workspace else "UTC"
        opening = timing.next_send_window(
            at=self.now,
            recipient_tz=contact.timezone if contact else None,
            business_hours=config.business_hours,
            default_tz=default_tz,
        )
        return None if opening <= self.now else opening


def _as_approved(send: Held, draft: _Draft) -> bool:
    """Whether the send carries exactly the draft a person approved: the fingerprints agree
    and the draft's content still hashes to them."""
    return (
        draft.approval_hash == send.approval_hash
        and draft.recipient == send.recipient
        # Hashed last: only a send whose fingerprints agree is worth hashing.
        and approval_hash(draft.recipient, draft.subject, draft.message_body) == send.approval_hash
    )


class _Composer:
    """Builds the messages of one workspace's batch; what they share is worked out once."""

    def __init__(self, decisions: Decisions) -> None:
        settings = decisions.sender.settings
        workspace = decisions.workspace
        self.now = decisions.now
        # The address ensure_mailbox finds or creates the mailbox by.
        self.from_address = settings.mail_from_address.strip().lower()
        self.from_name = settings.mail_from_name or (workspace.name if workspace else "")
        self.secret = secret_key(settings)
        self.domain = message_id_domain(settings)
        self.base_url = public_base_url(settings)
        self.postal_address = settings.mail_postal_address or None

    def compose(
        self, send: Held, draft: _Draft, parent: list[str], message_id: str
    ) -> EmailMessage:
        token = make_token(
            self.secret,
            workspace_id=send.workspace_id,
            contact_id=send.contact_id or uuid.UUID(int=0),
            email=send.recipient,
        )
        return compose_email(
            from_address=self.from_address,
            from_name=self.from_name,
            to_address=send.recipient,
            subject=draft.subject,
            body=draft.message_body,
            message_id_domain=self.domain,
            message_id=message_id,
            unsubscribe_url=f"{self.base_url}/unsubscribe/{token}",
            unsubscribe_mailto=None,
            postal_address=self.postal_address,
            in_reply_to=parent[-1] if parent else None,
            references=parent[:-1] if parent else None,
            now=self.now,
        )


def _drafts(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, _Draft]:
    """The bound workspace's drafts by id, in one query."""
    if not ids:
        return {}
    rows = session.execute(select(*_DRAFT_COLUMNS).where(OutreachDraft.id.in_(ids)))
    return {row[0]: _Draft(*row) for row in rows}


def _contacts(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, _Contact]:
    """The bound workspace's contacts by id, in one query."""
    if not ids:
        return {}
    rows = session.execute(select(*_CONTACT_COLUMNS).where(Contact.id.in_(ids)))
    return {row[0]: _Contact(*row) for row in rows}


def load_agents(
    session: Session, ids: set[uuid.UUID], agent_type: str
) -> dict[uuid.UUID | str, Agent]:
    """The bound workspace's agents with these ids, and its agent of this type (under its
    type as key; there is one per type), in one query."""
    found: dict[uuid.UUID | str, Agent] = {}
    for agent in session.scalars(
        select(Agent).where(or_(Agent.id.in_(ids), Agent.agent_type == agent_type))
    ):
        found[agent.id] = agent
        if agent.agent_type == agent_type:
            found[agent_type] = agent
    return found


# A contact in one of these states gets no more follow-ups, and nothing at all if opted out.
STOPPED = frozenset({"replied", "meeting", "not_interested", "do_not_contact"})


def _stop_reason(contact: _Contact | None, draft: _Draft) -> str | None:
    if contact is None:
        return None
    if contact.outreach_status == "do_not_contact":
        return "the contact asked not to be contacted"
    if draft.followup_number > 0 and contact.outreach_status in STOPPED:
        return f"the contact has {contact.outreach_status.replace('_', ' ')}: no follow-up"
    if draft.followup_number > 0 and contact.email_status == "invalid":
        return "the address bounced"
    return None


def _parent_message_ids(session: Session, drafts: Iterable[_Draft]) -> dict[uuid.UUID, list[str]]:
    """Message-IDs of the earlier messages of each follow-up's thread, oldest first; one
    query per generation of the threads, whatever the number of drafts."""
    chains: dict[uuid.UUID, list[str]] = {}
    seen: dict[uuid.UUID, set[uuid.UUID]] = {}
    step: dict[uuid.UUID, uuid.UUID] = {}
    for draft in drafts:
        if draft.parent_draft_id is not None:
            step[draft.id] = draft.parent_draft_id
            chains[draft.id] = []
            seen[draft.id] = set()
    while step:
        rows = session.execute(
            select(OutreachDraft.id, OutreachDraft.parent_draft_id, Send.message_id)
            .outerjoin(Send, and_(Send.draft_id == OutreachDraft.id, Send.status == "sent"))
            .where(OutreachDraft.id.in_(set(step.values())))
        ).all()
        found = {row[0]: (row[1], row[2]) for row in rows}
        following: dict[uuid.UUID, uuid.UUID] = {}
        for draft_id, parent_id in step.items():
            seen[draft_id].add(parent_id)
            grandparent_id, message_id = found.get(parent_id, (None, None))
            if message_id:
                chains[draft_id].append(message_id)
            if grandparent_id is not None and grandparent_id not in seen[draft_id]:
                following[draft_id] = grandparent_id
        step = following
    return {draft_id: list(reversed(chain)) for draft_id, chain in chains.items()}


def ensure_mailbox(session: Session, clock: Clock, settings: Settings) -> Mailbox:
    """The workspace's sending mailbox, created from settings (which stay authoritative)."""
    address = settings.mail_from_address.strip().lower()
    found = session.scalars(select(Mailbox).where(Mailbox.from_address == address)).first()
    if found is None:
        now = clock.now()
        try:
            with session.begin_nested():
                found = Mailbox(
                    name=address,
                    from_address=address,
                    daily_cap=settings.mail_daily_cap,
                    imap_folder_sent=settings.imap_sent_folder if settings.imap_host else None,
                    sent_copies_automatic=settings.imap_sent_copies_automatic,
                    is_default=True,
                    created_at=now,
                    updated_at=now,
                )
                session.add(found)
        except IntegrityError:
            found = session.scalars(select(Mailbox).where(Mailbox.from_address == address)).one()
    if found.daily_cap != settings.mail_daily_cap:
        found.daily_cap = settings.mail_daily_cap
    return found


def log_send(
    session: Session, clock: Clock, send: Send | Held, description: str, outcome: str
) -> None:
    activity.record(
        session=session,
        clock=clock,
        agent_id=send.agent_id,
        activity_type=f"send_{outcome}",
        description=description,
        details={"sendId": str(send.id), "status": send.status, "messageId": send.message_id},
        entity_type="outreach_send",
        entity_id=send.id,
    )
