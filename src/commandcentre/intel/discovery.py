"""Discovery: attribute contacts to watchlist accounts, then find and score opportunities.

An opportunity is an event where people of target accounts speak or attend; there is at
most one per event. Discovery is safe to run again and again: it refreshes what exists,
creates only what is missing, and never touches a status a person chose ("dismissed"
stays dismissed).

Everything here is set-based because a workspace may hold tens of thousands of contacts
and appearances: rows are read as plain tuples in a handful of queries and written with
executemany statements, never one query per row. Bulk statements bypass the session's
automatic workspace filter, so each of them names the workspace itself.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, cast

from sqlalchemy import String, delete, insert, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.db.base import new_id
from commandcentre.db.scoping import current_workspace
from commandcentre.intel.matching import AccountKey, AccountMatcher
from commandcentre.intel.models import (
    Account,
    Appearance,
    Contact,
    Event,
    Opportunity,
    OpportunityContact,
)
from commandcentre.planning.scoring import (
    ROLES,
    AccountSignal,
    PersonSignal,
    Role,
    ScoreResult,
    Seniority,
    seniority_of,
    signal_score,
)

__all__ = [
    "DiscoveredOpportunity",
    "DiscoveryResult",
    "FoundAccount",
    "FoundContact",
    "days_until",
    "discover",
    "match_contacts",
]

# Methods the matcher writes. A contact whose account came any other way (a person picked
# it, an importer copied it from a CRM) keeps it: the matcher must not overrule them.
MATCHER_METHODS: Final = frozenset({"domain", "alias", "name", "fuzzy"})
# Keeps IN (...) lists far below every database's bound-parameter limit.
_CHUNK: Final = 500
_ROLE_RANK: Final[Mapping[str, int]] = {role: rank for rank, role in enumerate(ROLES)}


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class FoundContact:
    id: uuid.UUID
    name: str
    title: str | None
    organisation: str | None
    role: Role

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "organisation": self.organisation}


@dataclass(frozen=True, slots=True)
class FoundAccount:
    id: uuid.UUID
    name: str
    tier: int
    contacts: tuple[FoundContact, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "contacts": [c.to_json() for c in self.contacts]}


@dataclass(frozen=True, slots=True)
class DiscoveredOpportunity:
    id: uuid.UUID
    event_id: uuid.UUID
    event_name: str
    start_date: date | None
    end_date: date | None
    is_new: bool
    status: str
    signal_score: float
    explanation: dict[str, Any]
    accounts: tuple[FoundAccount, ...]  # tier, then name

    @property
    def contact_count(self) -> int:
        return sum(len(account.contacts) for account in self.accounts)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "event": {
                "name": self.event_name,
                "start_date": self.start_date.isoformat() if self.start_date else None,
            },
            "is_new": self.is_new,
            "signal_score": self.signal_score,
            "accounts": [account.to_json() for account in self.accounts],
        }


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """Every opportunity a run created or refreshed, best score first."""

    opportunities: tuple[DiscoveredOpportunity, ...]
    contacts_matched: int  # contacts whose account changed in this run

    @property
    def new_count(self) -> int:
        return sum(1 for opportunity in self.opportunities if opportunity.is_new)

    @property
    def updated_count(self) -> int:
        return len(self.opportunities) - self.new_count

    def to_json(self) -> dict[str, Any]:
        return {
            "opportunities": [opportunity.to_json() for opportunity in self.opportunities],
            "new": self.new_count,
            "updated": self.updated_count,
        }


# --------------------------------------------------------------------------- matching


def _is_matcher_owned(account_id: uuid.UUID | None, method: str | None) -> bool:
    return method in MATCHER_METHODS or (method is None and account_id is None)


def _load_matcher(session: Session) -> AccountMatcher:
    rows = session.execute(select(Account.id, Account.name, Account.domain, Account.aliases))
    return AccountMatcher(
        AccountKey(id=str(account_id), name=name, domain=domain, aliases=tuple(aliases or ()))
        for account_id, name, domain, aliases in rows
    )


def _bulk_update(
    session: Session, model: type[Contact] | type[Opportunity], rows: Sequence[dict[str, Any]]
) -> None:
    """UPDATE ... WHERE id = :id, executemany, limited to the session's workspace."""
    if not rows:
        return
    statement = (
        update(model)
        .where(model.workspace_id == current_workspace(session))
        # No ORM objects are loaded here; nothing in the session needs synchronising.
        .execution_options(synchronize_session=None)
    )
    session.execute(statement, rows)


