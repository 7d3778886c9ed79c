"""Events API: CRUD, search and filters, sessions and speakers, and who may see what."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cctest.personas import World

MISSING = "00000000-0000-4000-8000-000000000000"


def _event(client: TestClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/events", json={"name": "PyCon", **fields}, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _contact(client: TestClient, auth: dict[str, str], name: str, **fields: Any) -> str:
    response = client.post("/api/contacts", json={"full_name": name, **fields}, headers=auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_create_read_update_and_delete_an_event(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    created = _event(
        client,
        auth,
        name="  EuroPython 2026 ",
        start_date="2026-07-13",
        end_date="2026-07-19",
        city="Prague",
        country="Czechia",
        url="https://ep2026.europython.eu",
        topics=["Python", "AI", "python"],
        description="The European Python conference.",
    )
    assert created["name"] == "EuroPython 2026"
    assert created["topics"] == ["Python", "AI"]
    assert created["source"] == "api"

    detail = client.get(f"/api/events/{created['id']}", headers=auth)
    assert detail.status_code == 200
    body = detail.json()
    assert body["city"] == "Prague"
    assert body["sessions"] == []
    assert body["participants"] == []
    assert body["opportunity_id"] is None

    patched = client.patch(
        f"/api/events/{created['id']}",
        json={"city": None, "online": True, "name": "EuroPython"},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["city"] is None
    assert patched.json()["online"] is True
    assert patched.json()["name"] == "EuroPython"
    assert patched.json()["country"] == "Czechia"  # fields not sent stay as they were

    assert client.delete(f"/api/events/{created['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/events/{created['id']}", headers=auth).status_code == 404
    assert client.delete(f"/api/events/{created['id']}", headers=auth).status_code == 404


def test_invalid_events_are_refused_naming_the_field(client: TestClient, world: World) -> None:
    auth = world.owner.auth

    def field_of(json: dict[str, Any], method: str = "POST", path: str = "/api/events") -> str:
        response = client.request(method, path, json=json, headers=auth)
        assert response.status_code == 422, response.text
        return str(response.json()["field"])

    assert field_of({}) == "name"
    assert field_of({"name": "   "}) == "name"
    assert field_of({"name": "X", "start_date": "2026-05-02", "end_date": "2026-05-01"}) == (
        "end_date"
    )
    assert field_of({"name": "X", "start_date": "12/03/2026"}) == "start_date"
    assert field_of({"name": "X", "start_date": 0}) == "start_date"
    assert field_of({"name": "X", "online": "yes"}) == "online"
    assert field_of({"name": "X", "colour": "red"}) == "colour"
    assert field_of({"name": "X\x00"}) == "name"

    event = _event(client, auth, start_date="2026-05-02", end_date="2026-05-03")
    path = f"/api/events/{event['id']}"
    assert field_of({"end_date": "2026-05-01"}, "PATCH", path) == "end_date"
    assert field_of({"name": None}, "PATCH", path) == "name"
    assert client.get("/api/events/not-a-uuid", headers=auth).status_code == 422


def test_the_same_event_twice_is_a_conflict(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    first = _event(client, auth, name="PyCon Zürich", start_date="2026-09-01")
    again = client.post(
        "/api/events", json={"name": "pycon  zurich", "start_date": "2026-09-01"}, headers=auth
    )
    assert again.status_code == 409
    assert again.json()["field"] == "name"
    # Another year is another event; the same source id is the same event.
    later = _event(client, auth, name="PyCon Zürich", start_date="2027-09-01")
    _event(client, auth, name="Feed A", external_id="ext-1")
    dup = client.post("/api/events", json={"name": "Feed B", "external_id": "ext-1"}, headers=auth)
    assert dup.status_code == 409
    # Editing one event into another's identity is a conflict too.
    clash = client.patch(
        f"/api/events/{later['id']}", json={"start_date": "2026-09-01"}, headers=auth
    )
    assert clash.status_code == 409
    assert client.get(f"/api/events/{first['id']}", headers=auth).status_code == 200


def test_list_searches_filters_and_pages(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    _event(client, auth, name="Past Summit", start_date="2026-01-10", city="Berlin")
    _event(client, auth, name="Data Days", start_date="2026-03-02", country="Portugal")
    _event(client, auth, name="AI Expo", start_date="2026-04-20", topics=["AI", "MLOps"])
    _event(client, auth, name="Cloud Conf", start_date="2026-06-01", city="Lisbon")
    _event(client, auth, name="Someday Meetup")  # no date yet: listed last

    def names(query: str) -> list[str]:
        response = client.get(f"/api/events?{query}", headers=auth)
        assert response.status_code == 200, response.text
        return [e["name"] for e in response.json()["items"]]

    assert names("") == ["Past Summit", "Data Days", "AI Expo", "Cloud Conf", "Someday Meetup"]
    assert names("q=lisbon") == ["Cloud Conf"]
    assert names("q=PORTUGAL") == ["Data Days"]
    assert names("q=expo") == ["AI Expo"]
    assert names("q=100%25") == []  # LIKE wildcards are taken literally
    # The app clock says 2026-03-02: an event starting today is upcoming.
    assert names("upcoming=true") == ["Data Days", "AI Expo", "Cloud Conf"]
    assert names("from=2026-03-03&to=2026-05-31") == ["AI Expo"]
    assert names("topic=mlops") == ["AI Expo"]
    assert names("topic=ai&upcoming=true") == ["AI Expo"]

    second = client.get("/api/events?limit=2&page=2", headers=auth).json()
    assert [e["name"] for e in second["items"]] == ["AI Expo", "Cloud Conf"]
    assert second["pagination"] == {"page": 2, "limit": 2, "total": 5}
    assert client.get("/api/events?limit=101", headers=auth).json()["field"] == "limit"
    assert client.get("/api/events?page=0", headers=auth).json()["field"] == "page"
    assert client.get("/api/events?from=soon", headers=auth).json()["field"] == "from"


def test_sessions_speakers_and_attendees(client: TestClient, world: World) -> None:
    auth = world.owner.auth
    event = _event(client, auth, start_date="2026-05-10")
    other = _event(client, auth, name="Other", start_date="2026-05-10")
    ada = _contact(client, auth, "Ada Lovelace", organisation="Analytical")
    bob = _contact(client, auth, "Bob Byte")
    sessions = f"/api/events/{event['id']}/sessions"

    late = client.post(
        sessions,
        json={"title": "Closing keynote", "starts_at": "2026-05-10T17:00:00+02:00"},
        headers=auth,
    )
    early = client.post(
        sessions,
        json={"title": "Opening", "starts_at": "2026-05-10T09:00:00Z", "room": "A"},
        headers=auth,
    )
    assert late.status_code == early.status_code == 201, late.text
    dup = client.post(
        sessions, json={"title": "opening", "starts_at": "2026-05-10T09:00:00Z"}, headers=auth
    )
    assert dup.status_code == 409
    bad = client.post(
        sessions,
        json={"title": "T", "starts_at": "2026-05-10T10:00:00Z", "ends_at": "2026-05-10T09:00Z"},
        headers=auth,
    )
    assert bad.json()["field"] == "ends_at"
    naive = client.post(
        sessions, json={"title": "T", "starts_at": "2026-05-10T10:00"}, headers=auth
    )
    assert naive.json()["field"] == "starts_at"

    speakers = f"{sessions}/{late.json()['id']}/speakers"
    linked = client.post(speakers, json={"contact_id": ada}, headers=auth)
    assert linked.status_code == 201, linked.text
    assert linked.json()["role"] == "speaker"
    assert linked.json()["appearance_key"] == late.json()["id"]
    assert client.post(speakers, json={"contact_id": ada}, headers=auth).status_code == 409
    missing = client.post(speakers, json={"contact_id": MISSING}, headers=auth)
    assert missing.status_code == 404
    assert missing.json()["field"] == "contact_id"
    # A session is only reachable under its own event.
    wrong = f"/api/events/{other['id']}/sessions/{late.json()['id']}/speakers"
    assert client.post(wrong, json={"contact_id": bob}, headers=auth).status_code == 404

    attendees = f"/api/events/{event['id']}/attendees"
    attended = client.post(attendees, json={"contact_id": bob}, headers=auth)
    assert attended.status_code == 201
    assert attended.json()["appearance_key"] == "attendee"
    assert attended.json()["session_id"] is None
    assert client.post(attendees, json={"contact_id": bob}, headers=auth).status_code == 409

    detail = client.get(f"/api/events/{event['id']}", headers=auth).json()
    assert [s["title"] for s in detail["sessions"]] == ["Opening", "Closing keynote"]
    assert detail["sessions"][1]["starts_at"] == "2026-05-10T15:00:00Z"
    assert [c["full_name"] for c in detail["sessions"][1]["speakers"]] == ["Ada Lovelace"]
    assert detail["sessions"][0]["speakers"] == []
    assert [(p["role"], p["contact"]["full_name"]) for p in detail["participants"]] == [
        ("attendee", "Bob Byte")
    ]
    listed = client.get(f"{sessions}?limit=1", headers=auth).json()
    assert [s["title"] for s in listed["items"]] == ["Opening"]
    assert listed["pagination"]["total"] == 2
    at_event = client.get(f"/api/contacts?event_id={event['id']}", headers=auth).json()
    assert [c["full_name"] for c in at_event["items"]] == ["Ada Lovelace", "Bob Byte"]

    # Deleting the event takes its sessions and appearances along; the people stay.
    assert client.delete(f"/api/events/{event['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/contacts/{ada}", headers=auth).json()["appearances"] == []


def test_every_event_route_is_workspace_private(client: TestClient, world: World) -> None:
    owner, mate, outsider = world.owner.auth, world.teammate.auth, world.outsider.auth
    event = _event(client, owner, start_date="2026-05-10")
    talk = client.post(
        f"/api/events/{event['id']}/sessions", json={"title": "Talk"}, headers=owner
    ).json()
    ada = _contact(client, owner, "Ada")
    stranger = _contact(client, outsider, "Stranger")
    base = f"/api/events/{event['id']}"
    speakers = f"{base}/sessions/{talk['id']}/speakers"

    # The teammate works on the same objects.
    assert client.get("/api/events", headers=mate).json()["pagination"]["total"] == 1
    assert client.get(base, headers=mate).status_code == 200
    assert client.get(f"{base}/sessions", headers=mate).json()["pagination"]["total"] == 1
    assert client.patch(base, json={"city": "Oslo"}, headers=mate).status_code == 200
    assert client.post(f"{base}/sessions", json={"title": "T2"}, headers=mate).status_code == 201
    assert client.post(speakers, json={"contact_id": ada}, headers=mate).status_code == 201
    attend = client.post(f"{base}/attendees", json={"contact_id": ada}, headers=mate)
    assert attend.status_code == 201

    # The outsider sees nothing and can change nothing.
    assert client.get("/api/events", headers=outsider).json()["items"] == []
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"city": "Nowhere"}),
        ("DELETE", base, None),
        ("GET", f"{base}/sessions", None),
        ("POST", f"{base}/sessions", {"title": "Mine now"}),
        ("POST", speakers, {"contact_id": stranger}),
        ("POST", f"{base}/attendees", {"contact_id": stranger}),
    ]:
        response = client.request(method, path, json=body, headers=outsider)
        assert response.status_code == 404, (method, path, response.text)
    # Nor can anyone link a contact of another workspace into theirs.
    foreign = client.post(f"{base}/attendees", json={"contact_id": stranger}, headers=owner)
    assert foreign.status_code == 404
    assert foreign.json()["field"] == "contact_id"
    assert client.get(base, headers=owner).json()["city"] == "Oslo"

    for method, path, body in [
        ("GET", "/api/events", None),
        ("POST", "/api/events", {"name": "X"}),
        ("GET", base, None),
        ("PATCH", base, {"city": "X"}),
        ("DELETE", base, None),
        ("GET", f"{base}/sessions", None),
        ("POST", f"{base}/sessions", {"title": "X"}),
        ("POST", speakers, {"contact_id": ada}),
        ("POST", f"{base}/attendees", {"contact_id": ada}),
    ]:
        assert client.request(method, path, json=body).status_code == 401, (method, path)
    assert client.get(base, headers=owner).status_code == 200
