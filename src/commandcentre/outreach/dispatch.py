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

This module holds the pump itself (claim, sweep, the decide/attempt/record orchestration and
reconciliation). The checks and caps of step 1 live in ``decisions``; what a receipt or a
reconciliation lookup does to a send (steps 3 and after) lives in ``receipts``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from commandcentre.agents import activity, claims
from commandcentre.clock import Clock
from commandcentre.db.scoping import SYSTEM_KEY
from commandcentre.outreach.channels.email import BatchChannel, SendOutcome, SendReceipt
from commandcentre.outreach.decisions import HELD_COLUMNS, Decided, Decisions, Held, InFlight
from commandcentre.outreach.models import Send
from commandcentre.outreach.receipts import (
    apply_receipt,
    load_for_receipts,
    release,
    settle_unknown,
)
from commandcentre.outreach.transport import Transport
from commandcentre.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
# A batch's sends still waiting for the transport get their leases renewed once this share
# of the lease has passed, so each message leaves with at least the rest of its lease ahead.
RENEW_AFTER = 0.1


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
        ready: list[InFlight] = []
        for send_id in send_ids:
            decision = decided.get(send_id)
            if isinstance(decision, InFlight):
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
        return decision.message if isinstance(decision, InFlight) else decision

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
            by_workspace: dict[uuid.UUID, list[Held]] = {}
            for send in held:
                by_workspace.setdefault(send.workspace_id, []).append(send)
            decided: dict[uuid.UUID, Decided] = {}
            # Always in the same order: the rows locked for the caps are then taken in one
            # order by every worker.
            for workspace_id in sorted(by_workspace):
                claims.bind_to(session, workspace_id)
                decided.update(Decisions(session, self, by_workspace[workspace_id]).run())
                # Written while the session is bound to this workspace.
                session.flush()
            claims.as_system(session)
        return decided

    def _attempt(self, ready: list[InFlight], leased_at: datetime) -> dict[uuid.UUID, str | None]:
        """Hand each in-flight message to the transport, then record the receipts.

        A fast batch is recorded once, at the end. In a slow one (SMTP), each time a tenth
        of the lease has passed, the leases of the sends not recorded yet (attempted or
        waiting) are renewed and the receipts so far are recorded. A send whose lease was
        taken over meanwhile is not attempted, and goes back to the queue when recorded.
        """
        if isinstance(self.transport.channel, BatchChannel):
            return self._attempt_together(self.transport.channel, ready, leased_at)
        recorded: dict[uuid.UUID, str | None] = {}
        outcomes: list[tuple[InFlight, SendReceipt | None]] = []
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

    def _attempt_together(
        self, channel: BatchChannel, ready: list[InFlight], leased_at: datetime
    ) -> dict[uuid.UUID, str | None]:
        """``_attempt`` for a channel that takes the batch at once (the outbox, which writes
        a message in well under a millisecond): the leases are checked once, before."""
        ours = {item.send_id for item in ready}
        if self.clock.now() - leased_at >= self.lease * RENEW_AFTER:
            try:
                ours = self._renew(ready, self.clock.now())
            except Exception:
                log.exception("could not renew the leases of %d sends", len(ready))
                ours = set()
        going = [item for item in ready if item.send_id in ours]
        outcomes: list[tuple[InFlight, SendReceipt | None]] = [
            (item, None) for item in ready if item.send_id not in ours
        ]
        try:
            results = channel.send_all([item.message for item in going])
            if len(results) != len(going):
                raise RuntimeError(f"{len(results)} outcomes for {len(going)} messages")
        except Exception as exc:  # a transport bug must not strand the rows in flight
            results = [exc] * len(going)
        for item, result in zip(going, results, strict=True):
            if isinstance(result, Exception):
                log.error("send %s: transport error", item.send_id, exc_info=result)
                result = SendReceipt(
                    SendOutcome.unknown, item.message_id, "transport", detail=repr(result)
                )
            outcomes.append((item, result))
        if going and self.clock.now() - leased_at >= self.lease * RENEW_AFTER:
            # A slow disk: the written sends keep their leases while they are recorded.
            try:
                self._renew(going, self.clock.now())
            except Exception:
                log.exception("could not renew the leases of %d sends", len(going))
        return self._record(outcomes)

    def _renew(self, sends: list[InFlight], now: datetime) -> set[uuid.UUID]:
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
        self, outcomes: list[tuple[InFlight, SendReceipt | None]]
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
        self, outcomes: list[tuple[InFlight, SendReceipt | None]]
    ) -> dict[uuid.UUID, str | None]:
        ids = [item.send_id for item, _ in outcomes]
        recorded: dict[uuid.UUID, str | None] = dict.fromkeys(ids)
        with (
            claims.worker_session(self.factory) as session,
            session.begin(),
            activity.deferred_metrics(session, self.clock),
            activity.deferred_rows(session),
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
                claims.bind_to(session, workspace_id)
                group = by_workspace[workspace_id]
                followup = load_for_receipts(session, [send for send, _ in group])
                for send, receipt in group:
                    if receipt is None:
                        recorded[send.id] = release(session, self.clock, send)
                    else:
                        recorded[send.id] = apply_receipt(
                            session, self.clock, send, receipt, followup
                        )
                followup.finish(session, self.clock.now())
                activity.write_rows(session)
                session.flush()
            claims.as_system(session)
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
            return settle_unknown(session, self.clock, self.transport, send, found)

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


def _hold_all(session: Session, send_ids: Sequence[uuid.UUID], worker: str) -> list[Held]:
    """Lock the batch's sends that this worker still owns and read what deciding needs of
    them, in the batch's order (one UPDATE … RETURNING).

    Locking first, before any side effect, is how a worker whose lease was taken over
    finds out now rather than after it acted.
    """
    claims.as_system(session)
    rows = claims.hold_columns(
        session,
        Send,
        send_ids,
        conditions=[Send.status == "claimed", Send.claimed_by == worker],
        columns=HELD_COLUMNS,
    )
    held = {send.id: send for send in (Held(*row) for row in rows)}
    return [held[send_id] for send_id in send_ids if send_id in held]
