"""Discovery: contacts matched to accounts, opportunities created, refreshed and kept apart."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from cctest.databases import Database
from cctest.personas import World
from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.cli import app as cli_app
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session, workspace_session
from commandcentre.errors import InvalidInput
from commandcentre.intel.discovery import DiscoveryResult, discover, match_contacts
from commandcentre.intel.discovery_cli import resolve_workspace
from commandcentre.intel.matching import normalise_company
from commandcentre.intel.models import (
    Account,
    Appearance,
    Contact,
    Event,
    Opportunity,
    OpportunityContact,
)

# --- seeding -------------------------------------------------------------------------------


@dataclass
class Seed:
    """Ids of what `seed` created, by the names used in the tests."""

    home: uuid.UUID
    other: uuid.UUID
    accounts: dict[str, uuid.UUID] = field(default_factory=dict)
    contacts: dict[str, uuid.UUID] = field(default_factory=dict)
    events: dict[str, uuid.UUID] = field(default_factory=dict)


def add_account(
    session: Session,
    name: str,
    *,
    tier: int,
    domain: str | None = None,
    aliases: list[str] | None = None,
) -> uuid.UUID:
    account = Account(
        name=name,
        normalised_name=normalise_company(name),
        tier=tier,
        domain=domain,
        aliases=aliases or [],
    )
    session.add(account)
    session.flush()
    return account.id


def add_contact(
    session: Session,
    name: str,
    *,
    organisation: str | None,
    title: str | None = None,
    email: str | None = None,
) -> uuid.UUID:
    contact = Contact(
        full_name=name,
        organisation=organisation,
        title=title,
        email=email,
        name_key=f"{name.lower()}|{(organisation or '').lower()}",
    )
    session.add(contact)
    session.flush()
    return contact.id


def add_event(session: Session, name: str, start: date, end: date | None = None) -> uuid.UUID:
    event = Event(name=name, start_date=start, end_date=end, dedupe_key=f"{name}|{start}")
    session.add(event)
    session.flush()
    return event.id


def appear(session: Session, contact_id: uuid.UUID, event_id: uuid.UUID, role: str) -> None:
    session.add(
        Appearance(contact_id=contact_id, event_id=event_id, role=role, appearance_key=role)
    )
    session.flush()


def seed(ctx: AppContext, today: date) -> Seed:
    """Acme's watchlist, people and events around `today`; a rival workspace alongside."""
    with system_session(ctx.session_factory) as session:
        home = ensure_workspace_with_agents(session=session, slug="acme", name="Acme Sales").id
        other = ensure_workspace_with_agents(session=session, slug="rival", name="Rival Inc").id
    s = Seed(home, other)
    day = timedelta(days=1)
    with workspace_session(ctx.session_factory, home) as session:
        s.accounts["globex"] = add_account(
            session, "Globex Corporation", tier=1, domain="globex.com"
        )
        s.accounts["initech"] = add_account(session, "Initech", tier=2)
        s.accounts["umbrella"] = add_account(session, "Umbrella", tier=3)
        people = {
            "ana": ("Ana Alvarez", "Globex", "VP Engineering", "ana@globex.com"),
            "ben": ("Ben Baker", "Initech Labs", "Software Engineer", None),
            "cy": ("Cy Chen", "Hooli", "CTO", None),
            "dee": ("Dee Dunn", "Globex Corp.", "Director of Sales", None),
            "eve": ("Eve Evans", "Umbrella Corp", "CTO", None),
        }
        for key, (name, org, title, email) in people.items():
            s.contacts[key] = add_contact(session, name, organisation=org, title=title, email=email)
        s.events["summit"] = add_event(session, "Data Summit", today + 30 * day)
        s.events["expo"] = add_event(session, "Cloud Expo", today + 10 * day, today + 11 * day)
        s.events["old"] = add_event(session, "Old Conf", today - 20 * day, today - 18 * day)
        s.events["quiet"] = add_event(session, "Quiet Meetup", today + 5 * day)
        s.events["running"] = add_event(session, "Running Days", today - day, today + day)
        c, e = s.contacts, s.events
        appear(session, c["ana"], e["summit"], "speaker")
        appear(session, c["ben"], e["summit"], "attendee")
        appear(session, c["cy"], e["summit"], "speaker")
        appear(session, c["dee"], e["expo"], "speaker")
        appear(session, c["ana"], e["old"], "speaker")
        appear(session, c["cy"], e["quiet"], "speaker")
        appear(session, c["ben"], e["running"], "speaker")
    with workspace_session(ctx.session_factory, other) as session:
        s.accounts["rival-globex"] = add_account(session, "Globex", tier=1, domain="globex.com")
        s.contacts["zed"] = add_contact(
            session, "Zed Zimmer", organisation="Globex", title="CEO", email="zed@globex.com"
        )
        s.events["rival-summit"] = add_event(session, "Rival Summit", today + 20 * day)
        appear(session, s.contacts["zed"], s.events["rival-summit"], "speaker")
        appear(session, s.contacts["zed"], s.events["rival-summit"], "attendee")
    return s


