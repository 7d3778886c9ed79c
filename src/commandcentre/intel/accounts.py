"""Target accounts (the watchlist) and what is known about them (account intelligence)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commandcentre.errors import Conflict, InvalidInput, NotFound
from commandcentre.intel.contacts import like_pattern
from commandcentre.intel.events import json_list_any
from commandcentre.intel.imports import intel_key
from commandcentre.intel.matching import normalise_company
from commandcentre.intel.models import INTEL_CATEGORIES, Account, AccountIntel, Contact
from commandcentre.intel.schemas import DOMAIN_PATTERN, AccountCreate, AccountUpdate, IntelCreate
from commandcentre.pagination import Page, paginate

_DOMAIN = re.compile(DOMAIN_PATTERN)


def normalise_domain(value: str | None) -> str | None:
    """The bare host of a domain or URL: "https://www.Acme.com/about" -> "acme.com"."""
    if value is None or not value.strip():
        return None
    # The API schema publishes the same pattern, so what it promises is what is accepted.
    found = _DOMAIN.fullmatch(value.strip())
    if found is None:
        raise InvalidInput(f"'{value}' is not a domain such as acme.com", field="domain")
    host = found.group(1).lower()
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    return host


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def _aliases(values: Iterable[str], name: str) -> list[str]:
    """Trimmed, without repeats or a copy of the name itself (it is matched anyway)."""
    seen = {normalise_company(name)}
    out: list[str] = []
    for value in values:
        alias = " ".join(value.split())
        key = normalise_company(alias) if alias else ""
        if key and key not in seen:
            seen.add(key)
            out.append(alias)
    return out


# --------------------------------------------------------------------------- accounts: reads


def get(*, session: Session, account_id: uuid.UUID) -> Account | None:
    return session.get(Account, account_id)


def get_by_name(*, session: Session, name: str) -> Account | None:
    """The account whose name normalises like `name` ("ACME Inc." finds "Acme")."""
    return session.scalar(select(Account).where(Account.normalised_name == normalise_company(name)))


def _search(session: Session, q: str) -> ColumnElement[bool]:
    pattern = like_pattern(q)
    conditions = [
        Account.name.ilike(pattern, escape="\\"),
        Account.domain.ilike(pattern, escape="\\"),
        json_list_any(session, Account.aliases, lambda v: v.ilike(pattern, escape="\\")),
    ]
    folded = normalise_company(q)
    if folded:
        # "Société Générale" finds "Societe Generale SA": accents and legal forms ignored.
        conditions.append(Account.normalised_name.like(like_pattern(folded), escape="\\"))
    return or_(*conditions)


def list_query(
    *, session: Session, q: str | None = None, tier: int | None = None
) -> Select[Account]:
    stmt = select(Account)
    if q and q.strip():
        stmt = stmt.where(_search(session, q.strip()))
    if tier is not None:
        stmt = stmt.where(Account.tier == tier)
    return stmt.order_by(Account.tier, Account.name, Account.id)


def list_(
    *,
    session: Session,
    q: str | None = None,
    tier: int | None = None,
    page: int = 1,
    limit: int = 25,
) -> Page[Account]:
    """Accounts by tier, then name."""
    return paginate(session, list_query(session=session, q=q, tier=tier), page=page, limit=limit)


def contact_counts(*, session: Session, account_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = list(account_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Contact.account_id, func.count(Contact.id))
        .where(Contact.account_id.in_(ids))
        .group_by(Contact.account_id)
    )
    counts = dict.fromkeys(ids, 0)
    for account_id, count in rows:
        if account_id is not None:
            counts[account_id] = int(count)
    return counts


@dataclass(frozen=True, slots=True)
class AccountDetail:
    account: Account
    intel: list[AccountIntel]  # newest first
    contacts: list[Contact]


def _intel_query(account_id: uuid.UUID) -> Select[AccountIntel]:
    return (
        select(AccountIntel)
        .where(AccountIntel.account_id == account_id)
        .order_by(
            AccountIntel.noted_on.desc().nulls_last(),
            AccountIntel.created_at.desc(),
            AccountIntel.id,
        )
    )


def get_detail(*, session: Session, account_id: uuid.UUID) -> AccountDetail | None:
    account = get(session=session, account_id=account_id)
    if account is None:
        return None
    contacts = session.scalars(
        select(Contact).where(Contact.account_id == account.id).order_by(Contact.full_name)
    )
    return AccountDetail(
        account=account,
        intel=list(session.scalars(_intel_query(account.id))),
        contacts=list(contacts),
    )


# --------------------------------------------------------------------------- accounts: changes


def _normalised(name: str) -> str:
    # A name of symbols only ("???") has no company words left; it is compared as typed.
    return normalise_company(name) or " ".join(name.casefold().split())


def _check_name_free(session: Session, normalised: str, exclude: uuid.UUID | None = None) -> None:
    stmt = select(Account.name).where(Account.normalised_name == normalised)
    if exclude is not None:
        stmt = stmt.where(Account.id != exclude)
    existing = session.scalar(stmt)
    if existing is not None:
        raise Conflict(f"'{existing}' is already on the watchlist", field="name")


def _flush_account(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Only a concurrent insert of the same name gets past the check before the flush.
        raise Conflict("this account is already on the watchlist", field="name") from exc


def _check_tier(tier: int) -> None:
    if not 1 <= tier <= 3:
        raise InvalidInput("tier must be 1, 2 or 3", field="tier")


def create(*, session: Session, data: AccountCreate) -> Account:
    name = " ".join(data.name.split())
    if not name:
        raise InvalidInput("name is required", field="name")
    _check_tier(data.tier)
    normalised = _normalised(name)
    domain = normalise_domain(data.domain)
    _check_name_free(session, normalised)
    account = Account(
        name=name,
        normalised_name=normalised,
        domain=domain,
        aliases=_aliases(data.aliases, name),
        tier=data.tier,
        industry=_clean(data.industry),
        notes=_clean(data.notes),
    )
    session.add(account)
    _flush_account(session)
    return account


def update(*, session: Session, account_id: uuid.UUID, data: AccountUpdate) -> Account:
    account = get(session=session, account_id=account_id)
    if account is None:
        raise NotFound("no such account")
    sent = data.model_fields_set
    if "name" in sent:
        name = " ".join((data.name or "").split())
        if not name:
            raise InvalidInput("name is required", field="name")
        normalised = _normalised(name)
        if normalised != account.normalised_name:
            _check_name_free(session, normalised, exclude=account.id)
        account.name = name
        account.normalised_name = normalised
    if "domain" in sent:
        account.domain = normalise_domain(data.domain)
    if "tier" in sent:
        _check_tier(data.tier)
        account.tier = data.tier
    if "aliases" in sent or "name" in sent:
        aliases = data.aliases if "aliases" in sent else account.aliases
        account.aliases = _aliases(aliases, account.name)
    if "industry" in sent:
        account.industry = _clean(data.industry)
    if "notes" in sent:
        account.notes = _clean(data.notes)
    _flush_account(session)
    return account


def delete(*, session: Session, account_id: uuid.UUID) -> None:
    """Remove from the watchlist; its contacts stay, no longer matched to it."""
    account = get(session=session, account_id=account_id)
    if account is None:
        raise NotFound("no such account")
    session.delete(account)
    session.flush()


# --------------------------------------------------------------------------- intelligence


def intel_dedupe_key(*, noted_on: date | None, title: str) -> str:
    """The import's key, so a note typed in here is recognised by a later import."""
    return intel_key(noted_on, title)


