"""First-message drafts: grounded facts in, reviewed drafts out.

Code, never the writer, decides who a draft goes to and whether it may skip review: the
writer only sees the few facts a first message needs and returns text, claims and flags.

Drafting a task's contacts happens in three steps so model calls can overlap while the
database is only touched by the task's own thread: requests are built from stored facts;
the writer runs for all of them, up to ``concurrency`` at once (a model writer guards its own
session use with a lock); then the drafts are written in contact order. A spent model budget
(``StopWork``) keeps the drafts already written and stops the rest with its reason.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commandcentre.agents import activity
from commandcentre.agents.config import OutreachConfig
from commandcentre.agents.models import Agent
from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace
from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.intel.models import (
    Account,
    AccountIntel,
    Appearance,
    Contact,
    Event,
    EventSession,
    Opportunity,
    OpportunityContact,
)
from commandcentre.llm.factory import drafting_writer
from commandcentre.llm.guard import Budget, DeferredWrites
from commandcentre.llm.offline import OfflineWriter
from commandcentre.llm.retry import StopWork
from commandcentre.llm.types import (
    MAX_INSTRUCTION_CHARS,
    Channel,
    DraftRequest,
    DraftResult,
    Fact,
    Tone,
    Writer,
)
from commandcentre.llm.writer import draft_with_grounding
from commandcentre.outreach import review, suppression
from commandcentre.outreach.models import OutreachDraft
from commandcentre.outreach.timing import suggest_send_time
from commandcentre.settings import settings_of
from commandcentre.workspaces.models import Workspace

FIRST_MESSAGE_ASK = "a short conversation at the event"
MAX_INSTRUCTION = MAX_INSTRUCTION_CHARS
MAX_INTEL_FACTS = 2
# Fields whose text comes from the person or a scraped page, not from the workspace.
UNTRUSTED_FIELDS = frozenset({"contact.bio", "session.abstract"})
SKIPPED_OUTREACH_STATUSES = frozenset({"do_not_contact"})


def _fact(facts: list[Fact], field: str, value: str | None) -> None:
    # Blank values would only teach the writer to invent; leave the fact out instead.
    if value is not None and value.strip():
        facts.append(Fact(field=field, value=value.strip()))


def _talks(
    session: Session, contact_ids: Sequence[uuid.UUID], event_id: uuid.UUID
) -> dict[uuid.UUID, EventSession]:
    """Each contact's first talk at the event."""
    rows = session.execute(
        select(Appearance.contact_id, EventSession)
        .join(EventSession, Appearance.session_id == EventSession.id)
        .where(Appearance.contact_id.in_(contact_ids), Appearance.event_id == event_id)
        .order_by(EventSession.starts_at, EventSession.created_at)
    ).all()
    talks: dict[uuid.UUID, EventSession] = {}
    for contact_id, talk in rows:
        talks.setdefault(contact_id, talk)
    return talks


def _accounts(
    session: Session, contacts: Sequence[Contact], opportunity: Opportunity
) -> dict[uuid.UUID, Account]:
    """The account each contact matters for here: the one the opportunity was built on,
    else the contact's own."""
    chosen = dict(
        session.execute(
            select(OpportunityContact.contact_id, OpportunityContact.account_id).where(
                OpportunityContact.opportunity_id == opportunity.id,
                OpportunityContact.contact_id.in_([c.id for c in contacts]),
                OpportunityContact.account_id.is_not(None),
            )
        ).all()
    )
    for contact in contacts:
        if contact.id not in chosen and contact.account_id is not None:
            chosen[contact.id] = contact.account_id
    wanted = set(chosen.values())
    loaded = {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(wanted)))}
    return {cid: loaded[aid] for cid, aid in chosen.items() if aid in loaded}


