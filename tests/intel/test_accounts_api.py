"""Accounts API: the watchlist, account intelligence notes, and privacy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from cctest.personas import World
from commandcentre.clock import ManualClock

MISSING = "00000000-0000-4000-8000-000000000000"


def _post(client: TestClient, path: str, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(path, json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_read_update_and_delete_an_account(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    created = _post(
        client,
        "/api/accounts",
        auth,
        name=" Acme  Corporation, Inc. ",
        domain="https://www.Acme.com/about?x=1",
        aliases=["ACME", "Acme Labs", " acme labs ", "Acme Corp"],
        tier=1,
        industry="Widgets",
    )
    assert created["name"] == "Acme Corporation, Inc."
    assert created["normalised_name"] == "acme"
    assert created["domain"] == "acme.com"
    # Repeats and spellings of the name itself add nothing.
    assert created["aliases"] == ["Acme Labs"]
    assert created["tier"] == 1

    path = f"/api/accounts/{created['id']}"
    detail = client.get(path, headers=auth).json()
    assert detail["intel"] == []
    assert detail["contacts"] == []

    patched = client.patch(
        path, json={"tier": 3, "domain": "globex.example", "industry": None}, headers=auth
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["tier"], patched.json()["domain"]) == (3, "globex.example")
    assert patched.json()["industry"] is None
    renamed = client.patch(path, json={"name": "Globex GmbH"}, headers=auth).json()
    assert renamed["normalised_name"] == "globex"

    assert client.delete(path, headers=auth).status_code == 204
    assert client.get(path, headers=auth).status_code == 404


def test_invalid_accounts_are_refused_naming_the_field(client: TestClient, world: World) -> None:
    auth = world.owner.auth

    def refused(body: dict[str, Any], method: str = "POST", path: str = "/api/accounts") -> str:
        response = client.request(method, path, json=body, headers=auth)
        assert response.status_code == 422, response.text
        return str(response.json()["field"])

    assert refused({}) == "name"
    assert refused({"name": "  "}) == "name"
    assert refused({"name": "A", "tier": 0}) == "tier"
    assert refused({"name": "A", "tier": 4}) == "tier"
    assert refused({"name": "A", "tier": "1"}) == "tier"
    assert refused({"name": "A", "domain": "not a domain"}) == "domain"
    assert refused({"name": "A", "domain": "https://"}) == "domain"
    assert refused({"name": "\u3000"}) == "name"  # an ideographic space is still blank
    account = _post(client, "/api/accounts", auth, name="A")
    assert refused({"tier": 5}, "PATCH", f"/api/accounts/{account['id']}") == "tier"
    assert refused({"name": None}, "PATCH", f"/api/accounts/{account['id']}") == "name"


def test_the_same_company_twice_is_a_conflict(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    _post(client, "/api/accounts", auth, name="Société Générale SA")
    dup = client.post("/api/accounts", json={"name": "societe generale"}, headers=auth)
    assert dup.status_code == 409
    assert dup.json()["field"] == "name"
    other = _post(client, "/api/accounts", auth, name="Initech")
    clash = client.patch(
        f"/api/accounts/{other['id']}", json={"name": "SOCIETE GENERALE"}, headers=auth
    )
    assert clash.status_code == 409
    # Another workspace keeps its own watchlist.
    _post(client, "/api/accounts", world.outsider.auth, name="Société Générale")


def test_list_searches_filters_and_pages(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    _post(client, "/api/accounts", auth, name="Umbrella", tier=1, aliases=["Umbrella Pharma"])
    _post(client, "/api/accounts", auth, name="Globex", tier=2, domain="globex.example")
    _post(client, "/api/accounts", auth, name="Zeta Zürich AG", tier=1)
    _post(client, "/api/accounts", auth, name="Initech", tier=3)

    def names(query: str) -> list[str]:
        response = client.get(f"/api/accounts?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [a["name"] for a in response.json()["items"]]

    assert names("") == ["Umbrella", "Zeta Zürich AG", "Globex", "Initech"]
    assert names("q=pharma") == ["Umbrella"]  # alias
    assert names("q=GLOBEX.EX") == ["Globex"]  # domain
    assert names("q=zurich") == ["Zeta Zürich AG"]  # accents ignored
    assert names("tier=1") == ["Umbrella", "Zeta Zürich AG"]
    assert names("tier=3&q=ini") == ["Initech"]
    page = client.get("/api/accounts?limit=3&page=2", headers=auth).json()
    assert [a["name"] for a in page["items"]] == ["Initech"]
    assert page["pagination"] == {"page": 2, "limit": 3, "total": 4}
    assert client.get("/api/accounts?tier=7", headers=auth).json()["field"] == "tier"


def test_account_intelligence_notes(client: TestClient, world: World, clock: ManualClock) -> None:
    auth = world.owner.auth
    acme = _post(client, "/api/accounts", auth, name="Acme", tier=1)
    other = _post(client, "/api/accounts", auth, name="Other")
    bea = _post(client, "/api/contacts", auth, full_name="Bea", account_id=acme["id"])
    intel = f"/api/accounts/{acme['id']}/intel"

    old = _post(
        client,
        intel,
        auth,
        category="funding",
        title="Series B",
        noted_on="2026-01-15",
        source_url="https://news.example/acme-b",
        source_name="News",
    )
    today = _post(client, intel, auth, title="Met at booth")  # category and date default
    assert (today["category"], today["noted_on"]) == ("note", "2026-03-02")
    clock.advance(timedelta(days=1))
    _post(client, intel, auth, category="hiring", title="Hiring data engineers")

    dup = client.post(intel, json={"title": "series  b", "noted_on": "2026-01-15"}, headers=auth)
    assert dup.status_code == 409
    assert dup.json()["field"] == "title"
    bad = client.post(intel, json={"title": "x", "category": "gossip"}, headers=auth)
    assert bad.json()["field"] == "category"
    assert client.post(intel, json={"category": "news"}, headers=auth).json()["field"] == "title"

    listed = client.get(intel, headers=auth).json()
    assert [i["title"] for i in listed["items"]] == [
        "Hiring data engineers",
        "Met at booth",
        "Series B",
    ]
    assert (
        client.get(f"{intel}?limit=1&page=3", headers=auth).json()["items"][0]["id"] == (old["id"])
    )
    detail = client.get(f"/api/accounts/{acme['id']}", headers=auth).json()
    assert detail["intel"][0]["title"] == "Hiring data engineers"
    assert [c["full_name"] for c in detail["contacts"]] == ["Bea"]

    # A note is only reachable under its own account.
    wrong = client.delete(f"/api/accounts/{other['id']}/intel/{old['id']}", headers=auth)
    assert wrong.status_code == 404
    assert client.delete(f"{intel}/{old['id']}", headers=auth).status_code == 204
    assert client.delete(f"{intel}/{old['id']}", headers=auth).status_code == 404
    assert client.get(intel, headers=auth).json()["pagination"]["total"] == 2

    # Dropping the account keeps its people, unmatched.
    assert client.delete(f"/api/accounts/{acme['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/contacts/{bea['id']}", headers=auth).json()["account_id"] is None


def test_every_account_route_is_workspace_private(client: TestClient, world: World) -> None:
    owner, mate, outsider = world.owner.auth, world.teammate.auth, world.outsider.auth
    acme = _post(client, "/api/accounts", owner, name="Acme")
    path = f"/api/accounts/{acme['id']}"
    note = _post(client, f"{path}/intel", owner, title="Raised money")
    note_path = f"{path}/intel/{note['id']}"

    assert client.get("/api/accounts", headers=mate).json()["pagination"]["total"] == 1
    assert client.get(path, headers=mate).status_code == 200
    assert client.get(f"{path}/intel", headers=mate).json()["pagination"]["total"] == 1
    assert client.patch(path, json={"tier": 1}, headers=mate).status_code == 200
    assert client.post(f"{path}/intel", json={"title": "Mate note"}, headers=mate).status_code == (
        201
    )

    assert client.get("/api/accounts", headers=outsider).json()["items"] == []
    for method, target, body in [
        ("GET", path, None),
        ("PATCH", path, {"tier": 3}),
        ("DELETE", path, None),
        ("GET", f"{path}/intel", None),
        ("POST", f"{path}/intel", {"title": "Planted"}),
        ("DELETE", note_path, None),
    ]:
        response = client.request(method, target, json=body, headers=outsider)
        assert response.status_code == 404, (method, target, response.text)

    for method, target, body in [
        ("GET", "/api/accounts", None),
        ("POST", "/api/accounts", {"name": "X"}),
        ("GET", path, None),
        ("PATCH", path, {"tier": 3}),
        ("DELETE", path, None),
        ("GET", f"{path}/intel", None),
        ("POST", f"{path}/intel", {"title": "X"}),
        ("DELETE", note_path, None),
    ]:
        assert client.request(method, target, json=body).status_code == 401, (method, target)
    detail = client.get(path, headers=owner).json()
    assert detail["tier"] == 1
    assert {i["title"] for i in detail["intel"]} == {"Raised money", "Mate note"}