def list_intel(
    *, session: Session, account_id: uuid.UUID, page: int = 1, limit: int = 25
) -> Page[AccountIntel]:
    """An account's notes, newest first."""
    if get(session=session, account_id=account_id) is None:
        raise NotFound("no such account")
    return paginate(session, _intel_query(account_id), page=page, limit=limit)


def get_intel(
    *, session: Session, account_id: uuid.UUID, intel_id: uuid.UUID
) -> AccountIntel | None:
    """The note, only if it belongs to that account."""
    intel = session.get(AccountIntel, intel_id)
    if intel is None or intel.account_id != account_id:
        return None
    return intel


def create_intel(
    *, session: Session, account_id: uuid.UUID, data: IntelCreate, today: date
) -> AccountIntel:
    """Add a note; `noted_on` defaults to `today`. The same title on the same day is a 409."""
    account = get(session=session, account_id=account_id)
    if account is None:
        raise NotFound("no such account")
    title = " ".join(data.title.split())
    if not title:
        raise InvalidInput("title is required", field="title")
    if data.category not in INTEL_CATEGORIES:
        raise InvalidInput("unknown category", field="category")
    noted_on = data.noted_on or today
    key = intel_dedupe_key(noted_on=noted_on, title=title)
    taken = select(AccountIntel.id).where(
        AccountIntel.account_id == account.id, AccountIntel.dedupe_key == key
    )
    message = "this account already has a note with that title on that day"
    if session.scalar(taken) is not None:
        raise Conflict(message, field="title")
    intel = AccountIntel(
        account_id=account.id,
        category=data.category,
        title=title,
        body=_clean(data.body),
        noted_on=noted_on,
        source_url=_clean(data.source_url),
        source_name=_clean(data.source_name),
        dedupe_key=key,
    )
    session.add(intel)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(message, field="title") from exc
    return intel


def delete_intel(*, session: Session, account_id: uuid.UUID, intel_id: uuid.UUID) -> None:
    intel = get_intel(session=session, account_id=account_id, intel_id=intel_id)
    if intel is None:
        raise NotFound("no such note for this account")
    session.delete(intel)
    session.flush()