def run(ctx: AppContext, workspace_id: uuid.UUID) -> DiscoveryResult:
    with workspace_session(ctx.session_factory, workspace_id) as session:
        return discover(session=session, clock=ctx.clock)


def by_event(result: DiscoveryResult) -> dict[str, Any]:
    return {o.event_name: o for o in result.opportunities}


def opportunity_rows(ctx: AppContext, workspace_id: uuid.UUID) -> dict[uuid.UUID, Opportunity]:
    with workspace_session(ctx.session_factory, workspace_id) as session:
        return {o.event_id: o for o in session.scalars(select(Opportunity))}


def links_of(ctx: AppContext, workspace_id: uuid.UUID, opportunity_id: uuid.UUID) -> set[Any]:
    with workspace_session(ctx.session_factory, workspace_id) as session:
        rows = session.execute(
            select(
                OpportunityContact.contact_id,
                OpportunityContact.account_id,
                OpportunityContact.role,
            ).where(OpportunityContact.opportunity_id == opportunity_id)
        )
        return set(rows)


# --- matching ------------------------------------------------------------------------------


def test_match_contacts_writes_accounts_and_methods(ctx: AppContext) -> None:
    s = seed(ctx, ctx.clock.now().date())
    with workspace_session(ctx.session_factory, s.home) as session:
        assert match_contacts(session=session) == 4
        rows = session.execute(select(Contact.id, Contact.account_id, Contact.match_method))
        found = {cid: (aid, method) for cid, aid, method in rows}
        assert match_contacts(session=session) == 0  # nothing left to change
    assert found[s.contacts["ana"]] == (s.accounts["globex"], "domain")
    assert found[s.contacts["ben"]] == (s.accounts["initech"], "name")
    assert found[s.contacts["dee"]] == (s.accounts["globex"], "name")
    assert found[s.contacts["eve"]] == (s.accounts["umbrella"], "name")
    assert found[s.contacts["cy"]] == (None, None)
    with workspace_session(ctx.session_factory, s.other) as session:
        # Acme's run neither matched nor touched the rival's contact.
        assert session.get(Contact, s.contacts["zed"]).account_id is None  # type: ignore[union-attr]


def test_match_contacts_clears_stale_matches_and_keeps_other_sources(ctx: AppContext) -> None:
    s = seed(ctx, ctx.clock.now().date())
    with workspace_session(ctx.session_factory, s.home) as session:
        match_contacts(session=session)
        ben = session.get(Contact, s.contacts["ben"])
        cy = session.get(Contact, s.contacts["cy"])
        assert ben is not None
        assert cy is not None
        ben.organisation = "Hooli"  # moved jobs: the old match is stale
        cy.account_id, cy.match_method = s.accounts["umbrella"], "manual"  # a person decided
    with workspace_session(ctx.session_factory, s.home) as session:
        assert match_contacts(session=session, only_unmatched=True) == 0
        assert match_contacts(session=session) == 1
        session.expire_all()
        ben = session.get(Contact, s.contacts["ben"])
        cy = session.get(Contact, s.contacts["cy"])
        assert ben is not None
        assert cy is not None
        assert (ben.account_id, ben.match_method) == (None, None)
        assert (cy.account_id, cy.match_method) == (s.accounts["umbrella"], "manual")


