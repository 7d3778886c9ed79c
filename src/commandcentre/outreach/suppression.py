"""Who must never be emailed: exact addresses and whole domains, per workspace."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.errors import InvalidInput, NotFound
from commandcentre.outreach.models import SUPPRESSION_KINDS, SUPPRESSION_REASONS, Suppression

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_LOCAL = re.compile(r"^[^\s@\x00-\x1f\x7f]{1,64}$")


def normalise(kind: str, value: str) -> str:
    """The stored form: lower-case, trimmed, without a leading `@` on domains."""
    if kind not in SUPPRESSION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(SUPPRESSION_KINDS)}", field="kind")
    cleaned = value.strip().lower()
    if kind == "domain":
        cleaned = cleaned.lstrip("@").rstrip(".")
        if not _DOMAIN.match(cleaned):
            raise InvalidInput("value must be a domain like example.com", field="value")
        return cleaned
    local, at, domain = cleaned.rpartition("@")
    if not at or not _LOCAL.match(local) or not _DOMAIN.match(domain.rstrip(".")):
        raise InvalidInput("value must be an email address", field="value")
    return f"{local}@{domain.rstrip('.')}"


def add(
    session: Session,
    clock: Clock,
    kind: str,
    value: str,
    reason: str,
    note: str | None = None,
) -> Suppression:
    """Suppress an address or domain; an existing entry is returned unchanged."""
    if reason not in SUPPRESSION_REASONS:
        raise InvalidInput(
            f"reason must be one of {', '.join(SUPPRESSION_REASONS)}", field="reason"
        )
    stored = normalise(kind, value)
    existing = session.scalars(
        select(Suppression).where(Suppression.kind == kind, Suppression.value == stored)
    ).first()
    if existing is not None:
        # The first reason is kept: an unsubscribe must not turn into "manual" on re-entry.
        return existing
    now = clock.now()
    row = Suppression(
        kind=kind,
        value=stored,
        reason=reason,
        note=note.strip() if note and note.strip() else None,
        created_at=now,
        updated_at=now,
    )
    # A savepoint, so a concurrent insert of the same entry costs only this statement.
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        winner = session.scalars(
            select(Suppression).where(Suppression.kind == kind, Suppression.value == stored)
        ).first()
        if winner is None:
            raise
        return winner
    return row


def remove(session: Session, suppression_id: uuid.UUID) -> None:
    row = session.get(Suppression, suppression_id)
    if row is None:
        raise NotFound("suppression not found")
    session.delete(row)
    session.flush()


def list_(session: Session) -> list[Suppression]:
    return list(
        session.scalars(
            select(Suppression).order_by(Suppression.created_at.desc(), Suppression.value)
        )
    )


def is_suppressed(session: Session, email: str) -> Suppression | None:
    """The entry that blocks this address (exact match first), or `None`."""
    return suppressed_among(session, [email]).get(email)


def suppressed_among(session: Session, emails: Iterable[str]) -> dict[str, Suppression]:
    """The blocking entry of each address that is suppressed (exact match before domain),
    keyed by the address as given; one query for the lot."""
    keys: dict[str, tuple[str, str]] = {}
    for email in emails:
        address = email.strip().lower()
        if address:
            keys[email] = (address, address.rpartition("@")[2].rstrip("."))
    if not keys:
        return {}
    addresses = {address for address, _ in keys.values()}
    domains = {domain for _, domain in keys.values() if domain}
    conditions = [(Suppression.kind == "email") & (Suppression.value.in_(addresses))]
    if domains:
        conditions.append((Suppression.kind == "domain") & (Suppression.value.in_(domains)))
    entries = {
        (row.kind, row.value): row
        for row in session.scalars(select(Suppression).where(or_(*conditions)))
    }
    found: dict[str, Suppression] = {}
    for email, (address, domain) in keys.items():
        entry = entries.get(("email", address)) or entries.get(("domain", domain))
        if entry is not None:
            found[email] = entry
    return found
