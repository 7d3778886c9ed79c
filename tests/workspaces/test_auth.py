"""Sign-in, sessions, CSRF, throttling and API tokens, through the real routes."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from cctest.personas import PASSWORD, World, csrf_from, sign_in
from commandcentre.clock import ManualClock


def test_sign_in_then_pages_show_the_workspace(client: TestClient, world: World) -> None:
    sign_in(client, world.owner.email)
    page = client.get("/settings")
    assert page.status_code == 200
    assert "Acme Sales" in page.text
    assert "teammate@example.com" in page.text


def test_pages_redirect_anonymous_callers_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get("/settings", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/settings"


def test_wrong_password_is_refused_with_a_clear_message(client: TestClient, world: World) -> None:
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": world.owner.email,
            "password": "nope-nope",
            "csrf_token": client.cookies["cc_csrf"],
        },
    )
    assert response.status_code == 401
    assert "Email or password is not right" in response.text
    assert "cc_session" not in response.cookies


def test_login_form_without_csrf_token_is_refused(client: TestClient, world: World) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"email": world.owner.email, "password": PASSWORD, "csrf_token": "x"}
    )
    assert response.status_code == 403


def test_throttling_locks_then_releases_after_the_window(
    client: TestClient, world: World, clock: ManualClock
) -> None:
    client.get("/login")
    csrf = client.cookies["cc_csrf"]

    def attempt(password: str) -> int:
        return client.post(
            "/login",
            data={"email": world.owner.email, "password": password, "csrf_token": csrf},
            follow_redirects=False,
        ).status_code

    assert [attempt("wrong-one") for _ in range(5)] == [401] * 5
    locked = client.post(
        "/login", data={"email": world.owner.email, "password": PASSWORD, "csrf_token": csrf}
    )
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.text
    clock.advance(timedelta(minutes=16))
    assert attempt(PASSWORD) == 303


def test_session_expires(client: TestClient, world: World, clock: ManualClock) -> None:
    sign_in(client, world.owner.email)
    clock.advance(timedelta(days=15))
    assert client.get("/settings", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world.owner.email)
    cookie = client.cookies["cc_session"]
    client.post("/logout", data={"csrf_token": csrf})
    client.cookies.set("cc_session", cookie)  # a stolen copy must be dead too
    assert client.get("/settings", follow_redirects=False).status_code == 303


def test_forms_need_the_session_csrf_token(client: TestClient, world: World) -> None:
    sign_in(client, world.owner.email)
    response = client.post("/settings/tokens", data={"name": "x", "csrf_token": "forged"})
    assert response.status_code == 403


def test_api_tokens_created_in_the_ui_work_and_can_be_revoked(
    client: TestClient, world: World
) -> None:
    csrf = sign_in(client, world.owner.email)
    page = client.post("/settings/tokens", data={"name": "CRM sync", "csrf_token": csrf})
    assert page.status_code == 200
    marker = 'id="new-token">'
    token = page.text.split(marker, 1)[1].split("<", 1)[0]
    api = TestClient(client.app)
    me = api.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["workspace"] == "acme"

    listed = client.get("/api/tokens").json()
    crm = next(t for t in listed if t["name"] == "CRM sync")
    csrf = csrf_from(client.get("/settings").text)
    client.post(f"/settings/tokens/{crm['id']}/revoke", data={"csrf_token": csrf})
    assert api.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_api_rejects_missing_and_bad_tokens(client: TestClient, world: World) -> None:
    assert client.get("/api/me").status_code == 401
    bad = client.get("/api/me", headers={"Authorization": "Bearer cc_nope"})
    assert bad.status_code == 401
    assert "Bearer" in bad.json()["detail"]


def test_cookie_api_calls_need_csrf_header_for_writes(client: TestClient, world: World) -> None:
    csrf = sign_in(client, world.owner.email)
    assert client.post("/api/tokens", json={"name": "x"}).status_code == 403
    ok = client.post("/api/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201


def test_outsider_cannot_revoke_another_workspaces_token(client: TestClient, world: World) -> None:
    owner_tokens = client.get("/api/tokens", headers=world.owner.auth).json()
    response = client.post(
        f"/api/tokens/{owner_tokens[0]['id']}/revoke", headers=world.outsider.auth
    )
    assert response.status_code == 404
    assert client.get("/api/me", headers=world.owner.auth).status_code == 200


def test_security_headers_are_set(client: TestClient) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_open_redirect_after_sign_in_is_refused(client: TestClient, world: World) -> None:
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "email": world.owner.email,
            "password": PASSWORD,
            "csrf_token": client.cookies["cc_csrf"],
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"