# --- discovery -----------------------------------------------------------------------------


def test_discovery_creates_one_opportunity_per_event_with_target_people(
    ctx: AppContext, clock: ManualClock
) -> None:
    s = seed(ctx, clock.now().date())
    result = run(ctx, s.home)

    assert (result.new_count, result.updated_count) == (3, 0)
    found = by_event(result)
    assert set(found) == {"Data Summit", "Cloud Expo", "Running Days"}
    summit = found["Data Summit"]
    assert summit.is_new
    assert [(a.name, [c.name for c in a.contacts]) for a in summit.accounts] == [
        ("Globex Corporation", ["Ana Alvarez"]),
        ("Initech", ["Ben Baker"]),
    ]
    assert summit.explanation["summary"].startswith("2 target accounts (1 tier 1), 2 people")

    rows = opportunity_rows(ctx, s.home)
    assert set(rows) == {s.events["summit"], s.events["expo"], s.events["running"]}
    row = rows[s.events["summit"]]
    assert row.id == summit.id
    assert (row.status, row.account_count, row.contact_count) == ("new", 2, 2)
    assert row.signal_score == summit.signal_score > 0
    assert row.score_explanation == summit.explanation
    assert row.first_seen_at == row.last_discovered_at == clock.now()
    assert links_of(ctx, s.home, row.id) == {
        (s.contacts["ana"], s.accounts["globex"], "speaker"),
        (s.contacts["ben"], s.accounts["initech"], "attendee"),
    }


def test_a_second_run_creates_nothing_and_refreshes_everything(
    ctx: AppContext, clock: ManualClock
) -> None:
    s = seed(ctx, clock.now().date())
    first = run(ctx, s.home)
    started = clock.now()
    clock.advance(timedelta(hours=2))
    second = run(ctx, s.home)

    assert (second.new_count, second.updated_count) == (0, 3)
    assert not any(o.is_new for o in second.opportunities)
    assert {o.id for o in second.opportunities} == {o.id for o in first.opportunities}
    assert second.to_json()["opportunities"] == [
        {**o, "is_new": False} for o in first.to_json()["opportunities"]
    ]
    rows = opportunity_rows(ctx, s.home)
    assert len(rows) == 3
    assert all(
        r.first_seen_at == started and r.last_discovered_at == clock.now() for r in rows.values()
    )
    with workspace_session(ctx.session_factory, s.home) as session:
        assert session.scalar(select(func.count(OpportunityContact.id))) == 4


def test_a_new_speaker_updates_the_opportunity(ctx: AppContext, clock: ManualClock) -> None:
    s = seed(ctx, clock.now().date())
    before = by_event(run(ctx, s.home))["Data Summit"]
    with workspace_session(ctx.session_factory, s.home) as session:
        appear(session, s.contacts["eve"], s.events["summit"], "speaker")
        # Ben now also speaks: his link takes his strongest role.
        appear(session, s.contacts["ben"], s.events["summit"], "speaker")

    after = by_event(run(ctx, s.home))["Data Summit"]
    assert after.id == before.id
    assert not after.is_new
    assert [a.name for a in after.accounts] == ["Globex Corporation", "Initech", "Umbrella"]
    assert after.signal_score > before.signal_score
    row = opportunity_rows(ctx, s.home)[s.events["summit"]]
    assert (row.account_count, row.contact_count, row.signal_score) == (3, 3, after.signal_score)
    assert links_of(ctx, s.home, row.id) == {
        (s.contacts["ana"], s.accounts["globex"], "speaker"),
        (s.contacts["ben"], s.accounts["initech"], "speaker"),
        (s.contacts["eve"], s.accounts["umbrella"], "speaker"),
    }