def match_contacts(*, session: Session, only_unmatched: bool = False) -> int:
    """Attribute the workspace's contacts to watchlist accounts; return how many changed.

    Runs the matcher over every contact's organisation and email and writes
    `account_id`/`match_method` where the answer differs from what is stored, clearing
    them when a contact no longer matches. Contacts attributed some other way are left
    alone (see `MATCHER_METHODS`). `only_unmatched` skips contacts that have an account.
    """
    matcher = _load_matcher(session)
    statement = select(
        Contact.id, Contact.organisation, Contact.email, Contact.account_id, Contact.match_method
    )
    if only_unmatched:
        statement = statement.where(Contact.account_id.is_(None))
    changes: list[dict[str, Any]] = []
    for contact_id, organisation, email, account_id, method in session.execute(statement):
        if not _is_matcher_owned(account_id, method):
            continue
        found = matcher.match(organisation, email)
        new_account = uuid.UUID(found.account_id) if found else None
        new_method = found.method if found else None
        if (new_account, new_method) != (account_id, method):
            changes.append(
                {"id": contact_id, "account_id": new_account, "match_method": new_method}
            )
    _bulk_update(session, Contact, changes)
    return len(changes)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class _EventRow:
    id: uuid.UUID
    name: str
    start_date: date | None
    end_date: date | None


@dataclass(frozen=True, slots=True)
class _ContactRow:
    name: str
    title: str | None
    organisation: str | None
    account_id: uuid.UUID
    seniority: Seniority


@dataclass(frozen=True, slots=True)
class _AccountRow:
    name: str
    tier: int


@dataclass(frozen=True, slots=True)
class _OpportunityRow:
    id: uuid.UUID
    status: str


# (contact_id, account_id, role): one OpportunityContact row.
_Link = tuple[uuid.UUID, uuid.UUID, str]


def _stronger(role: str, other: str | None) -> str:
    if other is None:
        return role
    return min(role, other, key=lambda r: _ROLE_RANK.get(r, len(_ROLE_RANK)))


def _raw(column: Any) -> Any:
    """A UUID column read as text (hex on SQLite, dashed on PostgreSQL).

    Skips the per-row conversion to `uuid.UUID` (by SQLAlchemy on SQLite, by the driver on
    PostgreSQL), which dominates scans of 100k rows; raw ids are only lookup keys within
    one run and are converted once per distinct id where needed.
    """
    return sql_cast(column, String).label(None)


def _as_uuid(raw: str, memo: dict[str, uuid.UUID]) -> uuid.UUID:
    found = memo.get(raw)
    if found is None:
        found = memo[raw] = uuid.UUID(raw)
    return found


def _target_contacts(session: Session) -> tuple[dict[uuid.UUID, _ContactRow], dict[str, uuid.UUID]]:
    """Contacts with an account, by id; and their ids by raw id."""
    rows = session.execute(
        select(
            Contact.id,
            _raw(Contact.id),
            Contact.full_name,
            Contact.title,
            Contact.organisation,
            Contact.account_id,
        ).where(Contact.account_id.is_not(None))
    )
    seniority: dict[str | None, Seniority] = {}
    contacts: dict[uuid.UUID, _ContactRow] = {}
    raw_ids: dict[str, uuid.UUID] = {}
    for contact_id, raw_id, name, title, organisation, account_id in rows:
        if title not in seniority:
            seniority[title] = seniority_of(title)
        contacts[contact_id] = _ContactRow(
            name, title, organisation, cast(uuid.UUID, account_id), seniority[title]
        )
        raw_ids[raw_id] = contact_id
    return contacts, raw_ids


def _target_appearances(
    session: Session, targets: Mapping[str, uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, str]]:
    """event -> {contact -> strongest role} for the contacts in `targets` (by raw id).

    One scan of the workspace's appearances, filtered here rather than joined in SQL: right
    after a bulk import PostgreSQL has no statistics yet and plans that join as a nested
    loop over every contact: tens of seconds instead of a fraction of one.
    """
    rows = session.execute(
        select(_raw(Appearance.event_id), _raw(Appearance.contact_id), Appearance.role)
    )
    event_ids: dict[str, uuid.UUID] = {}
    by_event: dict[uuid.UUID, dict[uuid.UUID, str]] = defaultdict(dict)
    for raw_event, raw_contact, role in rows:
        contact_id = targets.get(raw_contact)
        if contact_id is not None:
            people = by_event[_as_uuid(raw_event, event_ids)]
            people[contact_id] = _stronger(role, people.get(contact_id))
    return by_event