def _intel(session: Session, account_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[AccountIntel]]:
    """The latest few intel notes of each account."""
    notes: dict[uuid.UUID, list[AccountIntel]] = {}
    if not account_ids:
        return notes
    rows = session.scalars(
        select(AccountIntel)
        .where(AccountIntel.account_id.in_(account_ids))
        # Undated notes sort after dated ones on every backend.
        .order_by(
            AccountIntel.noted_on.is_(None),
            AccountIntel.noted_on.desc(),
            AccountIntel.created_at.desc(),
        )
    )
    for item in rows:
        kept = notes.setdefault(item.account_id, [])
        if len(kept) < MAX_INTEL_FACTS:
            kept.append(item)
    return notes


def facts_for(session: Session, contact: Contact, opportunity: Opportunity) -> list[Fact]:
    """Only the fields a first message needs about this one contact at this one event."""
    return facts_for_many(session, [contact], opportunity)[contact.id]


def facts_for_many(
    session: Session, contacts: Sequence[Contact], opportunity: Opportunity
) -> dict[uuid.UUID, list[Fact]]:
    """facts_for of several contacts of one opportunity, with a handful of queries in all."""
    event = session.get(Event, opportunity.event_id)
    ids = [c.id for c in contacts]
    talks = _talks(session, ids, opportunity.event_id) if ids else {}
    accounts = _accounts(session, contacts, opportunity) if ids else {}
    intel = _intel(session, {a.id for a in accounts.values()})
    found: dict[uuid.UUID, list[Fact]] = {}
    for contact in contacts:
        facts: list[Fact] = []
        _fact(facts, "contact.full_name", contact.full_name)
        _fact(facts, "contact.title", contact.title)
        _fact(facts, "contact.organisation", contact.organisation)
        talk = talks.get(contact.id)
        if talk is not None:
            _fact(facts, "session.title", talk.title)
            _fact(facts, "session.abstract", talk.abstract)
        if event is not None:
            start = event.start_date.isoformat() if event.start_date else None
            _fact(facts, "event.name", event.name)
            _fact(facts, "event.start_date", start)
            _fact(facts, "event.city", event.city)
        account = accounts.get(contact.id)
        if account is not None:
            _fact(facts, "account.name", account.name)
            for item in intel.get(account.id, []):
                _fact(facts, f"intel.{item.id}.title", item.title)
        if talk is None:
            # A bio is long, self-written text; it only earns its place when there is no talk.
            _fact(facts, "contact.bio", contact.bio)
        found[contact.id] = facts
    return found


def channel_for(contact: Contact) -> tuple[Channel, str] | None:
    """The channel and recipient, chosen from stored data only."""
    if contact.email and contact.email.strip():
        if contact.email_status == "invalid":
            return None
        return "email", contact.email.strip()
    if contact.linkedin_url and contact.linkedin_url.strip():
        return "linkedin", contact.linkedin_url.strip()
    return None


def _contacts(
    session: Session, opportunity: Opportunity, contact_ids: Sequence[uuid.UUID] | None
) -> list[Contact]:
    if contact_ids is None:
        stmt = (
            select(Contact)
            .join(OpportunityContact, OpportunityContact.contact_id == Contact.id)
            .where(OpportunityContact.opportunity_id == opportunity.id)
        )
    else:
        stmt = select(Contact).where(Contact.id.in_(list(contact_ids)))
    return list(session.scalars(stmt.order_by(Contact.full_name, Contact.id)))


class NotStarted(StopWork):
    """A draft skipped because an earlier one hit the budget."""


