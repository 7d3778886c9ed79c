"""A month of outreach to 1,000 contacts on a manual clock, with random replies,
unsubscribes, bounces and absences: no follow-up ever reaches someone who answered,
opted out or bounced, and follow-ups still reach everyone who stayed silent."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from cctest.outreach import outbox_sender, seed_drafts
from commandcentre.agents.models import Agent
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.inbound import process
from commandcentre.outreach.models import OutreachDraft, Send

CONTACTS = 1000
# The same simulation, smaller, proves PostgreSQL behaves alike without doubling CI time.
POSTGRES_CONTACTS = 250
DAYS = 24
STEP = timedelta(hours=12)
# Chance per 12-hour step that a contact who has mail from us reacts to it.
REACTION_CHANCE = 0.03


@dataclass(frozen=True)
class Reaction:
    kind: str
    at: datetime


@dataclass(frozen=True)
class Sent:
    contact_id: uuid.UUID
    recipient: str
    subject: str
    message_id: str


def _reply(send: Sent, kind: str) -> bytes:
    head = (
        f"From: <{send.recipient}>\r\nTo: outreach@example.com\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mail.helix.example>\r\n"
        f"In-Reply-To: {send.message_id}\r\nReferences: {send.message_id}\r\n"
    )
    if kind == "reply":
        return (head + f"Subject: Re: {send.subject}\r\n\r\nYes, let us talk.\r\n").encode()
    if kind == "unsubscribe":
        return (head + f"Subject: Re: {send.subject}\r\n\r\nPlease unsubscribe me.\r\n").encode()
    if kind == "away":
        return (
            head + "Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\n"
            "I am out of the office with limited access to email.\r\n"
        ).encode()
    return (
        "From: MAILER-DAEMON@mx.helix.example\r\nTo: outreach@example.com\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.helix.example>\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nCould not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.helix.example\r\n\r\n"
        f"Final-Recipient: rfc822; {send.recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {send.message_id}\r\n--b--\r\n"
    ).encode()


@pytest.mark.slow
def test_no_follow_up_reaches_anyone_who_answered_opted_out_or_bounced(
    ctx: AppContext, clock: ManualClock
) -> None:
    ctx.settings.mail_daily_cap = 100_000
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    contacts = CONTACTS if ctx.engine.dialect.name == "sqlite" else POSTGRES_CONTACTS
    drafted = seed_drafts(
        ctx,
        contacts,
        config={"businessHoursOnly": False, "undoDelaySeconds": 0, "maxDailyOutreach": 1000},
        approve=True,
    )
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        session.execute(
            update(Agent)
            .where(Agent.id == drafted.seeded.agents["followup"])
            .values(config={"autoApprove": True, "maxFollowups": 2, "minGapHours": 24})
        )
    pumps = Pumps(ctx.session_factory, ctx.clock, "sim", sends=outbox_sender(ctx))
    reactions: dict[uuid.UUID, Reaction] = {}
    end = clock.now() + timedelta(days=DAYS)
    while clock.now() < end:
        for _ in range(20):
            done = (
                pumps.process_sends(200)
                + pumps.process_messages(200)
                + pumps.process_followups(200)
            )
            if not done:
                break
        _react(ctx, drafted.workspace_id, rng, reactions, clock.now())
        clock.advance(STEP)

    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        rows = session.execute(
            select(
                Send.contact_id, Send.status, Send.started_at, OutreachDraft.followup_number
            ).join(OutreachDraft, OutreachDraft.id == Send.draft_id)
        ).all()
    late = [
        (contact_id, started_at, reactions[contact_id])
        for contact_id, status, started_at, number in rows
        if number > 0
        and status == "sent"
        and contact_id in reactions
        and reactions[contact_id].kind != "away"
        and started_at is not None
        and started_at > reactions[contact_id].at
    ]
    assert late == [], f"seed {seed}"
    silent = {c for c, *_ in rows} - set(reactions)
    followed = {c for c, status, _, n in rows if n > 0 and status == "sent"}
    assert silent, f"seed {seed}: everyone reacted; the test proves nothing"
    assert silent <= followed, f"seed {seed}: a silent contact got no follow-up"
    kinds = {r.kind for r in reactions.values()}
    assert kinds == {"reply", "unsubscribe", "bounce", "away"}, f"seed {seed}"


def _react(
    ctx: AppContext,
    workspace_id: uuid.UUID,
    rng: random.Random,
    reactions: dict[uuid.UUID, Reaction],
    now: datetime,
) -> None:
    with workspace_session(ctx.session_factory, workspace_id) as session:
        rows = session.execute(
            select(Send.contact_id, Send.recipient, Send.subject, Send.message_id)
            .where(Send.status == "sent")
            .order_by(Send.started_at)
        ).all()
        # The latest message each contact got; each contact rolls once per step, so about
        # a quarter of them stay silent over the month (a roll per message would leave
        # almost nobody silent once follow-ups go out).
        latest = {row.contact_id: row for row in rows}
        for contact_id, row in latest.items():
            assert contact_id is not None
            assert row.message_id is not None
            if contact_id in reactions or rng.random() > REACTION_CHANCE:
                continue
            kind = rng.choice(["reply", "reply", "unsubscribe", "bounce", "away"])
            sent = Sent(contact_id, row.recipient, row.subject, row.message_id)
            process.ingest_raw(session, ctx.clock, _reply(sent, kind), "imap")
            reactions[contact_id] = Reaction(kind, now)