def _accounts(session: Session) -> dict[uuid.UUID, _AccountRow]:
    rows = session.execute(select(Account.id, Account.name, Account.tier))
    return {account_id: _AccountRow(name, tier) for account_id, name, tier in rows}


def _events(session: Session) -> dict[uuid.UUID, _EventRow]:
    rows = session.execute(select(Event.id, Event.name, Event.start_date, Event.end_date))
    return {row[0]: _EventRow(*row) for row in rows}


def _opportunities(session: Session) -> dict[uuid.UUID, _OpportunityRow]:
    rows = session.execute(select(Opportunity.event_id, Opportunity.id, Opportunity.status))
    return {event_id: _OpportunityRow(opp_id, status) for event_id, opp_id, status in rows}


def _links(session: Session) -> dict[uuid.UUID, set[_Link]]:
    rows = session.execute(
        select(
            OpportunityContact.opportunity_id,
            OpportunityContact.contact_id,
            OpportunityContact.account_id,
            OpportunityContact.role,
        )
    )
    links: dict[uuid.UUID, set[_Link]] = defaultdict(set)
    for opportunity_id, contact_id, account_id, role in rows:
        links[opportunity_id].add((contact_id, account_id, role))
    return links


# --------------------------------------------------------------------------- planning


def days_until(start: date | None, end: date | None, today: date) -> int | None:
    """Days until the event starts; 0 while it runs, negative once it has ended."""
    first, last = start or end, end or start
    if first is None or last is None:
        return None
    if first > today:
        return (first - today).days
    if last >= today:
        return 0
    return (last - today).days


def _has_ended(event: _EventRow, today: date) -> bool:
    last = event.end_date or event.start_date
    return last is not None and last < today


@dataclass(frozen=True, slots=True)
class _Plan:
    event: _EventRow
    opportunity_id: uuid.UUID
    is_new: bool
    status: str
    accounts: tuple[FoundAccount, ...]
    score: ScoreResult

    @property
    def links(self) -> set[_Link]:
        return {(c.id, a.id, c.role) for a in self.accounts for c in a.contacts}


def _found_accounts(
    people: Mapping[uuid.UUID, str],
    contacts: Mapping[uuid.UUID, _ContactRow],
    accounts: Mapping[uuid.UUID, _AccountRow],
) -> tuple[FoundAccount, ...]:
    by_account: dict[uuid.UUID, list[FoundContact]] = defaultdict(list)
    for contact_id, role in people.items():
        contact = contacts.get(contact_id)
        if contact is None or contact.account_id not in accounts:
            continue
        by_account[contact.account_id].append(
            FoundContact(
                contact_id,
                contact.name,
                contact.title,
                contact.organisation,
                cast(Role, role if role in _ROLE_RANK else "attendee"),
            )
        )
    found = [
        FoundAccount(
            account_id,
            accounts[account_id].name,
            accounts[account_id].tier,
            tuple(sorted(members, key=lambda c: (c.name.casefold(), c.id))),
        )
        for account_id, members in by_account.items()
    ]
    found.sort(key=lambda a: (a.tier, a.name.casefold(), a.id))
    return tuple(found)


def _score(
    found: Sequence[FoundAccount], contacts: Mapping[uuid.UUID, _ContactRow], days: int | None
) -> ScoreResult:
    signals = [
        AccountSignal(
            tier=account.tier,
            people=tuple(
                PersonSignal(seniority=contacts[c.id].seniority, role=c.role)
                for c in account.contacts
            ),
        )
        for account in found
    ]
    return signal_score(accounts=signals, days_until=days)