def test_past_events_are_not_created_but_existing_ones_are_refreshed(
    ctx: AppContext, clock: ManualClock
) -> None:
    s = seed(ctx, clock.now().date())
    run(ctx, s.home)
    assert s.events["old"] not in opportunity_rows(ctx, s.home)

    clock.advance(timedelta(days=45))  # every acme event is over now
    with workspace_session(ctx.session_factory, s.home) as session:
        late = add_event(session, "Late Add", clock.now().date() - timedelta(days=3))
        appear(session, s.contacts["ana"], late, "speaker")
    result = run(ctx, s.home)

    assert result.new_count == 0
    assert set(by_event(result)) == {"Data Summit", "Cloud Expo", "Running Days"}
    summit = by_event(result)["Data Summit"]
    timing = next(f for f in summit.explanation["factors"] if f["name"] == "timing")
    assert timing["points"] == 0
    assert late not in opportunity_rows(ctx, s.home)


def test_outsider_workspace_data_is_never_included(ctx: AppContext, clock: ManualClock) -> None:
    s = seed(ctx, clock.now().date())
    home = run(ctx, s.home)
    assert "Rival Summit" not in by_event(home)
    names = {c.name for o in home.opportunities for a in o.accounts for c in a.contacts}
    assert "Zed Zimmer" not in names

    rival = run(ctx, s.other)
    assert set(by_event(rival)) == {"Rival Summit"}
    (account,) = by_event(rival)["Rival Summit"].accounts
    assert (account.id, [c.name for c in account.contacts]) == (
        s.accounts["rival-globex"],
        ["Zed Zimmer"],
    )
    assert by_event(rival)["Rival Summit"].accounts[0].contacts[0].role == "speaker"
    assert len(opportunity_rows(ctx, s.home)) == 3
    assert set(opportunity_rows(ctx, s.other)) == {s.events["rival-summit"]}


def test_dismissed_opportunities_keep_their_status(ctx: AppContext, clock: ManualClock) -> None:
    s = seed(ctx, clock.now().date())
    run(ctx, s.home)
    with workspace_session(ctx.session_factory, s.home) as session:
        row = session.scalars(
            select(Opportunity).where(Opportunity.event_id == s.events["expo"])
        ).one()
        row.status = "dismissed"
    clock.advance(timedelta(days=1))
    result = run(ctx, s.home)
    expo = by_event(result)["Cloud Expo"]
    assert (expo.is_new, expo.status) == (False, "dismissed")
    stored = opportunity_rows(ctx, s.home)[s.events["expo"]]
    assert stored.status == "dismissed"
    assert stored.last_discovered_at == clock.now()


def test_json_shape(ctx: AppContext, clock: ManualClock) -> None:
    s = seed(ctx, clock.now().date())
    data = run(ctx, s.home).to_json()
    assert_json_shape(data, new=3, updated=0)
    summit = next(o for o in data["opportunities"] if o["event"]["name"] == "Data Summit")
    assert summit["event"]["start_date"] == (clock.now().date() + timedelta(days=30)).isoformat()
    assert summit["accounts"][0] == {
        "name": "Globex Corporation",
        "contacts": [{"name": "Ana Alvarez", "title": "VP Engineering", "organisation": "Globex"}],
    }
    scores = [o["signal_score"] for o in data["opportunities"]]
    assert scores == sorted(scores, reverse=True)


def assert_json_shape(data: dict[str, Any], *, new: int, updated: int) -> None:
    assert set(data) == {"opportunities", "new", "updated"}
    assert (data["new"], data["updated"]) == (new, updated)
    assert len(data["opportunities"]) == new + updated
    for opportunity in data["opportunities"]:
        assert set(opportunity) == {"id", "event", "is_new", "signal_score", "accounts"}
        uuid.UUID(opportunity["id"])
        assert set(opportunity["event"]) == {"name", "start_date"}
        date.fromisoformat(opportunity["event"]["start_date"])
        assert isinstance(opportunity["signal_score"], float)
        for account in opportunity["accounts"]:
            assert set(account) == {"name", "contacts"}
            for contact in account["contacts"]:
                assert set(contact) == {"name", "title", "organisation"}


