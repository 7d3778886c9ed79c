"""The send pump: approved emails leave exactly once, inside their window, within the caps.

A send moves ``queued → claimed → in_flight → sent`` (or ``retry_wait``, ``failed``,
``unknown``). The pump works a claimed batch at a time, in three steps:

1. One transaction decides every send of the batch that this worker still holds: approval
   fingerprint, suppression, paused agents, stop reasons, window and caps. It ends by
   recording each send that may go as ``in_flight`` with its Message-ID, and commits.
2. Only then do the messages go out, one after another.
3. One transaction records every outcome (counters written once), each only if the row is
   still that attempt's. In a slow batch (SMTP), each time a tenth of the lease has passed
   the leases of the sends not recorded yet are renewed and what is known is recorded, so
   no send outlives its lease by more than a lone send would; one whose lease was taken
   over meanwhile is not attempted.

A crash between the decision and the record leaves ``in_flight`` rows whose leases run out:
the sweep marks them ``unknown`` and reconciliation asks the mailbox whether each Message-ID
left, instead of sending blind. When deciding or recording a batch fails, each of its sends
is decided or recorded alone, so one bad send does not hold the others back.

Caps are exact under concurrency: the Outreach agent's and the mailbox's rows are locked
(SQLite holds its single write lock already) before the rolling 24-hour counts, taken once
per batch and workspace and kept current in memory as the batch's own sends go in flight;
the counts include every send that may have reached the recipient. Workspaces are decided
in one order (their ids) so two workers never wait on each other's locks in a cycle.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TypeVar

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import activity, bus, claims
from commandcentre.agents.config import FollowupConfig, OutreachConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.scoping import SYSTEM_KEY, WORKSPACE_KEY, bind_workspace
from commandcentre.followups.rules import add_business_days
from commandcentre.intel.models import Contact
from commandcentre.outreach import suppression, timing
from commandcentre.outreach.channels.email import SendOutcome, SendReceipt
from commandcentre.outreach.compose import approval_hash, compose_email, make_message_id
from commandcentre.outreach.models import Mailbox, OutreachDraft, Send, Suppression
from commandcentre.outreach.transport import Transport, message_id_domain, public_base_url
from commandcentre.outreach.unsubscribe import make_token
from commandcentre.secrets import secret_key
from commandcentre.settings import Settings, settings_of
from commandcentre.workspaces.models import Workspace

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
CAP_WINDOW = timedelta(hours=24)
# Sends that may have reached the recipient count against the caps.
COUNTED = ("in_flight", "sent", "unknown", "needs_review")
# A paused agent's sends look again this much later.
PAUSED_RECHECK = timedelta(minutes=1)
# Unreachable IMAP: reconciliation keeps asking this long before a person must decide.
LOOKUP_GIVE_UP = timedelta(hours=1)
LOOKUP_RETRY = timedelta(minutes=2)
# A batch's sends still waiting for the transport get their leases renewed once this share
# of the lease has passed, so each message leaves with at least the rest of its lease ahead.
RENEW_AFTER = 0.1


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A send recorded in flight by this worker's decision, with its message."""

    send_id: uuid.UUID
    message: EmailMessage
    message_id: str
    # The send's attempt count after this decision: every decision adds one, so it names
    # this attempt (the Message-ID stays the same across attempts).
    attempt: int


Decided = _InFlight | str