class DraftingStopped(Exception):
    """A model budget ran out part-way; ``created`` were written, the rest were not tried."""

    def __init__(self, reason: str, created: list[OutreachDraft], remaining: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.created = created
        self.remaining = remaining


def budget_of(config: OutreachConfig) -> Budget:
    return Budget(
        max_calls=config.dailyModelCalls,
        max_tokens=config.dailyModelTokens,
        max_cost_usd=config.dailyModelCostUsd,
    )


def writer_for(
    session: Session,
    clock: Clock,
    agent: Agent | None,
    *,
    task_id: uuid.UUID | None = None,
    lock: AbstractContextManager[object] | None = None,
    deferred: DeferredWrites | None = None,
) -> Writer:
    """The writer the settings of this session ask for, under ``agent``'s daily budgets."""
    config = OutreachConfig.model_validate(agent.config if agent else {})
    return drafting_writer(
        settings_of(session),
        session=session,
        clock=clock,
        agent_id=agent.id if agent else None,
        task_id=task_id,
        budget=budget_of(config),
        lock=lock,
        deferred=deferred,
    )


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(size: int) -> ThreadPoolExecutor:
    """The process's model-call threads, one pool per size: starting threads for every
    task costs more than the calls of a fast model."""
    with _POOLS_LOCK:
        pool = _POOLS.get(size)
        if pool is None:
            pool = _POOLS[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="draft")
        return pool


@dataclass(frozen=True)
class Planned:
    contact: Contact
    channel: Channel
    recipient: str
    facts: list[Fact]
    request: DraftRequest


def plan_requests(
    session: Session,
    opportunity: Opportunity,
    contact_ids: Sequence[uuid.UUID] | None,
    *,
    tone: Tone,
    sender_name: str,
    sender_company: str,
) -> list[Planned]:
    """Requests for every reachable contact not yet drafted for this opportunity."""
    already = set(
        session.scalars(
            select(OutreachDraft.contact_id).where(OutreachDraft.opportunity_id == opportunity.id)
        )
    )
    candidates: list[tuple[Contact, Channel, str]] = []
    for contact in _contacts(session, opportunity, contact_ids):
        if contact.id in already or contact.outreach_status in SKIPPED_OUTREACH_STATUSES:
            continue
        route = channel_for(contact)
        if route is not None:
            already.add(contact.id)
            candidates.append((contact, *route))
    blocked = suppression.suppressed_among(
        session, [recipient for _, channel, recipient in candidates if channel == "email"]
    )
    candidates = [c for c in candidates if not (c[1] == "email" and c[2] in blocked)]
    facts = facts_for_many(session, [contact for contact, _, _ in candidates], opportunity)
    planned: list[Planned] = []
    for contact, channel, recipient in candidates:
        request = DraftRequest(
            recipient_name=contact.full_name,
            recipient_first_name=contact.first_name or "",
            sender_name=sender_name,
            sender_company=sender_company,
            tone=tone,
            channel=channel,
            ask=FIRST_MESSAGE_ASK,
            facts=facts[contact.id],
            untrusted_fields=set(UNTRUSTED_FIELDS),
        )
        planned.append(Planned(contact, channel, recipient, facts[contact.id], request))
    return planned


def _write_all(
    writer: Writer, requests: Sequence[DraftRequest], concurrency: int
) -> Iterator[DraftResult | StopWork]:
    """Drafts in request order, each as soon as it (and those before it) are done, so the
    caller can store early drafts while later ones are still with the model. A budget stop
    cancels what has not started yet."""
    fallback = OfflineWriter()
    stopped = threading.Event()

    def one(request: DraftRequest) -> DraftResult | StopWork:
        if stopped.is_set():
            return NotStarted("not started: the budget was already spent")
        try:
            return draft_with_grounding(writer, request, fallback=fallback)
        except StopWork as exc:
            stopped.set()
            return exc

    if concurrency <= 1 or len(requests) <= 1:
        for request in requests:
            yield one(request)
        return
    pool = shared_pool(concurrency)
    futures = [pool.submit(one, r) for r in requests]
    try:
        for future in futures:
            yield future.result()
    finally:
        # Nothing may still be using the session once the caller moves on.
        for future in futures:
            future.cancel()
        wait(futures)


@dataclass(frozen=True)
class DraftStore:
    """Where one task's drafts are stored, and what every one of them shares."""

    session: Session
    clock: Clock
    agent: Agent
    config: OutreachConfig
    opportunity: Opportunity
    event: Event | None
    now: datetime
    default_tz: str
    task_id: uuid.UUID | None

    def add(self, plan: Planned, result: DraftResult) -> OutreachDraft:
        """A new draft through the ORM, approved on the spot when the agent auto-approves
        and nothing flagged it."""
        draft = OutreachDraft(**self._values(plan, result))
        self.session.add(draft)
        if self._auto_approves(result):
            self.session.flush()
            review.mark_approved(self.session, self.clock, draft, user_id=None)
        self._record(draft.id, draft.status, plan, result)
        return draft

    def add_row(self, plan: Planned, result: DraftResult) -> tuple[uuid.UUID, str]:
        """``add`` as a plain row (``activity.add_rows``) for batches that write many: the
        draft's id and status."""
        if self._auto_approves(result):
            draft = self.add(plan, result)  # the approval reads and updates the row
            return draft.id, draft.status
        values = self._values(plan, result)
        activity.add_rows(self.session, OutreachDraft, [values])
        self._record(values["id"], values["status"], plan, result)
        return values["id"], values["status"]

    def _auto_approves(self, result: DraftResult) -> bool:
        # Any flag (injection, fallback, regeneration) means a person must read it first.
        return self.config.autoApprove and not result.flags

    def _values(self, plan: Planned, result: DraftResult) -> dict[str, Any]:
        """A new draft's columns, pending approval."""
        return {
            "id": new_id(),  # known now, so the activity entry needs no flush of its own
            "workspace_id": current_workspace(self.session),
            "agent_id": self.agent.id,
            "task_id": self.task_id,
            "contact_id": plan.contact.id,
            "opportunity_id": self.opportunity.id,
            "channel": plan.channel,
            "recipient": plan.recipient,
            "subject": result.subject,
            "message_body": result.body,
            "personalization_context": {
                "facts": [f.field for f in plan.facts],
                "reasoning": result.reasoning,
                "writer": result.writer,
            },
            "claims": [c.model_dump() for c in result.claims],
            "flags": list(result.flags),
            "status": "pending_approval",
            "suggested_send_at": suggest_send_time(
                now=self.now,
                event_start=self.event.start_date if self.event else None,
                recipient_tz=plan.contact.timezone,
                business_hours=self.config.sending_hours,
                default_tz=self.default_tz,
            ),
            "writer": result.writer,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _record(self, draft_id: uuid.UUID, status: str, plan: Planned, result: DraftResult) -> None:
        activity.record(
            session=self.session,
            clock=self.clock,
            agent_id=self.agent.id,
            activity_type="draft_created",
            description=f"Drafted a {plan.channel} message to {plan.contact.full_name}"
            + (" (auto-approved)" if status == "approved" else ""),
            details={"status": status, "flags": list(result.flags), "writer": result.writer},
            task_id=self.task_id,
            entity_type="outreach_draft",
            entity_id=draft_id,
        )


def create_drafts(
    *,
    session: Session,
    clock: Clock,
    agent: Agent,
    opportunity_id: uuid.UUID,
    contact_ids: Sequence[uuid.UUID] | None,
    writer: Writer,
    sender_name: str,
    sender_company: str,
    task_id: uuid.UUID | None = None,
    concurrency: int = 1,
    lock: AbstractContextManager[object] | None = None,
) -> list[OutreachDraft]:
    """One first-message draft per reachable contact not yet drafted for this opportunity.

    With ``concurrency`` > 1 the writer runs on that many threads while this thread stores
    the finished drafts; ``lock`` must then be the one the writer guards ``session`` with
    (``writer_for(..., lock=lock)``). Raises ``DraftingStopped`` when a model budget runs
    out, after storing the drafts finished before that.
    """
    opportunity = session.get(Opportunity, opportunity_id)
    if opportunity is None:
        raise NotFound("opportunity not found")
    config = OutreachConfig.model_validate(agent.config or {})
    workspace = session.get(Workspace, current_workspace(session))
    default_tz = workspace.timezone if workspace else "UTC"
    event = session.get(Event, opportunity.event_id)
    planned = plan_requests(
        session,
        opportunity,
        contact_ids,
        tone=config.tone,
        sender_name=sender_name,
        sender_company=sender_company,
    )
    guard: AbstractContextManager[object] = lock if lock is not None else nullcontext()
    store = DraftStore(
        session=session,
        clock=clock,
        agent=agent,
        config=config,
        opportunity=opportunity,
        event=event,
        now=clock.now(),
        default_tz=default_tz,
        task_id=task_id,
    )
    created: list[OutreachDraft] = []
    outcomes: list[DraftResult | StopWork] = []
    stop: StopWork | None = None
    results = _write_all(writer, [p.request for p in planned], concurrency)
    for plan, outcome in zip(planned, results, strict=True):
        outcomes.append(outcome)
        if isinstance(outcome, StopWork):
            stop = stop or outcome
            continue
        with guard:
            created.append(store.add(plan, outcome))
    if stop is not None:
        remaining = sum(1 for o in outcomes if isinstance(o, StopWork))
        raise DraftingStopped(
            next(
                (
                    o.reason
                    for o in outcomes
                    if isinstance(o, StopWork) and not isinstance(o, NotStarted)
                ),
                stop.reason,
            ),
            created,
            remaining,
        )
    return created


def regenerate(
    session: Session,
    clock: Clock,
    draft_id: uuid.UUID,
    instruction: str,
    writer: Writer | None = None,
) -> OutreachDraft:
    """Write a pending draft again, following the user's instruction; it stays pending."""
    instruction = instruction.strip()
    if not instruction:
        raise InvalidInput("say what should change", field="instruction")
    if len(instruction) > MAX_INSTRUCTION:
        raise InvalidInput(
            f"keep the instruction under {MAX_INSTRUCTION} characters", field="instruction"
        )
    draft = session.get(OutreachDraft, draft_id)
    if draft is None:
        raise NotFound("draft not found")
    if draft.status != "pending_approval":
        raise Conflict("only a draft pending approval can be written again", field="status")
    contact = session.get(Contact, draft.contact_id)
    opportunity = session.get(Opportunity, draft.opportunity_id) if draft.opportunity_id else None
    if contact is None or opportunity is None:
        raise Conflict("the contact or opportunity of this draft no longer exists")
    agent = session.get(Agent, draft.agent_id) if draft.agent_id else None
    config = OutreachConfig.model_validate(agent.config if agent else {})
    workspace = session.get(Workspace, current_workspace(session))
    company = workspace.name.strip() if workspace and workspace.name.strip() else "our team"
    facts = facts_for(session, contact, opportunity)
    request = DraftRequest(
        recipient_name=contact.full_name,
        recipient_first_name=contact.first_name or "",
        sender_name=f"The {company} team",
        sender_company=company,
        tone=config.tone,
        channel=draft.channel,  # type: ignore[arg-type]
        ask=FIRST_MESSAGE_ASK,
        facts=facts,
        untrusted_fields=set(UNTRUSTED_FIELDS),
        instruction=instruction,
    )
    chosen = writer or writer_for(session, clock, agent, task_id=draft.task_id)
    try:
        result = draft_with_grounding(chosen, request, fallback=OfflineWriter())
    except StopWork as exc:
        raise Conflict(f"The draft was not rewritten: {exc.reason}.") from exc
    now = clock.now()
    draft.subject = result.subject
    draft.message_body = result.body
    draft.claims = [c.model_dump() for c in result.claims]
    draft.flags = list(result.flags)
    draft.writer = result.writer
    draft.personalization_context = {
        **(draft.personalization_context or {}),
        "facts": [f.field for f in facts],
        "reasoning": result.reasoning,
        "writer": result.writer,
        "instruction": instruction,
    }
    draft.updated_at = now
    activity.record(
        session=session,
        clock=clock,
        agent_id=draft.agent_id,
        activity_type="draft_regenerated",
        description=f"Rewrote the {draft.channel} draft to {draft.recipient} as asked",
        details={"instruction": instruction, "writer": result.writer},
        entity_type="outreach_draft",
        entity_id=draft.id,
    )
    return draft
