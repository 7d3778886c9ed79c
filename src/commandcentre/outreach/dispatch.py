"""The send pump: approved emails leave exactly once, inside their window, within the caps.

A send moves ``queued → claimed → in_flight → sent`` (or ``retry_wait``, ``failed``,
``unknown``). Everything that decides whether to send (approval fingerprint, suppression,
paused agent, window, caps) happens in one transaction that ends by recording the send as
``in_flight`` with its Message-ID; only then does the message go out, and a second
transaction records the outcome. A crash between the two leaves an ``in_flight`` row whose
lease runs out: the sweep marks it ``unknown`` and reconciliation asks the mailbox whether
that Message-ID left, instead of sending blind.

Caps are exact under concurrency: the agent's and the mailbox's rows are locked (SQLite
holds its single write lock already) before the rolling 24-hour count, and the count
includes every send that may have reached the recipient.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import activity, claims
from commandcentre.agents.bus import Bus, find_agent
from commandcentre.agents.config import FollowupConfig, OutreachConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.scoping import SYSTEM_KEY, bind_workspace
from commandcentre.errors import NotFound
from commandcentre.followups.rules import add_business_days
from commandcentre.intel.models import Contact
from commandcentre.outreach import pacing, suppression, timing
from commandcentre.outreach.channels.email import SendOutcome, SendReceipt
from commandcentre.outreach.compose import approval_hash, compose_email, make_message_id
from commandcentre.outreach.models import Mailbox, OutreachDraft, Send
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
        prepared = self._prepare(send_id)
        if isinstance(prepared, str) or prepared is None:
            return prepared
        try:
            receipt = self.transport.channel.send(prepared)
        except Exception as exc:  # a transport bug must not strand the row in flight
            log.exception("send %s: transport error", send_id)
            receipt = SendReceipt(
                SendOutcome.unknown, str(prepared["Message-ID"]), "transport", detail=repr(exc)
            )
        return self._record(send_id, receipt)

    def _prepare(self, send_id: uuid.UUID) -> EmailMessage | str | None:
        mine = [Send.status == "claimed", Send.claimed_by == self.worker]
        with claims.held_in_workspace(self.factory, Send, send_id, conditions=mine) as held:
            if held is None:
                return None
            session, send = held
            return _Decision(session, self, send).run()

    def _record(self, send_id: uuid.UUID, receipt: SendReceipt) -> str | None:
        with claims.worker_session(self.factory) as session, session.begin():
            session.info[SYSTEM_KEY] = True
            send = session.get(Send, send_id)
            # Only this attempt's row: a sweep may have turned it unknown meanwhile, and
            # what we learnt here is better than what reconciliation would guess.
            if (
                send is None
                or send.status not in ("in_flight", "unknown")
                or send.message_id != receipt.message_id
            ):
                return None
            del session.info[SYSTEM_KEY]
            bind_workspace(session, send.workspace_id)
            return _apply_receipt(session, self.clock, send, receipt)

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
        """Claim and handle what is due; counts the sends that were attempted or ended
        (not those put back to wait for their window, cap or agent)."""
        done = 0
        for send_id in self.claim_due(limit):
            if self.send_one(send_id) not in (None, "queued"):
                done += 1
        return done

    def reconcile(self, limit: int = 20) -> int:
        done = 0
        for send_id in self.claim_unknown(limit):
            if self.reconcile_one(send_id) is not None:
                done += 1
        return done


class _Decision:
    """Everything checked before an attempt, in one transaction on a held send."""

    def __init__(self, session: Session, sender: Sender, send: Send) -> None:
        self.session = session
        self.sender = sender
        self.send = send
        self.now = sender.clock.now()

    def run(self) -> EmailMessage | str:
        session, send = self.session, self.send
        draft = session.get(OutreachDraft, send.draft_id)
        if draft is None or draft.status != "approved":
            return self._stop("cancelled", "the draft is no longer approved")
        expected = approval_hash(draft.recipient, draft.subject, draft.message_body)
        if not (
            draft.approval_hash == send.approval_hash == expected
            and draft.recipient == send.recipient
        ):
            return self._stop("failed", "the message differs from what was approved")
        blocked = suppression.is_suppressed(session, send.recipient)
        if blocked is not None:
            return self._stop(
                "cancelled", f"suppressed ({blocked.kind} {blocked.value}: {blocked.reason})"
            )
        author = session.get(Agent, send.agent_id) if send.agent_id else None
        agent = pacing.outreach_agent(session, send.agent_id)
        config = OutreachConfig.model_validate(agent.config if agent is not None else {})
        for who in {a for a in (author, agent) if a is not None}:
            if who.paused_at is not None:
                return self._later(self.now + PAUSED_RECHECK, f"the {who.name} agent is paused")
        contact = session.get(Contact, send.contact_id) if send.contact_id else None
        stop = _stop_reason(contact, draft)
        if stop is not None:
            return self._stop("cancelled", stop)
        opening = self._window(config, contact)
        if opening is not None:
            return self._later(opening, "outside the send window")
        if agent is not None:
            session.execute(select(Agent.id).where(Agent.id == agent.id).with_for_update())
        mailbox = ensure_mailbox(session, self.sender.clock, self.sender.settings)
        session.execute(select(Mailbox.id).where(Mailbox.id == mailbox.id).with_for_update())
        full = self._cap_reached(Send.mailbox_id == mailbox.id, mailbox.daily_cap)
        if full is None:
            # Everything the workspace sends, follow-ups included, counts against the
            # Outreach agent's daily maximum.
            full = self._cap_reached(
                Send.workspace_id == send.workspace_id, config.maxDailyOutreach
            )
        if full is not None:
            return self._later(full, "the daily sending cap is reached")
        if send.message_id is None:
            send.message_id = make_message_id(message_id_domain(self.sender.settings))
        try:
            message = self._compose(draft, contact, mailbox)
        except ValueError as exc:
            return self._stop("failed", f"the message could not be built: {exc}")
        send.status = "in_flight"
        send.mailbox_id = mailbox.id
        send.started_at = self.now
        send.attempts += 1
        send.lease_expires_at = self.now + self.sender.lease
        send.updated_at = self.now
        return message

    def _stop(self, status: str, reason: str) -> str:
        send = self.send
        send.status = status
        send.last_error = reason
        send.claimed_by = None
        send.lease_expires_at = None
        send.updated_at = self.now
        _log(self.session, self.sender.clock, send, f"Did not send: {reason}", status)
        return status

    def _later(self, when: datetime, reason: str) -> str:
        send = self.send
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
        workspace = self.session.get(Workspace, self.send.workspace_id)
        default_tz = workspace.timezone if workspace else "UTC"
        opening = timing.next_send_window(
            at=self.now,
            recipient_tz=contact.timezone if contact else None,
            business_hours=config.business_hours,
            default_tz=default_tz,
        )
        return None if opening <= self.now else opening

    def _cap_reached(self, scope: ColumnElement[bool], cap: int) -> datetime | None:
        """None while under the cap; else when the oldest counted send leaves the window."""
        since = self.now - CAP_WINDOW
        used, oldest = self.session.execute(
            select(func.count(Send.id), func.min(Send.started_at)).where(
                scope,
                Send.status.in_(COUNTED),
                Send.started_at > since,
            )
        ).one()
        if used < cap:
            return None
        return (oldest or self.now) + CAP_WINDOW

    def _compose(
        self, draft: OutreachDraft, contact: Contact | None, mailbox: Mailbox
    ) -> EmailMessage:
        settings = self.sender.settings
        workspace = self.session.get(Workspace, self.send.workspace_id)
        from_name = settings.mail_from_name or (workspace.name if workspace else "")
        token = make_token(
            secret_key(settings),
            workspace_id=self.send.workspace_id,
            contact_id=self.send.contact_id or uuid.UUID(int=0),
            email=self.send.recipient,
        )
        parent = _parent_message_ids(self.session, draft)
        assert self.send.message_id is not None
        message = compose_email(
            from_address=mailbox.from_address,
            from_name=from_name,
            to_address=self.send.recipient,
            subject=draft.subject,
            body=draft.message_body,
            message_id_domain=message_id_domain(settings),
            unsubscribe_url=f"{public_base_url(settings)}/unsubscribe/{token}",
            unsubscribe_mailto=None,
            postal_address=settings.mail_postal_address or None,
            in_reply_to=parent[-1] if parent else None,
            references=parent[:-1] if parent else None,
            now=self.now,
        )
        # The recorded Message-ID, not a fresh one: reconciliation looks for this one.
        message.replace_header("Message-ID", self.send.message_id)
        return message


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


def _parent_message_ids(session: Session, draft: OutreachDraft) -> list[str]:
    """Message-IDs of the earlier messages of this thread, oldest first (follow-ups)."""
    chain: list[str] = []
    parent_id = draft.parent_draft_id
    seen: set[uuid.UUID] = set()
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        message_id = session.scalar(
            select(Send.message_id).where(Send.draft_id == parent_id, Send.status == "sent")
        )
        if message_id:
            chain.append(message_id)
        parent = session.get(OutreachDraft, parent_id)
        parent_id = parent.parent_draft_id if parent else None
    return list(reversed(chain))


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


def _apply_receipt(session: Session, clock: Clock, send: Send, receipt: SendReceipt) -> str:
    now = clock.now()
    send.claimed_by = None
    send.lease_expires_at = None
    send.updated_at = now
    detail = f"{receipt.phase}: {receipt.code or ''} {receipt.detail}".strip()
    if receipt.outcome is SendOutcome.sent:
        mark_sent(session, clock, send)
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
        _tell_followup(session, clock, send, draft)


def _tell_followup(session: Session, clock: Clock, send: Send, draft: OutreachDraft | None) -> None:
    outreach = session.get(Agent, send.agent_id) if send.agent_id else None
    if outreach is None or draft is None or draft.followup_number > 0:
        return
    followup = find_agent(session, "followup")
    config = FollowupConfig.model_validate(followup.config if followup else {})
    sent_at = send.sent_at or clock.now()
    payload = {
        "contactId": str(send.contact_id) if send.contact_id else None,
        "originalOutreachId": str(draft.id),
        "sendId": str(send.id),
        "messageId": send.message_id,
        "sentAt": sent_at.isoformat(),
        "followupDate": add_business_days(sent_at.date(), config.followupDelayDays).isoformat(),
    }
    try:
        Bus(session=session, clock=clock, sender=outreach).notify(
            "followup", f"Sent first message to {send.recipient}", payload
        )
    except NotFound:
        log.info("workspace %s has no Follow-up agent to tell", send.workspace_id)


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