# --- CLI -----------------------------------------------------------------------------------


def test_cli_json(ctx: AppContext, database: Database) -> None:
    # The command runs on the system clock, so the events are placed around today.
    seed(ctx, datetime.now(UTC).date())
    runner = CliRunner()
    args = ["discover", "--workspace", "acme", "--json", "--database-url", database.url]
    first = runner.invoke(cli_app, args)
    assert first.exit_code == 0, first.output
    assert_json_shape(json.loads(first.stdout), new=3, updated=0)
    second = runner.invoke(cli_app, args)
    data = json.loads(second.stdout)
    assert_json_shape(data, new=0, updated=3)
    assert not any(o["is_new"] for o in data["opportunities"])


def test_cli_table_and_workspace_choice(ctx: AppContext, database: Database) -> None:
    seed(ctx, datetime.now(UTC).date())
    runner = CliRunner()
    table = runner.invoke(
        cli_app, ["discover", "--workspace", "acme", "--database-url", database.url]
    )
    assert table.exit_code == 0, table.output
    assert "Data Summit" in table.stdout
    assert "3 new, 0 updated" in table.stdout

    ambiguous = runner.invoke(cli_app, ["discover", "--database-url", database.url])
    assert ambiguous.exit_code == 1
    assert "acme, rival" in ambiguous.output
    unknown = runner.invoke(
        cli_app, ["discover", "--workspace", "nope", "--database-url", database.url]
    )
    assert unknown.exit_code == 1
    assert "no workspace 'nope'" in unknown.output


def test_default_workspace_is_the_only_one_else_demo(database: Database) -> None:
    with system_session(database.session_factory) as session:
        with pytest.raises(InvalidInput, match="no workspaces"):
            resolve_workspace(session=session, slug=None, demo_slug="demo")
        solo = ensure_workspace_with_agents(session=session, slug="solo").id
        assert resolve_workspace(session=session, slug=None, demo_slug="demo") == solo
        ensure_workspace_with_agents(session=session, slug="zeta")
        with pytest.raises(InvalidInput, match="solo, zeta"):
            resolve_workspace(session=session, slug=None, demo_slug="demo")
        demo = ensure_workspace_with_agents(session=session, slug="demo").id
        assert resolve_workspace(session=session, slug=None, demo_slug="demo") == demo
        assert resolve_workspace(session=session, slug="zeta", demo_slug="demo") != demo


# --- API -----------------------------------------------------------------------------------


def test_api_route_by_persona(client: TestClient, world: World, ctx: AppContext) -> None:
    s = seed(ctx, ctx.clock.now().date())
    url = "/api/discovery/run"

    assert client.post(url).status_code == 401

    owner = client.post(url, headers=world.owner.auth)
    assert owner.status_code == 200, owner.text
    assert_json_shape(owner.json(), new=3, updated=0)

    teammate = client.post(url, headers=world.teammate.auth)
    assert teammate.status_code == 200
    assert_json_shape(teammate.json(), new=0, updated=3)
    assert {o["id"] for o in teammate.json()["opportunities"]} == {
        o["id"] for o in owner.json()["opportunities"]
    }

    outsider = client.post(url, headers=world.outsider.auth)
    assert outsider.status_code == 200
    assert [o["event"]["name"] for o in outsider.json()["opportunities"]] == ["Rival Summit"]
    assert len(opportunity_rows(ctx, s.home)) == 3


def test_api_route_is_documented(client: TestClient) -> None:
    operation = client.get("/api/openapi.json").json()["paths"]["/api/discovery/run"]["post"]
    assert {"200", "401"} <= set(operation["responses"])