@dataclass(frozen=True, slots=True)
class Sender:
    factory: sessionmaker[Session]
    clock: Clock
    settings: Settings
    transport: Transport
    worker: str
    lease: timedelta = DEFAULT_LEASE

    # ------------------------------------------------------------------ claim & sweep

    def claim_due(self, limit: int = 20) -> list[uuid.UUID]:
        now = self.clock.now()
        candidates = (
            select(Send.id)
            .where(Send.status.in_(("queued", "retry_wait")), Send.not_before <= now)
            .order_by(Send.not_before, Send.id)
            .limit(limit)
        )
        with claims.system_transaction(self.factory) as session:
            return claims.claim(
                session,
                Send,
                candidates,
                values={
                    "status": "claimed",
                    "claimed_by": self.worker,
                    "lease_expires_at": now + self.lease,
                    "updated_at": now,
                },
            )

    def sweep(self) -> int:
        """Claims that lapsed before the attempt go back to the queue; attempts that lapsed
        become unknown (the message may have left) and are reconciled."""
        now = self.clock.now()
        with claims.system_transaction(self.factory) as session:
            requeued = session.execute(
                update(Send)
                .where(Send.status == "claimed", Send.lease_expires_at < now)
                .values(status="queued", claimed_by=None, lease_expires_at=None, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            lapsed = session.execute(
                update(Send)
                .where(Send.status == "in_flight", Send.lease_expires_at < now)
                .values(
                    status="unknown",
                    claimed_by=None,
                    lease_expires_at=None,
                    next_attempt_at=now
                    + timedelta(seconds=self.settings.mail_reconcile_delay_seconds),
                    last_error="the worker stopped during the attempt",
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
        return int(requeued) + int(lapsed)

    # ------------------------------------------------------------------ sending

    def send_one(self, send_id: uuid.UUID) -> str | None:
        """Decide, attempt and record one claimed send; returns its new status."""
        return self._run([send_id])[send_id]

    def _run(self, send_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """Decide, attempt and record claimed sends; the new status of each (None where the
        claim was lost, or the attempt's row is no longer this worker's to record)."""
        leased_at = self.clock.now()
        decided = self._decide(send_ids)
        outcomes: dict[uuid.UUID, str | None] = {}
        ready: list[_InFlight] = []
        for send_id in send_ids:
            decision = decided.get(send_id)
            if isinstance(decision, _InFlight):
                ready.append(decision)
                outcomes[send_id] = None
            else:
                outcomes[send_id] = decision
        if ready:
            outcomes.update(self._attempt(ready, leased_at))
        return outcomes

    def _prepare(self, send_id: uuid.UUID) -> EmailMessage | str | None:
        """Decide one claimed send: its message (now in flight), its new status, or None."""
        decision = self._decide([send_id]).get(send_id)
        return decision.message if isinstance(decision, _InFlight) else decision

    def _decide(self, send_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decided]:
        """The decision on each held send; a send missing from the result was not held."""
        try:
            return self._decide_batch(send_ids)
        except Exception:
            if len(send_ids) == 1:
                raise
            log.exception("deciding %d sends together failed; deciding each alone", len(send_ids))
        decided: dict[uuid.UUID, Decided] = {}
        for send_id in send_ids:
            try:
                decided.update(self._decide_batch([send_id]))
            except Exception:
                # Still claimed: the sweep puts it back in the queue when its lease runs out.
                log.exception("send %s: the checks before sending failed", send_id)
        return decided

    def _decide_batch(self, send_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decided]:
        with claims.worker_session(self.factory) as session, session.begin():
            held = _hold_all(session, send_ids, self.worker)
            by_workspace: dict[uuid.UUID, list[Send]] = {}
            for send in held:
                by_workspace.setdefault(send.workspace_id, []).append(send)
            decided: dict[uuid.UUID, Decided] = {}
            # Always in the same order: the rows locked for the caps are then taken in one
            # order by every worker.
            for workspace_id in sorted(by_workspace):
                session.info.pop(SYSTEM_KEY, None)
                bind_workspace(session, workspace_id)
                decided.update(_Decisions(session, self, by_workspace[workspace_id]).run())
                # Written while the session is bound to this workspace.
                session.flush()
            _unbind(session)
        return decided

    def _attempt(self, ready: list[_InFlight], leased_at: datetime) -> dict[uuid.UUID, str | None]:
        """Hand each in-flight message to the transport, then record the receipts.

        A fast batch is recorded once, at the end. In a slow one (SMTP), each time a tenth
        of the lease has passed, the leases of the sends not recorded yet (attempted or
        waiting) are renewed and the receipts so far are recorded. A send whose lease was
        taken over meanwhile is not attempted, and goes back to the queue when recorded.
        """
        recorded: dict[uuid.UUID, str | None] = {}
        outcomes: list[tuple[_InFlight, SendReceipt | None]] = []
        ours = {item.send_id for item in ready}
        for index, item in enumerate(ready):
            if self.clock.now() - leased_at >= self.lease * RENEW_AFTER:
                leased_at = self.clock.now()
                unrecorded = [done for done, _ in outcomes] + [
                    waiting for waiting in ready[index:] if waiting.send_id in ours
                ]
                try:
                    ours = self._renew(unrecorded, leased_at)
                except Exception:
                    log.exception("could not renew the leases of %d sends", len(unrecorded))
                    outcomes.extend((waiting, None) for waiting in ready[index:])
                    recorded.update(self._record(outcomes))
                    return recorded
                recorded.update(self._record(outcomes))
                outcomes = []
            if item.send_id not in ours:
                # The sweep took it over; reconciliation settles it, or the record (it was
                # never attempted) puts it back in the queue.
                log.warning("send %s: lease lost before the attempt; not sent", item.send_id)
                outcomes.append((item, None))
                continue
            try:
                receipt = self.transport.channel.send(item.message)
            except Exception as exc:  # a transport bug must not strand the row in flight
                log.exception("send %s: transport error", item.send_id)
                receipt = SendReceipt(
                    SendOutcome.unknown, item.message_id, "transport", detail=repr(exc)
                )
            outcomes.append((item, receipt))
        if outcomes and self.clock.now() - leased_at >= self.lease * RENEW_AFTER:
            # Recording may wait for locks: the attempted sends keep their leases meanwhile.
            try:
                self._renew([done for done, _ in outcomes], self.clock.now())
            except Exception:
                log.exception("could not renew the leases of %d sends", len(outcomes))
        recorded.update(self._record(outcomes))
        return recorded

    def _renew(self, sends: list[_InFlight], now: datetime) -> set[uuid.UUID]:
        """Extend the leases of this worker's in-flight sends; those still its own."""
        if not sends:
            return set()
        with claims.system_transaction(self.factory) as session:
            return set(
                session.scalars(
                    update(Send)
                    .where(
                        Send.id.in_([item.send_id for item in sends]),
                        Send.message_id.in_([item.message_id for item in sends]),
                        Send.status == "in_flight",
                        Send.claimed_by == self.worker,
                    )
                    .values(lease_expires_at=now + self.lease, updated_at=now)
                    .returning(Send.id)
                    .execution_options(synchronize_session=False)
                )
            )

    def _record(
        self, outcomes: list[tuple[_InFlight, SendReceipt | None]]
    ) -> dict[uuid.UUID, str | None]:
        """Record the receipts (None: never handed to the transport) in one transaction, or
        each alone if that fails."""
        if not outcomes:
            return {}
        try:
            return self._record_batch(outcomes)
        except Exception:
            if len(outcomes) == 1:
                raise
            log.exception("recording %d sends together failed; recording each alone", len(outcomes))
        recorded: dict[uuid.UUID, str | None] = {}
        for outcome in outcomes:
            try:
                recorded.update(self._record_batch([outcome]))
            except Exception:
                # Still in flight: the sweep makes it unknown and reconciliation settles it.
                log.exception("send %s: recording the outcome failed", outcome[0].send_id)
        return recorded

    def _record_batch(
        self, outcomes: list[tuple[_InFlight, SendReceipt | None]]
    ) -> dict[uuid.UUID, str | None]:
        ids = [item.send_id for item, _ in outcomes]
        recorded: dict[uuid.UUID, str | None] = dict.fromkeys(ids)
        with (
            claims.worker_session(self.factory) as session,
            session.begin(),
            activity.deferred_metrics(session, self.clock),
        ):
            session.info[SYSTEM_KEY] = True
            query = select(Send).where(Send.id.in_(ids))
            if session.get_bind().dialect.name != "sqlite":
                # Checked and written under the row locks: no one changes them in between.
                query = query.with_for_update(key_share=True)
            sends = {send.id: send for send in session.scalars(query)}
            by_workspace: dict[uuid.UUID, list[tuple[Send, SendReceipt | None]]] = {}
            for item, receipt in outcomes:
                send = sends.get(item.send_id)
                # Only this attempt's row (the attempt count changes with every decision).
                # A sweep may have turned it unknown meanwhile, and reconciliation may have
                # found it could not tell (needs review): what we learnt here is better.
                if (
                    send is None
                    or send.status not in ("in_flight", "unknown", "needs_review")
                    or send.message_id != item.message_id
                    or send.attempts != item.attempt
                ):
                    continue
                by_workspace.setdefault(send.workspace_id, []).append((send, receipt))
            for workspace_id in sorted(by_workspace):
                session.info.pop(SYSTEM_KEY, None)
                bind_workspace(session, workspace_id)
                group = by_workspace[workspace_id]
                followup = _load_for_receipts(session, [send for send, _ in group])
                for send, receipt in group:
                    if receipt is None:
                        recorded[send.id] = _release(session, self.clock, send)
                    else:
                        recorded[send.id] = _apply_receipt(
                            session, self.clock, send, receipt, followup
                        )
                session.flush()
            _unbind(session)
        return recorded

    # ------------------------------------------------------------------ reconciliation

    def claim_unknown(self, limit: int = 20) -> list[uuid.UUID]:
        now = self.clock.now()
        candidates = (
            select(Send.id)
            .where(
                Send.status == "unknown",
                or_(Send.next_attempt_at.is_(None), Send.next_attempt_at <= now),
            )
            .order_by(Send.next_attempt_at, Send.id)
            .limit(limit)
        )
        with claims.system_transaction(self.factory) as session:
            return claims.claim(
                session,
                Send,
                candidates,
                values={
                    "claimed_by": self.worker,
                    "lease_expires_at": now + self.lease,
                    # Hidden from other reconcilers until this one is done or lapses.
                    "next_attempt_at": now + self.lease,
                },
            )

    def reconcile_one(self, send_id: uuid.UUID) -> str | None:
        with claims.worker_session(self.factory) as session:
            session.info[SYSTEM_KEY] = True
            message_id = session.scalar(
                select(Send.message_id).where(
                    Send.id == send_id, Send.status == "unknown", Send.claimed_by == self.worker
                )
            )
        if message_id is None:
            return None
        try:
            found = self.transport.lookup(message_id)
        except Exception:
            log.exception("send %s: Sent-folder lookup failed", send_id)
            found = None
        mine = [Send.status == "unknown", Send.claimed_by == self.worker]
        with claims.held_in_workspace(self.factory, Send, send_id, conditions=mine) as held:
            if held is None:
                return None
            session, send = held
            return _settle_unknown(session, self.clock, self.transport, send, found)

    # ------------------------------------------------------------------ pumps

    def process(self, limit: int = 20) -> int:
        """Claim and handle what is due, as one batch; counts the sends that were attempted
        or ended (not those put back to wait for their window, cap or agent)."""
        claimed = self.claim_due(limit)
        if not claimed:
            return 0
        outcomes = self._run(claimed)
        return sum(1 for status in outcomes.values() if status not in (None, "queued"))

    def reconcile(self, limit: int = 20) -> int:
        done = 0
        for send_id in self.claim_unknown(limit):
            if self.reconcile_one(send_id) is not None:
                done += 1
        return done


def _hold_all(session: Session, send_ids: Sequence[uuid.UUID], worker: str) -> list[Send]:
    """Lock and load the batch's sends that this worker still owns, in the batch's order.

    Locking first, before any side effect, is how a worker whose lease was taken over
    finds out now rather than after it acted.
    """
    session.info.pop(WORKSPACE_KEY, None)
    session.info[SYSTEM_KEY] = True
    held = {
        send.id: send
        for send in session.scalars(
            update(Send)
            .where(Send.id.in_(send_ids), Send.status == "claimed", Send.claimed_by == worker)
            # A no-op assignment: the point is the lock and the ownership check.
            .values(claimed_by=Send.claimed_by)
            .returning(Send)
            .execution_options(synchronize_session=False)
        )
    }
    return [held[send_id] for send_id in send_ids if send_id in held]


def _unbind(session: Session) -> None:
    """Every workspace's rows are flushed; what is left (counters) spans workspaces."""
    session.info.pop(WORKSPACE_KEY, None)
    session.info[SYSTEM_KEY] = True


@dataclass(frozen=True, slots=True)
class _Ready:
    """A send that passed every check but the caps, with what it was checked against."""

    send: Send
    draft: OutreachDraft
    contact: Contact | None
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


class _Decisions:
    """Everything checked before the attempts of one workspace's held sends, in the batch's
    transaction bound to that workspace. Each send's decision is its message (the send is
    now in flight) or its new status (back in the queue, cancelled or failed)."""

    def __init__(self, session: Session, sender: Sender, sends: list[Send]) -> None:
        self.session = session
        self.sender = sender
        self.sends = sends
        self.workspace_id = sends[0].workspace_id
        self.now = sender.clock.now()
        self._workspace: Workspace | None = None
        self._workspace_loaded = False
        self._configs: dict[uuid.UUID | None, OutreachConfig] = {}

    def run(self) -> dict[uuid.UUID, Decided]:
        session, sends = self.session, self.sends
        drafts = _by_id(session, OutreachDraft, {send.draft_id for send in sends})
        contacts = _by_id(session, Contact, {send.contact_id for send in sends if send.contact_id})
        agents = _agents(session, {send.agent_id for send in sends if send.agent_id}, "outreach")
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
        return decided

    def _check(
        self,
        send: Send,
        draft: OutreachDraft | None,
        contact: Contact | None,
        agents: dict[uuid.UUID | str, Agent],
        blocked: Suppression | None,
    ) -> _Ready | str:
        if draft is None or draft.status != "approved":
            return self._stop(send, "cancelled", "the draft is no longer approved")
        expected = approval_hash(draft.recipient, draft.subject, draft.message_body)
        if not (
            draft.approval_hash == send.approval_hash == expected
            and draft.recipient == send.recipient
        ):
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
        session, sender = self.session, self.sender
        threads = _parent_message_ids(session, [item.draft for item in ready])
        composer = _Composer(self)
        built: dict[uuid.UUID, EmailMessage | ValueError] = {}
        for item in ready:
            try:
                built[item.send.id] = composer.compose(
                    item.send, item.draft, threads.get(item.draft.id, [])
                )
            except ValueError as exc:
                built[item.send.id] = exc
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
        by_mailbox = self._usage(Send.mailbox_id == mailbox.id)
        # Everything the workspace sends, follow-ups included, counts against the Outreach
        # agent's daily maximum.
        by_workspace = self._usage(Send.workspace_id == self.workspace_id)
        decided: dict[uuid.UUID, Decided] = {}
        going: list[Send] = []
        for item in ready:
            send = item.send
            full = by_mailbox.full(mailbox.daily_cap, self.now)
            if full is None:
                full = by_workspace.full(item.config.maxDailyOutreach, self.now)
            if full is not None:
                decided[send.id] = self._later(send, full, "the daily sending cap is reached")
                continue
            if send.message_id is None:
                send.message_id = make_message_id(composer.domain)
            message = built[send.id]
            if isinstance(message, ValueError):
                decided[send.id] = self._stop(
                    send, "failed", f"the message could not be built: {message}"
                )
                continue
            # The recorded Message-ID, not a fresh one: reconciliation looks for this one.
            message.replace_header("Message-ID", send.message_id)
            send.status = "in_flight"
            send.mailbox_id = mailbox.id
            send.started_at = self.now
            send.attempts += 1
            send.updated_at = self.now
            by_mailbox.add(self.now)
            by_workspace.add(self.now)
            decided[send.id] = _InFlight(send.id, message, send.message_id, send.attempts)
            going.append(send)
        # The leases run from now, not from before the wait for the locks.
        expires = sender.clock.now() + sender.lease
        for send in going:
            send.lease_expires_at = expires
        return decided

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

    def workspace(self) -> Workspace | None:
        if not self._workspace_loaded:
            self._workspace = self.session.get(Workspace, self.workspace_id)
            self._workspace_loaded = True
        return self._workspace

    def _stop(self, send: Send, status: str, reason: str) -> str:
        send.status = status
        send.last_error = reason
        send.claimed_by = None
        send.lease_expires_at = None
        send.updated_at = self.now
        _log(self.session, self.sender.clock, send, f"Did not send: {reason}", status)
        return status

    def _later(self, send: Send, when: datetime, reason: str) -> str:
        send.status = "queued"
        send.not_before = max(when, self.now + timedelta(seconds=1))
        send.last_error = reason
        send.claimed_by = None
        send.lease_expires_at = None
        send.updated_at = self.now
        return "queued"

    def _window(self, config: OutreachConfig, contact: Contact | None) -> datetime | None:
        """None when now is inside the window; else when it next opens."""
        if not config.businessHoursOnly:
            return None
        workspace = self.workspace()
        default_tz = workspace.timezone if workspace else "UTC"
        opening = timing.next_send_window(
            at=self.now,
            recipient_tz=contact.timezone if contact else None,
            business_hours=config.business_hours,
            default_tz=default_tz,
        )
        return None if opening <= self.now else opening


class _Composer:
    """Builds the messages of one workspace's batch; what they share is worked out once."""

    def __init__(self, decisions: _Decisions) -> None:
        settings = decisions.sender.settings
        workspace = decisions.workspace()
        self.now = decisions.now
        # The address ensure_mailbox finds or creates the mailbox by.
        self.from_address = settings.mail_from_address.strip().lower()
        self.from_name = settings.mail_from_name or (workspace.name if workspace else "")
        self.secret = secret_key(settings)
        self.domain = message_id_domain(settings)
        self.base_url = public_base_url(settings)
        self.postal_address = settings.mail_postal_address or None

    def compose(self, send: Send, draft: OutreachDraft, parent: list[str]) -> EmailMessage:
        """The message, with a Message-ID of its own until the send's is known."""
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
            unsubscribe_url=f"{self.base_url}/unsubscribe/{token}",
            unsubscribe_mailto=None,
            postal_address=self.postal_address,
            in_reply_to=parent[-1] if parent else None,
            references=parent[:-1] if parent else None,
            now=self.now,
        )


Row = TypeVar("Row", OutreachDraft, Contact)


def _by_id(session: Session, model: type[Row], ids: set[uuid.UUID]) -> dict[uuid.UUID, Row]:
    """Rows of the bound workspace by id, in one query."""
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _agents(session: Session, ids: set[uuid.UUID], agent_type: str) -> dict[uuid.UUID | str, Agent]:
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


def _stop_reason(contact: Contact | None, draft: OutreachDraft) -> str | None:
    if contact is None:
        return None
    if contact.outreach_status == "do_not_contact":
        return "the contact asked not to be contacted"
    if draft.followup_number > 0 and contact.outreach_status in STOPPED:
        return f"the contact has {contact.outreach_status.replace('_', ' ')}: no follow-up"
    if draft.followup_number > 0 and contact.email_status == "invalid":
        return "the address bounced"
    return None


def _parent_message_ids(
    session: Session, drafts: Iterable[OutreachDraft]
) -> dict[uuid.UUID, list[str]]:
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


def _apply_receipt(
    session: Session,
    clock: Clock,
    send: Send,
    receipt: SendReceipt,
    followup: _FollowupAgent | None = None,
) -> str:
    now = clock.now()
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    detail = f"{receipt.phase}: {receipt.code or ''} {receipt.detail}".strip()
    if receipt.outcome is SendOutcome.sent:
        _mark_sent(session, clock, send, followup=followup)
        return send.status
    if receipt.outcome is SendOutcome.retryable:
        send.last_error = detail
        # Never accepted, so it never reached anyone: it does not count against the caps.
        send.started_at = None
        if send.attempts >= send.max_attempts:
            send.status = "failed"
            _log(
                session, clock, send, f"Gave up after {send.attempts} attempts: {detail}", "failed"
            )
        else:
            send.status = "retry_wait"
            send.not_before = now + claims.backoff(send.attempts, base=30.0, cap=3600.0)
        return send.status
    if receipt.outcome is SendOutcome.permanent:
        send.status = "failed"
        send.last_error = detail
        send.started_at = None
        if receipt.phase == "rcpt":
            _mark_address_invalid(session, clock, send)
        _log(session, clock, send, f"The mail server refused it: {detail}", "failed")
        return send.status
    send.status = "unknown"
    send.last_error = detail
    # Give the provider a moment to file its Sent copy before looking for it.
    send.next_attempt_at = now + reconcile_delay(session)
    _log(session, clock, send, f"Outcome unknown ({detail}); checking the mailbox", "unknown")
    return send.status


def _release(session: Session, clock: Clock, send: Send) -> str:
    """A send decided but never handed to the transport (its lease ran out first, so the
    sweep may have made it unknown) goes back to the queue with its Message-ID: it did not
    leave, so it does not count against the caps. Its attempt count stays, so a receipt
    of this decision can never be taken for one of a later decision."""
    now = clock.now()
    send.status = "queued"
    send.not_before = now
    send.started_at = None
    send.next_attempt_at = None
    send.claimed_by = None
    send.lease_expires_at = None
    send.last_error = "not attempted before its lease ran out; queued again"
    send.updated_at = now
    _log(session, clock, send, "Not attempted before its lease ran out; queued again", "queued")
    return send.status


def reconcile_delay(session: Session) -> timedelta:
    return timedelta(seconds=settings_of(session).mail_reconcile_delay_seconds)


def _settle_unknown(
    session: Session, clock: Clock, transport: Transport, send: Send, found: bool | None
) -> str:
    now = clock.now()
    unknown_since = send.started_at or now
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    if found:
        mark_sent(session, clock, send, reconciled=True)
    elif found is False and transport.absence_is_proof:
        # Proven not to have left: sending it again (same Message-ID) is not a blind resend.
        send.status = "queued"
        send.started_at = None
        send.not_before = now
        send.last_error = "not in the mailbox: it never left; queued again"
        _log(session, clock, send, "The message had not left; queued again", "queued")
    elif found is None and transport.can_lookup and now - unknown_since < LOOKUP_GIVE_UP:
        send.next_attempt_at = now + LOOKUP_RETRY
        return send.status
    else:
        send.status = "needs_review"
        send.last_error = (
            "could not confirm whether it was delivered; a person must decide"
            if found is None
            else "not found in the Sent folder; a person must decide"
        )
        _log(session, clock, send, "Needs review: delivery could not be confirmed", "review")
    return send.status


def mark_sent(
    session: Session,
    clock: Clock,
    send: Send,
    *,
    reconciled: bool = False,
    by_user: uuid.UUID | None = None,
) -> None:
    """Record a send as delivered: the draft, the contact, counters, and Follow-up told."""
    _mark_sent(session, clock, send, reconciled=reconciled, by_user=by_user)


def _mark_sent(
    session: Session,
    clock: Clock,
    send: Send,
    *,
    reconciled: bool = False,
    by_user: uuid.UUID | None = None,
    followup: _FollowupAgent | None = None,
) -> None:
    now = clock.now()
    send.status = "sent"
    send.sent_at = now
    send.started_at = send.started_at or now
    send.last_error = None
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    draft = session.get(OutreachDraft, send.draft_id)
    if draft is not None:
        draft.status = "sent"
        draft.updated_at = now
    contact = session.get(Contact, send.contact_id) if send.contact_id else None
    if contact is not None and contact.outreach_status in ("new", "queued"):
        contact.outreach_status = "contacted"
    how = " (confirmed in the Sent folder)" if reconciled else ""
    if by_user is not None:
        how = " (marked as sent by hand)"
    _log(session, clock, send, f"Sent to {send.recipient}{how}", "sent")
    if send.agent_id is not None:
        activity.bump_metrics(
            session=session, clock=clock, agent_id=send.agent_id, counts={"outreach_sent": 1}
        )
        _tell_followup(session, clock, send, draft, followup)


@dataclass(frozen=True, slots=True)
class _FollowupAgent:
    """The workspace's Follow-up agent and its settings, looked up once for many sends."""

    agent: Agent | None
    config: FollowupConfig
    # What recording the sends reads, loaded up front; held here because the session
    # keeps unchanged rows only while something refers to them.
    preloaded: tuple[object, ...] = ()

    @classmethod
    def of(cls, agent: Agent | None, preloaded: tuple[object, ...] = ()) -> _FollowupAgent:
        config = FollowupConfig.model_validate(agent.config if agent else {})
        return cls(agent, config, preloaded)


def _load_for_receipts(session: Session, sends: list[Send]) -> _FollowupAgent:
    """The Follow-up agent, and what recording these sends reads (drafts, contacts, their
    agents), a query per kind, so the lookups while recording find them in the session."""
    drafts = _by_id(session, OutreachDraft, {send.draft_id for send in sends})
    contacts = _by_id(session, Contact, {send.contact_id for send in sends if send.contact_id})
    agents = _agents(session, {send.agent_id for send in sends if send.agent_id}, "followup")
    preloaded = (*drafts.values(), *contacts.values(), *agents.values())
    return _FollowupAgent.of(agents.get("followup"), preloaded)


def _tell_followup(
    session: Session,
    clock: Clock,
    send: Send,
    draft: OutreachDraft | None,
    followup: _FollowupAgent | None = None,
) -> None:
    outreach = session.get(Agent, send.agent_id) if send.agent_id else None
    if outreach is None or draft is None or draft.followup_number > 0:
        return
    if followup is None:
        followup = _FollowupAgent.of(bus.find_agent(session, "followup"))
    if followup.agent is None:
        log.info("workspace %s has no Follow-up agent to tell", send.workspace_id)
        return
    sent_at = send.sent_at or clock.now()
    payload = {
        "contactId": str(send.contact_id) if send.contact_id else None,
        "originalOutreachId": str(draft.id),
        "sendId": str(send.id),
        "messageId": send.message_id,
        "sentAt": sent_at.isoformat(),
        "followupDate": add_business_days(
            sent_at.date(), followup.config.followupDelayDays
        ).isoformat(),
    }
    # What Bus.notify does, with the recipient already known.
    bus.send(
        session=session,
        clock=clock,
        sender=outreach,
        recipient=followup.agent,
        message_type="notification",
        subject=f"Sent first message to {send.recipient}",
        payload=payload,
    )


def _mark_address_invalid(session: Session, clock: Clock, send: Send) -> None:
    contact = session.get(Contact, send.contact_id) if send.contact_id else None
    if contact is not None:
        contact.email_status = "invalid"
    suppression.add(session, clock, "email", send.recipient, "bounce", "refused by the server")


def _log(session: Session, clock: Clock, send: Send, description: str, outcome: str) -> None:
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
