"""Contacts API: CRUD, unique emails, search and filters, appearances, and privacy."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from cctest.personas import World
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.intel.models import Contact

MISSING = "00000000-0000-4000-8000-000000000000"


def _post(client: TestClient, path: str, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_read_update_and_delete_a_contact(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    auth = world.owner.auth
    acme = _post(client, "/api/accounts", auth, name="Acme", tier=1)
    created = _post(
        client,
        "/api/contacts",
        auth,
        full_name=" Dr. José  Álvarez ",
        email="Jose.Alvarez@Example.COM",
        title="CTO",
        organisation="ACME  Ltd",
        account_id=acme["id"],
    )
    assert created["full_name"] == "Dr. José Álvarez"
    assert created["email"] == "jose.alvarez@example.com"
    assert (created["first_name"], created["last_name"]) == ("José", "Álvarez")
    assert created["outreach_status"] == "new"
    assert created["account_id"] == acme["id"]
    assert created["match_method"] == "manual"
    with system_session(ctx.session_factory) as session:
        stored = session.get(Contact, uuid.UUID(created["id"]))
        assert stored is not None
        # Accents, case and spacing do not count; nor does the legal form of the employer.
        assert stored.name_key == "dr jose alvarez|acme"

    path = f"/api/contacts/{created['id']}"
    detail = client.get(path, headers=auth).json()
    assert detail["account"] == {"id": acme["id"], "name": "Acme", "tier": 1, "domain": None}
    assert detail["appearances"] == []

    patched = client.patch(
        path,
        json={"outreach_status": "contacted", "title": None, "account_id": None},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["outreach_status"] == "contacted"
    assert patched.json()["title"] is None
    assert patched.json()["account_id"] is None
    assert patched.json()["email"] == "jose.alvarez@example.com"

    assert client.delete(path, headers=auth).status_code == 204
    assert client.get(path, headers=auth).status_code == 404


def test_invalid_contacts_are_refused_naming_the_field(client: TestClient, world: World) -> None:
    auth = world.owner.auth

    def refused(body: dict[str, Any], status: int = 422) -> str:
        response = client.post("/api/contacts", json=body, headers=auth)
        assert response.status_code == status, response.text
        return str(response.json()["field"])

    assert refused({}) == "full_name"
    assert refused({"full_name": " "}) == "full_name"
    assert refused({"full_name": "A", "email": "not-an-email"}) == "email"
    assert refused({"full_name": "A", "outreach_status": "pestered"}) == "outreach_status"
    assert refused({"full_name": "A", "account_id": "nope"}) == "account_id"
    assert refused({"full_name": "A", "account_id": MISSING}, status=404) == "account_id"

    contact = _post(client, "/api/contacts", auth, full_name="A")
    bad = client.patch(
        f"/api/contacts/{contact['id']}", json={"outreach_status": "x"}, headers=auth
    )
    assert bad.json()["field"] == "outreach_status"
    blank = client.patch(f"/api/contacts/{contact['id']}", json={"full_name": None}, headers=auth)
    assert blank.json()["field"] == "full_name"


def test_emails_are_unique_within_a_workspace(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    _post(client, "/api/contacts", auth, full_name="Ann", email="ann@example.com")
    dup = client.post(
        "/api/contacts", json={"full_name": "Ann B", "email": "ANN@example.com"}, headers=auth
    )
    assert dup.status_code == 409
    assert dup.json()["field"] == "email"
    # Another workspace keeps its own address book.
    _post(client, "/api/contacts", world.outsider.auth, full_name="Ann", email="ann@example.com")

    other = _post(client, "/api/contacts", auth, full_name="Other", email="other@example.com")
    clash = client.patch(
        f"/api/contacts/{other['id']}", json={"email": "ann@example.com"}, headers=auth
    )
    assert clash.status_code == 409
    assert clash.json()["field"] == "email"
    # Several contacts without an email are fine.
    _post(client, "/api/contacts", auth, full_name="No Mail 1")
    _post(client, "/api/contacts", auth, full_name="No Mail 2")


def test_list_searches_filters_and_pages(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    acme = _post(client, "/api/accounts", auth, name="Acme")
    _post(client, "/api/contacts", auth, full_name="Carla Diaz", organisation="Globex")
    _post(
        client,
        "/api/contacts",
        auth,
        full_name="Bea Ng",
        title="VP Data",
        account_id=acme["id"],
        outreach_status="replied",
    )
    _post(client, "/api/contacts", auth, full_name="Al Tan", email="al@initech.test")
    event = _post(client, "/api/events", auth, name="Summit")
    carla = client.get("/api/contacts?q=carla", headers=auth).json()["items"][0]
    _post(client, f"/api/events/{event['id']}/attendees", auth, contact_id=carla["id"])

    def names(query: str) -> list[str]:
        response = client.get(f"/api/contacts?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [c["full_name"] for c in response.json()["items"]]

    assert names("") == ["Al Tan", "Bea Ng", "Carla Diaz"]
    assert names("q=globex") == ["Carla Diaz"]
    assert names("q=vp%20data") == ["Bea Ng"]
    assert names("q=INITECH") == ["Al Tan"]
    assert names(f"account_id={acme['id']}") == ["Bea Ng"]
    assert names("outreach_status=replied") == ["Bea Ng"]
    assert names(f"event_id={event['id']}") == ["Carla Diaz"]
    assert names(f"event_id={MISSING}") == []
    page = client.get("/api/contacts?limit=2&page=2", headers=auth).json()
    assert [c["full_name"] for c in page["items"]] == ["Carla Diaz"]
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 3}
    bad = client.get("/api/contacts?outreach_status=bogus", headers=auth)
    assert bad.status_code == 422
    assert bad.json()["field"] == "outreach_status"


def test_detail_lists_where_a_contact_appears(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    ada = _post(client, "/api/contacts", auth, full_name="Ada")
    older = _post(client, "/api/events", auth, name="Old Con", start_date="2025-05-01")
    newer = _post(client, "/api/events", auth, name="New Con", start_date="2026-05-01")
    talk = _post(client, f"/api/events/{newer['id']}/sessions", auth, title="Engines")
    _post(
        client,
        f"/api/events/{newer['id']}/sessions/{talk['id']}/speakers",
        auth,
        contact_id=ada["id"],
    )
    _post(client, f"/api/events/{older['id']}/attendees", auth, contact_id=ada["id"])

    detail = client.get(f"/api/contacts/{ada['id']}", headers=auth).json()
    assert [(a["event"]["name"], a["role"], a["session_title"]) for a in detail["appearances"]] == [
        ("New Con", "speaker", "Engines"),
        ("Old Con", "attendee", None),
    ]


def test_every_contact_route_is_workspace_private(client: TestClient, world: World) -> None:
    owner, mate, outsider = world.owner.auth, world.teammate.auth, world.outsider.auth
    ada = _post(client, "/api/contacts", owner, full_name="Ada", email="ada@example.com")
    theirs = _post(client, "/api/accounts", outsider, name="Their Account")
    path = f"/api/contacts/{ada['id']}"

    assert client.get("/api/contacts", headers=mate).json()["pagination"]["total"] == 1
    assert client.get(path, headers=mate).status_code == 200
    assert client.patch(path, json={"title": "CEO"}, headers=mate).status_code == 200

    assert client.get("/api/contacts", headers=outsider).json()["items"] == []
    for method, body in [("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)]:
        response = client.request(method, path, json=body, headers=outsider)
        assert response.status_code == 404, (method, response.text)
    # Matching to another workspace's account is impossible: it does not exist here.
    foreign = client.patch(path, json={"account_id": theirs["id"]}, headers=owner)
    assert foreign.status_code == 404
    assert foreign.json()["field"] == "account_id"

    for method, target, body in [
        ("GET", "/api/contacts", None),
        ("POST", "/api/contacts", {"full_name": "X"}),
        ("GET", path, None),
        ("PATCH", path, {"title": "x"}),
        ("DELETE", path, None),
    ]:
        assert client.request(method, target, json=body).status_code == 401, (method, target)
    assert client.get(path, headers=owner).json()["title"] == "CEO"
