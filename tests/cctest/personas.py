"""Owner, teammate and outsider: the three people every access test uses."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi.testclient import TestClient

from commandcentre.bootstrap import ensure_workspace_with_agents
from commandcentre.context import AppContext
from commandcentre.db.scoping import system_session
from commandcentre.workspaces import services as ws

PASSWORD = "correct horse battery"


@dataclass
class Persona:
    name: str
    email: str
    workspace_slug: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    owner: Persona
    teammate: Persona
    outsider: Persona


def make_world(ctx: AppContext) -> World:
    with system_session(ctx.session_factory) as session:
        home = ensure_workspace_with_agents(session=session, slug="acme", name="Acme Sales")
        other = ensure_workspace_with_agents(session=session, slug="rival", name="Rival Inc")
        people = {}
        for name, workspace, role in (
            ("owner", home, "owner"),
            ("teammate", home, "member"),
            ("outsider", other, "owner"),
        ):
            user = ws.create_user(session=session, email=f"{name}@example.com", password=PASSWORD)
            ws.add_member(session=session, workspace=workspace, user=user, role=role)
            raw, _ = ws.create_api_token(session=session, user=user, workspace=workspace, name="t")
            people[name] = Persona(name, user.email, workspace.slug, raw)
    return World(**people)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign a TestClient in through the real form; returns the page CSRF token."""
    page = client.get("/login")
    csrf = client.cookies.get("cc_csrf")
    assert page.status_code == 200
    assert csrf
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf, "next": "/settings"},
        follow_redirects=True,
    )
    assert response.status_code == 200, response.text
    return csrf_from(response.text)


def csrf_from(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
