"""Fill a workspace with the generated demo data, through the same paths real imports use."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commandcentre.clock import Clock
from commandcentre.demo.data import generate_demo_data
from commandcentre.intel import discovery, imports
from commandcentre.intel.models import Appearance, Contact, Event


def load_demo_data(*, session: Session, clock: Clock, seed: int = 7) -> None:
    data = generate_demo_data(today=clock.now().date(), seed=seed)
    imports.store_accounts(session=session, records=data.accounts, clock=clock)
    imports.store_intel(session=session, records=data.intel)
    imports.store_events(session=session, records=data.events, source="demo", clock=clock)
    imports.store_people(
        session=session, records=data.contacts, source="demo", clock=clock, role="contact"
    )
    _add_attendees(session=session, attendees=data.attendees)
    discovery.discover(session=session, clock=clock)


def _add_attendees(*, session: Session, attendees: dict[str, list[str]]) -> None:
    events: dict[str, uuid.UUID] = dict(session.execute(select(Event.name, Event.id)).all())
    contacts: dict[str, uuid.UUID] = dict(
        session.execute(
            select(func.lower(Contact.email), Contact.id).where(Contact.email.is_not(None))
        ).all()
    )
    for event_name, emails in attendees.items():
        event_id = events.get(event_name)
        if event_id is None:
            continue
        for email in sorted(set(emails)):
            contact_id = contacts.get(email.lower())
            if contact_id is None:
                continue
            session.add(
                Appearance(
                    contact_id=contact_id,
                    event_id=event_id,
                    role="attendee",
                    appearance_key="attendee",
                )
            )
    session.flush()
