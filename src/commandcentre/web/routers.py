"""Every router of the application, in one list each (the access meta-test walks them)."""

from __future__ import annotations

from fastapi import APIRouter


def api_routers() -> list[APIRouter]:
    from commandcentre.web.api import health, workspace

    return [health.router, workspace.router]


def page_routers() -> list[APIRouter]:
    from commandcentre.web.pages import auth, dashboard, settings

    return [auth.router, dashboard.router, settings.router]