def _plan(session: Session, today: date) -> list[_Plan]:
    contacts, raw_ids = _target_contacts(session)
    if not contacts:
        return []
    appearances = _target_appearances(session, raw_ids)
    accounts = _accounts(session)
    events = _events(session)
    existing = _opportunities(session)
    plans: list[_Plan] = []
    for event_id, people in appearances.items():
        event = events.get(event_id)
        current = existing.get(event_id)
        if event is None or (current is None and _has_ended(event, today)):
            continue
        found = _found_accounts(people, contacts, accounts)
        if not found:
            continue
        days = days_until(event.start_date, event.end_date, today)
        plans.append(
            _Plan(
                event=event,
                opportunity_id=current.id if current else new_id(),
                is_new=current is None,
                status=current.status if current else "new",
                accounts=found,
                score=_score(found, contacts, days),
            )
        )
    return plans


# --------------------------------------------------------------------------- writing


def _counts(plan: _Plan) -> dict[str, Any]:
    return {
        "signal_score": plan.score.score,
        "score_explanation": plan.score.explanation,
        "account_count": len(plan.accounts),
        "contact_count": sum(len(a.contacts) for a in plan.accounts),
    }


def _write_opportunities(
    session: Session, workspace_id: uuid.UUID, plans: Sequence[_Plan], now: datetime
) -> None:
    new_rows = [
        {
            "id": plan.opportunity_id,
            "workspace_id": workspace_id,
            "event_id": plan.event.id,
            "status": "new",
            "first_seen_at": now,
            "last_discovered_at": now,
            **_counts(plan),
        }
        for plan in plans
        if plan.is_new
    ]
    if new_rows:
        session.execute(insert(Opportunity), new_rows)
    _bulk_update(
        session,
        Opportunity,
        [
            {"id": plan.opportunity_id, "last_discovered_at": now, **_counts(plan)}
            for plan in plans
            if not plan.is_new
        ],
    )


def _chunks(items: Sequence[uuid.UUID]) -> Iterable[Sequence[uuid.UUID]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _replace_links(session: Session, workspace_id: uuid.UUID, plans: Sequence[_Plan]) -> None:
    """Rewrite the links of opportunities whose people changed; leave the rest alone."""
    before = _links(session)
    changed = [plan for plan in plans if plan.links != before.get(plan.opportunity_id, set())]
    stale = [plan.opportunity_id for plan in changed if plan.opportunity_id in before]
    for chunk in _chunks(stale):
        session.execute(
            delete(OpportunityContact)
            .where(
                OpportunityContact.workspace_id == workspace_id,
                OpportunityContact.opportunity_id.in_(chunk),
            )
            .execution_options(synchronize_session=False)
        )
    rows = [
        {
            "id": new_id(),
            "workspace_id": workspace_id,
            "opportunity_id": plan.opportunity_id,
            "contact_id": contact_id,
            "account_id": account_id,
            "role": role,
        }
        for plan in changed
        for contact_id, account_id, role in plan.links
    ]
    if rows:
        session.execute(insert(OpportunityContact), rows)


def _result(plans: Sequence[_Plan], contacts_matched: int) -> DiscoveryResult:
    opportunities = [
        DiscoveredOpportunity(
            id=plan.opportunity_id,
            event_id=plan.event.id,
            event_name=plan.event.name,
            start_date=plan.event.start_date,
            end_date=plan.event.end_date,
            is_new=plan.is_new,
            status=plan.status,
            signal_score=plan.score.score,
            explanation=plan.score.explanation,
            accounts=plan.accounts,
        )
        for plan in plans
    ]
    opportunities.sort(
        key=lambda o: (
            -o.signal_score,
            o.start_date is None,
            o.start_date or date.min,
            o.event_name.casefold(),
            o.id,
        )
    )
    return DiscoveryResult(tuple(opportunities), contacts_matched)


def discover(*, session: Session, clock: Clock) -> DiscoveryResult:
    """Match contacts, then create or refresh one opportunity per event with target people.

    New opportunities are only created for events that have not ended (by end date, else
    start date; undated events count as not ended). Existing ones are refreshed whatever
    the date: score, explanation, counts, `last_discovered_at` and their contact links.
    Opportunities whose event no longer has target people are left as they are; they may
    carry work already done.
    """
    workspace_id = current_workspace(session)
    now = clock.now()
    contacts_matched = match_contacts(session=session)
    plans = _plan(session, now.date())
    _write_opportunities(session, workspace_id, plans, now)
    _replace_links(session, workspace_id, plans)
    return _result(plans, contacts_matched)
