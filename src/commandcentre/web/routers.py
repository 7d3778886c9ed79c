"""Every router of the application, in one list each (the access meta-test walks them)."""

from __future__ import annotations

from fastapi import APIRouter


def api_routers() -> list[APIRouter]:
    from commandcentre.web.api import (
        accounts,
        agents,
        contacts,
        discovery,
        events,
        followups,
        health,
        imports,
        inbound,
        opportunities,
        outreach,
        suppressions,
        workspace,
    )

    return [
        health.router,
        workspace.router,
        events.router,
        contacts.router,
        accounts.router,
        opportunities.router,
        imports.router,
        discovery.router,
        outreach.router,
        agents.router,
        suppressions.router,
        inbound.router,
        followups.router,
    ]


def page_routers() -> list[APIRouter]:
    from commandcentre.web.pages import (
        accounts,
        agents,
        auth,
        contacts,
        dashboard,
        discovery,
        events,
        followups,
        imports,
        opportunities,
        outreach,
        settings,
        unsubscribe,
    )

    return [
        auth.router,
        dashboard.router,
        discovery.router,
        opportunities.router,
        events.router,
        contacts.router,
        accounts.router,
        imports.router,
        settings.router,
        agents.router,
        outreach.router,
        followups.router,
        unsubscribe.router,
    ]
