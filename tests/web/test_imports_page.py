"""The imports page and API: upload, result, history, fatal errors and who may do what."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cctest.personas import World, sign_in
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.intel.models import Appearance, Contact, Event, ImportRun
from commandcentre.workspaces import services as ws

DATA = Path("/work/shared/data")
PYCONUK_ICS = DATA / "pyconuk2015" / "schedule.ics"
LINKEDIN_CSV = DATA / "crm_formats" / "linkedin_Connections_format_example.csv"
SPEAKERS_CSV = (
    b"Name,Email,Company,Talk Title\n"
    b"Ada Example,ada@example.com,Acme,Keeping imports idempotent\n"
    b",,Nobody,No name here\n"
    b"Bert Sample,bert@example.com,Globex,Keeping imports idempotent\n"
)


def csv_upload(data: bytes = SPEAKERS_CSV, name: str = "speakers.csv") -> dict[str, Any]:
    return {"file": (name, data, "text/csv")}


def count(ctx: AppContext, model: Any, slug: str = "acme") -> int:
    with system_session(ctx.session_factory) as session:
        workspace = ws.get_workspace_by_slug(session=session, slug=slug)
        assert workspace is not None
        stmt = select(func.count()).select_from(model).where(model.workspace_id == workspace.id)
        return session.scalar(stmt) or 0


def page_upload(client: TestClient, csrf: str, **fields: str) -> Any:
    form = {"csrf_token": csrf, "kind": "speakers", "format": "auto", **fields}
    return client.post("/imports", data=form, files=csv_upload())


# --------------------------------------------------------------------------- page


def test_page_shows_the_upload_form(client: TestClient, world: World) -> None:
    sign_in(client, world.owner.email)
    page = client.get("/imports")
    assert page.status_code == 200
    form = re.search(r'<form method="post" action="/imports"[^>]*>', page.text)
    assert form is not None
    assert 'enctype="multipart/form-data"' in form.group(0)
    for control in ('name="csrf_token"', 'name="kind"', 'name="format"', 'name="event"'):
        assert control in page.text
    assert 'name="mapping"' in page.text
    assert 'type="file" name="file"' in page.text
    assert '<option value="auto"' in page.text
    assert "Nothing imported yet." in page.text


def test_owner_uploads_speakers_and_sees_the_result(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    csrf = sign_in(client, world.owner.email)
    result = page_upload(client, csrf, event="Data Days 2026")

    assert result.status_code == 200
    assert 'data-count="created">2<' in result.text
    assert 'data-count="errors">1<' in result.text
    row_errors = result.text.split('id="row-errors"', 1)[1]
    assert "<td>3</td>" in row_errors
    assert "no name" in row_errors
    history = result.text.split('id="import-history"', 1)[1]
    assert "speakers.csv" in history
    assert count(ctx, Contact) == 2
    assert count(ctx, Appearance) == 2

    again = page_upload(client, csrf, event="Data Days 2026")
    assert 'data-count="created">0<' in again.text
    assert 'data-count="skipped">2<' in again.text
    assert count(ctx, Contact) == 2


def test_teammate_imports_into_the_shared_workspace(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    csrf = sign_in(client, world.teammate.email)
    assert page_upload(client, csrf, event="Data Days").status_code == 200
    assert count(ctx, Contact, "acme") == 2
    assert count(ctx, Contact, "rival") == 0


def test_fatal_errors_re_render_the_form_with_the_message(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    csrf = sign_in(client, world.owner.email)
    missing_event = page_upload(client, csrf, mapping="email=Email")
    assert missing_event.status_code == 422
    assert 'id="import-error"' in missing_event.text
    assert "speakers are imported into an event" in missing_event.text
    assert "email=Email</textarea>" in missing_event.text  # what the user typed is kept
    assert count(ctx, Contact) == 0
    history = missing_event.text.split('id="import-history"', 1)[1]
    assert "failed" in history

    ctx.settings.import_max_bytes = 50
    too_big = page_upload(client, csrf, event="Data Days")
    assert too_big.status_code == 413
    assert "the limit is 50 bytes" in too_big.text
    assert count(ctx, Contact) == 0


def test_page_form_needs_the_csrf_token(client: TestClient, world: World, ctx: AppContext) -> None:
    sign_in(client, world.owner.email)
    response = page_upload(client, "forged", event="Data Days")
    assert response.status_code == 403
    assert count(ctx, Contact) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    page = client.get("/imports", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/imports"
    post = client.post(
        "/imports", data={"kind": "speakers"}, files=csv_upload(), follow_redirects=False
    )
    assert post.status_code == 303


def test_history_shows_only_the_own_workspace(client: TestClient, world: World) -> None:
    owner = TestClient(client.app)
    csrf = sign_in(owner, world.owner.email)
    page_upload(owner, csrf, event="Secret Summit")
    outsider_csrf = sign_in(client, world.outsider.email)
    assert outsider_csrf
    page = client.get("/imports")
    assert "speakers.csv" not in page.text
    assert "Nothing imported yet." in page.text


# --------------------------------------------------------------------------- API


def test_api_upload_returns_the_summary(client: TestClient, world: World, ctx: AppContext) -> None:
    response = client.post(
        "/api/imports/events",
        headers=world.owner.auth,
        data={"event": "PyCon UK 2015"},
        files={"file": ("schedule.ics", PYCONUK_ICS.read_bytes(), "text/calendar")},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert {"kind", "format", "file", "created", "updated", "skipped", "errors"} <= body.keys()
    assert (body["kind"], body["format"], body["file"], body["created"]) == (
        "events",
        "ics",
        "schedule.ics",
        1,
    )
    assert body["counts"]["sessions"]["created"] > 100
    assert all(set(e) == {"row", "field", "message"} for e in body["errors"])
    assert count(ctx, Event) == 1

    again = client.post(
        "/api/imports/events",
        headers=world.owner.auth,
        data={"event": "PyCon UK 2015", "format": "ics"},
        files={"file": ("schedule.ics", PYCONUK_ICS.read_bytes(), "text/calendar")},
    ).json()
    assert (again["created"], again["updated"]) == (0, 0)


def test_api_speakers_with_mapping_and_row_errors(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    data = b"Wer,Post,Vortrag\nAda Example,ada@example.com,Intro\n,,Nothing\n"
    response = client.post(
        "/api/imports/speakers",
        headers=world.teammate.auth,
        data={"event": "Data Days", "mapping": "full_name=Wer\nemail=Post\ntalk_title=Vortrag"},
        files=csv_upload(data, "odd.csv"),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == 1
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(3, "full_name")]
    with system_session(ctx.session_factory) as session:
        link = session.scalar(select(Appearance))
        assert link is not None
        assert link.session is not None
        assert link.session.title == "Intro"


def test_api_fatal_errors(client: TestClient, world: World, ctx: AppContext) -> None:
    auth = world.owner.auth
    no_event = client.post("/api/imports/speakers", headers=auth, files=csv_upload())
    assert no_event.status_code == 422
    assert "speakers are imported into an event" in no_event.json()["detail"]

    unreadable = client.post(
        "/api/imports/contacts", headers=auth, files=csv_upload(b"\x00\x01\x02" * 10, "x.bin")
    )
    assert unreadable.status_code == 422
    assert unreadable.json()["field"] == "file"

    bad_mapping = client.post(
        "/api/imports/contacts", headers=auth, data={"mapping": "oops"}, files=csv_upload()
    )
    assert bad_mapping.status_code == 422
    assert "field=column" in bad_mapping.json()["detail"]

    ctx.settings.import_max_bytes = 50
    too_big = client.post("/api/imports/contacts", headers=auth, files=csv_upload())
    assert too_big.status_code == 413
    size = len(SPEAKERS_CSV)
    assert too_big.json()["detail"] == f"the file is {size} bytes; the limit is 50 bytes"

    unknown_kind = client.post("/api/imports/widgets", headers=auth, files=csv_upload())
    assert unknown_kind.status_code == 422
    assert count(ctx, Contact) == 0

    runs = client.get("/api/imports", headers=auth).json()
    assert [run["status"] for run in runs["items"]] == ["failed"] * 4
    assert runs["pagination"]["total"] == 4
    assert count(ctx, ImportRun) == 4


def test_api_history_is_paginated_and_per_workspace(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    for _ in range(3):
        client.post(
            "/api/imports/contacts",
            headers=world.owner.auth,
            files=csv_upload(LINKEDIN_CSV.read_bytes(), "Connections.csv"),
        )
    page = client.get("/api/imports?limit=2&page=2", headers=world.teammate.auth).json()
    assert set(page) == {"items", "pagination"}
    assert page["pagination"] == {"page": 2, "limit": 2, "total": 3}
    [run] = page["items"]
    assert (run["filename"], run["format"], run["status"]) == (
        "Connections.csv",
        "linkedin",
        "completed",
    )
    assert run["error_count"] == len(run["errors"]) == 1

    outsider = client.get("/api/imports", headers=world.outsider.auth).json()
    assert outsider["pagination"]["total"] == 0
    assert count(ctx, Contact, "rival") == 0


def test_api_needs_a_caller(client: TestClient, world: World) -> None:
    assert client.post("/api/imports/contacts", files=csv_upload()).status_code == 401
    assert client.get("/api/imports").status_code == 401


def test_cookie_api_upload_needs_the_csrf_header(
    client: TestClient, world: World, ctx: AppContext
) -> None:
    csrf = sign_in(client, world.owner.email)
    refused = client.post("/api/imports/contacts", files=csv_upload())
    assert refused.status_code == 403
    accepted = client.post(
        "/api/imports/contacts", files=csv_upload(), headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 201


def test_openapi_documents_the_error_responses(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    upload = schema["paths"]["/api/imports/{kind}"]["post"]
    assert {"201", "401", "403", "413", "422"} <= upload["responses"].keys()
    assert "200" in schema["paths"]["/api/imports"]["get"]["responses"]
